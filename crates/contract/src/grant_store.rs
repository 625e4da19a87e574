//! The [`GrantStore`](support_access_core::GrantStore) contract.

use chrono::Duration;
use futures::future::join_all;
use support_access_core::StoreError;
use support_access_core::audit::{AuditEvent, AuditKind, ChainVerifier};
use support_access_core::grant::{ClosedAs, Closure};
use support_access_core::ids::{GrantId, StaffId};

use crate::GrantStoreFixture;
use crate::support::{ev, fresh_org, grant_for, stray, t0};

fn staff(name: &str) -> StaffId {
    StaffId::from(name)
}

fn revoke_at(minutes: i64) -> Closure {
    Closure {
        reason: ClosedAs::Revoked,
        at: t0() + Duration::minutes(minutes),
        by: Some("admin-2".into()),
    }
}

fn is_conflict<T: std::fmt::Debug>(result: &Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::Conflict(_)))
}

/// `get` returns the grant exactly as inserted.
pub async fn inserted_grant_reads_back_exactly(f: GrantStoreFixture) {
    let grant = grant_for(&fresh_org(), 3);
    f.store
        .insert(&grant, ev(&grant, AuditKind::GrantCreated))
        .await
        .expect("insert");
    assert_eq!(f.store.get(grant.id).await.expect("get"), grant);
}

/// Times are stored at microsecond precision, without loss or rounding.
pub async fn times_are_kept_to_the_microsecond(f: GrantStoreFixture) {
    let mut grant = grant_for(&fresh_org(), 3);
    grant.created_at += Duration::microseconds(123_457);
    grant.expires_at += Duration::microseconds(999_999);
    f.store
        .insert(&grant, ev(&grant, AuditKind::GrantCreated))
        .await
        .expect("insert");
    let stored = f.store.get(grant.id).await.expect("get");
    assert_eq!(stored.created_at, grant.created_at);
    assert_eq!(stored.expires_at, grant.expires_at);
}

/// `get` of an unknown id is `NotFound`.
pub async fn unknown_grant_is_not_found(f: GrantStoreFixture) {
    assert_eq!(
        f.store.get(GrantId::random()).await,
        Err(StoreError::NotFound)
    );
}

/// An org with an open grant cannot get a second one.
pub async fn second_open_grant_for_an_org_conflicts(f: GrantStoreFixture) {
    let org = fresh_org();
    let (first, second) = (grant_for(&org, 2), grant_for(&org, 5));
    f.store
        .insert(&first, ev(&first, AuditKind::GrantCreated))
        .await
        .expect("first");
    let second = f
        .store
        .insert(&second, ev(&second, AuditKind::GrantCreated))
        .await;
    assert!(is_conflict(&second), "{second:?}");
}

/// Of many concurrent inserts for one org, through both handles, exactly one wins.
pub async fn concurrent_grants_for_one_org_let_exactly_one_win(f: GrantStoreFixture) {
    let org = fresh_org();
    let attempts = (0..8).map(|i| {
        let store = if i % 2 == 0 {
            f.store.clone()
        } else {
            f.second.clone()
        };
        let grant = grant_for(&org, 2 + i);
        tokio::spawn(async move {
            store
                .insert(&grant, ev(&grant, AuditKind::GrantCreated))
                .await
        })
    });
    let results: Vec<_> = join_all(attempts)
        .await
        .into_iter()
        .map(|joined| joined.expect("task"))
        .collect();
    let won = results.iter().filter(|r| r.is_ok()).count();
    let conflicts = results.iter().filter(|r| is_conflict(r)).count();
    assert_eq!((won, conflicts), (1, 7), "{results:?}");
    assert!(f.store.open_for_org(&org).await.expect("open").is_some());
}

/// Open grants of different orgs coexist.
pub async fn grants_of_different_orgs_do_not_conflict(f: GrantStoreFixture) {
    let (a, b) = (grant_for(&fresh_org(), 2), grant_for(&fresh_org(), 2));
    f.store
        .insert(&a, ev(&a, AuditKind::GrantCreated))
        .await
        .expect("a");
    f.store
        .insert(&b, ev(&b, AuditKind::GrantCreated))
        .await
        .expect("b");
    assert_eq!(f.store.open_for_org(&a.org).await.expect("a"), Some(a));
    assert_eq!(f.store.open_for_org(&b.org).await.expect("b"), Some(b));
}

