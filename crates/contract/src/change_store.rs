//! The [`ChangeStore`](support_access_core::ChangeStore) contract.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Duration;
use futures::future::join_all;
use serde_json::{Value, json};
use support_access_core::audit::{AuditEvent, AuditKind, ChainVerifier, NewAuditEvent};
use support_access_core::change::digest::vouches;
use support_access_core::change::{
    Capture, ChangeEntry, ChangeId, ChangeQuery, ChangeStore, FieldChange, NewChangeEntry,
    Operation, Record, SystemFields, digest,
};
use support_access_core::ids::{GrantId, OrgId};
use support_access_core::{AuditLog, StoreError};

use crate::ChangeStoreFixture;
use crate::support::{fresh_org, t0};

fn record(value: Value) -> Record {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn capture(org: &OrgId, grant: GrantId, minute: i64) -> Capture {
    Capture {
        org: org.clone(),
        grant,
        actor: "staff-7".into(),
        request_id: format!("req-{minute}"),
        at: t0() + Duration::minutes(minute),
    }
}

/// An update of `module`/`id` that moves field `City` from `A` to `B`.
fn update(capture: &Capture, module: &str, id: &str) -> NewChangeEntry {
    NewChangeEntry::capture(
        capture,
        module,
        id,
        Some(&record(json!({"City": "A"}))),
        Some(&record(json!({"City": "B"}))),
        &SystemFields::none(),
    )
    .expect("an update")
}

fn event_of(capture: &Capture, kind: AuditKind) -> NewAuditEvent {
    let mut event = NewAuditEvent::new(capture.org.clone(), kind, capture.at);
    event.grant = Some(capture.grant);
    event.actor = Some(capture.actor.clone());
    event.request_id = Some(capture.request_id.clone());
    event
}

/// The `change.recorded` event of `entries`, with their digest.
fn recorded(capture: &Capture, entries: &[NewChangeEntry]) -> NewAuditEvent {
    let mut event = event_of(capture, AuditKind::ChangeRecorded);
    event.changes_sha256 = Some(digest(entries));
    event
}

async fn record_one(store: &Arc<dyn ChangeStore>, capture: &Capture, id: &str) -> ChangeEntry {
    let entries = vec![update(capture, "Leads", id)];
    let event = recorded(capture, &entries);
    let done = store.record(entries, event).await.expect("record");
    done.entries.into_iter().next().expect("one entry")
}

async fn events(audit: &Arc<dyn AuditLog>, org: &OrgId) -> Vec<AuditEvent> {
    audit.scan(org, 0, 1000).await.expect("scan")
}

async fn all_pages(store: &Arc<dyn ChangeStore>, mut query: ChangeQuery) -> Vec<ChangeId> {
    let mut ids = Vec::new();
    loop {
        let page = store.list(&query).await.expect("list");
        assert!(page.entries.len() <= query.page_size() as usize);
        ids.extend(page.entries.iter().map(|e| e.id));
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return ids,
        }
    }
}

/// Entries read back exactly, values of every JSON kind, `null` and absent kept apart.
pub async fn recorded_entries_read_back_exactly_with_their_event(f: ChangeStoreFixture) {
    let org = fresh_org();
    let c = capture(&org, GrantId::random(), 0);
    let before = record(json!({"Name": "Ünïcödé ✓", "Phone": null, "Score": 1.5,
        "Tags": ["a", {"b": [1, 2]}], "Owner": {"id": "4150868000000225013"}}));
    let after = record(json!({"Name": "x", "Score": -7, "Tags": [], "Owner": null,
        "Flag": true}));
    let update = NewChangeEntry::capture(
        &c,
        "Leads",
        "1",
        Some(&before),
        Some(&after),
        &SystemFields::none(),
    )
    .expect("update");
    let created =
        NewChangeEntry::capture(&c, "Deals", "2", None, Some(&after), &SystemFields::none())
            .expect("create");
    let given = vec![update.clone(), created.clone()];
    let recorded = f
        .store
        .record(given.clone(), recorded(&c, &given))
        .await
        .expect("record");
    assert_eq!(recorded.event.kind, AuditKind::ChangeRecorded);
    assert_eq!(recorded.event.request_id.as_deref(), Some("req-0"));
    assert_eq!(recorded.entries.len(), 2);
    for (i, (stored, new)) in recorded.entries.iter().zip(&given).enumerate() {
        assert_eq!(stored.data, *new);
        assert_eq!(stored.audit_seq, recorded.event.seq);
        assert_eq!(stored.ordinal as usize, i);
        assert_eq!(stored.reverted_by, None);
        assert_eq!(&f.store.get(&org, stored.id).await.expect("get"), stored);
    }
    let phone = recorded.entries[0].field("Phone").expect("phone");
    assert_eq!(
        (phone.before.clone(), phone.after.clone()),
        (Some(Value::Null), None)
    );
    assert_eq!(recorded.entries[1].operation, Operation::Create);
    assert_eq!(events(&f.audit, &org).await, vec![recorded.event]);
}

