//! The one place where events enter the audit log: [`append_in`], inside a transaction
//! the caller opened and commits. The group-commit writer calls it for a batch of
//! appends, every lifecycle change for its one event; whatever else must be durable
//! with the events of a transaction is added here, so that it commits with them: the
//! org's Merkle tree (the leaves of the events, the nodes they complete and the tree
//! head, see [`super::tree`]) and the webhook deliveries that report the events
//! (`crate::webhooks::queue_for_events`).

use std::collections::BTreeMap;

use sea_orm::sea_query::{CommonTableExpression, Expr, WithClause};
use sea_orm::{
    ActiveValue, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QuerySelect,
    QueryTrait, UpdateMany,
};
use support_access_core::StoreError;
use support_access_core::audit::{AuditEvent, ChainHash, GENESIS, NewAuditEvent};
use support_access_core::grant::Grant;
use support_access_core::ids::OrgId;
use support_access_core::tlog::{Frontier, Node, event_leaf};

use super::tree::{catch_up, frontier_of, head_columns, insert_nodes, node_rows, tree_enabled};
use super::{to_i64, to_row};
use crate::entity::{audit_event, audit_head, audit_tree_node};
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
    append_about_in(txn, events, wanted, None).await
}

/// [`append_in`], told the grant that the events record a change of (the grant as
/// the change left it): the data of their notifications (SPEC §9).
async fn append_about_in<C: ConnectionTrait>(
    txn: &C,
    events: &[&NewAuditEvent],
    wanted: &(dyn Fn(usize) -> bool + Sync),
    grant: Option<&Grant>,
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
        let mut head = audit_head::Entity::update_many()
            .col_expr(audit_head::Column::Seq, Expr::value(to_i64(seq, "seq")?))
            .col_expr(audit_head::Column::Hash, Expr::value(prev.to_hex()));
        let mut nodes = Vec::new();
        if tree_enabled() {
            catch_up(txn, org, &mut frontier, chained, u64::MAX, &mut nodes).await?;
            nodes.extend(frontier.append(&leaves).map_err(corrupt)?);
            let (tree_size, tree_root, tree_frontier) = head_columns(&frontier)?;
            head = head
                .col_expr(audit_head::Column::TreeSize, Expr::value(tree_size))
                .col_expr(audit_head::Column::TreeRoot, Expr::value(tree_root))
                .col_expr(audit_head::Column::TreeFrontier, Expr::value(tree_frontier));
        }
        let head = head.filter(audit_head::Column::Org.eq(org.as_str()));
        write_org(txn, org, rows, &nodes, head).await?;
    }
    // The notifications these events report, queued with them (SPEC §9).
    crate::webhooks::queue_for_events(txn, &sealed, grant).await?;
    Ok(sealed)
}

/// Node rows that still fit one PostgreSQL statement with a batch's events (its limit
/// is 65,535 parameters: a batch's events take at most 256 × 26).
const ONE_STATEMENT_NODES: usize = 8_192;

/// Writes an org's share of an append: its events, its new tree nodes and its head.
/// On PostgreSQL one statement (the inserts as data-modifying CTEs of the head's
/// `UPDATE`): one round trip where the chain alone took two. Elsewhere, or for a
/// catch-up too large for one statement, one statement each.
async fn write_org<C: ConnectionTrait>(
    txn: &C,
    org: &OrgId,
    rows: Vec<audit_event::ActiveModel>,
    nodes: &[Node],
    head: UpdateMany<audit_head::Entity>,
) -> Result<(), StoreError> {
    let events = audit_event::Entity::insert_many(rows);
    let backend = txn.get_database_backend();
    if backend == DbBackend::Postgres && nodes.len() <= ONE_STATEMENT_NODES {
        let mut with = WithClause::new();
        with.cte(
            CommonTableExpression::new()
                .query(events.into_query())
                .table_name("appended_events")
                .to_owned(),
        );
        if !nodes.is_empty() {
            let nodes = audit_tree_node::Entity::insert_many(node_rows(org, nodes)?);
            with.cte(
                CommonTableExpression::new()
                    .query(nodes.into_query())
                    .table_name("appended_nodes")
                    .to_owned(),
            );
        }
        let statement = backend.build(&with.query(head.into_query()));
        txn.execute_raw(statement).await.map_err(from_db)?;
        return Ok(());
    }
    events.exec_without_returning(txn).await.map_err(from_db)?;
    insert_nodes(txn, org, nodes).await?;
    head.exec(txn).await.map_err(from_db)?;
    Ok(())
}

/// Appends one event inside `txn`: [`append_in`] for a lifecycle change.
pub(crate) async fn append_one_in<C: ConnectionTrait>(
    txn: &C,
    event: &NewAuditEvent,
) -> Result<AuditEvent, StoreError> {
    append_one_about_in(txn, event, None).await
}

/// [`append_one_in`] for a grant change, told the grant as changed.
pub(crate) async fn append_one_about_in<C: ConnectionTrait>(
    txn: &C,
    event: &NewAuditEvent,
    grant: Option<&Grant>,
) -> Result<AuditEvent, StoreError> {
    append_about_in(txn, &[event], &|_| true, grant)
        .await?
        .pop()
        .flatten()
        .ok_or_else(|| corrupt("an append wrote no event"))
}

/// Locks `org`'s head row (creating it at the genesis) and returns its `seq`, hash and
/// tree frontier.
///
/// A `SELECT … FOR UPDATE`, which writes no new version of the row (on PostgreSQL only
/// a lock marker in the WAL): the row, frontier included, is written once per batch, by
/// the `UPDATE` that moves it. Only an org's first append inserts the row (`ON CONFLICT
/// DO NOTHING`, as another instance may insert it meanwhile) and selects it again.
async fn lock_head<C: ConnectionTrait>(
    txn: &C,
    org: &OrgId,
) -> Result<(u64, ChainHash, Frontier), StoreError> {
    let head = match select_head_for_update(txn, org).await? {
        Some(head) => head,
        None => {
            audit_head::Entity::insert(audit_head::ActiveModel {
                org: ActiveValue::Set(org.as_str().to_owned()),
                seq: ActiveValue::Set(0),
                hash: ActiveValue::Set(GENESIS.to_hex()),
                tree_size: ActiveValue::Set(0),
                tree_root: ActiveValue::Set(None),
                tree_frontier: ActiveValue::Set(None),
            })
            .on_conflict_do_nothing_on([audit_head::Column::Org])
            .exec_without_returning(txn)
            .await
            .map_err(from_db)?;
            select_head_for_update(txn, org)
                .await?
                .ok_or_else(|| corrupt(format!("the audit head of org {org} vanished")))?
        }
    };
    let seq = u64::try_from(head.seq).map_err(|_| corrupt("audit head seq"))?;
    let hash = ChainHash::from_hex(head.hash.trim())
        .map_err(|_| corrupt(format!("audit head hash of org {org}")))?;
    Ok((seq, hash, frontier_of(&head)?))
}

/// The org's head row, locked until the transaction ends (on SQLite the transaction's
/// write lock already excludes every other writer).
async fn select_head_for_update<C: ConnectionTrait>(
    txn: &C,
    org: &OrgId,
) -> Result<Option<audit_head::Model>, StoreError> {
    audit_head::Entity::find_by_id(org.as_str().to_owned())
        .lock_exclusive()
        .one(txn)
        .await
        .map_err(from_db)
}
