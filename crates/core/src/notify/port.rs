//! The [`WebhookOutbox`] port: endpoints, and a durable outbox of deliveries handed to
//! one worker at a time.

use std::fmt::Debug;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use super::{Attempt, Delivery, DeliveryId, Endpoint, EndpointId, Message};
use crate::ids::OrgId;
use crate::ports::StoreError;

/// Whom an enqueued message goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fanout {
    /// Every enabled endpoint of the message's org subscribed to its type.
    Subscribers,
    /// This one endpoint of the org, whatever it is subscribed to (`webhook.test`).
    Endpoint(EndpointId),
}

/// A delivery handed to a worker, with what it needs to send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// The delivery as claimed (its `attempts` before this one).
    pub delivery: Delivery,
    /// Where it goes, with the signing secret.
    pub endpoint: Endpoint,
    /// What is sent.
    pub message: Message,
    /// The worker holds the delivery until then; after it, another worker may claim it.
    pub lease_until: DateTime<Utc>,
}

/// Which deliveries to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryFilter {
    /// The org; always from the caller's token.
    pub org: OrgId,
    /// Only this endpoint's.
    pub endpoint: Option<EndpointId>,
    /// At most this many, newest first.
    pub limit: u32,
}

/// The pending queue at a glance, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueStats {
    /// Pending deliveries of enabled endpoints.
    pub pending: u64,
    /// When the oldest of them was queued.
    pub oldest_pending_at: Option<DateTime<Utc>>,
}

/// Webhook endpoints and the outbox of their deliveries (SPEC §9).
///
/// A store that keeps an audit log also queues, in the transaction of every audit
/// event it stores (through `AuditLog::append` or as the event of a grant, approval or
/// change), the event's [`Message::for_audit_event`] for every endpoint of the org that
/// [`Endpoint::receives`] its type — so a notification is durable exactly when the
/// event it reports is.
///
/// Promises:
/// - `register` MUST store the endpoint exactly as given, secret included; it MUST
///   return `Conflict` for an id already stored.
/// - `endpoint` MUST return the org's endpoint, and `NotFound` for an unknown id or an
///   id of another org; `endpoints` MUST list the org's endpoints oldest first and
///   never another org's.
/// - `delete_endpoint` MUST remove the org's endpoint and its deliveries (none of them
///   is claimed again), and MUST return `NotFound` for an unknown id or one of another
///   org, changing nothing.
/// - `enqueue` MUST store the message and one pending delivery, due at the message's
///   `created_at`, for each endpoint the [`Fanout`] names — every enabled subscribed
///   endpoint of the org, or the one named (`NotFound` if it is not the org's) — in one
///   transaction, and MUST return the deliveries; a message whose id is already stored
///   MUST be refused with `Conflict`, storing nothing (so a message with a derived id
///   is queued at most once).
/// - Every audit event the store of the same data appends MUST queue its message as
///   above in the event's transaction: an event that is refused or fails queues
///   nothing; an event whose kind does not notify queues nothing.
/// - `claim` MUST hand a worker at most `limit` pending deliveries of enabled
///   endpoints that are due at `now` and not leased to another worker until after
///   `now`, earliest due first, leasing each to the worker until `now + lease`; two
///   claims racing (from any number of handles) MUST never both get one delivery
///   while its lease lasts. A lease that ran out lets another worker claim the
///   delivery (a worker that died), so delivery is at least once.
/// - `record_attempt` MUST apply the attempt ([`Delivery::after`]) to a delivery the
///   worker leases, clear the lease, and on [`Outcome::EndpointGone`](super::Outcome)
///   disable the endpoint (`disabled_at` = the attempt's time), in one transaction; it
///   MUST return `Conflict`, changing nothing, when the worker does not hold the lease
///   (it ran out and another claimed it, or the delivery is finished), and `NotFound`
///   for an unknown delivery.
/// - `deliveries` MUST list the org's deliveries (of the endpoint, if given), newest
///   first, at most `limit`, and never another org's.
/// - `stats` MUST count the pending deliveries of enabled endpoints and give the
///   earliest `created_at` among them.
/// - A second handle on the same data MUST see every write of the first.
#[async_trait]
pub trait WebhookOutbox: Send + Sync + Debug {
    /// Stores a new endpoint.
    async fn register(&self, endpoint: &Endpoint) -> Result<(), StoreError>;
    /// One endpoint of an org.
    async fn endpoint(&self, org: &OrgId, id: EndpointId) -> Result<Endpoint, StoreError>;
    /// An org's endpoints, oldest first.
    async fn endpoints(&self, org: &OrgId) -> Result<Vec<Endpoint>, StoreError>;
    /// Removes an endpoint and its deliveries.
    async fn delete_endpoint(&self, org: &OrgId, id: EndpointId) -> Result<(), StoreError>;
    /// Queues a message for the endpoints of `fanout`.
    async fn enqueue(&self, message: &Message, fanout: Fanout)
    -> Result<Vec<Delivery>, StoreError>;
    /// Leases due deliveries to `worker`.
    async fn claim(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Claimed>, StoreError>;
    /// Records an attempt of a delivery `worker` leases.
    async fn record_attempt(
        &self,
        id: DeliveryId,
        worker: &str,
        attempt: &Attempt,
    ) -> Result<Delivery, StoreError>;
    /// An org's deliveries, newest first.
    async fn deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<Delivery>, StoreError>;
    /// The pending queue's size and age.
    async fn stats(&self) -> Result<QueueStats, StoreError>;
}
