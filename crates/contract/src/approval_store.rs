//! The [`ApprovalStore`](support_access_core::ports::ApprovalStore) contract.

use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;
use support_access_core::StoreError;
use support_access_core::approval::{
    Approval, ApprovalId, ApprovalStatus, ApprovalTtl, Decision, Fingerprint, RequestShape, Verdict,
};
use support_access_core::audit::{AuditEvent, AuditKind, ChainVerifier, NewAuditEvent};
use support_access_core::grant::{ClosedAs, Closure, Grant};
use support_access_core::ids::{OrgId, StaffId};
use support_access_core::ports::ApprovalFilter;

use crate::ApprovalStoreFixture;
use crate::support::{ev, fresh_org, grant_for, t0};

fn staff() -> StaffId {
    StaffId::from("staff-1")
}

fn at(minutes: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(minutes)
}

/// An open grant of a fresh org whose seat `staff-1` holds since [`t0`].
async fn seated_grant(f: &ApprovalStoreFixture) -> Grant {
    let grant = grant_for(&fresh_org(), 3);
    f.grants
        .insert(&grant, ev(&grant, AuditKind::GrantCreated))
        .await
        .expect("insert the grant");
    f.grants
        .claim_seat(grant.id, &staff(), t0(), ev(&grant, AuditKind::TokenIssued))
        .await
        .expect("claim the seat")
        .grant
}

/// A pending approval of a request to `path` with `body`, requested `minute`s after t0.
fn pending(grant: &Grant, path: &str, body: &[u8], minute: i64) -> Approval {
    let actor = staff();
    let shape = RequestShape {
        grant: grant.id,
        actor: &actor,
        method: "POST",
        path,
        query: Some("format=csv"),
        body,
    };
    let mut approval = Approval::pending(
        grant,
        &shape,
        (Some(7), Some("export".into())),
        at(minute),
        ApprovalTtl::default(),
    )
    .expect("the seat is held");
    approval.requested_at += Duration::microseconds(123_457);
    approval
}

fn event(grant: &Grant, approval: &Approval, kind: AuditKind, minute: i64) -> NewAuditEvent {
    approval.event(grant, kind, at(minute))
}

async fn create(f: &ApprovalStoreFixture, grant: &Grant, approval: &Approval) -> AuditEvent {
    f.store
        .create(
            approval,
            event(grant, approval, AuditKind::ApprovalRequested, 0),
        )
        .await
        .expect("create")
        .event
}

fn verdict(approve: bool, minute: i64) -> Decision {
    Decision {
        verdict: if approve {
            Verdict::Approve {
                until: at(minute + 15),
            }
        } else {
            Verdict::Deny
        },
        by: "admin-1".into(),
        at: at(minute),
        note: Some("just this once".into()),
    }
}

async fn approved(f: &ApprovalStoreFixture, grant: &Grant, path: &str) -> Approval {
    approve(f, grant, pending(grant, path, b"{}", 0)).await
}

/// Creates `approval` and approves it at minute 1, until minute 16.
async fn approve(f: &ApprovalStoreFixture, grant: &Grant, approval: Approval) -> Approval {
    create(f, grant, &approval).await;
    f.store
        .decide(
            approval.id,
            &verdict(true, 1),
            event(grant, &approval, AuditKind::ApprovalApproved, 1),
        )
        .await
        .expect("approve")
        .approval
}

async fn consume(
    f: &ApprovalStoreFixture,
    grant: &Grant,
    approval: &Approval,
    minute: i64,
) -> Result<Approval, StoreError> {
    f.store
        .consume(
            approval.id,
            &approval.fingerprint,
            at(minute),
            event(grant, approval, AuditKind::ApprovalUsed, minute),
        )
        .await
        .map(|r| r.approval)
}

fn is_conflict<T: std::fmt::Debug>(result: &Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::Conflict(_)))
}

async fn events(f: &ApprovalStoreFixture, org: &OrgId) -> Vec<AuditEvent> {
    f.audit.scan(org, 0, 1000).await.expect("scan")
}

/// `create` stores the pending approval exactly as given, times to the microsecond,
/// and `get` reads it back; its event is the org's next, naming the approval.
pub async fn created_approval_reads_back_exactly(f: ApprovalStoreFixture) {
    let grant = seated_grant(&f).await;
    let approval = pending(&grant, "/crm/bulk/v8/read", "é{\"a\":1}".as_bytes(), 0);
    let stored = create(&f, &grant, &approval).await;
    assert_eq!(f.store.get(approval.id).await.expect("get"), approval);
    assert_eq!(stored.approval, Some(approval.id));
    assert_eq!(stored.kind, AuditKind::ApprovalRequested);
    let log = events(&f, &grant.org).await;
    assert_eq!(log.last(), Some(&stored));
    assert_eq!(stored.seq, 3, "after grant.created and token.issued");
}

