//! The write side of each org's tree (`docs/tlog.md`): inside the transaction that
//! holds the org's head row, the frontier is read from that row, the new events'
//! leaves appended to it, the nodes they complete inserted and the tree head moved.
//! No node is read on append and nothing is rebuilt.
//!
//! A head whose tree is behind its chain (events stored before the tree existed) is
//! caught up from the stored event hashes first: by [`backfill`] after migrating, in
//! transactions of [`BACKFILL_CHUNK`] events, and by any append that still finds it
//! behind.

use sea_orm::sea_query::{Expr, Order};
use sea_orm::{
    ActiveValue, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};
use support_access_core::StoreError;
use support_access_core::audit::ChainHash;
use support_access_core::ids::OrgId;
use support_access_core::tlog::{Frontier, Node, TreeHash, event_leaf};

use super::to_i64;
use crate::Backend;
use crate::entity::{audit_event, audit_head, audit_tree_node};
use crate::error::{corrupt, from_db};
use crate::store::write_transaction;

/// Off only in benchmarks (`bench-internals`): appends then skip the tree.
#[cfg(feature = "bench-internals")]
pub(crate) static TREE_DISABLED: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Whether appends write the tree: always, but in benchmarks that compare without it.
pub(super) fn tree_enabled() -> bool {
    #[cfg(feature = "bench-internals")]
    {
        !TREE_DISABLED.load(std::sync::atomic::Ordering::Relaxed)
    }
    #[cfg(not(feature = "bench-internals"))]
    {
        true
    }
}

/// Events one backfill transaction adds to a tree.
pub(crate) const BACKFILL_CHUNK: u64 = 20_000;
/// Node rows per `INSERT` (three parameters each, well within SQLite's limit).
const INSERT_CHUNK: usize = 2_000;

/// A hash column's 32 bytes.
pub(crate) fn tree_hash(bytes: &[u8], what: &str) -> Result<TreeHash, StoreError> {
    <[u8; 32]>::try_from(bytes)
        .map(TreeHash)
        .map_err(|_| corrupt(what))
}

/// The frontier stored on a head row.
pub(super) fn frontier_of(head: &audit_head::Model) -> Result<Frontier, StoreError> {
    let size = u64::try_from(head.tree_size).map_err(|_| corrupt("audit head tree_size"))?;
    let bytes = head.tree_frontier.as_deref().unwrap_or_default();
    let what = || corrupt(format!("audit head tree_frontier of org {}", head.org));
    if !bytes.len().is_multiple_of(32) {
        return Err(what());
    }
    let hashes = bytes
        .chunks(32)
        .map(|chunk| tree_hash(chunk, "tree frontier"))
        .collect::<Result<Vec<_>, _>>()?;
    Frontier::from_hashes(size, &hashes).map_err(|_| what())
}

/// The tree head columns of a head row.
pub(super) type HeadColumns = (i64, Option<Vec<u8>>, Option<Vec<u8>>);

/// The head columns that store `frontier`: size, root (`NULL` when empty), frontier.
pub(super) fn head_columns(frontier: &Frontier) -> Result<HeadColumns, StoreError> {
    if frontier.size() == 0 {
        return Ok((0, None, None));
    }
    let bytes = frontier
        .nodes()
        .iter()
        .flat_map(|node| node.hash.0)
        .collect();
    Ok((
        to_i64(frontier.size(), "tree_size")?,
        Some(frontier.root().0.to_vec()),
        Some(bytes),
    ))
}

/// Sets the org's tree head columns to `frontier`.
async fn move_tree_head<C: ConnectionTrait>(
    txn: &C,
    org: &OrgId,
    frontier: &Frontier,
) -> Result<(), StoreError> {
    let (size, root, bytes) = head_columns(frontier)?;
    audit_head::Entity::update_many()
        .col_expr(audit_head::Column::TreeSize, Expr::value(size))
        .col_expr(audit_head::Column::TreeRoot, Expr::value(root))
        .col_expr(audit_head::Column::TreeFrontier, Expr::value(bytes))
        .filter(audit_head::Column::Org.eq(org.as_str()))
        .exec(txn)
        .await
        .map_err(from_db)?;
    Ok(())
}

/// The rows of new nodes of the org's tree.
pub(super) fn node_rows(
    org: &OrgId,
    nodes: &[Node],
) -> Result<Vec<audit_tree_node::ActiveModel>, StoreError> {
    nodes
        .iter()
        .map(|node| {
            Ok(audit_tree_node::ActiveModel {
                org: ActiveValue::Set(org.as_str().to_owned()),
                node: ActiveValue::Set(to_i64(node.id.packed(), "tree node")?),
                hash: ActiveValue::Set(node.hash.0.to_vec()),
            })
        })
        .collect()
}

