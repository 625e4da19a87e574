//! `SupportChanges`, the change-capture service, over the in-memory adapters with a
//! `ManualClock`: the events it writes, the report listing and the revert flow.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};
use support_access_core::audit::AuditKind;
use support_access_core::change::{
    ChangeId, ChangeQuery, NewChangeEntry, Operation, Record, RevertError, SupportChangeError,
    SupportChanges, SystemFields,
};
use support_access_core::ids::OrgId;
use support_access_core::{AuditLog, Grant};
use support_access_memory::{InMemoryStore, ManualClock};

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 2, 10, 0, 0).unwrap()
}

fn record(value: Value) -> Record {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn zoho() -> SystemFields {
    SystemFields::new(["Modified_Time", "Modified_By"], ["$"])
}

struct World {
    store: InMemoryStore,
    clock: ManualClock,
    changes: SupportChanges,
    grant: Grant,
}

fn world() -> World {
    let store = InMemoryStore::new();
    let clock = ManualClock::new(start());
    let changes = SupportChanges::new(Arc::new(store.clone()), Arc::new(clock.clone()));
    let grant = Grant::new(
        OrgId::from("org-acme"),
        "admin-1",
        start(),
        start() + Duration::days(3),
        Some("sync failures".into()),
        Some("T-9".into()),
    );
    World {
        store,
        clock,
        changes,
        grant,
    }
}

impl World {
    /// Support updates `City` of Leads/`id` from `from` to `to`; returns the entry id.
    async fn support_update(&self, id: &str, from: &str, to: &str) -> ChangeId {
        let capture = self.changes.capture(&self.grant, "staff-7", "req-1");
        let entry = NewChangeEntry::capture(
            &capture,
            "Leads",
            id,
            Some(&record(json!({"City": from, "Modified_Time": "1"}))),
            Some(&record(json!({"City": to, "Modified_Time": "2"}))),
            &zoho(),
        )
        .unwrap();
        let recorded = self
            .changes
            .record(&self.grant, &capture, vec![entry])
            .await;
        recorded.unwrap().unwrap().entries[0].id
    }
}

#[tokio::test]
async fn recording_writes_one_change_recorded_event_stamped_like_the_grants_events() {
    let w = world();
    w.clock.advance(Duration::minutes(5));
    let id = w.support_update("1", "Oslo", "Bergen").await;
    let events = w.store.scan(&w.grant.org, 0, 10).await.unwrap();
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event.kind, AuditKind::ChangeRecorded);
    assert_eq!(event.at, start() + Duration::minutes(5));
    assert_eq!(event.grant, Some(w.grant.id));
    assert_eq!(event.support_user, Some(w.grant.support_user));
    assert_eq!(event.actor.as_deref(), Some("staff-7"));
    assert_eq!(event.request_id.as_deref(), Some("req-1"));
    assert_eq!(event.ticket.as_deref(), Some("T-9"));
    let entry = w.changes.get(&w.grant.org, id).await.unwrap();
    assert_eq!(entry.audit_seq, event.seq);
    assert_eq!(entry.at, event.at);
}

#[tokio::test]
async fn a_request_that_changed_nothing_writes_nothing() {
    let w = world();
    let capture = w.changes.capture(&w.grant, "staff-7", "req-1");
    assert_eq!(w.changes.record(&w.grant, &capture, vec![]).await, Ok(None));
    assert!(w.store.scan(&w.grant.org, 0, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_report_lists_a_grants_entries_oldest_first() {
    let w = world();
    let mut ids = Vec::new();
    for n in 0..3 {
        w.clock.advance(Duration::minutes(1));
        ids.push(w.support_update(&n.to_string(), "A", "B").await);
    }
    let entries = w.changes.of_grant(&w.grant.org, w.grant.id).await.unwrap();
    assert_eq!(entries.iter().map(|e| e.id).collect::<Vec<_>>(), ids);
    let page = w.changes.page(&ChangeQuery::new(w.grant.org.clone())).await;
    assert_eq!(page.unwrap().entries[0].id, ids[2]);
}

#[tokio::test]
async fn a_revert_puts_the_before_values_back_and_is_recorded_once() {
    let w = world();
    let id = w.support_update("1", "Oslo", "Bergen").await;
    let now = record(json!({"City": "Bergen", "Modified_Time": "3"}));
    let (original, plan) = w
        .changes
        .plan_revert(&w.grant.org, id, Some(&now), false)
        .await
        .unwrap();
    assert_eq!(plan.body(), json!({"data": [{"City": "Oslo"}]}));
    let admin = w.changes.capture(&w.grant, "admin-1", "req-2");
    let back = record(json!({"City": "Oslo", "Modified_Time": "4"}));
    let done = w
        .changes
        .record_revert(
            &w.grant,
            &admin,
            &original,
            Some(&now),
            Some(&back),
            &zoho(),
        )
        .await
        .unwrap();
    assert_eq!(done.revert.operation, Operation::Revert);
    assert_eq!(done.revert.actor, "admin-1");
    assert_eq!(done.event.kind, AuditKind::ChangeReverted);
    assert_eq!(done.event.actor.as_deref(), Some("admin-1"));
    let again = w
        .changes
        .plan_revert(&w.grant.org, id, Some(&back), true)
        .await;
    assert_eq!(
        again.unwrap_err(),
        SupportChangeError::Revert(RevertError::AlreadyReverted(done.revert.id))
    );
    let raced = w
        .changes
        .record_revert(
            &w.grant,
            &admin,
            &original,
            Some(&back),
            Some(&back),
            &zoho(),
        )
        .await
        .unwrap_err();
    assert_eq!(raced, SupportChangeError::RevertedMeanwhile);
    assert_eq!(raced.code(), "change_already_reverted");
}

#[tokio::test]
async fn someone_elses_later_edit_refuses_the_revert_with_changed_since() {
    let w = world();
    let id = w.support_update("1", "Oslo", "Bergen").await;
    let now = record(json!({"City": "Trondheim"}));
    let refused = w
        .changes
        .plan_revert(&w.grant.org, id, Some(&now), false)
        .await;
    let refused = refused.unwrap_err();
    assert_eq!(refused.code(), "changed_since");
    assert_eq!(
        refused,
        SupportChangeError::Revert(RevertError::ChangedSince(vec!["City".into()]))
    );
}

#[tokio::test]
async fn an_unknown_or_foreign_change_is_not_found() {
    let w = world();
    let id = w.support_update("1", "Oslo", "Bergen").await;
    let other = OrgId::from("org-other");
    for (org, id) in [(&other, id), (&w.grant.org, ChangeId::random())] {
        let outcome = w
            .changes
            .plan_revert(org, id, None, true)
            .await
            .unwrap_err();
        assert_eq!(outcome, SupportChangeError::NotFound);
        assert_eq!(outcome.code(), "change_not_found");
    }
}

#[tokio::test]
async fn a_store_that_is_down_is_reported_as_unavailable() {
    let w = world();
    w.store.set_unavailable(true);
    let outcome = w.changes.get(&w.grant.org, ChangeId::random()).await;
    assert_eq!(outcome.unwrap_err().code(), "store_unavailable");
}

#[tokio::test]
async fn the_report_follows_every_page_of_a_large_grant() {
    let w = world();
    let count = support_access_core::change::MAX_PAGE as usize + 5;
    for n in 0..count {
        w.support_update(&n.to_string(), "A", "B").await;
    }
    let entries = w.changes.of_grant(&w.grant.org, w.grant.id).await.unwrap();
    assert_eq!(entries.len(), count);
    assert!(entries.windows(2).all(|p| p[0].audit_seq < p[1].audit_seq));
}
