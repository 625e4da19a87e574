//! One-request approvals (SPEC §10): the customer approves one restricted support
//! request, exactly as it was sent, once.
//!
//! - [`Fingerprint`]: what "exactly as it was sent" means — grant, actor, method,
//!   normalised path, query and the SHA-256 of the body, in canonical bytes.
//! - [`Approval`] and its states: `pending` → `approved` / `denied` → `used`, or
//!   `expired` / `void`. The rules are pure functions of `now`
//!   ([`Approval::status_at`], [`Approval::check_use`]).
//! - [`ApprovalStore`](port::ApprovalStore): the port; the store decides the one-shot
//!   use, so two instances racing to use one approval cannot both forward.
//! - [`Approvals`](service::Approvals): the service the gateway calls.
//!
//! **Voiding.** An approval is only usable while its grant is the open, active grant
//! and the seat is still held under the claim the approval was requested under. That
//! is checked where it cannot be missed: when the approval is used, against the grant
//! as it is then ([`Approval::check_use`], and again by the store's `consume`, in the
//! statement that marks it used). A revoke, expiry or seat release therefore voids
//! every approval of the grant at once, on every instance, without a write of its own;
//! [`ApprovalStore::void_for_grant`](port::ApprovalStore::void_for_grant) additionally
//! records it so that listings say `void`.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::grant::{Grant, GrantStatus};
use crate::ids::{GrantId, OrgId, StaffId};
use crate::time::to_micros;

mod fingerprint;
pub mod port;
pub mod service;

pub use fingerprint::{
    Fingerprint, PREVIEW_BYTES, RequestShape, body_preview, body_sha256, canonical_bytes,
};

/// One approval. Random (UUID v4), never reused; support sends it back in the
/// `Support-Approval` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ApprovalId(Uuid);

impl ApprovalId {
    /// A fresh random id.
    pub fn random() -> Self {
        Self(Uuid::new_v4())
    }

    /// Wraps a stored id.
    pub fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }

    /// The id as a UUID.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for ApprovalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for ApprovalId {
    type Err = uuid::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s.trim()).map(Self)
    }
}

/// The stored state of an approval. `expired` is also what a `pending` or `approved`
/// approval past its `expires_at` is, stored or not ([`Approval::status_at`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalStatus {
    /// Waiting for the admin.
    Pending,
    /// The admin approved it; support may use it once before `expires_at`.
    Approved,
    /// The admin refused it.
    Denied,
    /// It was used: the request was forwarded once.
    Used,
    /// It was neither decided nor used in time.
    Expired,
    /// Its grant was revoked or expired, or the seat it was requested under released.
    Void,
}

impl ApprovalStatus {
    /// Every status.
    pub const ALL: [ApprovalStatus; 6] = [
        Self::Pending,
        Self::Approved,
        Self::Denied,
        Self::Used,
        Self::Expired,
        Self::Void,
    ];

    /// The status as the API and the store spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Used => "used",
            Self::Expired => "expired",
            Self::Void => "void",
        }
    }

    /// Whether the approval may still change (be decided or used).
    pub fn is_open(self) -> bool {
        matches!(self, Self::Pending | Self::Approved)
    }
}

impl fmt::Display for ApprovalStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ApprovalStatus {
    type Err = crate::audit::UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| crate::audit::UnknownName(s.to_owned()))
    }
}

/// How long approvals last (SPEC §10 `[approvals]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApprovalTtl {
    /// A pending approval expires this long after it was requested
    /// (`approvals.pending_ttl`, default 1 h).
    pub pending: Duration,
    /// An approved one must be used within this long of its approval
    /// (`approvals.ttl`, default 15 min).
    pub approved: Duration,
}

impl Default for ApprovalTtl {
    fn default() -> Self {
        Self {
            pending: Duration::hours(1),
            approved: Duration::minutes(15),
        }
    }
}