/// Every call on an unknown id is `NotFound`.
pub async fn unknown_approval_is_not_found(f: ApprovalStoreFixture) {
    let grant = seated_grant(&f).await;
    let ghost = pending(&grant, "/crm/v8/Leads/actions/export", b"", 0);
    let id = ApprovalId::random();
    assert_eq!(f.store.get(id).await, Err(StoreError::NotFound));
    let decided = f
        .store
        .decide(
            id,
            &verdict(true, 1),
            event(&grant, &ghost, AuditKind::ApprovalApproved, 1),
        )
        .await;
    assert_eq!(decided.err(), Some(StoreError::NotFound));
    let used = f
        .store
        .consume(
            id,
            &ghost.fingerprint,
            at(1),
            event(&grant, &ghost, AuditKind::ApprovalUsed, 1),
        )
        .await;
    assert_eq!(used.err(), Some(StoreError::NotFound));
    assert_eq!(f.store.void(id, at(1)).await, Err(StoreError::NotFound));
    assert_eq!(events(&f, &grant.org).await.len(), 2, "no event stored");
}

/// A second open approval of one request conflicts; of racing creates through both
/// handles, exactly one wins.
pub async fn racing_creates_of_one_request_let_exactly_one_win(f: ApprovalStoreFixture) {
    let grant = seated_grant(&f).await;
    let attempts = (0..6).map(|i| {
        let store = if i % 2 == 0 {
            f.store.clone()
        } else {
            f.second.clone()
        };
        let approval = pending(&grant, "/crm/v8/Leads/actions/export", b"{}", 0);
        let event = event(&grant, &approval, AuditKind::ApprovalRequested, 0);
        tokio::spawn(async move { store.create(&approval, event).await })
    });
    let results: Vec<_> = join_all(attempts)
        .await
        .into_iter()
        .map(|joined| joined.expect("task"))
        .collect();
    let won: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(won.len(), 1, "{results:?}");
    assert_eq!(results.iter().filter(|r| is_conflict(r)).count(), 5);
    let open = f
        .store
        .find_open(&won[0].approval.fingerprint, at(1))
        .await
        .expect("find");
    assert_eq!(open, Some(won[0].approval.clone()));
    assert_eq!(
        events(&f, &grant.org).await.len(),
        3,
        "one approval.requested"
    );
}

/// An open approval past its end does not block a new one of the same request; it is
/// `expired` from then on.
pub async fn an_expired_approval_does_not_block_a_new_one(f: ApprovalStoreFixture) {
    let grant = seated_grant(&f).await;
    let old = pending(&grant, "/crm/v8/Leads/actions/export", b"{}", 0);
    create(&f, &grant, &old).await;
    let new = pending(&grant, "/crm/v8/Leads/actions/export", b"{}", 61);
    assert_eq!(new.fingerprint, old.fingerprint);
    create(&f, &grant, &new).await;
    let old_now = f.store.get(old.id).await.expect("get");
    assert_eq!(old_now.status_at(at(61)), ApprovalStatus::Expired);
    assert_eq!(
        f.store
            .find_open(&new.fingerprint, at(62))
            .await
            .expect("find"),
        Some(new)
    );
}

/// `find_open` returns only an open, unexpired approval of exactly that request.
pub async fn find_open_returns_the_open_unexpired_approval_of_the_request(f: ApprovalStoreFixture) {
    let grant = seated_grant(&f).await;
    let approval = pending(&grant, "/crm/v8/Leads/actions/export", b"{}", 0);
    create(&f, &grant, &approval).await;
    let other = pending(&grant, "/crm/v8/Leads/actions/export", b"{ }", 0);
    let find = |fp: Fingerprint, minute| {
        let store = f.store.clone();
        async move { store.find_open(&fp, at(minute)).await.expect("find") }
    };
    assert_eq!(find(approval.fingerprint, 59).await, Some(approval.clone()));
    assert_eq!(find(other.fingerprint, 1).await, None);
    assert_eq!(find(approval.fingerprint, 60).await, None, "past its end");
    f.store
        .decide(
            approval.id,
            &verdict(false, 1),
            event(&grant, &approval, AuditKind::ApprovalDenied, 1),
        )
        .await
        .expect("deny");
    assert_eq!(
        find(approval.fingerprint, 2).await,
        None,
        "denied is not open"
    );
}

