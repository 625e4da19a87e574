//! The lifecycle rules of `SupportAccess`, driven through the in-memory adapters with a
//! `ManualClock`.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use support_access_core::audit::{AuditEvent, AuditKind, AuditQuery, ChainProblem};
use support_access_core::grant::{GrantBounds, GrantStatus};
use support_access_core::ids::{GrantId, OrgId, StaffId};
use support_access_core::service::{
    ChangeError, ClaimError, GrantEnd, GrantError, GrantRequest, Refusal, ReleaseError,
    RevokeError, SupportTokenFacts, VerifyError,
};
use support_access_core::{Grant, StoreError, SupportAccess};
use support_access_memory::{InMemoryStore, ManualClock};

struct World {
    store: InMemoryStore,
    clock: ManualClock,
    access: SupportAccess,
    org: OrgId,
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap()
}

fn world() -> World {
    let store = InMemoryStore::new();
    let clock = ManualClock::new(start());
    let access = service(&store, &clock);
    World {
        store,
        clock,
        access,
        org: OrgId::from("org-acme"),
    }
}

fn service(store: &InMemoryStore, clock: &ManualClock) -> SupportAccess {
    SupportAccess::new(
        Arc::new(store.clone()),
        Arc::new(store.clone()),
        Arc::new(clock.clone()),
        GrantBounds::default(),
    )
}

fn days(n: u32) -> GrantRequest {
    GrantRequest {
        end: GrantEnd::Days(n),
        reason: Some("sync failures".into()),
        ticket: Some("T-9".into()),
    }
}

fn until(end: DateTime<Utc>) -> GrantRequest {
    GrantRequest {
        end: GrantEnd::At(end),
        reason: None,
        ticket: None,
    }
}

fn now(clock: &ManualClock) -> DateTime<Utc> {
    support_access_core::Clock::now(clock)
}

fn ana() -> StaffId {
    StaffId::from("staff-ana")
}

fn bob() -> StaffId {
    StaffId::from("staff-bob")
}

fn facts(grant: &Grant, actor: &StaffId, issued_at: DateTime<Utc>) -> SupportTokenFacts {
    SupportTokenFacts {
        org: grant.org.clone(),
        grant: grant.id,
        support_user: grant.support_user,
        actor: actor.clone(),
        issued_at,
    }
}

async fn events(w: &World) -> Vec<AuditEvent> {
    let mut query = AuditQuery::new(w.org.clone());
    query.limit = 1000;
    let mut events = w.store_log().query(&query).await.unwrap().events;
    events.reverse();
    events
}

impl World {
    fn store_log(&self) -> Arc<dyn support_access_core::AuditLog> {
        Arc::new(self.store.clone())
    }

    async fn granted_and_claimed(&self) -> Grant {
        self.access
            .grant(&self.org, "admin-1", days(2))
            .await
            .unwrap();
        self.access.claim_seat(&self.org, &ana()).await.unwrap()
    }
}

fn kinds(events: &[AuditEvent]) -> Vec<AuditKind> {
    events.iter().map(|e| e.kind).collect()
}

#[tokio::test]
async fn a_grant_is_authorised_one_microsecond_before_its_end_and_refused_at_its_end() {
    let w = world();
    let grant = w.granted_and_claimed().await;
    let token = facts(&grant, &ana(), now(&w.clock));
    let just_before = grant.expires_at - Duration::microseconds(1);
    assert!(w.access.authorise(&token, just_before).await.is_ok());
    let refused = w
        .access
        .authorise(&token, grant.expires_at)
        .await
        .unwrap_err();
    assert!(matches!(refused, Refusal::Expired));
    assert_eq!(refused.code(), "support_access_expired");
}

#[tokio::test]
async fn a_revoke_is_refused_on_the_very_next_check() {
    let w = world();
    let grant = w.granted_and_claimed().await;
    let token = facts(&grant, &ana(), now(&w.clock));
    assert!(w.access.authorise(&token, start()).await.is_ok());
    w.access.revoke(&w.org, "admin-2").await.unwrap();
    let refused = w.access.authorise(&token, start()).await.unwrap_err();
    assert_eq!(refused.code(), "support_access_revoked");
}

