//! Prometheus metrics: requests by class and decision, latency histograms, audit append
//! latency, upstream errors, store failures by operation and kind, support access cut in
//! flight, and support requests between their `request.allowed` and
//! `request.completed`. Also the audit log's recent health, for `/readyz`.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The kind of traffic.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Class {
    /// Not a support request: forwarded without signature work.
    ordinary,
    /// Carries a support token.
    support,
    /// The management API.
    management,
}

/// What the gateway did with a request.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Outcome {
    /// Forwarded to the upstream.
    forwarded,
    /// Refused by the gateway.
    refused,
    /// Answered by the gateway itself.
    answered,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    class: Class,
    outcome: Outcome,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClassLabels {
    class: Class,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    kind: &'static str,
}

/// A store operation of the gateway.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum StoreOp {
    /// The grant lookup of a support request.
    grant_lookup,
    /// An audit append of a support request.
    audit_append,
    /// A grant change with its event (management API, token exchange, seat release).
    lifecycle,
    /// The expiry sweep and the support-user refresh.
    sweep,
    /// An audit listing of the management API.
    audit_read,
    /// A one-request approval offered, used, listed or decided.
    approval,
    /// A webhook endpoint or delivery call (API, worker, expiry warnings).
    webhook,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreErrorLabels {
    op: StoreOp,
    kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CutLabels {
    what: &'static str,
}

/// Counts support access cut in flight when it ended, by what was cut.
#[derive(Debug, Clone, Default)]
pub struct Cuts(Family<CutLabels, Counter>);

impl Cuts {
    fn inc(&self, what: &'static str, by: u64) {
        self.0.get_or_create(&CutLabels { what }).inc_by(by);
    }

    /// A request refused while it waited for the CRM's response head.
    pub fn head_wait(&self) {
        self.inc("head_wait", 1);
    }

    /// A body the gateway was reading.
    pub fn body_read(&self) {
        self.inc("body_read", 1);
    }

    /// An upload aborted on its way to the CRM.
    pub fn upload(&self) {
        self.inc("upload", 1);
    }

    /// A response cut on its way to the client.
    pub fn response(&self) {
        self.inc("response", 1);
    }

    /// Connections asked to close.
    pub fn connections(&self, n: usize) {
        if n > 0 {
            self.inc("connection", n as u64);
        }
    }
}

/// How long a failed audit append keeps `/readyz` unready when nothing succeeds after it.
const AUDIT_FAILURE_MEMORY: Duration = Duration::from_secs(30);

/// The audit log's recent health: whether the latest append failed, and when.
#[derive(Debug)]
pub struct AuditHealth {
    /// Milliseconds since `epoch` of the latest failed append that no success followed;
    /// -1 when the latest append succeeded (or none was made).
    failing_since: AtomicI64,
    epoch: std::sync::OnceLock<Instant>,
}

impl Default for AuditHealth {
    /// Healthy: no append has failed yet (`failing_since` is -1, not the epoch's 0).
    fn default() -> Self {
        Self {
            failing_since: AtomicI64::new(-1),
            epoch: std::sync::OnceLock::new(),
        }
    }
}

impl AuditHealth {
    fn now_ms(&self) -> i64 {
        let epoch = self.epoch.get_or_init(Instant::now);
        i64::try_from(epoch.elapsed().as_millis()).unwrap_or(i64::MAX)
    }

    fn record(&self, ok: bool) {
        if ok {
            self.failing_since.store(-1, Ordering::Relaxed);
        } else {
            let now = self.now_ms();
            let _ =
                self.failing_since
                    .compare_exchange(-1, now, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    /// Whether the latest append failed, within the last 30 s, and none succeeded since.
    pub fn failing(&self) -> bool {
        let since = self.failing_since.load(Ordering::Relaxed);
        since >= 0 && self.now_ms().saturating_sub(since) < AUDIT_FAILURE_MEMORY.as_millis() as i64
    }
}

/// Pre-resolved request metrics, by `Class` and `Outcome` as indices.
#[derive(Debug, Default)]
struct Resolved {
    requests: [[OnceLock<Counter>; 3]; 3],
    latency: [OnceLock<Histogram>; 3],
}

/// The gateway's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<ClassLabels, Histogram>,
    /// The counters and histograms of `requests` and `latency`, resolved once per label
    /// set (on first use, so the exposition shows only what happened): no family lookup,
    /// lock or hash per request.
    resolved: Resolved,
    audit_append: Histogram,
    upstream_errors: Family<ErrorLabels, Counter>,
    store_errors: Family<StoreErrorLabels, Counter>,
    cuts: Cuts,
    in_flight: Gauge,
    audit_health: Arc<AuditHealth>,
    webhooks: WebhookMetrics,
}

/// Webhook deliveries (SPEC §9): attempts by outcome, the pending queue's depth and the
/// age of its oldest delivery.
#[derive(Debug, Clone, Default)]
pub struct WebhookMetrics {
    attempts: Family<ErrorLabels, Counter>,
    pending: Gauge,
    oldest_age: Gauge<f64, std::sync::atomic::AtomicU64>,
}

impl WebhookMetrics {
    /// Counts one delivery attempt by what became of the delivery (`delivered`,
    /// `retry`, `failed`, `endpoint_gone`).
    pub fn attempt(&self, kind: &'static str) {
        self.attempts.get_or_create(&ErrorLabels { kind }).inc();
    }

    /// The pending queue now: how many, and how old the oldest is.
    pub fn queue(&self, pending: u64, oldest_age: Duration) {
        self.pending.set(i64::try_from(pending).unwrap_or(i64::MAX));
        self.oldest_age.set(oldest_age.as_secs_f64());
    }
}

fn latency_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.000_1, 2.0, 18))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("support_gateway");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<ClassLabels, Histogram>::new_with_constructor(
            latency_buckets as fn() -> Histogram,
        );
        let audit_append = latency_buckets();
        let upstream_errors = Family::<ErrorLabels, Counter>::default();
        let store_errors = Family::<StoreErrorLabels, Counter>::default();
        let cuts = Cuts::default();
        let in_flight = Gauge::default();
        registry.register(
            "requests",
            "Requests by class and outcome",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from request head to response head, by class",
            latency.clone(),
        );
        registry.register(
            "audit_append_duration_seconds",
            "Time to append one audit event durably",
            audit_append.clone(),
        );
        registry.register(
            "upstream_errors",
            "Upstream failures by kind",
            upstream_errors.clone(),
        );
        registry.register(
            "store_errors",
            "Store calls of the gateway that failed, by operation and kind \
             (unavailable, timeout, backend)",
            store_errors.clone(),
        );
        registry.register(
            "access_cut",
            "Support access cut in flight when it ended (revoke, expiry, seat release), \
             by what was cut (head_wait, body_read, upload, response, connection)",
            cuts.0.clone(),
        );
        registry.register(
            "support_requests_in_flight",
            "Support requests forwarded whose request.completed is not recorded yet",
            in_flight.clone(),
        );
        let webhooks = WebhookMetrics::default();
        registry.register(
            "webhook_deliveries",
            "Webhook delivery attempts by outcome (delivered, retry, failed, endpoint_gone)",
            webhooks.attempts.clone(),
        );
        registry.register(
            "webhook_queue_depth",
            "Pending webhook deliveries of enabled endpoints",
            webhooks.pending.clone(),
        );
        registry.register(
            "webhook_oldest_pending_age_seconds",
            "Age of the oldest pending webhook delivery (0 when none)",
            webhooks.oldest_age.clone(),
        );
        Self {
            webhooks,
            resolved: Resolved::default(),
            registry,
            requests,
            latency,
            audit_append,
            upstream_errors,
            store_errors,
            cuts,
            in_flight,
            audit_health: Arc::default(),
        }
    }
}

