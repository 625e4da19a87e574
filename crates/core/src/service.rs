//! [`SupportAccess`]: the grant lifecycle, the support seat, request authorisation and
//! audit verification, written once against the ports.

use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound, Utc};
use thiserror::Error;

use crate::audit::{
    AuditKind, AuditPage, AuditQuery, ChainBreak, ChainHash, ChainVerifier, NewAuditEvent,
};
use crate::grant::{ClosedAs, Closure, EndDateError, Grant, GrantBounds, GrantStatus};
use crate::ids::{GrantId, OrgId, StaffId, SupportUserId};
use crate::ports::{AuditLog, Clock, GrantStore, StoreError};
use crate::request::{RequestOutcome, RequestRecord};

impl StoreError {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::Conflict(_) => "conflict",
            Self::Unavailable(_) => "store_unavailable",
            Self::Backend(_) => "store_error",
        }
    }
}

/// How the admin chose the end of a grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantEnd {
    /// Until this instant.
    At(DateTime<Utc>),
    /// For this many days from now.
    Days(u32),
}

/// An admin's grant request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRequest {
    /// When access ends.
    pub end: GrantEnd,
    /// Why access is granted.
    pub reason: Option<String>,
    /// The support ticket.
    pub ticket: Option<String>,
}

/// A grant together with its status now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantView {
    /// The grant as stored.
    pub grant: Grant,
    /// Its status at the time of the call.
    pub status: GrantStatus,
}

/// Why a grant was not created.
#[derive(Debug, Error)]
pub enum GrantError {
    /// The end date is out of bounds.
    #[error(transparent)]
    EndDate(#[from] EndDateError),
    /// The org already has an active grant.
    #[error("support access is already granted for this org")]
    AlreadyActive,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl GrantError {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::EndDate(e) => e.code(),
            Self::AlreadyActive => "grant_already_active",
            Self::Store(e) => e.code(),
        }
    }
}

/// Why an end date was not changed.
#[derive(Debug, Error)]
pub enum ChangeError {
    /// The new end date is out of bounds.
    #[error(transparent)]
    EndDate(#[from] EndDateError),
    /// There is no active grant to change.
    #[error("there is no active grant")]
    NoActiveGrant,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ChangeError {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::EndDate(e) => e.code(),
            Self::NoActiveGrant => "no_active_grant",
            Self::Store(e) => e.code(),
        }
    }
}

/// Why a revoke did nothing.
#[derive(Debug, Error)]
pub enum RevokeError {
    /// There is no active grant to revoke.
    #[error("there is no active grant")]
    NoActiveGrant,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RevokeError {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoActiveGrant => "no_active_grant",
            Self::Store(e) => e.code(),
        }
    }
}

/// Why a staff member did not get the support seat.
#[derive(Debug, Error)]
pub enum ClaimError {
    /// The org has no active grant.
    #[error("there is no active grant")]
    NoActiveGrant,
    /// Another staff member holds the seat.
    #[error("another support engineer holds the support seat")]
    SeatTaken,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ClaimError {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoActiveGrant => "no_active_grant",
            Self::SeatTaken => "support_seat_taken",
            Self::Store(e) => e.code(),
        }
    }
}

/// Why a seat was not released.
#[derive(Debug, Error)]
pub enum ReleaseError {
    /// The org has no open grant.
    #[error("there is no active grant")]
    NoActiveGrant,
    /// The caller does not hold the seat.
    #[error("the caller does not hold the support seat")]
    NotSeatHolder,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ReleaseError {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoActiveGrant => "no_active_grant",
            Self::NotSeatHolder => "not_seat_holder",
            Self::Store(e) => e.code(),
        }
    }
}

/// What a verified support token says. The gateway fills it after checking the
/// signature; `authorise` checks it against the grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportTokenFacts {
    /// `org`.
    pub org: OrgId,
    /// `grant`.
    pub grant: GrantId,
    /// `sub`: the hidden support user.
    pub support_user: SupportUserId,
    /// `act.sub`: the staff member.
    pub actor: StaffId,
    /// `iat`.
    pub issued_at: DateTime<Utc>,
}