/// The event read back from the log carries the digest of the entries read back, for a
/// batch and for a revert: the chain vouches for what the store holds.
pub async fn the_stored_event_vouches_for_the_stored_entries(f: ChangeStoreFixture) {
    let org = fresh_org();
    let c = capture(&org, GrantId::random(), 0);
    let before = record(json!({"A": {"z": 1, "a": [1.25, null, "é"]}, "B": 1e20}));
    let after = record(json!({"A": {"a": [1.25, null, "é"], "z": 1}, "B": -0.5}));
    let batch: Vec<NewChangeEntry> = [("1", Some(&after)), ("2", None)]
        .into_iter()
        .map(|(id, after)| {
            let none = SystemFields::none();
            NewChangeEntry::capture(&c, "Leads", id, Some(&before), after, &none)
                .expect("an update and a delete")
        })
        .collect();
    let event = recorded(&c, &batch);
    let done = f.store.record(batch, event).await.expect("record");
    let (revert, event) = revert_of(&org, &done.entries[0], 1);
    let reverted = f
        .store
        .record_revert(done.entries[0].id, revert, event)
        .await
        .expect("revert");
    let logged = events(&f.audit, &org).await;
    assert_eq!(logged.len(), 2);
    let mut read = Vec::new();
    for entry in &done.entries {
        read.push(f.store.get(&org, entry.id).await.expect("get"));
    }
    // The original now says who reverted it; the digest covers what was recorded.
    assert_eq!(read[0].reverted_by, Some(reverted.revert.id));
    assert!(vouches(&logged[0], &read), "{read:?}");
    let revert = f.store.get(&org, reverted.revert.id).await.expect("get");
    assert!(vouches(&logged[1], &[revert]));
    assert_eq!(logged[1], reverted.event);
}

/// Times are kept to the microsecond, as the audit log keeps them.
pub async fn times_are_kept_to_the_microsecond(f: ChangeStoreFixture) {
    let org = fresh_org();
    let mut c = capture(&org, GrantId::random(), 0);
    c.at += Duration::nanoseconds(123_456_789);
    let mut entry = update(&c, "Leads", "1");
    entry.at = c.at;
    let recorded = f
        .store
        .record(vec![entry.clone()], recorded(&c, &[entry]))
        .await
        .expect("record");
    let stored = f
        .store
        .get(&org, recorded.entries[0].id)
        .await
        .expect("get");
    assert_eq!(stored.at, t0() + Duration::microseconds(123_456));
    assert_eq!(stored, recorded.entries[0]);
}

/// A batch's event is the org's next event: one gap-free chain with other appends.
pub async fn entries_and_their_event_share_one_gap_free_chain(f: ChangeStoreFixture) {
    let org = fresh_org();
    let c = capture(&org, GrantId::random(), 0);
    f.audit
        .append(event_of(&c, AuditKind::RequestAllowed))
        .await
        .expect("append");
    let entry = record_one(&f.store, &c, "1").await;
    assert_eq!(entry.audit_seq, 2);
    f.audit
        .append(event_of(&c, AuditKind::RequestCompleted))
        .await
        .expect("append");
    let stored = events(&f.audit, &org).await;
    let mut verifier = ChainVerifier::new(org.clone());
    for event in &stored {
        verifier.check(event).expect("intact chain");
    }
    assert_eq!(verifier.verified(), 3);
    assert_eq!(stored[1].kind, AuditKind::ChangeRecorded);
}