/// `decide` approves (new end, who, when, note) or denies a pending approval, once;
/// anything not pending, or past its end, conflicts.
pub async fn decide_moves_only_a_pending_approval(f: ApprovalStoreFixture) {
    let grant = seated_grant(&f).await;
    let approval = approved(&f, &grant, "/crm/v8/Leads/actions/export").await;
    assert_eq!(approval.status, ApprovalStatus::Approved);
    assert_eq!(approval.expires_at, at(16));
    assert_eq!(approval.decided_at, Some(at(1)));
    assert_eq!(approval.decided_by.as_deref(), Some("admin-1"));
    assert_eq!(approval.note.as_deref(), Some("just this once"));
    assert_eq!(f.store.get(approval.id).await.expect("get"), approval);
    for approve in [true, false] {
        let again = f
            .store
            .decide(
                approval.id,
                &verdict(approve, 2),
                event(&grant, &approval, AuditKind::ApprovalDenied, 2),
            )
            .await;
        assert!(is_conflict(&again), "{again:?}");
    }
    let late = pending(&grant, "/crm/v8/reports/export", b"", 0);
    create(&f, &grant, &late).await;
    let decided = f
        .store
        .decide(
            late.id,
            &verdict(true, 60),
            event(&grant, &late, AuditKind::ApprovalApproved, 60),
        )
        .await;
    assert!(is_conflict(&decided), "past its end: {decided:?}");
    let denied = pending(&grant, "/crm/v8/Leads/actions/mass_email", b"", 0);
    create(&f, &grant, &denied).await;
    let denied = f
        .store
        .decide(
            denied.id,
            &verdict(false, 3),
            event(&grant, &denied, AuditKind::ApprovalDenied, 3),
        )
        .await
        .expect("deny")
        .approval;
    assert_eq!(denied.status, ApprovalStatus::Denied);
    assert_eq!(denied.expires_at, at(60), "a denial keeps the end");
}

/// Of racing decisions through both handles, exactly one wins.
pub async fn racing_decisions_let_exactly_one_win(f: ApprovalStoreFixture) {
    let grant = seated_grant(&f).await;
    let approval = pending(&grant, "/crm/v8/Leads/actions/export", b"", 0);
    create(&f, &grant, &approval).await;
    let attempts = (0..6).map(|i| {
        let store = if i % 2 == 0 {
            f.store.clone()
        } else {
            f.second.clone()
        };
        let kind = if i % 3 == 0 {
            AuditKind::ApprovalDenied
        } else {
            AuditKind::ApprovalApproved
        };
        let decision = verdict(kind == AuditKind::ApprovalApproved, 1);
        let event = event(&grant, &approval, kind, 1);
        let id = approval.id;
        tokio::spawn(async move { store.decide(id, &decision, event).await })
    });
    let results: Vec<_> = join_all(attempts)
        .await
        .into_iter()
        .map(|j| j.expect("task"))
        .collect();
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert_eq!(results.iter().filter(|r| is_conflict(r)).count(), 5);
    assert_eq!(events(&f, &grant.org).await.len(), 4, "one decision event");
}

/// `consume` uses an approved approval of exactly that request once, before its end;
/// pending, used, expired or another fingerprint conflict and change nothing.
pub async fn consume_uses_an_approved_approval_exactly_once(f: ApprovalStoreFixture) {
    let grant = seated_grant(&f).await;
    let waiting = pending(&grant, "/crm/v8/reports/export", b"", 0);
    create(&f, &grant, &waiting).await;
    assert!(
        is_conflict(&consume(&f, &grant, &waiting, 1).await),
        "pending"
    );
    let approval = approved(&f, &grant, "/crm/v8/Leads/actions/export").await;
    let other = pending(&grant, "/crm/v8/Leads/actions/export", b"{ }", 0);
    let wrong = f
        .store
        .consume(
            approval.id,
            &other.fingerprint,
            at(2),
            event(&grant, &approval, AuditKind::ApprovalUsed, 2),
        )
        .await;
    assert!(is_conflict(&wrong), "another request: {wrong:?}");
    assert!(
        is_conflict(&consume(&f, &grant, &approval, 16).await),
        "past its end"
    );
    let used = consume(&f, &grant, &approval, 15).await.expect("use");
    assert_eq!(used.status, ApprovalStatus::Used);
    assert_eq!(used.closed_at, Some(at(15)));
    assert!(
        is_conflict(&consume(&f, &grant, &approval, 15).await),
        "used once"
    );
    assert_eq!(f.store.get(approval.id).await.expect("get"), used);
}

