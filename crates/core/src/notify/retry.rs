//! The delivery state machine: what an attempt's result does to a delivery.
//!
//! ```text
//! pending ──2xx──────────────────────────▶ delivered
//!    │ ──410 Gone────────────────────────▶ failed, endpoint disabled
//!    │ ──other answer, timeout, refused──▶ pending, next attempt after the backoff
//!    └──── … when that would be past max_age after queueing ──▶ failed
//! ```
//!
//! The backoff is about 5 s, 30 s, 2 min, 10 min, 1 h, then every 6 h (SPEC §9), each
//! delay stretched or shrunk by up to `jitter` (a fraction) so that deliveries that
//! failed together do not come back together. The randomness is the caller's: a
//! number in `[0, 1)` per decision.

use chrono::{DateTime, Duration, Utc};

use super::Delivery;
use crate::time::to_micros;

/// How long to wait between attempts and when to give up.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// The delay after the first, second, … failed attempt.
    pub delays: Vec<Duration>,
    /// The delay after every later failed attempt.
    pub then_every: Duration,
    /// A delivery whose next attempt would be later than this after it was queued is
    /// `failed` instead (`notifications.max_age`).
    pub max_age: Duration,
    /// Each delay is multiplied by a factor in `[1 - jitter, 1 + jitter)`.
    pub jitter: f64,
}

impl Default for RetryPolicy {
    /// SPEC §9: 5 s, 30 s, 2 min, 10 min, 1 h, then every 6 h, for 3 days; ±20 %.
    fn default() -> Self {
        Self {
            delays: vec![
                Duration::seconds(5),
                Duration::seconds(30),
                Duration::minutes(2),
                Duration::minutes(10),
                Duration::hours(1),
            ],
            then_every: Duration::hours(6),
            max_age: Duration::days(3),
            jitter: 0.2,
        }
    }
}

impl RetryPolicy {
    /// The policy with another `max_age`.
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = max_age;
        self
    }

    /// The wait after the `failed`-th failed attempt (1 for the first), before jitter.
    pub fn base_delay(&self, failed: u32) -> Duration {
        let index = usize::try_from(failed.saturating_sub(1)).unwrap_or(usize::MAX);
        self.delays.get(index).copied().unwrap_or(self.then_every)
    }

    /// The wait after the `failed`-th failed attempt, jittered by `unit` in `[0, 1)`
    /// (values outside are clamped), never negative.
    pub fn delay(&self, failed: u32, unit: f64) -> Duration {
        let base = self.base_delay(failed);
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.5
        };
        let jitter = self.jitter.clamp(0.0, 1.0);
        let factor = 1.0 - jitter + 2.0 * jitter * unit;
        let micros = base.num_microseconds().unwrap_or(i64::MAX) as f64 * factor;
        Duration::microseconds(micros.max(0.0) as i64)
    }
}

/// What one attempt got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    /// The receiver answered with this status (redirects are not followed: a `3xx` is
    /// an answer like any non-`2xx`).
    Answered(u16),
    /// No answer within `notifications.timeout`.
    TimedOut,
    /// No connection (refused, reset, TLS failure, an address the SSRF check refused);
    /// the text is for logs.
    Unreachable(String),
}

impl AttemptResult {
    /// The HTTP status, if there was an answer.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            Self::Answered(status) => Some(*status),
            _ => None,
        }
    }

    /// What went wrong without an answer, for the delivery's `last_error`.
    pub fn error(&self) -> Option<String> {
        match self {
            Self::Answered(_) => None,
            Self::TimedOut => Some("timeout".to_owned()),
            Self::Unreachable(why) => Some(why.clone()),
        }
    }
}

/// What becomes of a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A `2xx`: done.
    Delivered,
    /// Try again at `at`.
    Retry {
        /// When the delivery is next due.
        at: DateTime<Utc>,
    },
    /// Given up: the next attempt would be past `max_age`.
    Failed,
    /// `410 Gone`: the delivery failed and the endpoint is disabled.
    EndpointGone,
}

/// An attempt as the store records it: when, what it got and what follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// When the attempt finished (microseconds).
    pub at: DateTime<Utc>,
    /// What it got.
    pub result: AttemptResult,
    /// What follows for the delivery (and its endpoint).
    pub outcome: Outcome,
}

impl Attempt {
    /// Decides what an attempt of `delivery` that finished at `now` with `result` does,
    /// under `policy`, `unit` in `[0, 1)` being the jitter's randomness.
    pub fn decide(
        delivery: &Delivery,
        result: AttemptResult,
        now: DateTime<Utc>,
        policy: &RetryPolicy,
        unit: f64,
    ) -> Self {
        let now = to_micros(now);
        let outcome = match result {
            AttemptResult::Answered(status) if (200..300).contains(&status) => Outcome::Delivered,
            AttemptResult::Answered(410) => Outcome::EndpointGone,
            _ => {
                let failed = delivery.attempts.saturating_add(1);
                let at = to_micros(now + policy.delay(failed, unit));
                if at - delivery.created_at > policy.max_age {
                    Outcome::Failed
                } else {
                    Outcome::Retry { at }
                }
            }
        };
        Self {
            at: now,
            result,
            outcome,
        }
    }
}
