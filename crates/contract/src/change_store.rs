//! The [`ChangeStore`](support_access_core::ChangeStore) contract.

use std::sync::Arc;

use chrono::Duration;
use futures::future::join_all;
use serde_json::{Value, json};
use support_access_core::audit::{AuditEvent, AuditKind, ChainVerifier, NewAuditEvent};
use support_access_core::change::digest::vouches;
use support_access_core::change::{
    Capture, ChangeEntry, ChangeId, ChangeQuery, ChangeStore, NewChangeEntry, Operation, Record,
    SystemFields, digest,
};
use support_access_core::ids::{GrantId, OrgId};
use support_access_core::{AuditLog, StoreError};

use crate::ChangeStoreFixture;
use crate::support::{fresh_org, t0};

mod listing;
mod revert;

pub use listing::{
    cursor_paging_is_stable_while_entries_are_recorded,
    list_and_get_never_return_another_orgs_entries, list_filters_by_grant_module_and_record,
    list_is_newest_first_in_recording_order_within_a_request, page_size_is_bounded,
};
pub use revert::{
    a_second_revert_conflicts_and_stores_nothing, concurrent_reverts_let_exactly_one_win,
    revert_marks_the_original_and_stores_its_entry_and_event,
    revert_of_an_unknown_or_foreign_change_is_not_found,
};

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
