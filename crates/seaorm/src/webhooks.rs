//! [`WebhookOutbox`] on the `webhook_endpoints`, `webhook_messages` and
//! `webhook_deliveries` tables (migration `m20261202_000010_webhooks`).
//!
//! Messages enter the outbox in the transaction of the audit event they report:
//! [`queue_for_events`] is called by `audit/chain.rs` `append_in`, the one place events
//! enter the log, and queues a batch's messages and deliveries in one statement
//! (`webhooks/queue.rs`). Claims lease due deliveries to one worker ([`claim`]: on PostgreSQL
//! `FOR UPDATE SKIP LOCKED`, so instances sharing the database skip each other's
//! rows; on SQLite the one writer); an attempt is recorded only by the lease holder.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Order, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use support_access_core::StoreError;
use support_access_core::audit::AuditEvent;
use support_access_core::grant::Grant;
use support_access_core::ids::OrgId;
use support_access_core::notify::port::QueueStats;
use support_access_core::notify::{
    Attempt, Claimed, Delivery, DeliveryFilter, DeliveryId, DeliveryStatus, Endpoint, EndpointId,
    Fanout, Message, Outcome, WebhookOutbox,
};

use crate::SeaOrmStore;
use crate::entity::{webhook_delivery, webhook_endpoint};
use crate::error::from_db;
use crate::instant::stored;

mod claim;
mod queue;
mod rows;

use queue::Queue;
use rows::{delivery_of, endpoint_of, endpoint_row};

/// Queues the message of each sealed event whose kind notifies (of a change of
/// `grant`, if given), for the endpoints of its org that receive it, inside the
/// transaction that stores the events: one statement for the whole batch (see
/// [`queue`]), and none at all when no event notifies (`request.allowed`,
/// `request.completed`, …). A message no endpoint receives is not stored.
pub(crate) async fn queue_for_events<C: ConnectionTrait>(
    txn: &C,
    events: &[Option<AuditEvent>],
    grant: Option<&Grant>,
) -> Result<(), StoreError> {
    let messages: Vec<Message> = events
        .iter()
        .flatten()
        .filter_map(|event| Message::for_audit_event_about(event, grant))
        .collect();
    queue::queue(
        txn,
        Queue {
            messages: &messages,
            fanout: Fanout::Subscribers,
            keep_unsent: false,
            returning: false,
        },
    )
    .await?;
    Ok(())
}

async fn find_endpoint<C: ConnectionTrait>(
    db: &C,
    org: &OrgId,
    id: EndpointId,
) -> Result<Endpoint, StoreError> {
    webhook_endpoint::Entity::find_by_id(id.as_uuid())
        .filter(webhook_endpoint::Column::Org.eq(org.as_str()))
        .one(db)
        .await
        .map_err(from_db)?
        .map(endpoint_of)
        .transpose()?
        .ok_or(StoreError::NotFound)
}

/// The ids of enabled endpoints, for `IN` filters.
fn enabled_ids() -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .column(webhook_endpoint::Column::Id)
        .from(webhook_endpoint::Entity)
        .and_where(Expr::col(webhook_endpoint::Column::DisabledAt).is_null())
        .to_owned()
}

#[async_trait]
impl WebhookOutbox for SeaOrmStore {
    async fn register(&self, endpoint: &Endpoint) -> Result<(), StoreError> {
        let _guard = self.write_guard().await;
        webhook_endpoint::Entity::insert(endpoint_row(endpoint)?)
            .exec_without_returning(&self.inner.writer)
            .await
            .map_err(from_db)?;
        Ok(())
    }

    async fn endpoint(&self, org: &OrgId, id: EndpointId) -> Result<Endpoint, StoreError> {
        find_endpoint(&self.inner.db, org, id).await
    }

    async fn endpoints(&self, org: &OrgId) -> Result<Vec<Endpoint>, StoreError> {
        webhook_endpoint::Entity::find()
            .filter(webhook_endpoint::Column::Org.eq(org.as_str()))
            .order_by(webhook_endpoint::Column::CreatedAt, Order::Asc)
            .order_by(webhook_endpoint::Column::Id, Order::Asc)
            .all(&self.inner.db)
            .await
            .map_err(from_db)?
            .into_iter()
            .map(endpoint_of)
            .collect()
    }

    async fn delete_endpoint(&self, org: &OrgId, id: EndpointId) -> Result<(), StoreError> {
        let (_guard, txn) = self.begin_write().await?;
        find_endpoint(&txn, org, id).await?;
        webhook_delivery::Entity::delete_many()
            .filter(webhook_delivery::Column::EndpointId.eq(id.as_uuid()))
            .exec(&txn)
            .await
            .map_err(from_db)?;
        webhook_endpoint::Entity::delete_by_id(id.as_uuid())
            .exec(&txn)
            .await
            .map_err(from_db)?;
        txn.commit().await.map_err(from_db)
    }