/// Batches recorded from many tasks on both handles, racing plain appends, share one
/// gap-free chain, and every entry points at its own event.
pub async fn records_and_appends_racing_share_one_gap_free_chain(f: ChangeStoreFixture) {
    let org = fresh_org();
    let grant = GrantId::random();
    let mut tasks = Vec::new();
    for i in 0..12i64 {
        let store = if i % 2 == 0 {
            f.store.clone()
        } else {
            f.second.clone()
        };
        let (audit, org) = (f.audit.clone(), org.clone());
        tasks.push(tokio::spawn(async move {
            let c = capture(&org, grant, i);
            let batch = vec![update(&c, "Leads", "1"), update(&c, "Leads", "2")];
            let event = recorded(&c, &batch);
            let done = store.record(batch, event).await.expect("record");
            audit
                .append(event_of(&c, AuditKind::RequestCompleted))
                .await
                .expect("append");
            done
        }));
    }
    let mut recorded_batches = Vec::new();
    for task in join_all(tasks).await {
        recorded_batches.push(task.expect("task"));
    }
    let logged = events(&f.audit, &org).await;
    let mut verifier = ChainVerifier::new(org.clone());
    for event in &logged {
        verifier.check(event).expect("intact chain");
    }
    assert_eq!(verifier.verified(), 24);
    for done in &recorded_batches {
        let event = &logged[(done.event.seq - 1) as usize];
        assert_eq!(event, &done.event);
        for entry in &done.entries {
            assert_eq!(entry.audit_seq, event.seq);
        }
        let data: Vec<&NewChangeEntry> = done.entries.iter().map(|e| &e.data).collect();
        assert_eq!(event.changes_sha256, Some(digest(data)));
    }
    let listed = all_pages(&f.store, ChangeQuery::new(org)).await;
    assert_eq!(listed.len(), 24);
}

/// Refused batches store nothing: no entry and no event. An event whose digest does
/// not match its entries is refused too.
pub async fn a_refused_batch_stores_nothing(f: ChangeStoreFixture) {
    let org = fresh_org();
    let c = capture(&org, GrantId::random(), 0);
    let kept = record_one(&f.store, &c, "1").await;
    let fresh = update(&c, "Leads", "2");
    let mut taken_event = events(&f.audit, &org).await[0].data.clone();
    taken_event.changes_sha256 = Some(digest([&fresh]));
    let foreign = update(&capture(&fresh_org(), c.grant, 0), "Leads", "3");
    let reused = NewChangeEntry {
        id: kept.id,
        ..update(&c, "Leads", "4")
    };
    let batch = |entries: Vec<NewChangeEntry>| {
        let event = recorded(&c, &entries);
        (entries, event)
    };
    let mut undigested = batch(vec![fresh.clone()]);
    undigested.1.changes_sha256 = Some(digest([&kept.data]));
    let refused: Vec<(Vec<NewChangeEntry>, NewAuditEvent)> = vec![
        batch(vec![]),
        batch(vec![fresh.clone(), foreign]),
        batch(vec![fresh.clone(), fresh.clone()]),
        batch(vec![fresh.clone(), reused]),
        (vec![fresh.clone()], taken_event),
        undigested,
    ];
    for (i, (entries, event)) in refused.into_iter().enumerate() {
        let outcome = f.store.record(entries, event).await;
        assert!(
            matches!(outcome, Err(StoreError::Conflict(_))),
            "case {i}: {outcome:?}"
        );
    }
    assert_eq!(events(&f.audit, &org).await.len(), 1);
    assert_eq!(f.store.get(&org, fresh.id).await, Err(StoreError::NotFound));
    assert_eq!(
        all_pages(&f.store, ChangeQuery::new(org)).await,
        vec![kept.id]
    );
}

/// Newest event first; within one event, the order the entries were given.
pub async fn list_is_newest_first_in_recording_order_within_a_request(f: ChangeStoreFixture) {
    let org = fresh_org();
    let grant = GrantId::random();
    let mut expected = Vec::new();
    for minute in 0..3 {
        let c = capture(&org, grant, minute);
        let batch: Vec<NewChangeEntry> = (0..3)
            .map(|n| update(&c, "Leads", &format!("{minute}-{n}")))
            .collect();
        let ids: Vec<ChangeId> = batch.iter().map(|e| e.id).collect();
        expected.splice(0..0, ids);
        f.store
            .record(batch.clone(), recorded(&c, &batch))
            .await
            .expect("record");
    }
    assert_eq!(
        all_pages(&f.store, ChangeQuery::new(org.clone())).await,
        expected
    );
    let mut query = ChangeQuery::new(org);
    query.limit = 4;
    assert_eq!(all_pages(&f.store, query).await, expected);
}

/// Filters by grant, module and record, alone and combined.
pub async fn list_filters_by_grant_module_and_record(f: ChangeStoreFixture) {
    let org = fresh_org();
    let (g1, g2) = (GrantId::random(), GrantId::random());
    let mut ids = Vec::new();
    for (minute, (grant, module, id)) in [
        (g1, "Leads", "1"),
        (g1, "Deals", "1"),
        (g2, "Leads", "1"),
        (g2, "Leads", "2"),
    ]
    .into_iter()
    .enumerate()
    {
        let c = capture(&org, grant, minute as i64);
        let entries = vec![update(&c, module, id)];
        let event = recorded(&c, &entries);
        let done = f.store.record(entries, event).await.expect("record");
        ids.push(done.entries[0].id);
    }
    let query = |grant: Option<GrantId>, module: Option<&str>, record: Option<&str>| {
        let mut q = ChangeQuery::new(org.clone());
        q.grant = grant;
        q.module = module.map(String::from);
        q.record = record.map(String::from);
        q
    };
    let cases = [
        (query(Some(g1), None, None), vec![ids[1], ids[0]]),
        (
            query(None, Some("Leads"), None),
            vec![ids[3], ids[2], ids[0]],
        ),
        (query(None, None, Some("1")), vec![ids[2], ids[1], ids[0]]),
        (query(Some(g2), Some("Leads"), Some("2")), vec![ids[3]]),
        (query(Some(g1), Some("Leads"), Some("2")), vec![]),
    ];
    for (q, expected) in cases {
        assert_eq!(all_pages(&f.store, q.clone()).await, expected, "{q:?}");
    }
}

