//! [`AuditTree`] on `audit_heads` (the tree head), `audit_tree_nodes` and
//! `audit_checkpoints`. The tree is written with the events (`audit/tree.rs`); here it
//! is only read, each read one query by primary key.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Order;
use sea_orm::{
    ActiveValue, ColumnTrait, DbBackend, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    Statement,
};
use support_access_core::StoreError;
use support_access_core::ids::OrgId;
use support_access_core::tlog::{
    AuditTree, EMPTY_ROOT, GrownLog, MAX_TREE_SIZE, NodeId, StoredCheckpoint, TreeHash, TreeHead,
};

use crate::audit::tree_hash;
use crate::entity::{audit_checkpoint, audit_head, audit_tree_node};
use crate::error::{corrupt, from_db};
use crate::instant;
use crate::{Backend, SeaOrmStore};

fn to_i64(value: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value)
        .map_err(|_| StoreError::Backend(format!("{what} {value} does not fit a 64-bit column")))
}

fn to_u64(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| corrupt(what))
}

/// A tree head from its stored columns.
fn head_of(size: i64, root: Option<&[u8]>) -> Result<TreeHead, StoreError> {
    let size = to_u64(size, "audit head tree_size")?;
    let root = match root {
        None if size == 0 => EMPTY_ROOT,
        None => return Err(corrupt("audit head tree_root")),
        Some(bytes) => tree_hash(bytes, "audit head tree_root")?,
    };
    Ok(TreeHead { size, root })
}

fn checkpoint_of(row: audit_checkpoint::Model) -> Result<StoredCheckpoint, StoreError> {
    Ok(StoredCheckpoint {
        size: to_u64(row.size, "checkpoint size")?,
        root: tree_hash(&row.root, "checkpoint root")?,
        org: OrgId::new(row.org),
        made_at: row.made_at,
        note: row.note,
    })
}

/// The key of a node a tree can have; `None` for ids of no tree up to `MAX_TREE_SIZE`.
fn packed(id: &NodeId) -> Option<i64> {
    if id.level > 62 || id.index >= (MAX_TREE_SIZE >> id.level) {
        return None;
    }
    i64::try_from(id.packed()).ok()
}

#[derive(Debug, FromQueryResult)]
struct GrownRow {
    org: String,
    tree_size: i64,
    tree_root: Option<Vec<u8>>,
    last_size: Option<i64>,
    last_made_at: Option<DateTime<Utc>>,
}

/// Heads larger than their org's latest checkpoint, with that checkpoint, if it was made
/// by the bound that follows (then the order and the limit).
const GROWN: &str = "SELECT h.org AS org, h.tree_size AS tree_size, h.tree_root AS tree_root, \
     c.size AS last_size, c.made_at AS last_made_at \
     FROM audit_heads h LEFT JOIN audit_checkpoints c ON c.org = h.org \
     AND c.size = (SELECT MAX(l.size) FROM audit_checkpoints l WHERE l.org = h.org) \
     WHERE h.tree_size > COALESCE(c.size, 0) AND (c.made_at IS NULL OR c.made_at <= ";

#[async_trait]
impl AuditTree for SeaOrmStore {
    async fn tree_head(&self, org: &OrgId) -> Result<TreeHead, StoreError> {
        let head = audit_head::Entity::find_by_id(org.as_str().to_owned())
            .one(&self.inner.db)
            .await
            .map_err(from_db)?;
        match head {
            None => Ok(TreeHead::EMPTY),
            Some(head) => head_of(head.tree_size, head.tree_root.as_deref()),
        }
    }

    async fn read_nodes(
        &self,
        org: &OrgId,
        nodes: &[NodeId],
    ) -> Result<Vec<Option<TreeHash>>, StoreError> {
        let keys: Vec<i64> = nodes.iter().filter_map(packed).collect();
        let mut found = HashMap::with_capacity(keys.len());
        if !keys.is_empty() {
            let rows = audit_tree_node::Entity::find()
                .filter(audit_tree_node::Column::Org.eq(org.as_str()))
                .filter(audit_tree_node::Column::Node.is_in(keys))
                .all(&self.inner.db)
                .await
                .map_err(from_db)?;
            for row in rows {
                found.insert(row.node, tree_hash(&row.hash, "tree node hash")?);
            }
        }
        Ok(nodes
            .iter()
            .map(|id| packed(id).and_then(|key| found.get(&key).copied()))
            .collect())
    }

    async fn save_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<(), StoreError> {
        let (_guard, txn) = self.begin_write().await?;
        audit_checkpoint::Entity::insert(audit_checkpoint::ActiveModel {
            org: ActiveValue::Set(checkpoint.org.as_str().to_owned()),
            size: ActiveValue::Set(to_i64(checkpoint.size, "checkpoint size")?),
            root: ActiveValue::Set(checkpoint.root.0.to_vec()),
            made_at: ActiveValue::Set(instant::stored(checkpoint.made_at)?),
            note: ActiveValue::Set(checkpoint.note.clone()),
        })
        .exec_without_returning(&txn)
        .await
        .map_err(from_db)?;
        txn.commit().await.map_err(from_db)
    }

    async fn latest_checkpoint(&self, org: &OrgId) -> Result<Option<StoredCheckpoint>, StoreError> {
        audit_checkpoint::Entity::find()
            .filter(audit_checkpoint::Column::Org.eq(org.as_str()))
            .order_by(audit_checkpoint::Column::Size, Order::Desc)
            .one(&self.inner.db)
            .await
            .map_err(from_db)?
            .map(checkpoint_of)
            .transpose()
    }

    async fn checkpoint_at(
        &self,
        org: &OrgId,
        size: u64,
    ) -> Result<Option<StoredCheckpoint>, StoreError> {
        let Ok(size) = i64::try_from(size) else {
            return Ok(None);
        };
        audit_checkpoint::Entity::find_by_id((org.as_str().to_owned(), size))
            .one(&self.inner.db)
            .await
            .map_err(from_db)?
            .map(checkpoint_of)
            .transpose()
    }

    async fn grown_logs(
        &self,
        checkpointed_by: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<GrownLog>, StoreError> {
        let (backend, by) = match self.inner.backend {
            Backend::Postgres => (DbBackend::Postgres, "$1"),
            Backend::Sqlite => (DbBackend::Sqlite, "?"),
        };
        let rows = GrownRow::find_by_statement(Statement::from_sql_and_values(
            backend,
            format!("{GROWN}{by}) ORDER BY h.org LIMIT {limit}"),
            [instant::bound(checkpointed_by).into()],
        ))
        .all(&self.inner.db)
        .await
        .map_err(from_db)?;
        rows.into_iter()
            .map(|row| {
                let last_checkpoint = match (row.last_size, row.last_made_at) {
                    (Some(size), Some(at)) => Some((to_u64(size, "checkpoint size")?, at)),
                    _ => None,
                };
                Ok(GrownLog {
                    head: head_of(row.tree_size, row.tree_root.as_deref())?,
                    org: OrgId::new(row.org),
                    last_checkpoint,
                })
            })
            .collect()
    }
}