#[tokio::test]
async fn a_grant_of_23h59m_is_refused() {
    let w = world();
    let end = start() + Duration::hours(23) + Duration::minutes(59);
    let refused = w
        .access
        .grant(&w.org, "admin-1", until(end))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "grant_too_short");
    assert!(w.access.status(&w.org).await.unwrap().is_none());
    assert!(events(&w).await.is_empty());
}

#[tokio::test]
async fn a_grant_over_the_maximum_is_refused() {
    let w = world();
    let refused = w
        .access
        .grant(&w.org, "admin-1", days(366))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "grant_too_long");
    let end = start() + Duration::days(365) + Duration::seconds(1);
    let refused = w
        .access
        .grant(&w.org, "admin-1", until(end))
        .await
        .unwrap_err();
    assert!(matches!(refused, GrantError::EndDate(_)));
}

#[tokio::test]
async fn a_grant_ending_in_the_past_is_refused() {
    let w = world();
    let refused = w
        .access
        .grant(&w.org, "admin-1", until(start() - Duration::days(1)))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "end_date_in_past");
}

#[tokio::test]
async fn a_grant_of_exactly_one_day_is_accepted_and_recorded() {
    let w = world();
    let grant = w.access.grant(&w.org, "admin-1", days(1)).await.unwrap();
    assert_eq!(grant.expires_at, start() + Duration::days(1));
    assert_eq!(grant.created_by, "admin-1");
    let events = events(&w).await;
    assert_eq!(kinds(&events), vec![AuditKind::GrantCreated]);
    assert_eq!(events[0].actor.as_deref(), Some("admin-1"));
    assert_eq!(events[0].grant, Some(grant.id));
    assert_eq!(events[0].support_user, Some(grant.support_user));
    assert_eq!(events[0].reason.as_deref(), Some("sync failures"));
    assert_eq!(events[0].ticket.as_deref(), Some("T-9"));
}

#[tokio::test]
async fn at_most_one_active_grant_per_org() {
    let w = world();
    w.access.grant(&w.org, "admin-1", days(2)).await.unwrap();
    let second = w
        .access
        .grant(&w.org, "admin-1", days(3))
        .await
        .unwrap_err();
    assert!(matches!(second, GrantError::AlreadyActive));
    assert_eq!(second.code(), "grant_already_active");
    let other = OrgId::from("org-other");
    assert!(w.access.grant(&other, "admin-9", days(3)).await.is_ok());
}

#[tokio::test]
async fn an_expired_grant_is_closed_once_and_the_org_can_be_granted_again() {
    let w = world();
    let first = w.access.grant(&w.org, "admin-1", days(1)).await.unwrap();
    w.clock.advance(Duration::days(1));
    let view = w.access.status(&w.org).await.unwrap().unwrap();
    assert_eq!(view.status, GrantStatus::Expired);
    let second = w.access.grant(&w.org, "admin-1", days(2)).await.unwrap();
    assert_ne!(second.id, first.id);
    assert_ne!(second.support_user, first.support_user);
    assert_eq!(
        kinds(&events(&w).await),
        vec![
            AuditKind::GrantCreated,
            AuditKind::GrantExpired,
            AuditKind::GrantCreated
        ]
    );
}

#[tokio::test]
async fn expiry_is_recorded_exactly_once_by_two_sweeping_instances() {
    let w = world();
    w.access.grant(&w.org, "admin-1", days(1)).await.unwrap();
    let other_instance = service(&w.store, &w.clock);
    w.clock.advance(Duration::days(1));
    let (a, b) = tokio::join!(w.access.expire_due(10), other_instance.expire_due(10));
    assert_eq!(a.unwrap() + b.unwrap(), 1);
    assert_eq!(w.access.expire_due(10).await.unwrap(), 0);
    w.access.status(&w.org).await.unwrap();
    let expired = events(&w)
        .await
        .into_iter()
        .filter(|e| e.kind == AuditKind::GrantExpired)
        .count();
    assert_eq!(expired, 1);
}

#[tokio::test]
async fn the_sweeper_leaves_grants_before_their_end_alone() {
    let w = world();
    w.access.grant(&w.org, "admin-1", days(1)).await.unwrap();
    w.clock
        .advance(Duration::days(1) - Duration::microseconds(1));
    assert_eq!(w.access.expire_due(10).await.unwrap(), 0);
    w.clock.advance(Duration::microseconds(1));
    assert_eq!(w.access.expire_due(10).await.unwrap(), 1);
}

