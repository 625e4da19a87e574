//! Grants of support access and their lifecycle rules.
//!
//! A grant runs from its creation until `expires_at`, unless it is revoked first. At
//! most one grant per org is *open* (neither revoked nor closed as expired); the store
//! holds that invariant. One staff member at a time may hold the grant's support seat.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::ids::{GrantId, OrgId, StaffId, SupportUserId};
use crate::service::GrantEnd;

/// One grant of support access to an org.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The grant's id.
    pub id: GrantId,
    /// The org the grant opens.
    pub org: OrgId,
    /// The hidden support user who acts under this grant.
    pub support_user: SupportUserId,
    /// When the admin granted access.
    pub created_at: DateTime<Utc>,
    /// The admin's `sub`.
    pub created_by: String,
    /// The end of access: the grant is refused from this instant on.
    pub expires_at: DateTime<Utc>,
    /// Set once the grant is closed, by a revoke or by expiry.
    pub closure: Option<Closure>,
    /// Why the admin granted access.
    pub reason: Option<String>,
    /// The support ticket the access is for.
    pub ticket: Option<String>,
    /// The staff member holding the support seat, if any.
    pub seat: Option<Seat>,
}

/// How and when a grant was closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Closure {
    /// Revoked by an admin, or expired by the clock.
    pub reason: ClosedAs,
    /// When: the revoke instant, or the end date for an expiry.
    pub at: DateTime<Utc>,
    /// The admin's `sub` for a revoke; `None` for an expiry.
    pub by: Option<String>,
}

/// Why a grant was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClosedAs {
    /// An admin revoked it.
    Revoked,
    /// Its end date passed.
    Expired,
}

/// The support seat: who acts as the hidden support user now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seat {
    /// The staff member holding the seat.
    pub holder: StaffId,
    /// When the holder claimed it.
    pub claimed_at: DateTime<Utc>,
}

/// A grant's status as users see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantStatus {
    /// Support may act.
    Active,
    /// An admin revoked access.
    Revoked,
    /// The end date passed.
    Expired,
}

impl GrantStatus {
    /// The status as the API and the store spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
        }
    }
}

impl Grant {
    /// A new open grant created by `admin` at `now`, ending at `expires_at`.
    pub fn new(
        org: OrgId,
        admin: impl Into<String>,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
        reason: Option<String>,
        ticket: Option<String>,
    ) -> Self {
        let id = GrantId::random();
        Self {
            id,
            org,
            support_user: SupportUserId::for_grant(id),
            created_at: crate::time::to_micros(now),
            created_by: admin.into(),
            expires_at: crate::time::to_micros(expires_at),
            closure: None,
            reason,
            ticket,
            seat: None,
        }
    }

    /// The grant's status at `now`: closed grants keep their closure; an open grant is
    /// active strictly before `expires_at` and expired from that instant on.
    pub fn status_at(&self, now: DateTime<Utc>) -> GrantStatus {
        match &self.closure {
            Some(Closure {
                reason: ClosedAs::Revoked,
                ..
            }) => GrantStatus::Revoked,
            Some(Closure {
                reason: ClosedAs::Expired,
                ..
            }) => GrantStatus::Expired,
            None if now >= self.expires_at => GrantStatus::Expired,
            None => GrantStatus::Active,
        }
    }

    /// Whether the store still counts this grant as the org's open grant.
    pub fn is_open(&self) -> bool {
        self.closure.is_none()
    }

    /// When it was revoked, if it was.
    pub fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.closure
            .as_ref()
            .filter(|c| c.reason == ClosedAs::Revoked)
            .map(|c| c.at)
    }

    /// Who revoked it, if anyone did.
    pub fn revoked_by(&self) -> Option<&str> {
        self.closure
            .as_ref()
            .filter(|c| c.reason == ClosedAs::Revoked)
            .and_then(|c| c.by.as_deref())
    }
}

/// The configured bounds of a grant's duration (SPEC §7 `[grants]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GrantBounds {
    /// The shortest allowed grant, counted from now. Default one day.
    pub min: Duration,
    /// The longest allowed grant, counted from now. Default 365 days.
    pub max: Duration,
}

impl Default for GrantBounds {
    fn default() -> Self {
        Self {
            min: Duration::days(1),
            max: Duration::days(365),
        }
    }
}

/// Why an end date is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum EndDateError {
    /// The end date is not after now.
    #[error("the end date is in the past")]
    InPast,
    /// The grant would be shorter than the minimum.
    #[error("access must last at least {} from now", span(*min_seconds))]
    TooShort {
        /// The configured minimum, in seconds.
        min_seconds: i64,
    },
    /// The grant would be longer than the maximum.
    #[error("access may last at most {} from now", span(*max_seconds))]
    TooLong {
        /// The configured maximum, in seconds.
        max_seconds: i64,
    },
}

/// A length in the largest whole unit that states it exactly: `365 days`, `2 hours`,
/// `90 seconds`, as an admin configured and would write it.
fn span(seconds: i64) -> String {
    let (count, unit) = [(86_400, "day"), (3_600, "hour"), (60, "minute")]
        .into_iter()
        .find(|(size, _)| seconds % size == 0 && seconds != 0)
        .map_or((seconds, "second"), |(size, unit)| (seconds / size, unit));
    let plural = if count == 1 { "" } else { "s" };
    format!("{count} {unit}{plural}")
}

impl EndDateError {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InPast => "end_date_in_past",
            Self::TooShort { .. } => "grant_too_short",
            Self::TooLong { .. } => "grant_too_long",
        }
    }
}

impl GrantBounds {
    /// Checks an end date chosen at `now`: strictly after now, at least `min` and at most
    /// `max` away. The same rule applies to a new grant and to a changed end date.
    pub fn check_end(&self, now: DateTime<Utc>, end: DateTime<Utc>) -> Result<(), EndDateError> {
        let length = end - now;
        if end <= now {
            Err(EndDateError::InPast)
        } else if length < self.min {
            Err(EndDateError::TooShort {
                min_seconds: self.min.num_seconds(),
            })
        } else if length > self.max {
            Err(EndDateError::TooLong {
                max_seconds: self.max.num_seconds(),
            })
        } else {
            Ok(())
        }
    }

    /// The end chosen at `now` as `end`, checked as [`Self::check_end`]; a count of days
    /// too large for the calendar is too long.
    pub fn resolve(
        &self,
        now: DateTime<Utc>,
        end: GrantEnd,
    ) -> Result<DateTime<Utc>, EndDateError> {
        let end = match end {
            GrantEnd::At(end) => Some(end),
            GrantEnd::Days(days) => now.checked_add_signed(Duration::days(i64::from(days))),
        }
        .ok_or(EndDateError::TooLong {
            max_seconds: self.max.num_seconds(),
        })?;
        self.check_end(now, end).map(|()| end)
    }
}

#[cfg(test)]
mod tests;