/// Two instances racing to use one approval: exactly one succeeds, one
/// `approval.used` is stored.
pub async fn racing_consumes_from_two_handles_let_exactly_one_win(f: ApprovalStoreFixture) {
    let grant = seated_grant(&f).await;
    let approval = approved(&f, &grant, "/crm/v8/Leads/actions/export").await;
    let attempts = (0..8).map(|i| {
        let store = if i % 2 == 0 {
            f.store.clone()
        } else {
            f.second.clone()
        };
        let event = event(&grant, &approval, AuditKind::ApprovalUsed, 2);
        let (id, fingerprint) = (approval.id, approval.fingerprint);
        tokio::spawn(async move { store.consume(id, &fingerprint, at(2), event).await })
    });
    let results: Vec<_> = join_all(attempts)
        .await
        .into_iter()
        .map(|j| j.expect("task"))
        .collect();
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert_eq!(results.iter().filter(|r| is_conflict(r)).count(), 7);
    let used = events(&f, &grant.org)
        .await
        .into_iter()
        .filter(|e| e.kind == AuditKind::ApprovalUsed)
        .count();
    assert_eq!(used, 1);
}

/// `consume` refuses an approval whose grant was revoked or has passed its end, or
/// whose seat was released (even if claimed again).
pub async fn consume_is_refused_once_the_grant_or_the_seat_claim_ended(f: ApprovalStoreFixture) {
    let grant = seated_grant(&f).await;
    let approval = approved(&f, &grant, "/crm/v8/Leads/actions/export").await;
    f.grants
        .release_seat(grant.id, &staff(), ev(&grant, AuditKind::SeatReleased))
        .await
        .expect("release");
    f.grants
        .claim_seat(
            grant.id,
            &staff(),
            at(1),
            ev(&grant, AuditKind::TokenIssued),
        )
        .await
        .expect("claim again");
    assert!(
        is_conflict(&consume(&f, &grant, &approval, 2).await),
        "old claim"
    );

    let grant = seated_grant(&f).await;
    let approval = approved(&f, &grant, "/crm/v8/Leads/actions/export").await;
    let closure = Closure {
        reason: ClosedAs::Revoked,
        at: at(1),
        by: Some("admin-1".into()),
    };
    f.grants
        .close(grant.id, closure, ev(&grant, AuditKind::GrantRevoked))
        .await
        .expect("revoke");
    assert!(
        is_conflict(&consume(&f, &grant, &approval, 2).await),
        "revoked"
    );
    assert_eq!(
        f.store.get(approval.id).await.expect("get"),
        approval,
        "unchanged"
    );

    let mut grant = seated_grant(&f).await;
    let approval = approved(&f, &grant, "/crm/v8/Leads/actions/export").await;
    grant = f
        .grants
        .set_expiry(grant.id, at(2), ev(&grant, AuditKind::GrantChanged))
        .await
        .expect("shorten")
        .grant;
    assert!(
        is_conflict(&consume(&f, &grant, &approval, 2).await),
        "past the grant's end"
    );
}

/// `void` and `void_for_grant` close only open approvals, only of that grant.
pub async fn void_closes_only_open_approvals_of_the_grant(f: ApprovalStoreFixture) {
    let grant = seated_grant(&f).await;
    let other_grant = seated_grant(&f).await;
    let used = approved(&f, &grant, "/crm/v8/Leads/actions/export").await;
    consume(&f, &grant, &used, 2).await.expect("use");
    let open_a = pending(&grant, "/crm/v8/reports/export", b"", 0);
    create(&f, &grant, &open_a).await;
    let open_b = approved(&f, &grant, "/crm/v8/Leads/actions/mass_email").await;
    let elsewhere = pending(&other_grant, "/crm/v8/reports/export", b"", 0);
    create(&f, &other_grant, &elsewhere).await;
    assert_eq!(f.store.void_for_grant(grant.id, at(3)).await, Ok(2));
    for id in [open_a.id, open_b.id] {
        let voided = f.store.get(id).await.expect("get");
        assert_eq!(
            (voided.status, voided.closed_at),
            (ApprovalStatus::Void, Some(at(3)))
        );
    }
    assert_eq!(
        f.store.get(used.id).await.expect("get").status,
        ApprovalStatus::Used
    );
    assert_eq!(f.store.get(elsewhere.id).await.expect("get"), elsewhere);
    assert!(is_conflict(&f.store.void(used.id, at(4)).await));
    let voided = f.store.void(elsewhere.id, at(4)).await.expect("void one");
    assert_eq!(voided.status, ApprovalStatus::Void);
}