#[tokio::test]
async fn the_end_date_changes_within_the_same_bounds_counted_from_now() {
    let w = world();
    w.access.grant(&w.org, "admin-1", days(2)).await.unwrap();
    w.clock.advance(Duration::hours(30));
    let too_short = now(&w.clock) + Duration::hours(23);
    let refused = w
        .access
        .change_end(&w.org, "admin-1", too_short)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "grant_too_short");
    let too_long = now(&w.clock) + Duration::days(366);
    assert!(
        w.access
            .change_end(&w.org, "admin-1", too_long)
            .await
            .is_err()
    );
    let fine = now(&w.clock) + Duration::days(364);
    let changed = w.access.change_end(&w.org, "admin-2", fine).await.unwrap();
    assert_eq!(changed.expires_at, fine);
    let last = events(&w).await.pop().unwrap();
    assert_eq!(
        (last.kind, last.actor.as_deref()),
        (AuditKind::GrantChanged, Some("admin-2"))
    );
}

#[tokio::test]
async fn changing_or_revoking_without_an_active_grant_is_refused() {
    let w = world();
    let end = start() + Duration::days(3);
    let change = w
        .access
        .change_end(&w.org, "admin-1", end)
        .await
        .unwrap_err();
    assert!(matches!(change, ChangeError::NoActiveGrant));
    let revoke = w.access.revoke(&w.org, "admin-1").await.unwrap_err();
    assert!(matches!(revoke, RevokeError::NoActiveGrant));
    w.access.grant(&w.org, "admin-1", days(1)).await.unwrap();
    w.clock.advance(Duration::days(1));
    let revoke = w.access.revoke(&w.org, "admin-1").await.unwrap_err();
    assert_eq!(revoke.code(), "no_active_grant");
}

#[tokio::test]
async fn a_revoke_is_recorded_with_the_admin_and_shows_in_the_status() {
    let w = world();
    w.access.grant(&w.org, "admin-1", days(2)).await.unwrap();
    w.clock.advance(Duration::minutes(5));
    let revoked = w.access.revoke(&w.org, "admin-2").await.unwrap();
    assert_eq!(revoked.revoked_by(), Some("admin-2"));
    assert_eq!(revoked.revoked_at(), Some(start() + Duration::minutes(5)));
    let view = w.access.status(&w.org).await.unwrap().unwrap();
    assert_eq!(view.status, GrantStatus::Revoked);
    let last = events(&w).await.pop().unwrap();
    assert_eq!(
        (last.kind, last.actor.as_deref()),
        (AuditKind::GrantRevoked, Some("admin-2"))
    );
}

#[tokio::test]
async fn one_seat_holder_per_grant() {
    let w = world();
    let grant = w.granted_and_claimed().await;
    assert_eq!(grant.seat.as_ref().map(|s| s.holder.clone()), Some(ana()));
    let bob_claim = w.access.claim_seat(&w.org, &bob()).await.unwrap_err();
    assert!(matches!(bob_claim, ClaimError::SeatTaken));
    assert_eq!(bob_claim.code(), "support_seat_taken");
    let bob_token = facts(&grant, &bob(), now(&w.clock));
    let refused = w.access.authorise(&bob_token, start()).await.unwrap_err();
    assert_eq!(refused.code(), "support_seat_taken");
    let again = w.access.claim_seat(&w.org, &ana()).await.unwrap();
    assert_eq!(again.seat, grant.seat);
}

