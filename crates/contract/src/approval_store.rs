//! The [`ApprovalStore`](support_access_core::ports::ApprovalStore) contract: creating,
//! finding and deciding approvals here, using, voiding and listing them in [`consume`].

use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;
use support_access_core::StoreError;
use support_access_core::approval::{
    Approval, ApprovalId, ApprovalStatus, ApprovalTtl, Decision, Fingerprint, RequestShape, Verdict,
};
use support_access_core::audit::{AuditEvent, AuditKind, NewAuditEvent};
use support_access_core::grant::Grant;
use support_access_core::ids::{OrgId, StaffId};

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

mod consume;

pub use consume::*;