/// Why a support request is refused before the policy looks at it. Each maps to `401`.
#[derive(Debug, Error)]
pub enum Refusal {
    /// The token names a grant that does not exist or is not this org's.
    #[error("the support token names no grant of this org")]
    UnknownGrant,
    /// The admin revoked access.
    #[error("support access was revoked")]
    Revoked,
    /// The grant's end date passed.
    #[error("support access has expired")]
    Expired,
    /// Another staff member holds the seat.
    #[error("another support engineer holds the support seat")]
    SeatTaken,
    /// The token's holder released the seat since the token was issued.
    #[error("the support seat this token was issued for was released")]
    SeatReleased,
    /// The store could not say; the gateway fails closed (`503`).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Refusal {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownGrant => "support_access_unknown_grant",
            Self::Revoked => "support_access_revoked",
            Self::Expired => "support_access_expired",
            Self::SeatTaken => "support_seat_taken",
            Self::SeatReleased => "support_seat_released",
            Self::Store(e) => e.code(),
        }
    }
}

/// An org's chain checked from its first event to its head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// The org.
    pub org: OrgId,
    /// How many events verified.
    pub events: u64,
    /// The hash of the last event.
    pub head: ChainHash,
    /// The Merkle tree head of the events read: to equal the store's
    /// [`AuditTree::tree_head`](crate::tlog::AuditTree::tree_head), or events are missing.
    pub tree: crate::tlog::TreeHead,
}

