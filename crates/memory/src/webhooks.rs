//! Webhook endpoints and their outbox in memory: [`WebhookOutbox`] for
//! [`InMemoryStore`], under the store's one lock, so that an audit event and the
//! deliveries that report it are stored together (`State::append` calls
//! [`Outbox::queue_for_event`]) and a claim is one step.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use support_access_core::StoreError;
use support_access_core::audit::AuditEvent;
use support_access_core::grant::Grant;
use support_access_core::ids::OrgId;
use support_access_core::notify::port::QueueStats;
use support_access_core::notify::{
    Attempt, Claimed, Delivery, DeliveryFilter, DeliveryId, DeliveryStatus, Endpoint, EndpointId,
    Fanout, Message, MessageId, Outcome, WebhookOutbox,
};
use support_access_core::time::to_micros;

use crate::InMemoryStore;

#[derive(Debug, Clone)]
struct Lease {
    worker: String,
    until: DateTime<Utc>,
}

/// Endpoints, messages and deliveries.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    /// Endpoints in registration order.
    endpoints: Vec<Endpoint>,
    messages: HashMap<MessageId, Message>,
    /// Deliveries in queueing order (the newest last).
    deliveries: Vec<Delivery>,
    leases: HashMap<DeliveryId, Lease>,
}

impl Outbox {
    /// Queues `message` for the endpoints `fanout` names; refuses an id already stored.
    fn queue(&mut self, message: &Message, fanout: Fanout) -> Result<Vec<Delivery>, StoreError> {
        if self.messages.contains_key(&message.id) {
            return Err(StoreError::Conflict(format!(
                "message {} is already queued",
                message.id
            )));
        }
        let targets: Vec<EndpointId> = match fanout {
            Fanout::Subscribers => self
                .endpoints
                .iter()
                .filter(|e| e.org == message.org && e.receives(message.event_type))
                .map(|e| e.id)
                .collect(),
            Fanout::Endpoint(id) => {
                self.endpoints
                    .iter()
                    .find(|e| e.id == id && e.org == message.org)
                    .ok_or(StoreError::NotFound)?;
                vec![id]
            }
        };
        let mut message = message.clone();
        message.created_at = to_micros(message.created_at);
        let queued: Vec<Delivery> = targets
            .into_iter()
            .map(|endpoint| Delivery::queued(&message, endpoint))
            .collect();
        self.deliveries.extend(queued.iter().cloned());
        self.messages.insert(message.id.clone(), message);
        Ok(queued)
    }

    /// Queues the message reporting `event` (of a change of `grant`, if given), if its
    /// kind notifies and anyone listens; called for every event the log stores, under
    /// the same lock.
    pub(crate) fn queue_for_event(
        &mut self,
        event: &AuditEvent,
        grant: Option<&Grant>,
    ) -> Result<(), StoreError> {
        let Some(message) = Message::for_audit_event_about(event, grant) else {
            return Ok(());
        };
        let listens = self
            .endpoints
            .iter()
            .any(|e| e.org == message.org && e.receives(message.event_type));
        if listens {
            self.queue(&message, Fanout::Subscribers)?;
        }
        Ok(())
    }

    /// Whether the queue would accept the message of `event` (checked before the event
    /// is stored, so a refusal stores neither).
    pub(crate) fn check_event(&self, event_id: uuid::Uuid) -> Result<(), StoreError> {
        if self
            .messages
            .contains_key(&MessageId::for_audit_event(event_id))
        {
            Err(StoreError::Conflict(format!(
                "the message of event {event_id} is already queued"
            )))
        } else {
            Ok(())
        }
    }

    fn endpoint_of(&self, id: EndpointId) -> Option<&Endpoint> {
        self.endpoints.iter().find(|e| e.id == id)
    }
}

#[async_trait]
impl WebhookOutbox for InMemoryStore {
    async fn register(&self, endpoint: &Endpoint) -> Result<(), StoreError> {
        self.stalled().await;
        let mut state = self.lock()?;
        let outbox = &mut state.outbox;
        if outbox.endpoint_of(endpoint.id).is_some() {
            return Err(StoreError::Conflict(format!(
                "endpoint {} exists",
                endpoint.id
            )));
        }
        let mut endpoint = endpoint.clone();
        endpoint.created_at = to_micros(endpoint.created_at);
        endpoint.disabled_at = endpoint.disabled_at.map(to_micros);
        outbox.endpoints.push(endpoint);
        Ok(())
    }

    async fn endpoint(&self, org: &OrgId, id: EndpointId) -> Result<Endpoint, StoreError> {
        let state = self.lock()?;
        state
            .outbox
            .endpoint_of(id)
            .filter(|e| &e.org == org)
            .cloned()
            .ok_or(StoreError::NotFound)
    }