    async fn enqueue(
        &self,
        message: &Message,
        fanout: Fanout,
    ) -> Result<Vec<Delivery>, StoreError> {
        let (_guard, txn) = self.begin_write().await?;
        let queued = queue::queue(
            &txn,
            Queue {
                messages: std::slice::from_ref(message),
                fanout,
                keep_unsent: true,
                returning: true,
            },
        )
        .await?;
        if matches!(fanout, Fanout::Endpoint(_)) && queued.is_empty() {
            // Not the org's endpoint: the message is not kept either (no commit).
            return Err(StoreError::NotFound);
        }
        txn.commit().await.map_err(from_db)?;
        Ok(queued)
    }

    async fn claim(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Claimed>, StoreError> {
        let (_guard, txn) = self.begin_write().await?;
        let claimed = claim::claim(&txn, self.inner.backend, worker, now, lease, limit).await?;
        txn.commit().await.map_err(from_db)?;
        Ok(claimed)
    }

    async fn record_attempt(
        &self,
        id: DeliveryId,
        worker: &str,
        attempt: &Attempt,
    ) -> Result<Delivery, StoreError> {
        let (_guard, txn) = self.begin_write().await?;
        let row = webhook_delivery::Entity::find_by_id(id.as_uuid())
            .one(&txn)
            .await
            .map_err(from_db)?
            .ok_or(StoreError::NotFound)?;
        let lost = || StoreError::Conflict(format!("delivery {id} is not leased to {worker}"));
        if row.leased_by.as_deref() != Some(worker)
            || row.status != DeliveryStatus::Pending.as_str()
        {
            return Err(lost());
        }
        let attempts = row.attempts;
        let mut attempt = attempt.clone();
        attempt.at = stored(attempt.at)?;
        let after = delivery_of(row)?.after(&attempt);
        let updated = webhook_delivery::Entity::update_many()
            .col_expr(
                webhook_delivery::Column::Status,
                Expr::value(after.status.as_str()),
            )
            .col_expr(
                webhook_delivery::Column::Attempts,
                Expr::value(i32::try_from(after.attempts).unwrap_or(i32::MAX)),
            )
            .col_expr(
                webhook_delivery::Column::LastStatusCode,
                Expr::value(after.last_status_code.map(i32::from)),
            )
            .col_expr(
                webhook_delivery::Column::LastError,
                Expr::value(after.last_error.clone()),
            )
            .col_expr(
                webhook_delivery::Column::NextAttemptAt,
                Expr::value(after.next_attempt_at.map(stored).transpose()?),
            )
            .col_expr(
                webhook_delivery::Column::LeasedBy,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                webhook_delivery::Column::LeaseUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(webhook_delivery::Column::Id.eq(id.as_uuid()))
            .filter(webhook_delivery::Column::LeasedBy.eq(worker))
            .filter(webhook_delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
            .filter(webhook_delivery::Column::Attempts.eq(attempts))
            .exec(&txn)
            .await
            .map_err(from_db)?;
        if updated.rows_affected != 1 {
            return Err(lost());
        }
        if attempt.outcome == Outcome::EndpointGone {
            webhook_endpoint::Entity::update_many()
                .col_expr(
                    webhook_endpoint::Column::DisabledAt,
                    Expr::value(Some(attempt.at)),
                )
                .filter(webhook_endpoint::Column::Id.eq(after.endpoint.as_uuid()))
                .filter(webhook_endpoint::Column::DisabledAt.is_null())
                .exec(&txn)
                .await
                .map_err(from_db)?;
        }
        txn.commit().await.map_err(from_db)?;
        Ok(after)
    }

    async fn deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<Delivery>, StoreError> {
        let mut select = webhook_delivery::Entity::find()
            .filter(webhook_delivery::Column::Org.eq(filter.org.as_str()));
        if let Some(endpoint) = filter.endpoint {
            select = select.filter(webhook_delivery::Column::EndpointId.eq(endpoint.as_uuid()));
        }
        select
            .order_by(webhook_delivery::Column::CreatedAt, Order::Desc)
            .order_by(webhook_delivery::Column::Id, Order::Desc)
            .limit(u64::from(filter.limit))
            .all(&self.inner.db)
            .await
            .map_err(from_db)?
            .into_iter()
            .map(delivery_of)
            .collect()
    }

    async fn stats(&self) -> Result<QueueStats, StoreError> {
        let pending = || {
            webhook_delivery::Entity::find()
                .filter(webhook_delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
                .filter(webhook_delivery::Column::EndpointId.in_subquery(enabled_ids()))
        };
        let count = pending().count(&self.inner.db).await.map_err(from_db)?;
        let oldest = pending()
            .order_by(webhook_delivery::Column::CreatedAt, Order::Asc)
            .one(&self.inner.db)
            .await
            .map_err(from_db)?
            .map(|row| row.created_at);
        Ok(QueueStats {
            pending: count,
            oldest_pending_at: oldest,
        })
    }
}