/// Following cursors lists every entry once, also while entries are being recorded.
pub async fn cursor_paging_is_stable_while_entries_are_recorded(f: ChangeStoreFixture) {
    let org = fresh_org();
    let grant = GrantId::random();
    let mut before = BTreeSet::new();
    for minute in 0..7 {
        let c = capture(&org, grant, minute);
        let batch: Vec<NewChangeEntry> = (0..(minute % 3 + 1))
            .map(|n| update(&c, "Leads", &n.to_string()))
            .collect();
        before.extend(batch.iter().map(|e| e.id));
        f.store
            .record(batch.clone(), recorded(&c, &batch))
            .await
            .expect("record");
    }
    let mut query = ChangeQuery::new(org.clone());
    query.limit = 2;
    let mut listed = Vec::new();
    let mut minute = 100;
    loop {
        let page = f.store.list(&query).await.expect("list");
        listed.extend(page.entries.iter().map(|e| e.id));
        record_one(&f.store, &capture(&org, grant, minute), "new").await;
        minute += 1;
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => break,
        }
    }
    assert_eq!(listed.len(), before.len(), "no duplicate, no new entry");
    assert_eq!(listed.into_iter().collect::<BTreeSet<_>>(), before);
}

/// A page holds at least one entry, whatever limit is asked.
pub async fn page_size_is_bounded(f: ChangeStoreFixture) {
    let org = fresh_org();
    let grant = GrantId::random();
    for minute in 0..2 {
        record_one(&f.store, &capture(&org, grant, minute), "1").await;
    }
    let mut query = ChangeQuery::new(org);
    query.limit = 0;
    let page = f.store.list(&query).await.expect("list");
    assert_eq!(page.entries.len(), 1);
    assert!(page.next_cursor.is_some());
}

/// Another org's entries are never listed nor found.
pub async fn list_and_get_never_return_another_orgs_entries(f: ChangeStoreFixture) {
    let (mine, theirs) = (fresh_org(), fresh_org());
    let grant = GrantId::random();
    let own = record_one(&f.store, &capture(&mine, grant, 0), "1").await;
    let other = record_one(&f.store, &capture(&theirs, grant, 1), "1").await;
    let mut query = ChangeQuery::new(mine.clone());
    query.grant = Some(grant);
    assert_eq!(all_pages(&f.store, query).await, vec![own.id]);
    assert_eq!(
        f.store.get(&mine, other.id).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        f.store.get(&mine, ChangeId::random()).await,
        Err(StoreError::NotFound)
    );
}

fn revert_of(org: &OrgId, original: &ChangeEntry, minute: i64) -> (NewChangeEntry, NewAuditEvent) {
    let mut c = capture(org, original.grant, minute);
    c.actor = "admin-1".into();
    let now = record(json!({"City": "B"}));
    let back = record(json!({"City": "A"}));
    let entry =
        NewChangeEntry::revert(&c, original, Some(&now), Some(&back), &SystemFields::none());
    let mut event = event_of(&c, AuditKind::ChangeReverted);
    event.changes_sha256 = Some(digest([&entry]));
    (entry, event)
}

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

/// A second handle sees the entries and reverts of the first.
pub async fn second_handle_sees_the_first_handles_writes(f: ChangeStoreFixture) {
    let org = fresh_org();
    let original = record_one(&f.store, &capture(&org, GrantId::random(), 0), "1").await;
    assert_eq!(
        f.second.get(&org, original.id).await.expect("get"),
        original
    );
    let (entry, event) = revert_of(&org, &original, 1);
    let done = f
        .store
        .record_revert(original.id, entry, event)
        .await
        .expect("revert");
    assert_eq!(
        f.second.get(&org, original.id).await.expect("get"),
        done.original
    );
    assert_eq!(
        all_pages(&f.second, ChangeQuery::new(org)).await,
        vec![done.revert.id, original.id]
    );
}
