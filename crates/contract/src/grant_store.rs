//! The [`GrantStore`](support_access_core::GrantStore) contract.

use chrono::Duration;
use futures::future::join_all;
use support_access_core::StoreError;
use support_access_core::grant::{ClosedAs, Closure};
use support_access_core::ids::{GrantId, StaffId};

use crate::GrantStoreFixture;
use crate::support::{fresh_org, grant_for, t0};

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
    f.store.insert(&grant).await.expect("insert");
    assert_eq!(f.store.get(grant.id).await.expect("get"), grant);
}

/// Times are stored at microsecond precision, without loss or rounding.
pub async fn times_are_kept_to_the_microsecond(f: GrantStoreFixture) {
    let mut grant = grant_for(&fresh_org(), 3);
    grant.created_at += Duration::microseconds(123_457);
    grant.expires_at += Duration::microseconds(999_999);
    f.store.insert(&grant).await.expect("insert");
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
    f.store.insert(&grant_for(&org, 2)).await.expect("first");
    let second = f.store.insert(&grant_for(&org, 5)).await;
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
        tokio::spawn(async move { store.insert(&grant).await })
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
    f.store.insert(&a).await.expect("a");
    f.store.insert(&b).await.expect("b");
    assert_eq!(f.store.open_for_org(&a.org).await.expect("a"), Some(a));
    assert_eq!(f.store.open_for_org(&b.org).await.expect("b"), Some(b));
}

/// An open grant stays the open grant after its end date until it is closed; the
/// store does not judge time.
pub async fn open_grant_is_found_even_past_its_end(f: GrantStoreFixture) {
    let org = fresh_org();
    let mut grant = grant_for(&org, 1);
    grant.expires_at = t0() - Duration::days(30);
    f.store.insert(&grant).await.expect("insert");
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
    f.store.insert(&first).await.expect("first");
    f.store.close(first.id, revoke_at(1)).await.expect("close");
    let mut second = grant_for(&org, 3);
    second.created_at += Duration::minutes(2);
    f.store.insert(&second).await.expect("second");
    let latest = f.store.latest_for_org(&org).await.expect("latest");
    assert_eq!(latest.map(|g| g.id), Some(second.id));
    let closed = f.store.close(second.id, revoke_at(3)).await.expect("close");
    assert_eq!(
        f.store.latest_for_org(&org).await.expect("latest"),
        Some(closed)
    );
}

/// After a close, the org can be granted again, and the closed grant keeps its closure.
pub async fn closing_a_grant_frees_the_org_for_a_new_one(f: GrantStoreFixture) {
    let org = fresh_org();
    let first = grant_for(&org, 2);
    f.store.insert(&first).await.expect("first");
    let closed = f.store.close(first.id, revoke_at(5)).await.expect("close");
    assert_eq!(closed.closure, Some(revoke_at(5)));
    assert_eq!(f.store.open_for_org(&org).await.expect("open"), None);
    f.store.insert(&grant_for(&org, 4)).await.expect("regrant");
    assert_eq!(
        f.store.get(first.id).await.expect("get").closure,
        Some(revoke_at(5))
    );
}

/// `set_expiry` moves the end date and nothing else.
pub async fn set_expiry_changes_only_the_end_date(f: GrantStoreFixture) {
    let grant = grant_for(&fresh_org(), 2);
    f.store.insert(&grant).await.expect("insert");
    let new_end = t0() + Duration::days(9) + Duration::microseconds(7);
    let changed = f.store.set_expiry(grant.id, new_end).await.expect("change");
    let mut expected = grant.clone();
    expected.expires_at = new_end;
    assert_eq!(changed, expected);
    assert_eq!(f.store.get(grant.id).await.expect("get"), expected);
}

/// `set_expiry` of a closed grant conflicts; of an unknown grant it is `NotFound`.
pub async fn set_expiry_refuses_closed_and_unknown_grants(f: GrantStoreFixture) {
    let grant = grant_for(&fresh_org(), 2);
    f.store.insert(&grant).await.expect("insert");
    f.store.close(grant.id, revoke_at(1)).await.expect("close");
    let end = t0() + Duration::days(5);
    assert!(is_conflict(&f.store.set_expiry(grant.id, end).await));
    assert_eq!(
        f.store.set_expiry(GrantId::random(), end).await,
        Err(StoreError::NotFound)
    );
}

