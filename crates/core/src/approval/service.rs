//! [`Approvals`]: requesting, deciding, using and listing one-request approvals,
//! written once against the ports.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use thiserror::Error;

use super::port::{ApprovalFilter, ApprovalStore};
use super::{
    Approval, ApprovalId, ApprovalStatus, ApprovalTtl, Decision, Fingerprint, RequestShape,
    Unusable, Verdict,
};
use crate::audit::AuditKind;
use crate::grant::Grant;
use crate::ids::{GrantId, OrgId};
use crate::ports::{Clock, GrantStore, StoreError};
use crate::time::to_micros;

/// The most approvals one listing returns.
pub const MAX_LIST: u32 = 1000;

/// A support request that an approvable rule refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedRequest<'a> {
    /// The request as the policy saw it.
    pub shape: RequestShape<'a>,
    /// The restriction that refused it.
    pub restriction: Option<u8>,
    /// The rule that refused it.
    pub rule: Option<String>,
    /// The request's id, for the audit event.
    pub request_id: Option<String>,
}

/// An approval with its status now, judged against its grant as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalView {
    /// The approval as stored.
    pub approval: Approval,
    /// Its status at the time of the call (`expired`, `void` where that applies).
    pub status: ApprovalStatus,
}

/// Why no approval was offered.
#[derive(Debug, Error)]
pub enum RequestError {
    /// The request does not come from the seat holder of the grant (an authorised
    /// request always does).
    #[error("the request was not made under the grant's support seat")]
    NotSeatHolder,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RequestError {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotSeatHolder => "support_seat_released",
            Self::Store(e) => e.code(),
        }
    }
}

/// Why an approval was not approved or denied.
#[derive(Debug, Error)]
pub enum DecideError {
    /// No such approval in the admin's org.
    #[error("no such approval")]
    NotFound,
    /// It is no longer pending (`409`).
    #[error("the approval is no longer pending (it is {0})")]
    NotPending(ApprovalStatus),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl DecideError {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "approval_not_found",
            Self::NotPending(_) => "approval_not_pending",
            Self::Store(e) => e.code(),
        }
    }
}

/// Why a request carrying `Support-Approval` is not forwarded.
#[derive(Debug, Error)]
pub enum UseError {
    /// The approval cannot be used for this request (`403 approval_invalid`).
    #[error("the approval cannot be used for this request: {0}")]
    Invalid(Unusable),
    /// The store failed; the gateway fails closed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl UseError {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "approval_invalid",
            Self::Store(e) => e.code(),
        }
    }
}

/// The approvals service. It holds its ports and nothing else.
#[derive(Debug, Clone)]
pub struct Approvals {
    store: Arc<dyn ApprovalStore>,
    grants: Arc<dyn GrantStore>,
    clock: Arc<dyn Clock>,
    ttl: ApprovalTtl,
    /// The request the decisions of this handle answer, stamped on their events.
    request_id: Option<Arc<str>>,
}

impl Approvals {
    /// The service over the given ports; `ttl` from `[approvals]`.
    pub fn new(
        store: Arc<dyn ApprovalStore>,
        grants: Arc<dyn GrantStore>,
        clock: Arc<dyn Clock>,
        ttl: ApprovalTtl,
    ) -> Self {
        Self {
            store,
            grants,
            clock,
            ttl,
            request_id: None,
        }
    }

    /// This service for the decisions of one request: their `approval.approved` and
    /// `approval.denied` events carry `request_id`.
    pub fn for_request(&self, request_id: &str) -> Self {
        Self {
            request_id: Some(request_id.into()),
            ..self.clone()
        }
    }

    /// The configured lifetimes.
    pub fn ttl(&self) -> ApprovalTtl {
        self.ttl
    }

