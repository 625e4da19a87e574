//! Prometheus metrics: requests by class and decision, latency histograms, audit append
//! latency and upstream errors.

use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
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

/// The gateway's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<ClassLabels, Histogram>,
    audit_append: Histogram,
    upstream_errors: Family<ErrorLabels, Counter>,
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
        Self {
            registry,
            requests,
            latency,
            audit_append,
            upstream_errors,
        }
    }
}

impl Metrics {
    /// Counts a request and its latency.
    pub fn request(&self, class: Class, outcome: Outcome, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels { class, outcome })
            .inc();
        self.latency
            .get_or_create(&ClassLabels { class })
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
    fn recorded_requests_appear_in_the_exposition() {
        let metrics = Metrics::default();
        metrics.request(Class::support, Outcome::refused, Duration::from_millis(2));
        metrics.upstream_error("timeout");
        metrics.audit_append(Duration::from_micros(300));
        let text = metrics.render();
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
