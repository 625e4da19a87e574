//! The [`ApprovalStore`](support_access_core::ports::ApprovalStore) contract: using,
//! voiding and listing approvals, and their events.

use futures::future::join_all;
use support_access_core::StoreError;
use support_access_core::approval::{ApprovalId, ApprovalStatus};
use support_access_core::audit::{AuditKind, ChainVerifier};
use support_access_core::grant::{ClosedAs, Closure};
use support_access_core::ports::ApprovalFilter;

use super::{
    approve, approved, at, consume, create, event, events, is_conflict, pending, seated_grant,
    staff, verdict,
};
use crate::ApprovalStoreFixture;
use crate::support::ev;

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