/// An open grant stays the open grant after its end date until it is closed; the
/// store does not judge time.
pub async fn open_grant_is_found_even_past_its_end(f: GrantStoreFixture) {
    let org = fresh_org();
    let mut grant = grant_for(&org, 1);
    grant.expires_at = t0() - Duration::days(30);
    f.store
        .insert(&grant, ev(&grant, AuditKind::GrantCreated))
        .await
        .expect("insert");
    assert_eq!(f.store.open_for_org(&org).await.expect("open"), Some(grant));
    assert_eq!(
        f.store.open_for_org(&fresh_org()).await.expect("none"),
        None
    );
}

/// `latest_for_org` returns the open grant, else the newest closed one, else nothing.
pub async fn latest_prefers_the_open_grant_then_the_newest_closed(f: GrantStoreFixture) {
    let org = fresh_org();
    assert_eq!(f.store.latest_for_org(&org).await.expect("empty"), None);
    let first = grant_for(&org, 2);
    f.store
        .insert(&first, ev(&first, AuditKind::GrantCreated))
        .await
        .expect("first");
    f.store
        .close(first.id, revoke_at(1), ev(&first, AuditKind::GrantRevoked))
        .await
        .expect("close");
    let mut second = grant_for(&org, 3);
    second.created_at += Duration::minutes(2);
    f.store
        .insert(&second, ev(&second, AuditKind::GrantCreated))
        .await
        .expect("second");
    let latest = f.store.latest_for_org(&org).await.expect("latest");
    assert_eq!(latest.map(|g| g.id), Some(second.id));
    let closed = f
        .store
        .close(
            second.id,
            revoke_at(3),
            ev(&second, AuditKind::GrantRevoked),
        )
        .await
        .expect("close")
        .grant;
    assert_eq!(
        f.store.latest_for_org(&org).await.expect("latest"),
        Some(closed)
    );
}

/// After a close, the org can be granted again, and the closed grant keeps its closure.
pub async fn closing_a_grant_frees_the_org_for_a_new_one(f: GrantStoreFixture) {
    let org = fresh_org();
    let first = grant_for(&org, 2);
    f.store
        .insert(&first, ev(&first, AuditKind::GrantCreated))
        .await
        .expect("first");
    let closed = f
        .store
        .close(first.id, revoke_at(5), ev(&first, AuditKind::GrantRevoked))
        .await
        .expect("close")
        .grant;
    assert_eq!(closed.closure, Some(revoke_at(5)));
    assert_eq!(f.store.open_for_org(&org).await.expect("open"), None);
    let again = grant_for(&org, 4);
    f.store
        .insert(&again, ev(&again, AuditKind::GrantCreated))
        .await
        .expect("regrant");
    assert_eq!(
        f.store.get(first.id).await.expect("get").closure,
        Some(revoke_at(5))
    );
}

/// `set_expiry` moves the end date and nothing else.
pub async fn set_expiry_changes_only_the_end_date(f: GrantStoreFixture) {
    let grant = grant_for(&fresh_org(), 2);
    f.store
        .insert(&grant, ev(&grant, AuditKind::GrantCreated))
        .await
        .expect("insert");
    let new_end = t0() + Duration::days(9) + Duration::microseconds(7);
    let changed = f
        .store
        .set_expiry(grant.id, new_end, ev(&grant, AuditKind::GrantChanged))
        .await
        .expect("change")
        .grant;
    let mut expected = grant.clone();
    expected.expires_at = new_end;
    assert_eq!(changed, expected);
    assert_eq!(f.store.get(grant.id).await.expect("get"), expected);
}

