//! Time helpers. The domain keeps instants at microsecond precision, the precision of
//! PostgreSQL's `timestamptz`, so that what is hashed is what is stored.

use chrono::{DateTime, Duration, DurationRound, SubsecRound, Utc};

/// `t` truncated to whole microseconds.
pub fn to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::microseconds(1))
        .unwrap_or_else(|_| t.trunc_subsecs(6))
}

/// RFC 3339 in UTC with exactly six fractional digits, e.g. `2026-11-26T10:00:00.000000Z`.
pub fn format_micros(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}