/// The admin's decision on a pending approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Approve or deny.
    pub verdict: Verdict,
    /// The admin's `sub`.
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The admin's note, if any.
    pub note: Option<String>,
}

/// Approve or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The request may be forwarded once, until `until` (the decision's time plus the
    /// approved TTL), which becomes the approval's `expires_at`.
    Approve {
        /// The end of usability.
        until: DateTime<Utc>,
    },
    /// It may not.
    Deny,
}

impl Verdict {
    /// The state a pending approval moves to.
    pub fn status(self) -> ApprovalStatus {
        match self {
            Self::Approve { .. } => ApprovalStatus::Approved,
            Self::Deny => ApprovalStatus::Denied,
        }
    }
}

impl Approval {
    /// The approval as `decision` leaves it (a store applies this to a pending one).
    pub fn decided(mut self, decision: &Decision) -> Self {
        self.status = decision.verdict.status();
        self.decided_at = Some(to_micros(decision.at));
        self.decided_by = Some(decision.by.clone());
        self.note = decision.note.clone();
        if let Verdict::Approve { until } = decision.verdict {
            self.expires_at = to_micros(until);
        }
        self
    }
}

/// One approval of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// Its id.
    pub id: ApprovalId,
    /// The org of the grant.
    pub org: OrgId,
    /// The grant the request was made under.
    pub grant: GrantId,
    /// The staff member who sent it.
    pub actor: StaffId,
    /// When the seat the request was made under was claimed: a release (and a new
    /// claim) voids the approval.
    pub seat_claimed_at: DateTime<Utc>,
    /// The request's fingerprint.
    pub fingerprint: Fingerprint,
    /// Method, normalised path, query and body hash, for the admin page.
    pub method: String,
    /// The normalised path.
    pub path: String,
    /// The raw query, if the target had one.
    pub query: Option<String>,
    /// SHA-256 (hex) of the body.
    pub body_sha256: String,
    /// The first 4 KiB of the body, as text.
    pub body_preview: Option<String>,
    /// The restriction that refused it.
    pub restriction: Option<u8>,
    /// The policy rule that refused it.
    pub rule: Option<String>,
    /// The stored state.
    pub status: ApprovalStatus,
    /// When support sent it.
    pub requested_at: DateTime<Utc>,
    /// The end of the current state: of waiting while pending, of usability once
    /// approved.
    pub expires_at: DateTime<Utc>,
    /// When the admin decided.
    pub decided_at: Option<DateTime<Utc>>,
    /// The admin's `sub`.
    pub decided_by: Option<String>,
    /// The admin's note.
    pub note: Option<String>,
    /// When it was used, or voided or expired (the state's change).
    pub closed_at: Option<DateTime<Utc>>,
}

/// Why an approval cannot be used for a request. The gateway answers every one of
/// them as `403 approval_invalid`; the reason is for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unusable {
    /// No such approval (or not this org's).
    #[error("no such approval")]
    Unknown,
    /// Still waiting for the admin.
    #[error("the approval is still pending")]
    Pending,
    /// The admin denied it.
    #[error("the approval was denied")]
    Denied,
    /// It was used already.
    #[error("the approval was used already")]
    Used,
    /// It expired.
    #[error("the approval expired")]
    Expired,
    /// Its grant or seat claim ended.
    #[error("the approval is void")]
    Void,
    /// The request is not the one approved.
    #[error("the request differs from the approved one")]
    Mismatch,
}