#[tokio::test]
async fn after_a_release_another_staff_member_can_claim_and_old_tokens_are_refused() {
    let w = world();
    let grant = w.granted_and_claimed().await;
    let ana_token = facts(&grant, &ana(), now(&w.clock));
    let bob_release = w.access.release_seat(&w.org, &bob()).await.unwrap_err();
    assert!(matches!(bob_release, ReleaseError::NotSeatHolder));
    w.access.release_seat(&w.org, &ana()).await.unwrap();
    let refused = w.access.authorise(&ana_token, start()).await.unwrap_err();
    assert_eq!(refused.code(), "support_seat_released");

    w.clock.advance(Duration::seconds(2));
    w.access.claim_seat(&w.org, &bob()).await.unwrap();
    w.access.release_seat(&w.org, &bob()).await.unwrap();
    w.clock.advance(Duration::seconds(2));
    let reclaimed = w.access.claim_seat(&w.org, &ana()).await.unwrap();
    let refused = w
        .access
        .authorise(&ana_token, now(&w.clock))
        .await
        .unwrap_err();
    assert!(matches!(refused, Refusal::SeatReleased), "{refused:?}");
    let fresh = facts(&reclaimed, &ana(), now(&w.clock));
    assert!(w.access.authorise(&fresh, now(&w.clock)).await.is_ok());
    assert_eq!(
        kinds(&events(&w).await),
        vec![
            AuditKind::GrantCreated,
            AuditKind::TokenIssued,
            AuditKind::SeatReleased,
            AuditKind::TokenIssued,
            AuditKind::SeatReleased,
            AuditKind::TokenIssued,
        ]
    );
}

#[tokio::test]
async fn claiming_without_an_active_grant_is_refused() {
    let w = world();
    let refused = w.access.claim_seat(&w.org, &ana()).await.unwrap_err();
    assert_eq!(refused.code(), "no_active_grant");
    w.access.grant(&w.org, "admin-1", days(1)).await.unwrap();
    w.access.revoke(&w.org, "admin-1").await.unwrap();
    assert!(matches!(
        w.access.claim_seat(&w.org, &ana()).await,
        Err(ClaimError::NoActiveGrant)
    ));
}

#[tokio::test]
async fn a_token_for_an_unknown_grant_or_another_org_is_refused() {
    let w = world();
    let grant = w.granted_and_claimed().await;
    let mut token = facts(&grant, &ana(), start());
    token.grant = GrantId::random();
    let refused = w.access.authorise(&token, start()).await.unwrap_err();
    assert_eq!(refused.code(), "support_access_unknown_grant");
    let mut token = facts(&grant, &ana(), start());
    token.org = OrgId::from("org-b");
    assert!(matches!(
        w.access.authorise(&token, start()).await,
        Err(Refusal::UnknownGrant)
    ));
}

#[tokio::test]
async fn an_unavailable_store_refuses_support_requests_as_unavailable() {
    let w = world();
    let grant = w.granted_and_claimed().await;
    w.store.set_unavailable(true);
    let refused = w
        .access
        .authorise(&facts(&grant, &ana(), start()), start())
        .await
        .unwrap_err();
    assert!(matches!(
        refused,
        Refusal::Store(StoreError::Unavailable(_))
    ));
    assert_eq!(refused.code(), "store_unavailable");
}

#[tokio::test]
async fn every_lifecycle_change_leaves_a_verifiable_chain_and_tampering_is_named() {
    let w = world();
    w.granted_and_claimed().await;
    w.access
        .change_end(&w.org, "admin-1", start() + Duration::days(5))
        .await
        .unwrap();
    w.access.release_seat(&w.org, &ana()).await.unwrap();
    w.access.revoke(&w.org, "admin-1").await.unwrap();
    let report = w.access.verify_audit(&w.org).await.unwrap();
    assert_eq!(report.events, 5);
    w.store
        .tamper_with_event(&w.org, 3, |e| e.data.actor = Some("nobody".into()));
    match w.access.verify_audit(&w.org).await {
        Err(VerifyError::Broken(broken)) => {
            assert_eq!(broken.seq, 3);
            assert_eq!(broken.problem, ChainProblem::HashMismatch);
        }
        other => panic!("tampering not detected: {other:?}"),
    }
}

#[tokio::test]
async fn a_grant_is_found_by_id_only_for_its_own_org() {
    let w = world();
    let grant = w.access.grant(&w.org, "admin-1", days(2)).await.unwrap();
    let found = w.access.grant_of(&w.org, grant.id).await.unwrap();
    assert_eq!(found.id, grant.id);
    let other = OrgId::from("org-other");
    assert_eq!(
        w.access.grant_of(&other, grant.id).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        w.access.grant_of(&w.org, GrantId::random()).await,
        Err(StoreError::NotFound)
    );
}
