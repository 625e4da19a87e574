//! The revert cases of the [`ChangeStore`](support_access_core::ChangeStore) contract.

use futures::future::join_all;
use serde_json::json;
use support_access_core::StoreError;
use support_access_core::audit::AuditKind;
use support_access_core::change::{ChangeId, FieldChange, NewChangeEntry, digest};
use support_access_core::ids::GrantId;

use super::{capture, events, record_one, revert_of};
use crate::ChangeStoreFixture;
use crate::support::fresh_org;

/// A revert stores its entry, marks the original and stores its event, together.
pub async fn revert_marks_the_original_and_stores_its_entry_and_event(f: ChangeStoreFixture) {
    let org = fresh_org();
    let original = record_one(&f.store, &capture(&org, GrantId::random(), 0), "1").await;
    let (entry, event) = revert_of(&org, &original, 1);
    let done = f
        .store
        .record_revert(original.id, entry.clone(), event)
        .await
        .expect("revert");
    assert_eq!(
        done.revert.data,
        NewChangeEntry {
            reverts: Some(original.id),
            ..entry
        }
    );
    assert_eq!(
        (done.revert.audit_seq, done.revert.ordinal),
        (done.event.seq, 0)
    );
    assert_eq!(done.event.kind, AuditKind::ChangeReverted);
    assert_eq!(done.original.reverted_by, Some(done.revert.id));
    assert_eq!(done.original.data, original.data);
    assert_eq!(
        f.store.get(&org, original.id).await.expect("get"),
        done.original
    );
    assert_eq!(
        f.store.get(&org, done.revert.id).await.expect("get"),
        done.revert
    );
    assert_eq!(
        done.revert.fields,
        vec![FieldChange {
            name: "City".into(),
            before: Some(json!("B")),
            after: Some(json!("A")),
        }]
    );
    let stored = events(&f.audit, &org).await;
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[1], done.event);
}

/// A second revert of one change is a `Conflict` and stores nothing.
pub async fn a_second_revert_conflicts_and_stores_nothing(f: ChangeStoreFixture) {
    let org = fresh_org();
    let original = record_one(&f.store, &capture(&org, GrantId::random(), 0), "1").await;
    let (entry, event) = revert_of(&org, &original, 1);
    let first = f
        .store
        .record_revert(original.id, entry, event)
        .await
        .expect("revert");
    let (again, event) = revert_of(&org, &original, 2);
    let outcome = f
        .store
        .record_revert(original.id, again.clone(), event)
        .await;
    assert!(
        matches!(outcome, Err(StoreError::Conflict(_))),
        "{outcome:?}"
    );
    assert_eq!(f.store.get(&org, again.id).await, Err(StoreError::NotFound));
    assert_eq!(
        f.store.get(&org, original.id).await.expect("get"),
        first.original
    );
    assert_eq!(events(&f.audit, &org).await.len(), 2);
}

/// Of several concurrent reverts of one change, exactly one wins.
pub async fn concurrent_reverts_let_exactly_one_win(f: ChangeStoreFixture) {
    let org = fresh_org();
    let original = record_one(&f.store, &capture(&org, GrantId::random(), 0), "1").await;
    let attempts = (0..6).map(|i| {
        let store = if i % 2 == 0 {
            f.store.clone()
        } else {
            f.second.clone()
        };
        let (entry, event) = revert_of(&org, &original, i + 1);
        let id = original.id;
        async move { store.record_revert(id, entry, event).await }
    });
    let outcomes = join_all(attempts).await;
    let winners: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    for outcome in &outcomes {
        assert!(
            matches!(outcome, Ok(_) | Err(StoreError::Conflict(_))),
            "{outcome:?}"
        );
    }
    let stored = f.store.get(&org, original.id).await.expect("get");
    assert_eq!(stored.reverted_by, Some(winners[0].revert.id));
    assert_eq!(events(&f.audit, &org).await.len(), 2);
}

/// Reverting an unknown change, or another org's, is `NotFound` and stores nothing.
pub async fn revert_of_an_unknown_or_foreign_change_is_not_found(f: ChangeStoreFixture) {
    let (mine, theirs) = (fresh_org(), fresh_org());
    let foreign = record_one(&f.store, &capture(&theirs, GrantId::random(), 0), "1").await;
    let (entry, event) = revert_of(&mine, &foreign, 1);
    assert_eq!(
        f.store
            .record_revert(foreign.id, entry.clone(), event)
            .await,
        Err(StoreError::NotFound)
    );
    let unknown = ChangeId::random();
    let (mut entry2, mut event) = revert_of(&mine, &foreign, 2);
    entry2.reverts = Some(unknown);
    event.changes_sha256 = Some(digest([&entry2]));
    assert_eq!(
        f.store.record_revert(unknown, entry2, event).await,
        Err(StoreError::NotFound)
    );
    assert!(events(&f.audit, &mine).await.is_empty());
    assert_eq!(
        f.store.get(&mine, entry.id).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        f.store
            .get(&theirs, foreign.id)
            .await
            .expect("get")
            .reverted_by,
        None
    );
}
