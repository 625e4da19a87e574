//! Webhooks as the gateway runs them (SPEC §9): the [`Webhooks`] runtime over the core's
//! [`Notifications`] service — the delivery worker that claims due deliveries, posts
//! each signed message (`notify/send.rs`: to a checked address only, no redirects,
//! bounded in time) and records the outcome; the `grant.expiring` warnings of the
//! sweep; the `audit.checkpoint` notifications of the checkpointer; and the queue
//! metrics. The DNS [`SystemResolver`] is the one the service checks targets with.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use support_access_core::notify::service::{Notifications, Outgoing, Resolver};
use support_access_core::notify::{AttemptResult, DeliveryStatus, grant_data};
use support_access_core::{Clock, GrantStore};
use tokio::task::JoinHandle;

use crate::metrics::{Metrics, StoreOp};
use crate::store_call::bounded;

mod send;

/// Deliveries one worker round claims at most.
const CLAIM_BATCH: u32 = 16;

/// Resolves with the operating system's resolver (`getaddrinfo` via tokio).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

#[async_trait]
impl Resolver for SystemResolver {
    async fn resolve(&self, host: &str, port: u16) -> Result<Vec<IpAddr>, String> {
        let found = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| e.to_string())?;
        let addresses: Vec<IpAddr> = found.map(|address| address.ip()).collect();
        match addresses.is_empty() {
            true => Err(format!("{host} resolves to no address")),
            false => Ok(addresses),
        }
    }
}

/// The webhook runtime of one gateway instance.
#[derive(Debug)]
pub struct Webhooks {
    service: Notifications,
    grants: Arc<dyn GrantStore>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    client: send::Client,
    /// `notifications.expiry_warning`.
    expiry_warning: chrono::Duration,
    store_timeout: Duration,
    /// This instance's name in the outbox's leases.
    worker: String,
}

/// What the webhook runtime is built from (wiring); the metrics come from the app.
#[derive(Debug)]
pub(crate) struct WebhookParts {
    pub service: Notifications,
    pub grants: Arc<dyn GrantStore>,
    pub clock: Arc<dyn Clock>,
    pub settings: crate::config::Notifications,
    client: send::Client,
}

impl WebhookParts {
    /// The parts; the HTTP client's TLS settings are made here.
    pub(crate) fn new(
        service: Notifications,
        grants: Arc<dyn GrantStore>,
        clock: Arc<dyn Clock>,
        settings: crate::config::Notifications,
    ) -> Result<Self, crate::tokens::KeyError> {
        Ok(Self {
            client: send::Client::new(settings.timeout)?,
            service,
            grants,
            clock,
            settings,
        })
    }
}

impl Webhooks {
    /// The runtime over its parts, counted in `metrics`.
    pub(crate) fn new(parts: WebhookParts, metrics: Arc<Metrics>, store_timeout: Duration) -> Self {
        Self {
            service: parts.service,
            grants: parts.grants,
            clock: parts.clock,
            metrics,
            client: parts.client,
            expiry_warning: chrono::Duration::from_std(parts.settings.expiry_warning)
                .unwrap_or(chrono::Duration::hours(24)),
            store_timeout,
            worker: format!("gateway-{}", uuid::Uuid::new_v4()),
        }
    }

    /// The core service (the management API's calls).
    pub fn service(&self) -> &Notifications {
        &self.service
    }

    /// One worker round: claims the due deliveries, posts them all at once and records
    /// each outcome. Returns how many attempts were made.
    pub async fn deliver_due(&self) -> usize {
        let claim = self.service.claim(&self.worker, CLAIM_BATCH);
        let outgoing =
            match bounded(&self.metrics, self.store_timeout, StoreOp::webhook, claim).await {
                Ok(outgoing) => outgoing,
                Err(error) => {
                    tracing::warn!(error = %error, "claiming webhook deliveries failed");
                    return 0;
                }
            };
        let made = outgoing.len();
        let attempts = outgoing.into_iter().map(|outgoing| self.attempt(outgoing));
        futures::future::join_all(attempts).await;
        self.observe_queue().await;
        made
    }

    async fn attempt(&self, outgoing: Outgoing) {
        let result = self.client.post(&outgoing).await;
        if let AttemptResult::Unreachable(why) = &result {
            tracing::info!(url = %outgoing.url, why = %why, "webhook receiver unreachable");
        }
        let finish = self.service.finish(&outgoing.claimed, &self.worker, result);
        match bounded(&self.metrics, self.store_timeout, StoreOp::webhook, finish).await {
            Ok(delivery) => {
                let kind = match delivery.status {
                    DeliveryStatus::Delivered => "delivered",
                    DeliveryStatus::Pending => "retry",
                    DeliveryStatus::Failed if delivery.last_status_code == Some(410) => {
                        "endpoint_gone"
                    }
                    DeliveryStatus::Failed => "failed",
                };
                self.metrics.webhooks().attempt(kind);
            }
            // The lease ran out and another worker has it, or the store failed: the
            // delivery stays pending and is attempted again (at least once).
            Err(error) => tracing::warn!(error = %error, "recording a webhook attempt failed"),
        }
    }

    /// Refreshes the queue depth and the oldest pending delivery's age.
    pub async fn observe_queue(&self) {
        let stats = self.service.stats();
        if let Ok(stats) = bounded(&self.metrics, self.store_timeout, StoreOp::webhook, stats).await
        {
            let age = stats
                .oldest_pending_at
                .map(|at| (self.clock.now() - at).to_std().unwrap_or_default())
                .unwrap_or_default();
            self.metrics.webhooks().queue(stats.pending, age);
        }
    }

    /// Queues the one `grant.expiring` of every open grant that ends within
    /// `notifications.expiry_warning` (a grant warned before is not warned again).
    pub async fn warn_expiring(&self) {
        let now = self.clock.now();
        let due = self.grants.due_for_expiry(now + self.expiry_warning, 100);
        let grants = match bounded(&self.metrics, self.store_timeout, StoreOp::webhook, due).await {
            Ok(grants) => grants,
            Err(error) => {
                tracing::warn!(error = %error, "listing grants to warn of failed");
                return;
            }
        };
        for grant in grants.iter().filter(|grant| grant.expires_at > now) {
            let data = grant_data(grant, now);
            let warn = self.service.warn_expiry(&grant.org, grant.id, &data);
            if let Err(error) =
                bounded(&self.metrics, self.store_timeout, StoreOp::webhook, warn).await
            {
                tracing::warn!(grant = %grant.id, error = %error, "queueing grant.expiring failed");
            }
        }
    }
}

/// Starts the delivery worker: a round every `interval`, and at once another while a
/// round found work.
pub(crate) fn spawn(webhooks: Arc<Webhooks>, interval: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            while webhooks.deliver_due().await > 0 {}
        }
    })
}