/// `list` returns the org's approvals with the asked status at `now`, newest first, at
/// most `limit`, never another org's.
pub async fn list_filters_by_status_at_now_newest_first(f: ApprovalStoreFixture) {
    let grant = seated_grant(&f).await;
    let stranger = seated_grant(&f).await;
    create(
        &f,
        &stranger,
        &pending(&stranger, "/crm/v8/reports/export", b"", 0),
    )
    .await;
    let first = pending(&grant, "/crm/v8/reports/export", b"", 0);
    create(&f, &grant, &first).await;
    let second = approve(
        &f,
        &grant,
        pending(&grant, "/crm/v8/Leads/actions/export", b"", 1),
    )
    .await;
    let third = pending(&grant, "/crm/v8/Leads/actions/mass_email", b"", 2);
    create(&f, &grant, &third).await;
    let list = |status: Option<ApprovalStatus>, minute: i64, limit: u32| {
        let (store, org) = (f.store.clone(), grant.org.clone());
        async move {
            let filter = ApprovalFilter {
                org,
                status,
                now: at(minute),
                limit,
            };
            let listed = store.list(&filter).await.expect("list");
            listed.into_iter().map(|a| a.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(list(None, 3, 10).await, vec![third.id, second.id, first.id]);
    assert_eq!(list(None, 3, 2).await, vec![third.id, second.id]);
    assert_eq!(
        list(Some(ApprovalStatus::Pending), 3, 10).await,
        vec![third.id, first.id]
    );
    assert_eq!(
        list(Some(ApprovalStatus::Approved), 3, 10).await,
        vec![second.id]
    );
    assert_eq!(
        list(Some(ApprovalStatus::Expired), 61, 10).await,
        vec![second.id, first.id]
    );
    assert_eq!(
        list(Some(ApprovalStatus::Pending), 61, 10).await,
        vec![third.id]
    );
    assert_eq!(
        list(Some(ApprovalStatus::Used), 3, 10).await,
        Vec::<ApprovalId>::new()
    );
}

/// A refused change stores no event; a change whose event cannot be stored (its id is
/// in the log) fails and leaves the approval as it was.
pub async fn refused_or_unrecordable_changes_store_nothing(f: ApprovalStoreFixture) {
    let grant = seated_grant(&f).await;
    let approval = pending(&grant, "/crm/v8/Leads/actions/export", b"", 0);
    let requested = create(&f, &grant, &approval).await;
    assert!(is_conflict(&consume(&f, &grant, &approval, 1).await));
    let mut reused = event(&grant, &approval, AuditKind::ApprovalApproved, 1);
    reused.id = requested.id;
    let decided = f
        .store
        .decide(approval.id, &verdict(true, 1), reused.clone())
        .await;
    assert!(decided.is_err(), "{decided:?}");
    assert_eq!(f.store.get(approval.id).await.expect("get"), approval);
    let twin = pending(&grant, "/crm/v8/reports/export", b"", 0);
    let created = f.store.create(&twin, reused).await;
    assert!(created.is_err(), "{created:?}");
    assert_eq!(f.store.get(twin.id).await, Err(StoreError::NotFound));
    assert_eq!(
        events(&f, &grant.org).await.len(),
        3,
        "only approval.requested"
    );
}

/// Requested, approved and used are the org's next events, chained with the grant's,
/// and a second handle sees every write.
pub async fn changes_share_the_orgs_chain_and_the_second_handle_sees_them(f: ApprovalStoreFixture) {
    let grant = seated_grant(&f).await;
    let approval = approved(&f, &grant, "/crm/v8/Leads/actions/export").await;
    consume(&f, &grant, &approval, 2).await.expect("use");
    let log = events(&f, &grant.org).await;
    let kinds: Vec<_> = log.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds[2..],
        [
            AuditKind::ApprovalRequested,
            AuditKind::ApprovalApproved,
            AuditKind::ApprovalUsed
        ]
    );
    assert!(log[2..].iter().all(|e| e.approval == Some(approval.id)));
    let mut verifier = ChainVerifier::new(grant.org.clone());
    for e in &log {
        verifier.check(e).expect("the chain verifies");
    }
    let seen = f.second.get(approval.id).await.expect("second handle");
    assert_eq!(seen.status, ApprovalStatus::Used);
}
