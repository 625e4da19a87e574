//! Instants as both databases hold them: whole microseconds in the years 1 to 9999.
//!
//! PostgreSQL's `timestamptz` has microsecond precision. SQLite keeps RFC 3339 text
//! (`2026-11-26T10:00:00.123457+00:00`), which sorts in time order only while the
//! year has four digits; so the store refuses to write instants outside that range and
//! clamps the bounds it compares with into it.

use chrono::{DateTime, Utc};
use support_access_core::StoreError;
use support_access_core::time::to_micros;

/// `0001-01-01T00:00:00Z`.
pub(crate) fn first() -> DateTime<Utc> {
    DateTime::from_timestamp(-62_135_596_800, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// `9999-12-31T23:59:59.999999Z`.
pub(crate) fn last() -> DateTime<Utc> {
    DateTime::from_timestamp(253_402_300_799, 999_999_000).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `t` as stored: truncated to the microsecond; `Backend` outside the years 1–9999.
pub(crate) fn stored(t: DateTime<Utc>) -> Result<DateTime<Utc>, StoreError> {
    let t = to_micros(t);
    if t < first() || t > last() {
        Err(StoreError::Backend(format!(
            "instant {t} is outside the years 1 to 9999 that the store holds"
        )))
    } else {
        Ok(t)
    }
}

/// A comparison bound: `t` truncated to the microsecond and clamped into the years
/// 1–9999, which every stored instant lies in.
pub(crate) fn bound(t: DateTime<Utc>) -> DateTime<Utc> {
    to_micros(t).clamp(first(), last())
}

/// `t` rounded up to a whole microsecond (down at the very end of time).
pub(crate) fn ceil(t: DateTime<Utc>) -> DateTime<Utc> {
    let down = to_micros(t);
    if down == t {
        t
    } else {
        down.checked_add_signed(chrono::Duration::microseconds(1))
            .unwrap_or(down)
    }
}