    async fn endpoints(&self, org: &OrgId) -> Result<Vec<Endpoint>, StoreError> {
        let state = self.lock()?;
        Ok(state
            .outbox
            .endpoints
            .iter()
            .filter(|e| &e.org == org)
            .cloned()
            .collect())
    }

    async fn delete_endpoint(&self, org: &OrgId, id: EndpointId) -> Result<(), StoreError> {
        self.stalled().await;
        let mut state = self.lock()?;
        let outbox = &mut state.outbox;
        let before = outbox.endpoints.len();
        outbox.endpoints.retain(|e| !(e.id == id && &e.org == org));
        if outbox.endpoints.len() == before {
            return Err(StoreError::NotFound);
        }
        let gone: Vec<DeliveryId> = outbox
            .deliveries
            .iter()
            .filter(|d| d.endpoint == id)
            .map(|d| d.id)
            .collect();
        outbox.deliveries.retain(|d| d.endpoint != id);
        for delivery in gone {
            outbox.leases.remove(&delivery);
        }
        Ok(())
    }

    async fn enqueue(
        &self,
        message: &Message,
        fanout: Fanout,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.stalled().await;
        self.lock()?.outbox.queue(message, fanout)
    }

    async fn claim(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<Claimed>, StoreError> {
        self.stalled().await;
        let mut state = self.lock()?;
        let outbox = &mut state.outbox;
        let now = to_micros(now);
        let until = to_micros(now + lease);
        let mut due: BTreeMap<(DateTime<Utc>, usize), usize> = BTreeMap::new();
        for (index, d) in outbox.deliveries.iter().enumerate() {
            let Some(at) = d.next_attempt_at else {
                continue;
            };
            let free = outbox.leases.get(&d.id).is_none_or(|l| l.until <= now);
            let enabled = outbox
                .endpoint_of(d.endpoint)
                .is_some_and(|e| e.disabled_at.is_none());
            if d.status == DeliveryStatus::Pending && at <= now && free && enabled {
                due.insert((at, index), index);
            }
        }
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut claimed = Vec::new();
        for index in due.into_values().take(limit) {
            let delivery = outbox.deliveries[index].clone();
            let endpoint = outbox
                .endpoint_of(delivery.endpoint)
                .cloned()
                .ok_or(StoreError::NotFound)?;
            let message = outbox
                .messages
                .get(&delivery.message)
                .cloned()
                .ok_or_else(|| StoreError::Backend("a delivery without its message".into()))?;
            outbox.leases.insert(
                delivery.id,
                Lease {
                    worker: worker.to_owned(),
                    until,
                },
            );
            claimed.push(Claimed {
                delivery,
                endpoint,
                message,
                lease_until: until,
            });
        }
        Ok(claimed)
    }

    async fn record_attempt(
        &self,
        id: DeliveryId,
        worker: &str,
        attempt: &Attempt,
    ) -> Result<Delivery, StoreError> {
        self.stalled().await;
        let mut state = self.lock()?;
        let outbox = &mut state.outbox;
        let index = outbox
            .deliveries
            .iter()
            .position(|d| d.id == id)
            .ok_or(StoreError::NotFound)?;
        let held = outbox.leases.get(&id).is_some_and(|l| l.worker == worker);
        if !held || outbox.deliveries[index].status != DeliveryStatus::Pending {
            return Err(StoreError::Conflict(format!(
                "delivery {id} is not leased to {worker}"
            )));
        }
        let mut attempt = attempt.clone();
        attempt.at = to_micros(attempt.at);
        let after = outbox.deliveries[index].after(&attempt);
        outbox.deliveries[index] = after.clone();
        outbox.leases.remove(&id);
        if attempt.outcome == Outcome::EndpointGone {
            let endpoint = after.endpoint;
            if let Some(e) = outbox.endpoints.iter_mut().find(|e| e.id == endpoint) {
                e.disabled_at.get_or_insert(attempt.at);
            }
        }
        Ok(after)
    }

    async fn deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<Delivery>, StoreError> {
        let state = self.lock()?;
        let limit = usize::try_from(filter.limit).unwrap_or(usize::MAX);
        Ok(state
            .outbox
            .deliveries
            .iter()
            .rev()
            .filter(|d| d.org == filter.org && filter.endpoint.is_none_or(|e| e == d.endpoint))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn stats(&self) -> Result<QueueStats, StoreError> {
        let state = self.lock()?;
        let outbox = &state.outbox;
        let mut stats = QueueStats::default();
        for d in &outbox.deliveries {
            let enabled = outbox
                .endpoint_of(d.endpoint)
                .is_some_and(|e| e.disabled_at.is_none());
            if d.status == DeliveryStatus::Pending && enabled {
                stats.pending += 1;
                stats.oldest_pending_at = Some(
                    stats
                        .oldest_pending_at
                        .map_or(d.created_at, |t| t.min(d.created_at)),
                );
            }
        }
        Ok(stats)
    }
}
