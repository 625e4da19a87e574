//! [`Notifications`]: the webhook endpoints API and the delivery worker's steps,
//! written once against the ports ([`WebhookOutbox`], [`Resolver`], [`Clock`],
//! [`Jitter`]). The gateway does the HTTP: it asks [`Notifications::claim`] for work,
//! posts each [`Outgoing`] (to one of its checked addresses, never following a
//! redirect) and reports what it got to [`Notifications::finish`].

use std::fmt::Debug;
use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Duration;
use serde_json::Value;
use thiserror::Error;

use super::port::{Claimed, DeliveryFilter, Fanout, QueueStats, WebhookOutbox};
use super::retry::{Attempt, AttemptResult, RetryPolicy};
use super::signature::{Signed, sign};
use super::target::{Target, TargetError, check_addresses, check_url};
use super::{
    Delivery, Endpoint, EndpointId, Message, Secret, SecretError, Subscription, SubscriptionError,
    grant_data,
};
use crate::ids::{GrantId, OrgId};
use crate::ports::{Clock, GrantStore, StoreError};

/// The most deliveries one listing returns.
pub const MAX_DELIVERIES: u32 = 100;

/// Resolves a target's host to the addresses a delivery may connect to (DNS).
#[async_trait]
pub trait Resolver: Send + Sync + Debug {
    /// Every address `host` resolves to; an error text when it resolves to none.
    async fn resolve(&self, host: &str, port: u16) -> Result<Vec<IpAddr>, String>;
}

/// The randomness of retry jitter: a number in `[0, 1)` per decision.
pub trait Jitter: Send + Sync + Debug {
    /// The next number in `[0, 1)`.
    fn unit(&self) -> f64;
}

/// Jitter from the operating system's random source.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemJitter;

impl Jitter for SystemJitter {
    fn unit(&self) -> f64 {
        let mut bytes = [0u8; 8];
        if aws_lc_rs::rand::fill(&mut bytes).is_err() {
            return 0.5;
        }
        (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The same number every time (tests).
#[derive(Debug, Clone, Copy)]
pub struct FixedJitter(pub f64);

impl Jitter for FixedJitter {
    fn unit(&self) -> f64 {
        self.0
    }
}

/// `notifications.*` as the service needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifyConfig {
    /// `allow_insecure_targets`: `http://` and any address (tests, local receivers).
    pub allow_insecure_targets: bool,
    /// The backoff and `max_age`.
    pub retry: RetryPolicy,
    /// How long a worker holds a claimed delivery; longer than `timeout` plus the time
    /// to record the attempt, so that a live worker never loses its lease.
    pub lease: Duration,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            allow_insecure_targets: false,
            retry: RetryPolicy::default(),
            lease: Duration::seconds(60),
        }
    }
}

/// Why an endpoint was not registered, or a call on one refused.
#[derive(Debug, Error)]
pub enum WebhookError {
    /// The URL is malformed, not `https://`, or carries credentials (`422`).
    #[error(transparent)]
    Url(TargetError),
    /// The URL's host resolves to an address a webhook may not reach, or to none
    /// (`422`).
    #[error(transparent)]
    Target(TargetError),
    /// The host could not be resolved (`422`).
    #[error("the URL's host does not resolve: {0}")]
    Unresolvable(String),
    /// `events` is empty, mixes `*` with types, or names an unknown type (`422`).
    #[error(transparent)]
    Events(#[from] SubscriptionError),
    /// No secret could be made (the random source failed).
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// No such endpoint in the admin's org (`404`).
    #[error("no such webhook endpoint")]
    NotFound,
    /// The endpoint was disabled by a `410 Gone` answer; nothing is sent to it any more,
    /// so a test delivery would never leave (`409`). Register the URL again to resume.
    #[error(
        "the webhook endpoint is disabled: it answered 410 Gone; register it again to receive events"
    )]
    Disabled,
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl WebhookError {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Url(e) | Self::Target(e) => e.code(),
            Self::Unresolvable(_) => "webhook_target_forbidden",
            Self::Events(_) => "webhook_events_invalid",
            Self::Secret(_) => "internal_error",
            Self::NotFound => "webhook_not_found",
            Self::Disabled => "webhook_disabled",
            Self::Store(e) => e.code(),
        }
    }
}