    /// Offers an approval for a request refused by an approvable rule, made under the
    /// authorised `grant`: the open approval of the same request if there is one (so
    /// sending it again returns the same approval), else a new pending one, recorded as
    /// `approval.requested`.
    pub async fn request(
        &self,
        grant: &Grant,
        refused: RefusedRequest<'_>,
    ) -> Result<Approval, RequestError> {
        let now = to_micros(self.clock.now());
        let shape = &refused.shape;
        let fingerprint = Fingerprint::of(shape);
        if let Some(open) = self.open_under(grant, &fingerprint, now).await? {
            return Ok(open);
        }
        let approval = Approval::pending(
            grant,
            shape,
            (refused.restriction, refused.rule.clone()),
            now,
            self.ttl,
        )
        .filter(|a| a.holds_under(grant, now) && a.grant == shape.grant)
        .ok_or(RequestError::NotSeatHolder)?;
        let mut event = approval.event(grant, AuditKind::ApprovalRequested, now);
        event.actor = Some(shape.actor.as_str().to_owned());
        event.request_id = refused.request_id;
        match self.store.create(&approval, event).await {
            Ok(recorded) => Ok(recorded.approval),
            // Another instance created it first: that one is the request's approval.
            Err(StoreError::Conflict(text)) => self
                .open_under(grant, &fingerprint, now)
                .await?
                .ok_or(RequestError::Store(StoreError::Conflict(text))),
            Err(e) => Err(e.into()),
        }
    }

    /// The open approval of `fingerprint` if it still holds under `grant`; one that
    /// does not (made under an earlier seat claim) is voided.
    async fn open_under(
        &self,
        grant: &Grant,
        fingerprint: &Fingerprint,
        now: DateTime<Utc>,
    ) -> Result<Option<Approval>, StoreError> {
        match self.store.find_open(fingerprint, now).await? {
            Some(open) if open.holds_under(grant, now) => Ok(Some(open)),
            Some(stale) => {
                ignore_conflict(self.store.void(stale.id, now).await)?;
                Ok(None)
            }
            None => Ok(None),
        }
    }

    /// Approves a pending approval of `org` with an optional note; records
    /// `approval.approved`. Support must use it within the approved TTL.
    pub async fn approve(
        &self,
        org: &OrgId,
        id: ApprovalId,
        admin: &str,
        note: Option<String>,
    ) -> Result<Approval, DecideError> {
        let now = to_micros(self.clock.now());
        let until = now + self.ttl.approved;
        self.decide(org, id, admin, note, Verdict::Approve { until }, now)
            .await
    }

    /// Denies a pending approval of `org`; records `approval.denied`.
    pub async fn deny(
        &self,
        org: &OrgId,
        id: ApprovalId,
        admin: &str,
        note: Option<String>,
    ) -> Result<Approval, DecideError> {
        let now = to_micros(self.clock.now());
        self.decide(org, id, admin, note, Verdict::Deny, now).await
    }