/// Of several concurrent closes of one grant, through both handles, exactly one wins.
pub async fn close_happens_exactly_once_under_concurrency(f: GrantStoreFixture) {
    let grant = grant_for(&fresh_org(), 2);
    f.store.insert(&grant).await.expect("insert");
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
        tokio::spawn(async move { store.close(grant.id, closure).await })
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
    f.store.insert(&grant).await.expect("insert");
    let at = t0() + Duration::minutes(1);
    let claimed = f
        .store
        .claim_seat(grant.id, &staff("ana"), at)
        .await
        .expect("claim");
    let seat = claimed.seat.expect("seat");
    assert_eq!((seat.holder.as_str(), seat.claimed_at), ("ana", at));
    let later = t0() + Duration::minutes(9);
    let again = f
        .store
        .claim_seat(grant.id, &staff("ana"), later)
        .await
        .expect("again");
    assert_eq!(again.seat.map(|s| s.claimed_at), Some(at));
}

/// Another staff member cannot take a held seat.
pub async fn claim_by_another_staff_member_conflicts(f: GrantStoreFixture) {
    let grant = grant_for(&fresh_org(), 2);
    f.store.insert(&grant).await.expect("insert");
    f.store
        .claim_seat(grant.id, &staff("ana"), t0())
        .await
        .expect("ana");
    let bob = f.store.claim_seat(grant.id, &staff("bob"), t0()).await;
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
    f.store.insert(&grant).await.expect("insert");
    let attempts = (0..8).map(|i| {
        let store = if i % 2 == 0 {
            f.store.clone()
        } else {
            f.second.clone()
        };
        let who = staff(&format!("staff-{i}"));
        tokio::spawn(async move { store.claim_seat(grant.id, &who, t0()).await })
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
    f.store.insert(&grant).await.expect("insert");
    f.store.close(grant.id, revoke_at(1)).await.expect("close");
    let claim = f.store.claim_seat(grant.id, &staff("ana"), t0()).await;
    assert!(is_conflict(&claim), "{claim:?}");
}

/// Only the holder can release the seat; afterwards another staff member can claim it.
pub async fn release_frees_the_seat_only_for_its_holder(f: GrantStoreFixture) {
    let grant = grant_for(&fresh_org(), 2);
    f.store.insert(&grant).await.expect("insert");
    f.store
        .claim_seat(grant.id, &staff("ana"), t0())
        .await
        .expect("ana");
    let bob_release = f.store.release_seat(grant.id, &staff("bob")).await;
    assert!(is_conflict(&bob_release), "{bob_release:?}");
    let released = f
        .store
        .release_seat(grant.id, &staff("ana"))
        .await
        .expect("release");
    assert_eq!(released.seat, None);
    let again = f.store.release_seat(grant.id, &staff("ana")).await;
    assert!(is_conflict(&again), "{again:?}");
    f.store
        .claim_seat(grant.id, &staff("bob"), t0())
        .await
        .expect("bob");
}

/// `due_for_expiry` lists open grants whose end has come, oldest end first, bounded.
pub async fn due_for_expiry_lists_open_grants_past_their_end_oldest_first(f: GrantStoreFixture) {
    let now = t0() + Duration::days(10);
    let mut ends = Vec::new();
    for days in [3, 1, 2] {
        let grant = grant_for(&fresh_org(), days);
        f.store.insert(&grant).await.expect("insert");
        ends.push((grant.expires_at, grant.id));
    }
    let future = grant_for(&fresh_org(), 30);
    f.store.insert(&future).await.expect("future");
    let closed = grant_for(&fresh_org(), 1);
    f.store.insert(&closed).await.expect("closed");
    f.store.close(closed.id, revoke_at(1)).await.expect("close");
    let at_end = grant_for(&fresh_org(), 10);
    f.store.insert(&at_end).await.expect("at end");
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
    f.store.insert(&grant).await.expect("insert");
    assert_eq!(f.second.get(grant.id).await.expect("get"), grant);
    let end = t0() + Duration::days(4);
    f.store.set_expiry(grant.id, end).await.expect("change");
    assert_eq!(f.second.get(grant.id).await.expect("get").expires_at, end);
    f.store
        .claim_seat(grant.id, &staff("ana"), t0())
        .await
        .expect("claim");
    let bob = f.second.claim_seat(grant.id, &staff("bob"), t0()).await;
    assert!(is_conflict(&bob), "{bob:?}");
    f.store.close(grant.id, revoke_at(2)).await.expect("close");
    assert_eq!(f.second.open_for_org(&grant.org).await.expect("open"), None);
}

/// `open_grants` lists every open grant, whatever its end date, and no closed one.
pub async fn open_grants_lists_every_open_grant(f: GrantStoreFixture) {
    let mut mine = Vec::new();
    for days in [1, 400, 9000] {
        let grant = grant_for(&fresh_org(), days);
        f.store.insert(&grant).await.expect("insert");
        mine.push(grant.id);
    }
    let closed = grant_for(&fresh_org(), 2);
    f.store.insert(&closed).await.expect("closed");
    f.store.close(closed.id, revoke_at(1)).await.expect("close");
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