impl From<StoreError> for WebhookError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::NotFound,
            other => Self::Store(other),
        }
    }
}

/// A new endpoint and its secret's text, shown only in the answer to its registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// The endpoint as stored.
    pub endpoint: Endpoint,
    /// `whsec_<base64>`.
    pub secret: String,
}

/// What the worker posts for one claimed delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The claim it came from (pass it back to [`Notifications::finish`]).
    pub claimed: Claimed,
    /// Where to post.
    pub url: String,
    /// The addresses checked for it; connect only to one of these.
    pub addresses: Vec<IpAddr>,
    /// The Standard Webhooks headers of this attempt.
    pub signed: Signed,
    /// The body, exactly as queued.
    pub body: String,
}

/// The webhook service (SPEC §9).
#[derive(Debug, Clone)]
pub struct Notifications {
    outbox: Arc<dyn WebhookOutbox>,
    resolver: Arc<dyn Resolver>,
    clock: Arc<dyn Clock>,
    jitter: Arc<dyn Jitter>,
    config: NotifyConfig,
}

impl Notifications {
    /// The service over its ports.
    pub fn new(
        outbox: Arc<dyn WebhookOutbox>,
        resolver: Arc<dyn Resolver>,
        clock: Arc<dyn Clock>,
        jitter: Arc<dyn Jitter>,
        config: NotifyConfig,
    ) -> Self {
        Self {
            outbox,
            resolver,
            clock,
            jitter,
            config,
        }
    }

    /// Checks `url` and what its host resolves to now; returns both.
    async fn checked(&self, url: &str) -> Result<(Target, Vec<IpAddr>), WebhookError> {
        let insecure = self.config.allow_insecure_targets;
        let target = check_url(url, insecure).map_err(WebhookError::Url)?;
        let addresses = match target.literal {
            Some(address) => vec![address],
            None => self
                .resolver
                .resolve(&target.host, target.port)
                .await
                .map_err(WebhookError::Unresolvable)?,
        };
        check_addresses(&addresses, insecure).map_err(WebhookError::Target)?;
        Ok((target, addresses))
    }

    /// Registers an endpoint of `org` (`POST /webhooks`): the URL checked (scheme,
    /// credentials, every resolved address), the events parsed, a fresh secret.
    pub async fn register(
        &self,
        org: &OrgId,
        url: &str,
        events: &[String],
        description: Option<String>,
    ) -> Result<Registered, WebhookError> {
        let events = Subscription::parse(events)?;
        let (target, _) = self.checked(url).await?;
        let secret = Secret::generate()?;
        let endpoint = Endpoint::new(
            org.clone(),
            &target,
            events,
            description,
            secret,
            self.clock.now(),
        );
        self.outbox.register(&endpoint).await?;
        Ok(Registered {
            secret: endpoint.secret.expose(),
            endpoint,
        })
    }

    /// The org's endpoints (`GET /webhooks`; the caller leaves the secrets out).
    pub async fn list(&self, org: &OrgId) -> Result<Vec<Endpoint>, WebhookError> {
        Ok(self.outbox.endpoints(org).await?)
    }

    /// Removes an endpoint of the org and its deliveries (`DELETE /webhooks/{id}`).
    pub async fn delete(&self, org: &OrgId, id: EndpointId) -> Result<(), WebhookError> {
        Ok(self.outbox.delete_endpoint(org, id).await?)
    }

    /// Queues a `webhook.test` delivery to one endpoint of the org
    /// (`POST /webhooks/{id}/test`).
    /// A disabled endpoint is refused (`Disabled`): its delivery would never be claimed.
    pub async fn test(&self, org: &OrgId, id: EndpointId) -> Result<Delivery, WebhookError> {
        if self.outbox.endpoint(org, id).await?.disabled_at.is_some() {
            return Err(WebhookError::Disabled);
        }
        let message = Message::test(org.clone(), self.clock.now());
        self.outbox
            .enqueue(&message, Fanout::Endpoint(id))
            .await?
            .pop()
            .ok_or(WebhookError::NotFound)
    }