    async fn decide(
        &self,
        org: &OrgId,
        id: ApprovalId,
        admin: &str,
        note: Option<String>,
        verdict: Verdict,
        now: DateTime<Utc>,
    ) -> Result<Approval, DecideError> {
        let approval = self.of_org(org, id).await?;
        let grant = match self.grants.get(approval.grant).await {
            Ok(grant) => grant,
            Err(StoreError::NotFound) => return Err(DecideError::NotFound),
            Err(e) => return Err(e.into()),
        };
        match approval.status_under(Some(&grant), now) {
            ApprovalStatus::Pending => {}
            ApprovalStatus::Void => {
                ignore_conflict(self.store.void(id, now).await)?;
                return Err(DecideError::NotPending(ApprovalStatus::Void));
            }
            other => return Err(DecideError::NotPending(other)),
        }
        let decision = Decision {
            verdict,
            by: admin.to_owned(),
            at: now,
            note,
        };
        let kind = match verdict {
            Verdict::Approve { .. } => AuditKind::ApprovalApproved,
            Verdict::Deny => AuditKind::ApprovalDenied,
        };
        let mut event = approval.event(&grant, kind, now);
        event.actor = Some(admin.to_owned());
        event.request_id = self.request_id.as_deref().map(str::to_owned);
        match self.store.decide(id, &decision, event).await {
            Ok(recorded) => Ok(recorded.approval),
            Err(StoreError::Conflict(_)) => {
                let now_stored = self.store.get(id).await?;
                Err(DecideError::NotPending(now_stored.status_at(now)))
            }
            Err(StoreError::NotFound) => Err(DecideError::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// Uses approval `id` for `request`, sent under the authorised `grant`: it must be
    /// approved, unexpired, unused, made under the grant's current seat claim, and the
    /// request exactly the approved one. The store marks it used once (also when several
    /// instances race) and records `approval.used`; the request may then be forwarded.
    pub async fn use_approval(
        &self,
        grant: &Grant,
        id: ApprovalId,
        request: &RequestShape<'_>,
        request_id: Option<String>,
    ) -> Result<Approval, UseError> {
        let now = to_micros(self.clock.now());
        let approval = match self.store.get(id).await {
            Ok(approval) => approval,
            Err(StoreError::NotFound) => return Err(UseError::Invalid(Unusable::Unknown)),
            Err(e) => return Err(e.into()),
        };
        let fingerprint = Fingerprint::of(request);
        approval
            .check_use(grant, &fingerprint, now)
            .map_err(UseError::Invalid)?;
        let mut event = approval.event(grant, AuditKind::ApprovalUsed, now);
        event.actor = Some(request.actor.as_str().to_owned());
        event.request_id = request_id;
        match self.store.consume(id, &fingerprint, now, event).await {
            Ok(recorded) => Ok(recorded.approval),
            Err(StoreError::Conflict(_)) => {
                // Lost a race (used by another instance) or the grant changed since.
                let current = self.store.get(id).await?;
                let reason = current
                    .check_use(grant, &fingerprint, now)
                    .err()
                    .unwrap_or(Unusable::Void);
                Err(UseError::Invalid(reason))
            }
            Err(StoreError::NotFound) => Err(UseError::Invalid(Unusable::Unknown)),
            Err(e) => Err(e.into()),
        }
    }

    /// One approval of `org` with its status now.
    pub async fn get(&self, org: &OrgId, id: ApprovalId) -> Result<ApprovalView, DecideError> {
        let approval = self.of_org(org, id).await?;
        let now = self.clock.now();
        let grant = match self.grants.get(approval.grant).await {
            Ok(grant) => Some(grant),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        Ok(ApprovalView {
            status: approval.status_under(grant.as_ref(), now),
            approval,
        })
    }

    /// The org's approvals with `status` now (every one when `None`), newest first, at
    /// most `limit` (clamped to 1..=[`MAX_LIST`]). Open approvals whose grant or seat
    /// claim ended are `void`.
    pub async fn list(
        &self,
        org: &OrgId,
        status: Option<ApprovalStatus>,
        limit: u32,
    ) -> Result<Vec<ApprovalView>, StoreError> {
        let now = self.clock.now();
        // A derived `void` hides among the stored open ones: ask for every status then.
        let stored = match status {
            Some(ApprovalStatus::Void) => None,
            other => other,
        };
        let approvals = self
            .store
            .list(&ApprovalFilter {
                org: org.clone(),
                status: stored,
                now,
                limit: limit.clamp(1, MAX_LIST),
            })
            .await?;
        let open = self.grants.open_for_org(org).await?;
        Ok(approvals
            .into_iter()
            .map(|approval| ApprovalView {
                status: approval
                    .status_under(open.as_ref().filter(|g| g.id == approval.grant), now),
                approval,
            })
            .filter(|view| status.is_none_or(|s| view.status == s))
            .collect())
    }

    /// Voids every open approval of `grant`: call on revoke, expiry and seat release, so
    /// that listings say `void` at once (use is refused anyway, see the module docs).
    pub async fn void_grant(&self, grant: GrantId) -> Result<u64, StoreError> {
        self.store.void_for_grant(grant, self.clock.now()).await
    }

    async fn of_org(&self, org: &OrgId, id: ApprovalId) -> Result<Approval, DecideError> {
        match self.store.get(id).await {
            Ok(approval) if &approval.org == org => Ok(approval),
            Ok(_) | Err(StoreError::NotFound) => Err(DecideError::NotFound),
            Err(e) => Err(e.into()),
        }
    }
}

/// `Ok` also when the store says the change was made by someone else already.
fn ignore_conflict<T>(result: Result<T, StoreError>) -> Result<(), StoreError> {
    match result {
        Ok(_) | Err(StoreError::Conflict(_)) => Ok(()),
        Err(e) => Err(e),
    }
}