/// `set_expiry` of a closed grant conflicts; of an unknown grant it is `NotFound`.
pub async fn set_expiry_refuses_closed_and_unknown_grants(f: GrantStoreFixture) {
    let grant = grant_for(&fresh_org(), 2);
    f.store
        .insert(&grant, ev(&grant, AuditKind::GrantCreated))
        .await
        .expect("insert");
    f.store
        .close(grant.id, revoke_at(1), ev(&grant, AuditKind::GrantRevoked))
        .await
        .expect("close");
    let end = t0() + Duration::days(5);
    assert!(is_conflict(
        &f.store
            .set_expiry(grant.id, end, ev(&grant, AuditKind::GrantChanged))
            .await
    ));
    assert_eq!(
        f.store
            .set_expiry(GrantId::random(), end, stray(AuditKind::GrantChanged))
            .await,
        Err(StoreError::NotFound)
    );
}

/// Of several concurrent closes of one grant, through both handles, exactly one wins.
pub async fn close_happens_exactly_once_under_concurrency(f: GrantStoreFixture) {
    let grant = grant_for(&fresh_org(), 2);
    f.store
        .insert(&grant, ev(&grant, AuditKind::GrantCreated))
        .await
        .expect("insert");
    let attempts = (0..8).map(|i| {
        let store = if i % 2 == 0 {
            f.store.clone()
        } else {
            f.second.clone()
        };
        let closure = Closure {
            reason: ClosedAs::Expired,
            at: grant.expires_at,
            by: None,
        };
        let grant = grant.clone();
        tokio::spawn(async move {
            store
                .close(grant.id, closure, ev(&grant, AuditKind::GrantRevoked))
                .await
        })
    });
    let results: Vec<_> = join_all(attempts)
        .await
        .into_iter()
        .map(|joined| joined.expect("task"))
        .collect();
    let won = results.iter().filter(|r| r.is_ok()).count();
    let conflicts = results.iter().filter(|r| is_conflict(r)).count();
    assert_eq!((won, conflicts), (1, 7), "{results:?}");
}

/// A free seat goes to the claimant; the holder claiming again keeps the original claim.
pub async fn claim_takes_a_free_seat_and_keeps_the_holders_claim(f: GrantStoreFixture) {
    let grant = grant_for(&fresh_org(), 2);
    f.store
        .insert(&grant, ev(&grant, AuditKind::GrantCreated))
        .await
        .expect("insert");
    let at = t0() + Duration::minutes(1);
    let claimed = f
        .store
        .claim_seat(
            grant.id,
            &staff("ana"),
            at,
            ev(&grant, AuditKind::TokenIssued),
        )
        .await
        .expect("claim")
        .grant;
    let seat = claimed.seat.expect("seat");
    assert_eq!((seat.holder.as_str(), seat.claimed_at), ("ana", at));
    let later = t0() + Duration::minutes(9);
    let again = f
        .store
        .claim_seat(
            grant.id,
            &staff("ana"),
            later,
            ev(&grant, AuditKind::TokenIssued),
        )
        .await
        .expect("again")
        .grant;
    assert_eq!(again.seat.map(|s| s.claimed_at), Some(at));
}

/// Another staff member cannot take a held seat.
pub async fn claim_by_another_staff_member_conflicts(f: GrantStoreFixture) {
    let grant = grant_for(&fresh_org(), 2);
    f.store
        .insert(&grant, ev(&grant, AuditKind::GrantCreated))
        .await
        .expect("insert");
    f.store
        .claim_seat(
            grant.id,
            &staff("ana"),
            t0(),
            ev(&grant, AuditKind::TokenIssued),
        )
        .await
        .expect("ana");
    let bob = f
        .store
        .claim_seat(
            grant.id,
            &staff("bob"),
            t0(),
            ev(&grant, AuditKind::TokenIssued),
        )
        .await;
    assert!(is_conflict(&bob), "{bob:?}");
    let seat = f
        .store
        .get(grant.id)
        .await
        .expect("get")
        .seat
        .expect("seat");
    assert_eq!(seat.holder, staff("ana"));
}

