//! The claim: due pending deliveries of enabled endpoints, earliest first, leased to
//! one worker in one statement. On PostgreSQL the due rows are selected
//! `FOR UPDATE OF d SKIP LOCKED`, so a claim racing another (on any instance) skips the
//! rows the other is leasing instead of waiting for them, and re-checks the lease of a
//! row the other already leased and committed (PostgreSQL re-evaluates the `WHERE` on
//! the row's new version). On SQLite the claim runs in the one writing transaction.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, Statement};
use support_access_core::StoreError;
use support_access_core::notify::{Claimed, Endpoint};

use super::rows::{delivery_of, endpoint_of, message_of};
use crate::Backend;
use crate::entity::{webhook_delivery, webhook_endpoint, webhook_message};
use crate::error::{corrupt, from_db};
use crate::instant::{bound, stored};

const COLUMNS: &str = "id, org, endpoint_id, message_id, event_type, status, attempts, \
    last_status_code, last_error, next_attempt_at, created_at, leased_by, lease_until";

fn statement(backend: Backend, limit: u32) -> (DbBackend, String) {
    let (db, [worker, until, now], lock) = match backend {
        Backend::Postgres => (
            DbBackend::Postgres,
            ["$1", "$2", "$3"],
            " FOR UPDATE OF d SKIP LOCKED",
        ),
        Backend::Sqlite => (DbBackend::Sqlite, ["?1", "?2", "?3"], ""),
    };
    let sql = format!(
        "UPDATE webhook_deliveries SET leased_by = {worker}, lease_until = {until} \
         WHERE id IN (SELECT d.id FROM webhook_deliveries d \
           JOIN webhook_endpoints e ON e.id = d.endpoint_id \
           WHERE d.status = 'pending' AND d.next_attempt_at <= {now} \
             AND (d.lease_until IS NULL OR d.lease_until <= {now}) \
             AND e.disabled_at IS NULL \
           ORDER BY d.next_attempt_at, d.id LIMIT {limit}{lock}) \
         RETURNING {COLUMNS}"
    );
    (db, sql)
}

/// Leases at most `limit` due deliveries to `worker` until `now + lease`, inside `txn`.
pub(super) async fn claim<C: ConnectionTrait>(
    txn: &C,
    backend: Backend,
    worker: &str,
    now: DateTime<Utc>,
    lease: Duration,
    limit: u32,
) -> Result<Vec<Claimed>, StoreError> {
    let now = bound(now);
    let until = stored(now + lease)?;
    let (db, sql) = statement(backend, limit);
    let mut rows = webhook_delivery::Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(
            db,
            sql,
            [worker.into(), until.into(), now.into()],
        ))
        .all(txn)
        .await
        .map_err(from_db)?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    rows.sort_by_key(|r| (r.next_attempt_at, r.id));
    let endpoint_ids: Vec<_> = rows.iter().map(|r| r.endpoint_id).collect();
    let message_ids: Vec<_> = rows.iter().map(|r| r.message_id.clone()).collect();
    let endpoints: HashMap<_, Endpoint> = webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::Id.is_in(endpoint_ids))
        .all(txn)
        .await
        .map_err(from_db)?
        .into_iter()
        .map(|row| Ok((row.id, endpoint_of(row)?)))
        .collect::<Result<_, StoreError>>()?;
    let messages: BTreeMap<_, _> = webhook_message::Entity::find()
        .filter(webhook_message::Column::Id.is_in(message_ids))
        .all(txn)
        .await
        .map_err(from_db)?
        .into_iter()
        .map(|row| Ok((row.id.clone(), message_of(row)?)))
        .collect::<Result<_, StoreError>>()?;
    rows.into_iter()
        .map(|row| {
            let endpoint = endpoints
                .get(&row.endpoint_id)
                .cloned()
                .ok_or_else(|| corrupt(format!("endpoint of webhook delivery {}", row.id)))?;
            let message = messages
                .get(&row.message_id)
                .cloned()
                .ok_or_else(|| corrupt(format!("message of webhook delivery {}", row.id)))?;
            Ok(Claimed {
                delivery: delivery_of(row)?,
                endpoint,
                message,
                lease_until: until,
            })
        })
        .collect()
}