/// Why verification did not pass.
#[derive(Debug, Error)]
pub enum VerifyError {
    /// The chain is broken; the break names the first bad event.
    #[error(transparent)]
    Broken(#[from] ChainBreak),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// More events than a tree can hold.
    #[error(transparent)]
    Tree(#[from] crate::tlog::TreeError),
}

/// The Support Access service. It holds the ports and nothing else.
#[derive(Debug, Clone)]
pub struct SupportAccess {
    grants: Arc<dyn GrantStore>,
    audit: Arc<dyn AuditLog>,
    clock: Arc<dyn Clock>,
    bounds: GrantBounds,
    /// The request the lifecycle calls of this handle answer, stamped on their events.
    request_id: Option<Arc<str>>,
}

impl Grant {
    /// An audit event of this grant: org, grant, support user, reason and ticket stamped.
    pub fn event(&self, kind: AuditKind, at: DateTime<Utc>) -> NewAuditEvent {
        let mut event = NewAuditEvent::new(self.org.clone(), kind, at);
        event.grant = Some(self.id);
        event.support_user = Some(self.support_user);
        event.reason = self.reason.clone();
        event.ticket = self.ticket.clone();
        event
    }
}

const SCAN_PAGE: u32 = 1000;

impl SupportAccess {
    /// The service over the given ports.
    pub fn new(
        grants: Arc<dyn GrantStore>,
        audit: Arc<dyn AuditLog>,
        clock: Arc<dyn Clock>,
        bounds: GrantBounds,
    ) -> Self {
        Self {
            grants,
            audit,
            clock,
            bounds,
            request_id: None,
        }
    }

    /// This service for the lifecycle calls of one request: the events they record
    /// (`grant.created`, `token.issued`, …) carry `request_id`, as the request's log
    /// lines and refusals do.
    pub fn for_request(&self, request_id: &str) -> Self {
        Self {
            request_id: Some(request_id.into()),
            ..self.clone()
        }
    }

    /// Now, by the service's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The audit log, for tests and tools that read it behind the service's back; the
    /// gateway goes through the service.
    pub fn audit(&self) -> &Arc<dyn AuditLog> {
        &self.audit
    }

    /// The grant store, for tests and tools that read it behind the service's back;
    /// the gateway goes through the service.
    pub fn grants(&self) -> &Arc<dyn GrantStore> {
        &self.grants
    }

    /// Records what became of a support request (`request.blocked`, `request.allowed`
    /// or `request.completed`), durably: `Ok` only once the event is stored.
    pub async fn record_request(
        &self,
        record: &RequestRecord,
        outcome: RequestOutcome,
    ) -> Result<(), StoreError> {
        let event = record.event(outcome, self.clock.now());
        self.audit.append(event).await.map(|_| ())
    }

    /// [`record_request`](Self::record_request) as a future that borrows nothing: the
    /// event is built (and stamped) now, and appended when the future is polled — so
    /// that a caller can hand it to the store and let it commit off its own path (the
    /// gateway's `request.completed`). `Ok` only once the event is stored.
    pub fn record_request_owned(
        &self,
        record: &RequestRecord,
        outcome: RequestOutcome,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), StoreError>> + Send>> {
        let event = record.event(outcome, self.clock.now());
        let audit = self.audit.clone();
        Box::pin(async move { audit.append(event).await.map(|_| ()) })
    }

    /// One page of `query.org`'s audit events, newest first; follow `next_cursor` for
    /// the next page (an export walks every page this way).
    pub async fn audit_page(&self, query: &AuditQuery) -> Result<AuditPage, StoreError> {
        self.audit.query(query).await
    }

    /// The hidden support users of the open grants (at most `limit`), for the
    /// assignment guard on ordinary traffic.
    pub async fn support_users(&self, limit: u32) -> Result<Vec<SupportUserId>, StoreError> {
        let open = self.grants.open_grants(limit).await?;
        Ok(open.iter().map(|grant| grant.support_user).collect())
    }

    /// Grant `id` of `org`: `NotFound` for an unknown id or another org's grant.
    pub async fn grant_of(&self, org: &OrgId, id: GrantId) -> Result<Grant, StoreError> {
        let grant = self.grants.get(id).await?;
        match grant.org == *org {
            true => Ok(grant),
            false => Err(StoreError::NotFound),
        }
    }

    /// Whether the grant store answers a read, for readiness.
    pub async fn probe(&self) -> Result<(), StoreError> {
        let nobody = OrgId::new("__readyz__");
        self.grants.open_for_org(&nobody).await.map(|_| ())
    }

    /// The configured duration bounds.
    pub fn bounds(&self) -> GrantBounds {
        self.bounds
    }

    /// Grants support access to `org`; records `grant.created` in the same transaction.
    pub async fn grant(
        &self,
        org: &OrgId,
        admin: &str,
        request: GrantRequest,
    ) -> Result<Grant, GrantError> {
        let now = self.clock.now();
        let end = self.bounds.resolve(now, request.end)?;
        self.close_if_expired(org, now).await?;
        let grant = Grant::new(org.clone(), admin, now, end, request.reason, request.ticket);
        let event = self.lifecycle_event(&grant, AuditKind::GrantCreated, now, admin);
        match self.grants.insert(&grant, event).await {
            Ok(recorded) => Ok(recorded.grant),
            Err(StoreError::Conflict(_)) => Err(GrantError::AlreadyActive),
            Err(e) => Err(e.into()),
        }
    }

    /// Moves the end date of the org's active grant, within the same bounds as a new
    /// grant counted from now; records `grant.changed`.
    pub async fn change_end(
        &self,
        org: &OrgId,
        admin: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<Grant, ChangeError> {
        self.change_end_to(org, admin, GrantEnd::At(expires_at))
            .await
    }

    /// [`Self::change_end`] with the end given as a new grant's is: an instant or a
    /// count of days from now.
    pub async fn change_end_to(
        &self,
        org: &OrgId,
        admin: &str,
        end: GrantEnd,
    ) -> Result<Grant, ChangeError> {
        let now = self.clock.now();
        let expires_at = self.bounds.resolve(now, end)?;
        let grant = self
            .active_grant(org, now)
            .await?
            .ok_or(ChangeError::NoActiveGrant)?;
        let event = self.lifecycle_event(&grant, AuditKind::GrantChanged, now, admin);
        match self
            .grants
            .set_expiry(grant.id, crate::time::to_micros(expires_at), event)
            .await
        {
            Ok(recorded) => Ok(recorded.grant),
            Err(StoreError::Conflict(_) | StoreError::NotFound) => Err(ChangeError::NoActiveGrant),
            Err(e) => Err(e.into()),
        }
    }

    /// Revokes the org's active grant now; records `grant.revoked`. The very next
    /// `authorise` refuses it.
    pub async fn revoke(&self, org: &OrgId, admin: &str) -> Result<Grant, RevokeError> {
        let now = self.clock.now();
        let grant = self
            .active_grant(org, now)
            .await?
            .ok_or(RevokeError::NoActiveGrant)?;
        let closure = Closure {
            reason: ClosedAs::Revoked,
            at: crate::time::to_micros(now),
            by: Some(admin.to_owned()),
        };
        let event = self.lifecycle_event(&grant, AuditKind::GrantRevoked, now, admin);
        match self.grants.close(grant.id, closure, event).await {
            Ok(recorded) => Ok(recorded.grant),
            Err(StoreError::Conflict(_) | StoreError::NotFound) => Err(RevokeError::NoActiveGrant),
            Err(e) => Err(e.into()),
        }
    }

    /// The org's current grant with its status now: the active one, or the latest
    /// revoked or expired one; `None` if there never was one. An open grant past its end
    /// is closed here (recording `grant.expired`) if the sweeper has not done it yet.
    pub async fn status(&self, org: &OrgId) -> Result<Option<GrantView>, StoreError> {
        let now = self.clock.now();
        self.close_if_expired(org, now).await?;
        Ok(self
            .grants
            .latest_for_org(org)
            .await?
            .map(|grant| GrantView {
                status: grant.status_at(now),
                grant,
            }))
    }

    /// Gives the support seat of the org's active grant to `staff` (kept if `staff`
    /// already holds it); records `token.issued`. Called on every token exchange.
    pub async fn claim_seat(&self, org: &OrgId, staff: &StaffId) -> Result<Grant, ClaimError> {
        let now = self.clock.now();
        let grant = self
            .active_grant(org, now)
            .await?
            .ok_or(ClaimError::NoActiveGrant)?;
        let event = self.lifecycle_event(&grant, AuditKind::TokenIssued, now, staff.as_str());
        match self.grants.claim_seat(grant.id, staff, now, event).await {
            Ok(recorded) => Ok(recorded.grant),
            Err(StoreError::Conflict(_)) => {
                let current = self.grants.get(grant.id).await?;
                Err(if current.is_open() {
                    ClaimError::SeatTaken
                } else {
                    ClaimError::NoActiveGrant
                })
            }
            Err(StoreError::NotFound) => Err(ClaimError::NoActiveGrant),
            Err(e) => Err(e.into()),
        }
    }

    /// Frees the support seat held by `staff`; records `seat.released`. Support tokens
    /// issued before the release are refused from then on, even if `staff` claims the
    /// seat again.
    pub async fn release_seat(&self, org: &OrgId, staff: &StaffId) -> Result<Grant, ReleaseError> {
        let now = self.clock.now();
        let grant = self
            .grants
            .open_for_org(org)
            .await?
            .ok_or(ReleaseError::NoActiveGrant)?;
        let event = self.lifecycle_event(&grant, AuditKind::SeatReleased, now, staff.as_str());
        match self.grants.release_seat(grant.id, staff, event).await {
            Ok(recorded) => Ok(recorded.grant),
            Err(StoreError::Conflict(_)) => Err(ReleaseError::NotSeatHolder),
            Err(StoreError::NotFound) => Err(ReleaseError::NoActiveGrant),
            Err(e) => Err(e.into()),
        }
    }

    /// Decides whether a verified support token may act at `now`: its grant must exist
    /// for its org and support user, be active (not revoked, strictly before its end),
    /// and its actor must hold the seat under the claim the token was issued for.
    /// Reads only; writes nothing.
    pub async fn authorise(
        &self,
        facts: &SupportTokenFacts,
        now: DateTime<Utc>,
    ) -> Result<Grant, Refusal> {
        let grant = self.token_grant(facts).await?;
        admits(grant, facts, now)
    }

    /// [`authorise`](Self::authorise) for the request `record` describes, which it
    /// stamps with the grant's reason and ticket as soon as the token's grant is found —
    /// also when the grant then refuses (revoked, expired, seat released), so that the
    /// `request.blocked` event of a request after a revoke says which grant, for which
    /// reason and ticket, refused it.
    pub async fn authorise_request(
        &self,
        record: &mut RequestRecord,
        now: DateTime<Utc>,
    ) -> Result<Grant, Refusal> {
        let grant = self.token_grant(&record.facts).await?;
        record.authorised(&grant);
        admits(grant, &record.facts, now)
    }

    /// The grant a support token names, if it is the token's (same org and user).
    async fn token_grant(&self, facts: &SupportTokenFacts) -> Result<Grant, Refusal> {
        let grant = match self.grants.get(facts.grant).await {
            Ok(grant) => grant,
            Err(StoreError::NotFound) => return Err(Refusal::UnknownGrant),
            Err(e) => return Err(e.into()),
        };
        if grant.org != facts.org || grant.support_user != facts.support_user {
            return Err(Refusal::UnknownGrant);
        }
        Ok(grant)
    }

    /// Closes every open grant whose end date has come and records `grant.expired` for
    /// each — once, even when several instances sweep at the same time. Returns how many
    /// this call closed.
    pub async fn expire_due(&self, limit: u32) -> Result<usize, StoreError> {
        Ok(self.expire_due_grants(limit).await?.len())
    }

    /// [`SupportAccess::expire_due`], returning the grants this call closed (so that
    /// their approvals can be voided).
    pub async fn expire_due_grants(&self, limit: u32) -> Result<Vec<GrantId>, StoreError> {
        let now = self.clock.now();
        let mut closed = Vec::new();
        for grant in self.grants.due_for_expiry(now, limit).await? {
            let id = grant.id;
            if self.close_expired(grant, now).await? {
                closed.push(id);
            }
        }
        Ok(closed)
    }

    /// A lifecycle event of `grant` by `actor`, with this handle's request id.
    fn lifecycle_event(
        &self,
        grant: &Grant,
        kind: AuditKind,
        now: DateTime<Utc>,
        actor: &str,
    ) -> NewAuditEvent {
        let mut event = grant.event(kind, now);
        event.actor = Some(actor.to_owned());
        event.request_id = self.request_id.as_deref().map(str::to_owned);
        event
    }

    /// Checks `org`'s audit chain from its first event to its head.
    pub async fn verify_audit(&self, org: &OrgId) -> Result<ChainReport, VerifyError> {
        let mut verifier = ChainVerifier::new(org.clone());
        let mut frontier = crate::tlog::Frontier::default();
        let mut new_nodes = Vec::new();
        loop {
            let events = self.audit.scan(org, verifier.verified(), SCAN_PAGE).await?;
            for event in &events {
                verifier.check(event)?;
                frontier.push(crate::tlog::event_leaf(&event.hash), &mut new_nodes)?;
                new_nodes.clear();
            }
            if events.len() < SCAN_PAGE as usize {
                break;
            }
        }
        Ok(ChainReport {
            org: org.clone(),
            events: verifier.verified(),
            head: verifier.head(),
            tree: crate::tlog::TreeHead {
                size: frontier.size(),
                root: frontier.root(),
            },
        })
    }

    async fn active_grant(
        &self,
        org: &OrgId,
        now: DateTime<Utc>,
    ) -> Result<Option<Grant>, StoreError> {
        match self.grants.open_for_org(org).await? {
            Some(grant) if grant.status_at(now) == GrantStatus::Active => Ok(Some(grant)),
            Some(grant) => {
                self.close_expired(grant, now).await?;
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn close_if_expired(&self, org: &OrgId, now: DateTime<Utc>) -> Result<(), StoreError> {
        if let Some(grant) = self.grants.open_for_org(org).await?
            && grant.status_at(now) == GrantStatus::Expired
        {
            self.close_expired(grant, now).await?;
        }
        Ok(())
    }

    /// Closes an open grant past its end; `true` when this call closed it, `false` when
    /// another caller already had.
    async fn close_expired(&self, grant: Grant, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let closure = Closure {
            reason: ClosedAs::Expired,
            at: grant.expires_at,
            by: None,
        };
        let event = grant.event(AuditKind::GrantExpired, now);
        match self.grants.close(grant.id, closure, event).await {
            Ok(_) => Ok(true),
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::seconds(1)).unwrap_or(t)
}

/// Whether `grant` (the token's) admits the token at `now`.
fn admits(grant: Grant, facts: &SupportTokenFacts, now: DateTime<Utc>) -> Result<Grant, Refusal> {
    match grant.status_at(now) {
        GrantStatus::Revoked => return Err(Refusal::Revoked),
        GrantStatus::Expired => return Err(Refusal::Expired),
        GrantStatus::Active => {}
    }
    match &grant.seat {
        None => Err(Refusal::SeatReleased),
        Some(seat) if seat.holder != facts.actor => Err(Refusal::SeatTaken),
        Some(seat) if facts.issued_at < whole_seconds(seat.claimed_at) => {
            Err(Refusal::SeatReleased)
        }
        Some(_) => Ok(grant),
    }
}