/// Of concurrent claims by different staff, through both handles, exactly one wins.
pub async fn concurrent_claims_by_different_staff_let_exactly_one_win(f: GrantStoreFixture) {
    let grant = grant_for(&fresh_org(), 2);
    f.store
        .insert(&grant, ev(&grant, AuditKind::GrantCreated))
        .await
        .expect("insert");
    let attempts = (0..8).map(|i| {
        let store = if i % 2 == 0 {
            f.store.clone()
        } else {
            f.second.clone()
        };
        let who = staff(&format!("staff-{i}"));
        let grant = grant.clone();
        tokio::spawn(async move {
            store
                .claim_seat(grant.id, &who, t0(), ev(&grant, AuditKind::TokenIssued))
                .await
        })
    });
    let results: Vec<_> = join_all(attempts)
        .await
        .into_iter()
        .map(|joined| joined.expect("task"))
        .collect();
    let won = results.iter().filter(|r| r.is_ok()).count();
    let conflicts = results.iter().filter(|r| is_conflict(r)).count();
    assert_eq!((won, conflicts), (1, 7), "{results:?}");
}

/// A closed grant's seat cannot be claimed.
pub async fn claim_on_a_closed_grant_conflicts(f: GrantStoreFixture) {
    let grant = grant_for(&fresh_org(), 2);
    f.store
        .insert(&grant, ev(&grant, AuditKind::GrantCreated))
        .await
        .expect("insert");
    f.store
        .close(grant.id, revoke_at(1), ev(&grant, AuditKind::GrantRevoked))
        .await
        .expect("close");
    let claim = f
        .store
        .claim_seat(
            grant.id,
            &staff("ana"),
            t0(),
            ev(&grant, AuditKind::TokenIssued),
        )
        .await;
    assert!(is_conflict(&claim), "{claim:?}");
}

/// Only the holder can release the seat; afterwards another staff member can claim it.
pub async fn release_frees_the_seat_only_for_its_holder(f: GrantStoreFixture) {
    let grant = grant_for(&fresh_org(), 2);
    f.store
        .insert(&grant, ev(&grant, AuditKind::GrantCreated))
        .await
        .expect("insert");
    f.store
        .claim_seat(
            grant.id,
            &staff("ana"),
            t0(),
            ev(&grant, AuditKind::TokenIssued),
        )
        .await
        .expect("ana");
    let bob_release = f
        .store
        .release_seat(grant.id, &staff("bob"), ev(&grant, AuditKind::SeatReleased))
        .await;
    assert!(is_conflict(&bob_release), "{bob_release:?}");
    let released = f
        .store
        .release_seat(grant.id, &staff("ana"), ev(&grant, AuditKind::SeatReleased))
        .await
        .expect("release")
        .grant;
    assert_eq!(released.seat, None);
    let again = f
        .store
        .release_seat(grant.id, &staff("ana"), ev(&grant, AuditKind::SeatReleased))
        .await;
    assert!(is_conflict(&again), "{again:?}");
    f.store
        .claim_seat(
            grant.id,
            &staff("bob"),
            t0(),
            ev(&grant, AuditKind::TokenIssued),
        )
        .await
        .expect("bob");
}

/// `due_for_expiry` lists open grants whose end has come, oldest end first, bounded.
pub async fn due_for_expiry_lists_open_grants_past_their_end_oldest_first(f: GrantStoreFixture) {
    let now = t0() + Duration::days(10);
    let mut ends = Vec::new();
    for days in [3, 1, 2] {
        let grant = grant_for(&fresh_org(), days);
        f.store
            .insert(&grant, ev(&grant, AuditKind::GrantCreated))
            .await
            .expect("insert");
        ends.push((grant.expires_at, grant.id));
    }
    let future = grant_for(&fresh_org(), 30);
    f.store
        .insert(&future, ev(&future, AuditKind::GrantCreated))
        .await
        .expect("future");
    let closed = grant_for(&fresh_org(), 1);
    f.store
        .insert(&closed, ev(&closed, AuditKind::GrantCreated))
        .await
        .expect("closed");
    f.store
        .close(
            closed.id,
            revoke_at(1),
            ev(&closed, AuditKind::GrantRevoked),
        )
        .await
        .expect("close");
    let at_end = grant_for(&fresh_org(), 10);
    f.store
        .insert(&at_end, ev(&at_end, AuditKind::GrantCreated))
        .await
        .expect("at end");
    ends.push((at_end.expires_at, at_end.id));
    ends.sort();

    let due: Vec<_> = f
        .store
        .due_for_expiry(now, 100)
        .await
        .expect("due")
        .into_iter()
        .map(|g| (g.expires_at, g.id))
        .collect();
    // Other cases may share the backend: only this case's grants are compared.
    let mine: Vec<_> = due
        .into_iter()
        .filter(|entry| ends.contains(entry))
        .collect();
    assert_eq!(mine, ends);
    assert!(f.store.due_for_expiry(now, 2).await.expect("bounded").len() <= 2);
}