impl Approval {
    /// A new pending approval of `request`, refused by `rule` / `restriction`, made
    /// under `grant`'s current seat claim at `now`, waiting `ttl.pending`. `None` when
    /// nobody holds the seat (an authorised request always has a holder).
    pub fn pending(
        grant: &Grant,
        request: &RequestShape<'_>,
        refused_by: (Option<u8>, Option<String>),
        now: DateTime<Utc>,
        ttl: ApprovalTtl,
    ) -> Option<Self> {
        let seat = grant.seat.as_ref()?;
        let now = to_micros(now);
        let body_sha256 = body_sha256(request.body);
        Some(Self {
            id: ApprovalId::random(),
            org: grant.org.clone(),
            grant: grant.id,
            actor: request.actor.clone(),
            seat_claimed_at: seat.claimed_at,
            fingerprint: Fingerprint::from_parts(request, &body_sha256),
            method: request.method.to_owned(),
            path: request.path.to_owned(),
            query: request.query.map(str::to_owned),
            body_sha256,
            body_preview: body_preview(request.body),
            restriction: refused_by.0,
            rule: refused_by.1,
            status: ApprovalStatus::Pending,
            requested_at: now,
            expires_at: to_micros(now + ttl.pending),
            decided_at: None,
            decided_by: None,
            note: None,
            closed_at: None,
        })
    }

    /// The status at `now`: a pending or approved approval is `expired` from its
    /// `expires_at` on; every other state is final.
    pub fn status_at(&self, now: DateTime<Utc>) -> ApprovalStatus {
        if self.status.is_open() && now >= self.expires_at {
            ApprovalStatus::Expired
        } else {
            self.status
        }
    }

    /// Whether the approval still belongs to `grant` as it is at `now`: the same grant,
    /// active, its seat held by the approval's actor under the same claim. When not,
    /// an open approval is void.
    pub fn holds_under(&self, grant: &Grant, now: DateTime<Utc>) -> bool {
        grant.id == self.grant
            && grant.org == self.org
            && grant.status_at(now) == GrantStatus::Active
            && grant
                .seat
                .as_ref()
                .is_some_and(|s| s.holder == self.actor && s.claimed_at == self.seat_claimed_at)
    }

    /// The status at `now` given the grant as it is now: [`Approval::status_at`], and
    /// `void` for an open approval whose grant or seat claim ended.
    pub fn status_under(&self, grant: Option<&Grant>, now: DateTime<Utc>) -> ApprovalStatus {
        let status = self.status_at(now);
        if status.is_open() && !grant.is_some_and(|g| self.holds_under(g, now)) {
            ApprovalStatus::Void
        } else {
            status
        }
    }

    /// Whether `fingerprint`, sent under `grant` at `now`, may use this approval:
    /// approved, unexpired, unused, the grant active and the seat held under the claim
    /// it was requested under, and the request exactly the approved one.
    pub fn check_use(
        &self,
        grant: &Grant,
        fingerprint: &Fingerprint,
        now: DateTime<Utc>,
    ) -> Result<(), Unusable> {
        if grant.org != self.org {
            return Err(Unusable::Unknown);
        }
        match self.status_under(Some(grant), now) {
            ApprovalStatus::Approved => {}
            ApprovalStatus::Pending => return Err(Unusable::Pending),
            ApprovalStatus::Denied => return Err(Unusable::Denied),
            ApprovalStatus::Used => return Err(Unusable::Used),
            ApprovalStatus::Expired => return Err(Unusable::Expired),
            ApprovalStatus::Void => return Err(Unusable::Void),
        }
        if &self.fingerprint == fingerprint {
            Ok(())
        } else {
            Err(Unusable::Mismatch)
        }
    }

    /// An audit event of this approval: org, grant, the approval id, the request's
    /// method, path, body hash, rule and restriction; the grant's support user, reason
    /// and ticket stamped.
    pub fn event(
        &self,
        grant: &Grant,
        kind: crate::audit::AuditKind,
        at: DateTime<Utc>,
    ) -> crate::audit::NewAuditEvent {
        let mut event = grant.event(kind, at);
        event.approval = Some(self.id);
        event.method = Some(self.method.clone());
        event.path = Some(self.path.clone());
        event.body_sha256 = Some(self.body_sha256.clone());
        event.rule = self.rule.clone();
        event.restriction = self.restriction;
        event
    }
}

#[cfg(test)]
mod tests;
