//! The one place where events enter the audit log: [`append_in`], inside a transaction
//! the caller opened and commits. The group-commit writer calls it for a batch of
//! appends, every lifecycle change for its one event; whatever else must be durable
//! with the events of a transaction is added here, so that it commits with them: the
//! org's Merkle tree (the leaves of the events, the nodes they complete and the tree
//! head, see [`super::tree`]).

use std::collections::BTreeMap;

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use support_access_core::StoreError;
use support_access_core::audit::{AuditEvent, ChainHash, GENESIS, NewAuditEvent};
use support_access_core::ids::OrgId;
use support_access_core::tlog::{Frontier, event_leaf};

use super::tree::{catch_up, frontier_of, head_columns, insert_nodes, tree_enabled};
use super::{to_i64, to_row};
use crate::entity::{audit_event, audit_head};
use crate::error::{corrupt, from_db};

/// Appends `events` to their orgs' chains inside the open transaction `txn`.
///
/// Per org, in sorted order (so that two transactions never wait on each other in a
/// cycle): lock the org's head row (an upsert, which orders appends to one org across
/// every instance sharing the database). Once every head is locked, `wanted` is asked
/// about each event (by its index) — an event whose caller stopped waiting is left out
/// and never written. Then each org's wanted events are sealed in the order given,
/// inserted, their leaves appended to the org's tree (caught up first if it is behind
/// the chain), and the head moved to the last of them.
///
/// Returns, in the order given, each event as sealed, or `None` where it was not
/// wanted. Nothing is durable until the caller commits `txn`.
pub(crate) async fn append_in<C: ConnectionTrait>(
    txn: &C,
    events: &[&NewAuditEvent],
    wanted: &(dyn Fn(usize) -> bool + Sync),
) -> Result<Vec<Option<AuditEvent>>, StoreError> {
    let mut by_org: BTreeMap<&OrgId, Vec<usize>> = BTreeMap::new();
    for (i, event) in events.iter().enumerate() {
        by_org.entry(&event.org).or_default().push(i);
    }
    let mut heads = Vec::with_capacity(by_org.len());
    for org in by_org.keys() {
        heads.push(lock_head(txn, org).await?);
    }
    let mut sealed: Vec<Option<AuditEvent>> = vec![None; events.len()];
    for ((org, indices), (mut seq, mut prev, mut frontier)) in by_org.into_iter().zip(heads) {
        let chained = seq;
        let mut rows = Vec::with_capacity(indices.len());
        let mut leaves = Vec::with_capacity(indices.len());
        for i in indices.into_iter().filter(|&i| wanted(i)) {
            seq += 1;
            let event = events[i].clone().seal(seq, prev);
            prev = event.hash;
            rows.push(to_row(&event)?);
            leaves.push(event_leaf(&event.hash));
            sealed[i] = Some(event);
        }
        if rows.is_empty() {
            continue;
        }
        audit_event::Entity::insert_many(rows)
            .exec_without_returning(txn)
            .await
            .map_err(from_db)?;
        let mut head = audit_head::Entity::update_many()
            .col_expr(audit_head::Column::Seq, Expr::value(to_i64(seq, "seq")?))
            .col_expr(audit_head::Column::Hash, Expr::value(prev.to_hex()));
        if tree_enabled() {
            let mut nodes = Vec::new();
            catch_up(txn, org, &mut frontier, chained, u64::MAX, &mut nodes).await?;
            nodes.extend(frontier.append(&leaves).map_err(corrupt)?);
            insert_nodes(txn, org, &nodes).await?;
            let (tree_size, tree_root, tree_frontier) = head_columns(&frontier)?;
            head = head
                .col_expr(audit_head::Column::TreeSize, Expr::value(tree_size))
                .col_expr(audit_head::Column::TreeRoot, Expr::value(tree_root))
                .col_expr(audit_head::Column::TreeFrontier, Expr::value(tree_frontier));
        }
        head.filter(audit_head::Column::Org.eq(org.as_str()))
            .exec(txn)
            .await
            .map_err(from_db)?;
    }
    Ok(sealed)
}

/// Appends one event inside `txn`: [`append_in`] for a lifecycle change.
pub(crate) async fn append_one_in<C: ConnectionTrait>(
    txn: &C,
    event: &NewAuditEvent,
) -> Result<AuditEvent, StoreError> {
    append_in(txn, &[event], &|_| true)
        .await?
        .pop()
        .flatten()
        .ok_or_else(|| corrupt("an append wrote no event"))
}

/// Locks `org`'s head row (creating it at the genesis) and returns its `seq`, hash and
/// tree frontier.
async fn lock_head<C: ConnectionTrait>(
    txn: &C,
    org: &OrgId,
) -> Result<(u64, ChainHash, Frontier), StoreError> {
    let head = audit_head::Entity::insert(audit_head::ActiveModel {
        org: ActiveValue::Set(org.as_str().to_owned()),
        seq: ActiveValue::Set(0),
        hash: ActiveValue::Set(GENESIS.to_hex()),
        tree_size: ActiveValue::Set(0),
        tree_root: ActiveValue::Set(None),
        tree_frontier: ActiveValue::Set(None),
    })
    .on_conflict(
        OnConflict::column(audit_head::Column::Org)
            .update_column(audit_head::Column::Org)
            .to_owned(),
    )
    .exec_with_returning(txn)
    .await
    .map_err(from_db)?;
    let seq = u64::try_from(head.seq).map_err(|_| corrupt("audit head seq"))?;
    let hash = ChainHash::from_hex(head.hash.trim())
        .map_err(|_| corrupt(format!("audit head hash of org {org}")))?;
    Ok((seq, hash, frontier_of(&head)?))
}
