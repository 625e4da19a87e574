//! The [`ApprovalStore`] port.

use std::fmt::Debug;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Approval, ApprovalId, ApprovalStatus, Decision, Fingerprint};
use crate::audit::{AuditEvent, NewAuditEvent};
use crate::ids::{GrantId, OrgId};
use crate::ports::StoreError;

/// An approval change together with the audit event that records it, both durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedApproval {
    /// The approval as the change left it.
    pub approval: Approval,
    /// The event as stored: sealed in its org's chain.
    pub event: AuditEvent,
}

/// Which approvals of an org to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalFilter {
    /// The org; always from the caller's token.
    pub org: OrgId,
    /// Only approvals with this status at `now` (a stored `pending` or `approved`
    /// approval past its `expires_at` is `expired`); every status when `None`.
    pub status: Option<ApprovalStatus>,
    /// The instant the status is judged at.
    pub now: DateTime<Utc>,
    /// At most this many, newest request first.
    pub limit: u32,
}

/// Approvals of single support requests (SPEC §10).
///
/// `create`, `decide` and `consume` take the audit event that records them and store
/// it in the same transaction, in the audit log of the same data, as the grant store's
/// changes do.
///
/// Promises:
/// - `create`, `decide` and `consume` MUST store their event in the same transaction as
///   the change, as the org's next event of the audit log of the same data (sealed as
///   `AuditLog::append` seals it), and MUST return both; a change that is refused or
///   fails MUST store no event, and a change whose event cannot be stored MUST fail and
///   leave the approval unchanged.
/// - `create` MUST store a new `pending` approval exactly as given; it MUST return
///   `Conflict` when an open (`pending` or `approved`, not past its `expires_at` at the
///   new approval's `requested_at`) approval with the same fingerprint exists — also
///   when two creates race: exactly one wins. An open approval past its `expires_at`
///   does not block a new one (it is stored as `expired`).
/// - `get` MUST return `NotFound` for an unknown id, and otherwise the approval exactly
///   as written, times at microsecond precision.
/// - `find_open` MUST return the open approval with `fingerprint` that is not past its
///   `expires_at` at `now`, if there is one.
/// - `decide` MUST move a `pending` approval not past its `expires_at` at the
///   decision's `at` to `approved` (setting its `expires_at` to the decision's) or
///   `denied`, with who, when and the note; it MUST return `Conflict` for an approval in
///   any other state or past its end, also when two decisions race: exactly one wins;
///   and `NotFound` for an unknown id.
/// - `consume` MUST mark `used` an `approved` approval with the given fingerprint that
///   is not past its `expires_at` at `now`, whose grant is open and not past its end at
///   `now` and whose seat is held by the approval's actor under the claim it was
///   requested under — decided in one step of the store, so that of several concurrent
///   consumes (from any number of handles) exactly one succeeds and the others get
///   `Conflict`; it MUST return `Conflict` otherwise, changing nothing, and `NotFound`
///   for an unknown id.
/// - `void` MUST move an open approval to `void` and return it; it MUST return
///   `Conflict` for one in any other state and `NotFound` for an unknown id.
/// - `void_for_grant` MUST move every open approval of the grant to `void` and return
///   how many it moved; approvals of other grants MUST stay as they are.
/// - `list` MUST return the org's approvals whose status at `now` is the one asked
///   (every one when none is), newest request first, at most `limit`, and never
///   another org's.
/// - A second handle on the same data MUST see every write of the first.
#[async_trait]
pub trait ApprovalStore: Send + Sync + Debug {
    /// Stores a new pending approval and the event that records it
    /// (`approval.requested`).
    async fn create(
        &self,
        approval: &Approval,
        event: NewAuditEvent,
    ) -> Result<RecordedApproval, StoreError>;
    /// One approval by id.
    async fn get(&self, id: ApprovalId) -> Result<Approval, StoreError>;
    /// The open, unexpired approval of a request, if any.
    async fn find_open(
        &self,
        fingerprint: &Fingerprint,
        now: DateTime<Utc>,
    ) -> Result<Option<Approval>, StoreError>;
    /// Approves or denies a pending approval; records `approval.approved` or
    /// `approval.denied`.
    async fn decide(
        &self,
        id: ApprovalId,
        decision: &Decision,
        event: NewAuditEvent,
    ) -> Result<RecordedApproval, StoreError>;
    /// Uses an approved approval once; records `approval.used`.
    async fn consume(
        &self,
        id: ApprovalId,
        fingerprint: &Fingerprint,
        now: DateTime<Utc>,
        event: NewAuditEvent,
    ) -> Result<RecordedApproval, StoreError>;
    /// Voids one open approval.
    async fn void(&self, id: ApprovalId, at: DateTime<Utc>) -> Result<Approval, StoreError>;
    /// Voids every open approval of a grant (on revoke, expiry, seat release).
    async fn void_for_grant(&self, grant: GrantId, at: DateTime<Utc>) -> Result<u64, StoreError>;
    /// An org's approvals, newest first.
    async fn list(&self, filter: &ApprovalFilter) -> Result<Vec<Approval>, StoreError>;
}