    /// The endpoint's recent deliveries, newest first (`GET /webhooks/{id}/deliveries`).
    pub async fn deliveries(
        &self,
        org: &OrgId,
        id: EndpointId,
        limit: u32,
    ) -> Result<Vec<Delivery>, WebhookError> {
        self.outbox.endpoint(org, id).await?;
        Ok(self
            .outbox
            .deliveries(&DeliveryFilter {
                org: org.clone(),
                endpoint: Some(id),
                limit: limit.clamp(1, MAX_DELIVERIES),
            })
            .await?)
    }

    /// Queues the one `grant.expiring` notification of a grant (`data`: the grant as
    /// SPEC §5 shows it). Returns whether it was queued now (`false`: it was before).
    pub async fn warn_expiry(
        &self,
        org: &OrgId,
        grant: GrantId,
        data: &Value,
    ) -> Result<bool, StoreError> {
        let message = Message::expiry_warning(org.clone(), grant, data, self.clock.now());
        self.queue_once(&message).await
    }

    /// Queues `grant.expiring` for every open grant that ends within `window` of now
    /// (`notifications.expiry_warning`) and has not ended yet, once per grant however
    /// often it is called and on however many instances (the message id is derived
    /// from the grant). At most `limit` grants, soonest end first. Returns how many
    /// were queued by this call.
    pub async fn warn_expiring(
        &self,
        grants: &dyn GrantStore,
        window: Duration,
        limit: u32,
    ) -> Result<u32, StoreError> {
        let now = self.clock.now();
        let mut queued = 0;
        for grant in grants.due_for_expiry(now + window, limit).await? {
            if grant.expires_at <= now {
                continue;
            }
            let data = grant_data(&grant, now);
            if self.warn_expiry(&grant.org, grant.id, &data).await? {
                queued += 1;
            }
        }
        Ok(queued)
    }

    /// Queues the `audit.checkpoint` notification of a signed checkpoint (its note
    /// text), once per org and size. Returns whether it was queued now.
    pub async fn publish_checkpoint(
        &self,
        org: &OrgId,
        size: u64,
        note: &str,
    ) -> Result<bool, StoreError> {
        let message = Message::checkpoint(org.clone(), size, note, self.clock.now());
        self.queue_once(&message).await
    }

    async fn queue_once(&self, message: &Message) -> Result<bool, StoreError> {
        match self.outbox.enqueue(message, Fanout::Subscribers).await {
            Ok(_) => Ok(true),
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// Claims up to `limit` due deliveries for `worker` and prepares each attempt:
    /// the target re-checked against what its host resolves to now (a delivery whose
    /// target fails the check is recorded as unreachable at once and not returned),
    /// the headers signed at the attempt's time.
    pub async fn claim(&self, worker: &str, limit: u32) -> Result<Vec<Outgoing>, StoreError> {
        let now = self.clock.now();
        let claimed = self
            .outbox
            .claim(worker, now, self.config.lease, limit)
            .await?;
        let mut outgoing = Vec::with_capacity(claimed.len());
        for claim in claimed {
            match self.checked(&claim.endpoint.url).await {
                Ok((target, addresses)) => {
                    let signed = sign(
                        &claim.endpoint.secret,
                        claim.message.id.as_str(),
                        now.timestamp(),
                        claim.message.body.as_bytes(),
                    );
                    outgoing.push(Outgoing {
                        url: target.url,
                        addresses,
                        signed,
                        body: claim.message.body.clone(),
                        claimed: claim,
                    });
                }
                Err(refused) => {
                    let result = AttemptResult::Unreachable(refused.to_string());
                    self.finish(&claim, worker, result).await?;
                }
            }
        }
        Ok(outgoing)
    }

    /// Records what an attempt got; returns the delivery as it now stands.
    pub async fn finish(
        &self,
        claimed: &Claimed,
        worker: &str,
        result: AttemptResult,
    ) -> Result<Delivery, StoreError> {
        let attempt = Attempt::decide(
            &claimed.delivery,
            result,
            self.clock.now(),
            &self.config.retry,
            self.jitter.unit(),
        );
        self.outbox
            .record_attempt(claimed.delivery.id, worker, &attempt)
            .await
    }

    /// The pending queue's size and age (metrics).
    pub async fn stats(&self) -> Result<QueueStats, StoreError> {
        self.outbox.stats().await
    }
}