/// A second handle on the same data sees inserts, changes, seats and closes at once.
pub async fn second_handle_sees_the_first_handles_writes(f: GrantStoreFixture) {
    let grant = grant_for(&fresh_org(), 2);
    f.store
        .insert(&grant, ev(&grant, AuditKind::GrantCreated))
        .await
        .expect("insert");
    assert_eq!(f.second.get(grant.id).await.expect("get"), grant);
    let end = t0() + Duration::days(4);
    f.store
        .set_expiry(grant.id, end, ev(&grant, AuditKind::GrantChanged))
        .await
        .expect("change");
    assert_eq!(f.second.get(grant.id).await.expect("get").expires_at, end);
    f.store
        .claim_seat(
            grant.id,
            &staff("ana"),
            t0(),
            ev(&grant, AuditKind::TokenIssued),
        )
        .await
        .expect("claim");
    let bob = f
        .second
        .claim_seat(
            grant.id,
            &staff("bob"),
            t0(),
            ev(&grant, AuditKind::TokenIssued),
        )
        .await;
    assert!(is_conflict(&bob), "{bob:?}");
    f.store
        .close(grant.id, revoke_at(2), ev(&grant, AuditKind::GrantRevoked))
        .await
        .expect("close");
    assert_eq!(f.second.open_for_org(&grant.org).await.expect("open"), None);
}

/// `open_grants` lists every open grant, whatever its end date, and no closed one.
pub async fn open_grants_lists_every_open_grant(f: GrantStoreFixture) {
    let mut mine = Vec::new();
    for days in [1, 400, 9000] {
        let grant = grant_for(&fresh_org(), days);
        f.store
            .insert(&grant, ev(&grant, AuditKind::GrantCreated))
            .await
            .expect("insert");
        mine.push(grant.id);
    }
    let closed = grant_for(&fresh_org(), 2);
    f.store
        .insert(&closed, ev(&closed, AuditKind::GrantCreated))
        .await
        .expect("closed");
    f.store
        .close(
            closed.id,
            revoke_at(1),
            ev(&closed, AuditKind::GrantRevoked),
        )
        .await
        .expect("close");
    let open: Vec<GrantId> = f
        .second
        .open_grants(1000)
        .await
        .expect("open grants")
        .into_iter()
        .map(|g| g.id)
        .collect();
    for id in &mine {
        assert!(open.contains(id), "{id} missing from {open:?}");
    }
    assert!(!open.contains(&closed.id));
}

/// The events of `org` in the audit log of the store's data, oldest first, after the
/// chain is checked.
async fn chain_of(f: &GrantStoreFixture, org: &support_access_core::ids::OrgId) -> Vec<AuditEvent> {
    let events = f.audit.scan(org, 0, 1000).await.expect("scan");
    let mut verifier = ChainVerifier::new(org.clone());
    for event in &events {
        verifier.check(event).expect("the chain verifies");
    }
    events
}

