use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::audit::{AuditKind, NewAuditEvent};
use crate::ids::{GrantId, OrgId};

fn record(value: Value) -> Record {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn zoho() -> SystemFields {
    SystemFields::new(
        ["Modified_Time", "Modified_By", "Created_Time", "Created_By"],
        ["$"],
    )
}

fn capture() -> Capture {
    Capture {
        org: OrgId::new("org-1"),
        grant: GrantId::random(),
        actor: "staff-7".into(),
        request_id: "req-1".into(),
        at: Utc
            .with_ymd_and_hms(2026, 12, 2, 10, 0, 0)
            .single()
            .expect("time"),
    }
}

fn stored(entry: NewChangeEntry, audit_seq: u64, ordinal: u32) -> ChangeEntry {
    ChangeEntry {
        audit_seq,
        ordinal,
        reverted_by: None,
        data: entry,
    }
}

fn update(before: Value, after: Value) -> ChangeEntry {
    let entry = NewChangeEntry::capture(
        &capture(),
        "Leads",
        "4150868000000225013",
        Some(&record(before)),
        Some(&record(after)),
        &zoho(),
    )
    .expect("an update");
    stored(entry, 7, 0)
}

fn change(name: &str, before: Option<Value>, after: Option<Value>) -> FieldChange {
    FieldChange {
        name: name.into(),
        before,
        after,
    }
}

#[test]
fn an_update_lists_only_the_changed_fields_by_name_without_system_fields() {
    let before = record(json!({"Last_Name": "Doe", "City": "Oslo", "Phone": "1",
        "Modified_Time": "2026-12-01T10:00:00Z", "$approval": {"delegate": false}}));
    let after = record(
        json!({"Last_Name": "Doe", "City": "Bergen", "Email": "a@b.c",
        "Modified_Time": "2026-12-02T10:00:00Z", "$approval": {"delegate": true}}),
    );
    let fields = diff(Some(&before), Some(&after), &zoho());
    assert_eq!(
        fields,
        vec![
            change("City", Some(json!("Oslo")), Some(json!("Bergen"))),
            change("Email", None, Some(json!("a@b.c"))),
            change("Phone", Some(json!("1")), None),
        ]
    );
}

#[test]
fn absent_and_null_are_different_values() {
    let before = record(json!({"Phone": null}));
    let after = record(json!({}));
    assert_eq!(
        diff(Some(&before), Some(&after), &SystemFields::none()),
        vec![change("Phone", Some(Value::Null), None)]
    );
    assert!(diff(Some(&before), Some(&before), &SystemFields::none()).is_empty());
}

#[test]
fn nested_values_are_compared_as_whole_values() {
    let before = record(json!({"Owner": {"id": "1", "name": "A"}, "Tags": [1, 2]}));
    let same = record(json!({"Owner": {"name": "A", "id": "1"}, "Tags": [1, 2]}));
    let moved = record(json!({"Owner": {"id": "1", "name": "B"}, "Tags": [2, 1]}));
    assert!(diff(Some(&before), Some(&same), &SystemFields::none()).is_empty());
    let fields = diff(Some(&before), Some(&moved), &SystemFields::none());
    assert_eq!(fields.len(), 2);
    assert_eq!(fields[0].after, Some(json!({"id": "1", "name": "B"})));
    assert_eq!(fields[1].before, Some(json!([1, 2])));
}

#[test]
fn capture_tells_create_update_and_delete_apart() {
    let a = record(json!({"Last_Name": "Doe", "Created_Time": "x"}));
    let b = record(json!({"Last_Name": "Roe"}));
    let c = capture();
    let of = |before: Option<&Record>, after: Option<&Record>| {
        NewChangeEntry::capture(&c, "Leads", "1", before, after, &zoho())
    };
    let created = of(None, Some(&a)).expect("create");
    assert_eq!(created.operation, Operation::Create);
    assert_eq!(
        created.fields,
        vec![change("Last_Name", None, Some(json!("Doe")))]
    );
    let deleted = of(Some(&a), None).expect("delete");
    assert_eq!(deleted.operation, Operation::Delete);
    assert_eq!(
        deleted.fields,
        vec![change("Last_Name", Some(json!("Doe")), None)]
    );
    let updated = of(Some(&a), Some(&b)).expect("update");
    assert_eq!(updated.operation, Operation::Update);
    assert_eq!((updated.org, updated.grant), (c.org.clone(), c.grant));
    assert_eq!(
        (updated.actor.as_str(), updated.request_id.as_str()),
        ("staff-7", "req-1")
    );
    assert!(of(None, None).is_none());
    assert!(
        of(Some(&a), Some(&a)).is_none(),
        "an update that changed nothing"
    );
    let only_system = record(json!({"Last_Name": "Doe", "Created_Time": "y"}));
    assert!(of(Some(&a), Some(&only_system)).is_none());
}

#[test]
fn a_field_change_keeps_null_and_leaves_absent_sides_out_of_its_json() {
    let field = change("Phone", Some(Value::Null), None);
    let text = serde_json::to_string(&field).expect("json");
    assert_eq!(text, r#"{"name":"Phone","before":null}"#);
    let back: FieldChange = serde_json::from_str(&text).expect("parse");
    assert_eq!(back, field);
}

#[test]
fn entries_round_trip_through_serde() {
    let mut entry = update(json!({"A": 1}), json!({"A": 2}));
    entry.reverted_by = Some(ChangeId::random());
    let text = serde_json::to_string(&entry).expect("json");
    let back: ChangeEntry = serde_json::from_str(&text).expect("parse");
    assert_eq!(back, entry);
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-3i64..3).prop_map(|n| json!(n)),
        "[ab]{0,2}".prop_map(Value::String),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map("[xy]", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn a_record() -> impl Strategy<Value = Record> {
    let names = prop_oneof![
        Just("A"),
        Just("B"),
        Just("C"),
        Just("Modified_Time"),
        Just("$state")
    ];
    prop::collection::btree_map(names.prop_map(String::from), json_value(), 0..5)
        .prop_map(|m| m.into_iter().collect())
}

fn without_system(record: &Record) -> Record {
    let system = zoho();
    record
        .iter()
        .filter(|(name, _)| !system.contains(name))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

proptest! {
    #[test]
    fn applying_a_diffs_after_to_before_gives_after_outside_system_fields(
        before in a_record(), after in a_record()
    ) {
        let fields = diff(Some(&before), Some(&after), &zoho());
        let applied = apply_after(&before, &fields);
        prop_assert_eq!(without_system(&applied), without_system(&after));
        let reverted = apply_before(&after, &fields);
        prop_assert_eq!(without_system(&reverted), without_system(&before));
        for field in &fields {
            prop_assert!(field.before != field.after);
            prop_assert!(!zoho().contains(&field.name));
        }
        let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        prop_assert_eq!(names, sorted);
    }

    #[test]
    fn a_revert_plan_puts_every_before_back(before in a_record(), after in a_record()) {
        let entry = NewChangeEntry::capture(
            &capture(), "Leads", "1", Some(&before), Some(&after), &zoho(),
        );
        if let Some(entry) = entry {
            let entry = stored(entry, 1, 0);
            let plan = plan_revert(&entry, Some(&after), false).expect("nothing changed since");
            prop_assert!(plan.changed_since.is_empty());
            let mut put = after.clone();
            put.extend(plan.values.clone());
            for (name, value) in without_system(&before) {
                prop_assert_eq!(put.get(&name), Some(&value));
            }
        }
    }
}

#[test]
fn cursors_round_trip_and_foreign_text_is_refused() {
    let cursor = ChangeCursor {
        audit_seq: 42,
        ordinal: 3,
    };
    assert_eq!(ChangeCursor::decode(&cursor.encode()), Ok(cursor));
    for bad in [
        "",
        "x",
        "c2ExLjI",
        "sc1.1.2",
        &URL_SAFE_NO_PAD.encode("sc1.1"),
    ] {
        assert!(ChangeCursor::decode(bad).is_err(), "{bad}");
    }
    assert!(ChangeCursor::decode(&URL_SAFE_NO_PAD.encode("sc1.1.+2")).is_err());
    assert!(ChangeCursor::decode(&URL_SAFE_NO_PAD.encode("sa1.1")).is_err());
}

#[test]
fn listing_order_is_newest_event_first_then_recording_order() {
    let e = |seq, ord| stored(update(json!({"A": 1}), json!({"A": 2})).data, seq, ord);
    let mut entries = vec![e(1, 0), e(2, 1), e(2, 0), e(3, 0)];
    listing_order(&mut entries);
    let order: Vec<_> = entries.iter().map(|e| (e.audit_seq, e.ordinal)).collect();
    assert_eq!(order, vec![(3, 0), (2, 0), (2, 1), (1, 0)]);
    let cursor = entries[1].position();
    let after: Vec<_> = entries.iter().filter(|e| cursor.precedes(e)).collect();
    assert_eq!(after.len(), 2);
    let page = ChangePage::from_overfetch(entries.clone(), 3);
    assert_eq!(page.entries.len(), 3);
    assert_eq!(page.next_cursor, Some(entries[2].position()));
    assert_eq!(ChangePage::from_overfetch(entries, 4).next_cursor, None);
}

#[test]
fn a_query_matches_on_every_filter() {
    let entry = update(json!({"A": 1}), json!({"A": 2}));
    let mut query = ChangeQuery::new(entry.org.clone());
    assert!(query.matches(&entry));
    query.grant = Some(entry.grant);
    query.module = Some("Leads".into());
    query.record = Some(entry.record.clone());
    assert!(query.matches(&entry));
    for change in [
        |q: &mut ChangeQuery| q.grant = Some(GrantId::random()),
        |q: &mut ChangeQuery| q.module = Some("Deals".into()),
        |q: &mut ChangeQuery| q.record = Some("2".into()),
        |q: &mut ChangeQuery| q.org = OrgId::new("org-2"),
    ] {
        let mut other = query.clone();
        change(&mut other);
        assert!(!other.matches(&entry));
    }
    query.limit = 0;
    assert_eq!(query.page_size(), 1);
    query.limit = 5000;
    assert_eq!(query.page_size(), MAX_PAGE);
}

#[test]
fn a_batch_must_be_one_orgs_non_empty_without_repeats_and_digested_by_its_event() {
    let entry = update(json!({"A": 1}), json!({"A": 2})).data;
    let one = std::slice::from_ref(&entry);
    let event = |org: &OrgId, entries: &[NewChangeEntry]| {
        let mut event = NewAuditEvent::new(org.clone(), AuditKind::ChangeRecorded, entry.at);
        event.changes_sha256 = Some(digest(entries));
        event
    };
    let org = entry.org.clone();
    assert_eq!(check_batch(&event(&org, &[]), &[]), Err(BatchError::Empty));
    assert_eq!(check_batch(&event(&org, one), one), Ok(()));
    let twice = [entry.clone(), entry.clone()];
    assert_eq!(
        check_batch(&event(&org, &twice), &twice),
        Err(BatchError::Duplicate(entry.id))
    );
    let other = OrgId::new("org-2");
    assert_eq!(
        check_batch(&event(&other, one), one),
        Err(BatchError::WrongOrg(entry.id))
    );
    let mut undigested = event(&org, one);
    undigested.changes_sha256 = None;
    assert_eq!(check_batch(&undigested, one), Err(BatchError::Digest));
    let mut altered = entry.clone();
    altered.fields[0].after = Some(json!(3));
    assert_eq!(
        check_batch(&event(&org, one), std::slice::from_ref(&altered)),
        Err(BatchError::Digest)
    );
}

#[test]
fn operations_are_spelled_as_the_api_spells_them() {
    for op in Operation::ALL {
        assert_eq!(op.as_str().parse::<Operation>(), Ok(op));
        assert_eq!(serde_json::to_value(op).expect("json"), json!(op.as_str()));
    }
    assert!("created".parse::<Operation>().is_err());
}

mod report;
mod revert;