impl Metrics {
    /// Counts a request and its latency.
    pub fn request(&self, class: Class, outcome: Outcome, elapsed: Duration) {
        self.resolved.requests[class as usize][outcome as usize]
            .get_or_init(|| {
                self.requests
                    .get_or_create(&RequestLabels { class, outcome })
                    .clone()
            })
            .inc();
        self.resolved.latency[class as usize]
            .get_or_init(|| self.latency.get_or_create(&ClassLabels { class }).clone())
            .observe(elapsed.as_secs_f64());
    }

    /// Records one audit append.
    pub fn audit_append(&self, elapsed: Duration) {
        self.audit_append.observe(elapsed.as_secs_f64());
    }

    /// Counts an upstream failure.
    pub fn upstream_error(&self, kind: &'static str) {
        self.upstream_errors
            .get_or_create(&ErrorLabels { kind })
            .inc();
    }

    /// Counts a failed store call; an audit append's outcome also feeds
    /// [`Metrics::audit_health`].
    pub fn store_call(&self, op: StoreOp, failure: Option<&'static str>) {
        if op == StoreOp::audit_append {
            self.audit_health.record(failure.is_none());
        }
        if let Some(kind) = failure {
            self.store_errors
                .get_or_create(&StoreErrorLabels { op, kind })
                .inc();
        }
    }

    /// The audit log's recent health.
    pub fn audit_health(&self) -> &AuditHealth {
        &self.audit_health
    }

    /// The counters of support access cut in flight.
    pub fn cuts(&self) -> Cuts {
        self.cuts.clone()
    }

    /// One support request more (or less) between its `request.allowed` and its
    /// `request.completed`.
    pub fn support_in_flight(&self, delta: i64) {
        self.in_flight.inc_by(delta);
    }

    /// How many support requests are between their `request.allowed` and their
    /// `request.completed`.
    pub fn support_requests_in_flight(&self) -> i64 {
        self.in_flight.get()
    }

    /// The webhook delivery metrics.
    pub fn webhooks(&self) -> &WebhookMetrics {
        &self.webhooks
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_gateway_is_not_audit_failing() {
        // Regression: a zeroed `failing_since` read as "failed at the epoch", so
        // `/readyz` answered 503 audit_unavailable for the first 30 s of every process.
        let metrics = Metrics::default();
        assert!(!metrics.audit_health().failing());
        metrics.store_call(StoreOp::audit_append, None);
        assert!(!metrics.audit_health().failing());
    }

    #[test]
    fn recorded_requests_appear_in_the_exposition() {
        let metrics = Metrics::default();
        metrics.request(Class::support, Outcome::refused, Duration::from_millis(2));
        metrics.upstream_error("timeout");
        metrics.audit_append(Duration::from_micros(300));
        metrics.store_call(StoreOp::audit_append, Some("timeout"));
        metrics.cuts().head_wait();
        let text = metrics.render();
        assert!(
            text.contains(
                r#"support_gateway_store_errors_total{op="audit_append",kind="timeout"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"support_gateway_access_cut_total{what="head_wait"} 1"#),
            "{text}"
        );
        assert!(metrics.audit_health().failing());
        metrics.store_call(StoreOp::audit_append, None);
        assert!(!metrics.audit_health().failing());
        assert!(
            text.contains(r#"support_gateway_requests_total{class="support",outcome="refused"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"support_gateway_upstream_errors_total{kind="timeout"} 1"#),
            "{text}"
        );
        assert!(
            text.contains("support_gateway_audit_append_duration_seconds_count 1"),
            "{text}"
        );
    }
}
