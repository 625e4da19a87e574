//! Queueing: messages and their deliveries in one statement, the endpoints chosen by the
//! database (`INSERT … SELECT` from the org's endpoints), so that the audit append that
//! queues its notifications pays one round trip for them instead of three (read the
//! endpoints, insert the message, insert the deliveries).
//!
//! On PostgreSQL one statement: the messages are a `VALUES` list, the targets a CTE
//! (`gen_random_uuid()` per delivery), the message insert a data-modifying CTE and the
//! delivery insert the statement itself. SQLite has no data-modifying CTEs: the same
//! two inserts go as two statements of one query string, one call into the database
//! (the delivery ids made as version 4 UUIDs from `randomblob`).
//!
//! An endpoint receives a message of a type when it is enabled and its subscription
//! (a JSON array of names) holds the type or `*` — [`Endpoint::receives`], in SQL;
//! `webhook.test` only ever goes to the one endpoint asked for.

use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, Statement, Value};
use support_access_core::StoreError;
use support_access_core::notify::{Delivery, EventType, Fanout, Message};

#[cfg(doc)]
use support_access_core::notify::Endpoint;

use super::rows::delivery_of;
use crate::entity::webhook_delivery;
use crate::error::from_db;
use crate::instant::stored;

const COLUMNS: &str = "id, org, endpoint_id, message_id, event_type, status, attempts, \
    last_status_code, last_error, next_attempt_at, created_at, leased_by, lease_until";

/// What to queue and whether to return the deliveries.
pub(super) struct Queue<'a> {
    /// The messages.
    pub messages: &'a [Message],
    /// Whom they go to.
    pub fanout: Fanout,
    /// Store a message even when no endpoint receives it (`enqueue`: a derived id is
    /// then queued at most once); otherwise it is stored only with a delivery.
    pub keep_unsent: bool,
    /// Return the deliveries made.
    pub returning: bool,
}

/// The SQL of a queue, for `backend`, with `n` messages.
fn sql(backend: DbBackend, queue: &Queue<'_>) -> String {
    let n = queue.messages.len();
    let p = |i: usize| match backend {
        DbBackend::Postgres => format!("${i}"),
        _ => format!("?{i}"),
    };
    let values: Vec<String> = (0..n)
        .map(|m| {
            let row: Vec<String> = (1..=5).map(|c| p(m * 5 + c)).collect();
            format!("({})", row.join(", "))
        })
        .collect();
    let messages = format!(
        "m(id, org, event_type, body, created_at) AS (VALUES {})",
        values.join(", ")
    );
    let receives = match queue.fanout {
        Fanout::Subscribers => {
            let subscribed = match backend {
                DbBackend::Postgres => {
                    "SELECT 1 FROM jsonb_array_elements_text(e.events::jsonb) AS s(name) \
                     WHERE s.name IN (m.event_type, '*')"
                }
                _ => "SELECT 1 FROM json_each(e.events) AS s WHERE s.value IN (m.event_type, '*')",
            };
            format!(
                "e.org = m.org AND e.disabled_at IS NULL AND m.event_type <> '{}' \
                 AND EXISTS ({subscribed})",
                EventType::WebhookTest.as_str()
            )
        }
        Fanout::Endpoint(_) => format!("e.org = m.org AND e.id = {}", p(n * 5 + 1)),
    };
    let keep = if queue.keep_unsent { "1 = 1" } else { "1 = 0" };
    let returning = match queue.returning {
        true => format!(" RETURNING {COLUMNS}"),
        false => String::new(),
    };
    let deliveries = "INSERT INTO webhook_deliveries (id, org, endpoint_id, message_id, \
        event_type, status, attempts, next_attempt_at, created_at)";
    match backend {
        DbBackend::Postgres => format!(
            "WITH {messages}, \
             t AS (SELECT gen_random_uuid() AS id, e.id AS endpoint_id, m.id AS message_id \
               FROM m JOIN webhook_endpoints e ON {receives}), \
             stored AS (INSERT INTO webhook_messages (id, org, event_type, body, created_at) \
               SELECT id, org, event_type, body, created_at FROM m \
               WHERE {keep} OR EXISTS (SELECT 1 FROM t WHERE t.message_id = m.id) \
               RETURNING id, org, event_type, created_at) \
             {deliveries} SELECT t.id, s.org, t.endpoint_id, s.id, s.event_type, 'pending', 0, \
               s.created_at, s.created_at FROM t JOIN stored s ON s.id = t.message_id\
             {returning}"
        ),
        _ => format!(
            "WITH {messages} \
             INSERT INTO webhook_messages (id, org, event_type, body, created_at) \
             SELECT id, org, event_type, body, created_at FROM m \
             WHERE {keep} OR EXISTS (SELECT 1 FROM webhook_endpoints e WHERE {receives}); \
             WITH {messages}, \
             t AS MATERIALIZED (SELECT hex(randomblob(16)) AS h, e.id AS endpoint_id, \
               m.id AS message_id, m.org, m.event_type, m.created_at \
               FROM m JOIN webhook_endpoints e ON {receives}) \
             {deliveries} SELECT unhex(substr(h, 1, 12) || '4' || substr(h, 14, 3) \
               || substr('89AB', 1 + unicode(substr(h, 17, 1)) % 4, 1) || substr(h, 18)), \
               org, endpoint_id, message_id, event_type, 'pending', 0, created_at, created_at \
             FROM t{returning};"
        ),
    }
}

/// Stores `queue.messages` and a pending delivery, due at its time, of each to every
/// endpoint of its org that the fanout names, inside `txn`. A message id already stored
/// is a `Conflict`. Returns the deliveries when asked to (in no particular order).
pub(super) async fn queue<C: ConnectionTrait>(
    txn: &C,
    queue: Queue<'_>,
) -> Result<Vec<Delivery>, StoreError> {
    if queue.messages.is_empty() {
        return Ok(Vec::new());
    }
    let backend = txn.get_database_backend();
    let mut values: Vec<Value> = Vec::with_capacity(queue.messages.len() * 5 + 1);
    for message in queue.messages {
        values.push(message.id.as_str().into());
        values.push(message.org.as_str().into());
        values.push(message.event_type.as_str().into());
        values.push(message.body.as_str().into());
        values.push(stored(message.created_at)?.into());
    }
    if let Fanout::Endpoint(id) = queue.fanout {
        values.push(id.as_uuid().into());
    }
    let statement = Statement::from_sql_and_values(backend, sql(backend, &queue), values);
    let conflict = |e| match from_db(e) {
        StoreError::Conflict(_) => StoreError::Conflict(format!(
            "a message of {} is already queued",
            queue
                .messages
                .iter()
                .map(|m| m.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
        other => other,
    };
    if !queue.returning {
        txn.execute_raw(statement).await.map_err(conflict)?;
        return Ok(Vec::new());
    }
    webhook_delivery::Entity::find()
        .from_raw_sql(statement)
        .all(txn)
        .await
        .map_err(conflict)?
        .into_iter()
        .map(delivery_of)
        .collect()
}