/// Inserts new nodes of the org's tree.
pub(super) async fn insert_nodes<C: ConnectionTrait>(
    txn: &C,
    org: &OrgId,
    nodes: &[Node],
) -> Result<(), StoreError> {
    for chunk in nodes.chunks(INSERT_CHUNK) {
        audit_tree_node::Entity::insert_many(node_rows(org, chunk)?)
            .exec_without_returning(txn)
            .await
            .map_err(from_db)?;
    }
    Ok(())
}

/// Appends to `frontier` the leaves of the org's stored events after it, up to `seq`
/// and at most `limit` of them, pushing the new nodes onto `nodes`.
pub(super) async fn catch_up<C: ConnectionTrait>(
    txn: &C,
    org: &OrgId,
    frontier: &mut Frontier,
    seq: u64,
    limit: u64,
    nodes: &mut Vec<Node>,
) -> Result<(), StoreError> {
    if frontier.size() > seq {
        return Err(corrupt(format!(
            "the tree of org {org} is ahead of its chain"
        )));
    }
    let end = Ord::min(seq, frontier.size().saturating_add(limit));
    while frontier.size() < end {
        let after = to_i64(frontier.size(), "seq")?;
        let wanted = Ord::min(end - frontier.size(), BACKFILL_CHUNK);
        let hashes: Vec<(i64, String)> = audit_event::Entity::find()
            .select_only()
            .column(audit_event::Column::Seq)
            .column(audit_event::Column::Hash)
            .filter(audit_event::Column::Org.eq(org.as_str()))
            .filter(audit_event::Column::Seq.gt(after))
            .order_by(audit_event::Column::Seq, Order::Asc)
            .limit(wanted)
            .into_tuple()
            .all(txn)
            .await
            .map_err(from_db)?;
        let mut leaves = Vec::with_capacity(hashes.len());
        for (n, (event_seq, hash)) in hashes.iter().enumerate() {
            let expected = frontier.size() + n as u64 + 1;
            if u64::try_from(*event_seq).ok() != Some(expected) {
                return Err(corrupt(format!("org {org} has no event {expected}")));
            }
            let hash = ChainHash::from_hex(hash.trim())
                .map_err(|_| corrupt(format!("hash of audit event {org} {event_seq}")))?;
            leaves.push(event_leaf(&hash));
        }
        if leaves.is_empty() {
            return Err(corrupt(format!("org {org} has fewer events than its head")));
        }
        nodes.extend(frontier.append(&leaves).map_err(corrupt)?);
    }
    Ok(())
}

/// Builds the tree of every org whose tree is behind its chain (events stored before
/// the tree existed), [`BACKFILL_CHUNK`] events per transaction.
pub(crate) async fn backfill(db: &DatabaseConnection, backend: Backend) -> Result<(), StoreError> {
    use sea_orm::ExprTrait as _;
    let behind: Vec<String> = audit_head::Entity::find()
        .select_only()
        .column(audit_head::Column::Org)
        .filter(Expr::col(audit_head::Column::TreeSize).lt(Expr::col(audit_head::Column::Seq)))
        .into_tuple()
        .all(db)
        .await
        .map_err(from_db)?;
    for org in behind.into_iter().map(OrgId::new) {
        while !backfill_chunk(db, backend, &org).await? {}
    }
    Ok(())
}

/// One transaction of [`backfill`]; `true` once the org's tree has caught up.
async fn backfill_chunk(
    db: &DatabaseConnection,
    backend: Backend,
    org: &OrgId,
) -> Result<bool, StoreError> {
    let txn = db
        .begin_with_options(write_transaction(backend))
        .await
        .map_err(from_db)?;
    let head = audit_head::Entity::find_by_id(org.as_str().to_owned())
        .lock_exclusive()
        .one(&txn)
        .await
        .map_err(from_db)?
        .ok_or_else(|| corrupt(format!("the audit head of org {org} vanished")))?;
    let seq = u64::try_from(head.seq).map_err(|_| corrupt("audit head seq"))?;
    let mut frontier = frontier_of(&head)?;
    let mut nodes = Vec::new();
    catch_up(&txn, org, &mut frontier, seq, BACKFILL_CHUNK, &mut nodes).await?;
    insert_nodes(&txn, org, &nodes).await?;
    move_tree_head(&txn, org, &frontier).await?;
    txn.commit().await.map_err(from_db)?;
    Ok(frontier.size() == seq)
}