/// Each change stores its event as the org's next in the chain (interleaved with plain
/// appends) and returns it sealed, with the grant as changed.
pub async fn every_change_stores_its_event_as_the_next_in_its_orgs_chain(f: GrantStoreFixture) {
    let org = fresh_org();
    let grant = grant_for(&org, 2);
    let mut expected: Vec<AuditEvent> = Vec::new();
    let inserted = f
        .store
        .insert(&grant, ev(&grant, AuditKind::GrantCreated))
        .await
        .expect("insert");
    assert_eq!(inserted.grant, grant);
    expected.push(inserted.event);
    expected.push(
        f.audit
            .append(ev(&grant, AuditKind::RequestAllowed))
            .await
            .expect("append"),
    );
    let end = t0() + Duration::days(5);
    let changed = f
        .store
        .set_expiry(grant.id, end, ev(&grant, AuditKind::GrantChanged))
        .await
        .expect("change");
    assert_eq!(changed.grant.expires_at, end);
    expected.push(changed.event);
    let claimed = f
        .second
        .claim_seat(
            grant.id,
            &staff("ana"),
            t0(),
            ev(&grant, AuditKind::TokenIssued),
        )
        .await
        .expect("claim");
    assert!(claimed.grant.seat.is_some());
    expected.push(claimed.event);
    let released = f
        .store
        .release_seat(grant.id, &staff("ana"), ev(&grant, AuditKind::SeatReleased))
        .await
        .expect("release");
    assert_eq!(released.grant.seat, None);
    expected.push(released.event);
    let closed = f
        .store
        .close(grant.id, revoke_at(1), ev(&grant, AuditKind::GrantRevoked))
        .await
        .expect("close");
    assert!(!closed.grant.is_open());
    expected.push(closed.event);
    let kinds: Vec<AuditKind> = expected.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            AuditKind::GrantCreated,
            AuditKind::RequestAllowed,
            AuditKind::GrantChanged,
            AuditKind::TokenIssued,
            AuditKind::SeatReleased,
            AuditKind::GrantRevoked,
        ]
    );
    for (i, event) in expected.iter().enumerate() {
        assert_eq!(event.seq, i as u64 + 1, "{event:?}");
    }
    assert_eq!(chain_of(&f, &org).await, expected);
}

/// A change the store refuses stores no event.
pub async fn a_refused_change_stores_no_event(f: GrantStoreFixture) {
    let org = fresh_org();
    let grant = grant_for(&org, 2);
    f.store
        .insert(&grant, ev(&grant, AuditKind::GrantCreated))
        .await
        .expect("insert");
    f.store
        .claim_seat(
            grant.id,
            &staff("ana"),
            t0(),
            ev(&grant, AuditKind::TokenIssued),
        )
        .await
        .expect("claim");
    let rival = grant_for(&org, 3);
    let refused = [
        f.store
            .insert(&rival, ev(&rival, AuditKind::GrantCreated))
            .await
            .map(|_| ()),
        f.store
            .claim_seat(
                grant.id,
                &staff("bob"),
                t0(),
                ev(&grant, AuditKind::TokenIssued),
            )
            .await
            .map(|_| ()),
        f.store
            .release_seat(grant.id, &staff("bob"), ev(&grant, AuditKind::SeatReleased))
            .await
            .map(|_| ()),
        f.store
            .close(
                GrantId::random(),
                revoke_at(1),
                stray(AuditKind::GrantRevoked),
            )
            .await
            .map(|_| ()),
    ];
    for result in &refused {
        assert!(result.is_err(), "{refused:?}");
    }
    f.store
        .close(grant.id, revoke_at(1), ev(&grant, AuditKind::GrantRevoked))
        .await
        .expect("close");
    let after_close = [
        f.store
            .close(grant.id, revoke_at(2), ev(&grant, AuditKind::GrantRevoked))
            .await
            .map(|_| ()),
        f.store
            .set_expiry(
                grant.id,
                t0() + Duration::days(9),
                ev(&grant, AuditKind::GrantChanged),
            )
            .await
            .map(|_| ()),
    ];
    for result in &after_close {
        assert!(is_conflict(result), "{after_close:?}");
    }
    let kinds: Vec<AuditKind> = chain_of(&f, &org).await.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            AuditKind::GrantCreated,
            AuditKind::TokenIssued,
            AuditKind::GrantRevoked
        ]
    );
}

/// A change whose event cannot be stored (its id is already in the log) fails and
/// leaves the grant as it was, seen through either handle.
pub async fn a_change_whose_event_cannot_be_stored_leaves_the_grant_unchanged(
    f: GrantStoreFixture,
) {
    let org = fresh_org();
    let grant = grant_for(&org, 2);
    let first = f
        .store
        .insert(&grant, ev(&grant, AuditKind::GrantCreated))
        .await
        .expect("insert");
    // Read first, so that a cache in front of the store holds the grant.
    assert_eq!(f.store.get(grant.id).await.expect("get"), grant);
    assert_eq!(
        f.second.open_for_org(&org).await.expect("open"),
        Some(grant.clone())
    );
    let reused = |kind| {
        let mut event = ev(&grant, kind);
        event.id = first.event.id;
        event
    };
    let newcomer = grant_for(&fresh_org(), 2);
    let mut taken = ev(&newcomer, AuditKind::GrantCreated);
    taken.id = first.event.id;
    let results = [
        f.store.insert(&newcomer, taken).await.map(|_| ()),
        f.store
            .set_expiry(
                grant.id,
                t0() + Duration::days(7),
                reused(AuditKind::GrantChanged),
            )
            .await
            .map(|_| ()),
        f.store
            .claim_seat(
                grant.id,
                &staff("ana"),
                t0(),
                reused(AuditKind::TokenIssued),
            )
            .await
            .map(|_| ()),
        f.store
            .close(grant.id, revoke_at(1), reused(AuditKind::GrantRevoked))
            .await
            .map(|_| ()),
    ];
    for result in &results {
        assert!(result.is_err(), "{results:?}");
    }
    assert_eq!(f.store.get(newcomer.id).await, Err(StoreError::NotFound));
    assert_eq!(f.second.get(newcomer.id).await, Err(StoreError::NotFound));
    assert_eq!(f.store.get(grant.id).await.expect("get"), grant);
    assert_eq!(f.second.get(grant.id).await.expect("get"), grant);
    assert_eq!(
        f.second.open_for_org(&org).await.expect("open"),
        Some(grant.clone())
    );
    // With a seat, the release too.
    f.store
        .claim_seat(
            grant.id,
            &staff("ana"),
            t0(),
            ev(&grant, AuditKind::TokenIssued),
        )
        .await
        .expect("claim");
    let release = f
        .store
        .release_seat(grant.id, &staff("ana"), reused(AuditKind::SeatReleased))
        .await;
    assert!(release.is_err(), "{release:?}");
    assert!(f.second.get(grant.id).await.expect("get").seat.is_some());
    let kinds: Vec<AuditKind> = chain_of(&f, &org).await.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [AuditKind::GrantCreated, AuditKind::TokenIssued]);
}

/// Changes through both handles racing with plain appends keep the org's chain
/// gap-free: every event once, each chained to the one before.
pub async fn changes_and_appends_racing_share_one_gap_free_chain(f: GrantStoreFixture) {
    let org = fresh_org();
    let grant = grant_for(&org, 2);
    f.store
        .insert(&grant, ev(&grant, AuditKind::GrantCreated))
        .await
        .expect("insert");
    let mut tasks = Vec::new();
    for i in 0..12u32 {
        let (store, audit, grant) = (
            if i % 2 == 0 {
                f.store.clone()
            } else {
                f.second.clone()
            },
            f.audit.clone(),
            grant.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let end = t0() + Duration::days(3) + Duration::minutes(i64::from(i));
            store
                .set_expiry(grant.id, end, ev(&grant, AuditKind::GrantChanged))
                .await
                .expect("change");
            audit
                .append(ev(&grant, AuditKind::RequestAllowed))
                .await
                .expect("append");
        }));
    }
    for task in join_all(tasks).await {
        task.expect("task");
    }
    let events = chain_of(&f, &org).await;
    assert_eq!(events.len(), 1 + 24);
    let changes = events
        .iter()
        .filter(|e| e.kind == AuditKind::GrantChanged)
        .count();
    assert_eq!(changes, 12);
}
