//! The digest that ties entries to their event, and the JSON and CSV report.

use serde_json::{Value, json};

use super::*;
use crate::change::report::{CSV_HEADER, entry_json, report_csv, report_json};

#[test]
fn the_digest_covers_every_value_and_ignores_key_order() {
    let entry = update(json!({"A": {"x": 1, "y": [true, null]}}), json!({"A": "2"})).data;
    let base = digest([&entry]);
    assert_eq!(base.len(), 64);
    let mut reordered = entry.clone();
    reordered.fields[0].before =
        Some(serde_json::from_str(r#"{"y": [true, null], "x": 1}"#).expect("json"));
    assert_eq!(digest([&reordered]), base);
    let stored: Vec<FieldChange> =
        serde_json::from_str(&serde_json::to_string(&entry.fields).expect("json")).expect("parse");
    assert_eq!(
        digest([&NewChangeEntry {
            fields: stored,
            ..entry.clone()
        }]),
        base
    );
    let mut variants = Vec::new();
    for change in [
        |e: &mut NewChangeEntry| e.fields[0].before = None,
        |e: &mut NewChangeEntry| e.fields[0].after = Some(Value::Null),
        |e: &mut NewChangeEntry| e.fields[0].name = "B".into(),
        |e: &mut NewChangeEntry| e.record.push('0'),
        |e: &mut NewChangeEntry| e.actor = "staff-8".into(),
        |e: &mut NewChangeEntry| e.reverts = Some(ChangeId::random()),
        |e: &mut NewChangeEntry| e.operation = Operation::Delete,
    ] {
        let mut other = entry.clone();
        change(&mut other);
        variants.push(digest([&other]));
    }
    variants.push(digest([&entry, &entry]));
    variants.push(digest(std::iter::empty::<&NewChangeEntry>()));
    for (i, a) in variants.iter().enumerate() {
        assert_ne!(a, &base, "variant {i}");
    }
    assert_eq!(
        digest::canonical(&json!({"b": 1, "a": [{"d": 1, "c": "é"}]})),
        r#"{"a":[{"c":"é","d":1}],"b":1}"#
    );
}

#[test]
fn the_json_report_has_the_spec_shape() {
    let mut entry = update(
        json!({"City": "Oslo", "Phone": null}),
        json!({"City": "Bergen"}),
    );
    entry.reverted_by = Some(ChangeId::random());
    let shown = entry_json(&entry);
    assert_eq!(shown["operation"], json!("update"));
    assert_eq!(shown["audit_seq"], json!(7));
    assert_eq!(shown["at"], json!("2026-12-02T10:00:00Z"));
    assert_eq!(
        shown["fields"],
        json!([{"name": "City", "before": "Oslo", "after": "Bergen"},
               {"name": "Phone", "before": null}])
    );
    assert_eq!(
        shown["reverted_by"],
        json!(entry.reverted_by.map(|r| r.to_string()))
    );
    assert!(shown.get("reverts").is_none());
    let at = capture().at;
    let report = report_json(entry.grant, std::slice::from_ref(&entry), Some("cp"), at);
    assert_eq!(report["grant"], json!(entry.grant.to_string()));
    assert_eq!(report["checkpoint"], json!("cp"));
    assert_eq!(report["changes"], json!([shown]));
    assert_eq!(
        report_json(entry.grant, &[], None, at)["checkpoint"],
        Value::Null
    );
}

#[test]
fn the_csv_report_has_a_row_per_field_change() {
    let entry = update(
        json!({"City": "Oslo, \"Old\"", "Phone": null, "Email": ""}),
        json!({"City": "Bergen", "Email": "=cmd()", "Fax": "2"}),
    );
    let revert = stored(
        NewChangeEntry::revert(&capture(), &entry, None, None, &zoho()),
        8,
        0,
    );
    let text = report_csv(&[entry.clone(), revert.clone()]).expect("csv");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        reader.headers().expect("header").iter().collect::<Vec<_>>(),
        CSV_HEADER
    );
    let rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.expect("row").iter().map(String::from).collect())
        .collect();
    assert_eq!(rows.len(), 5);
    let cells = |row: &Vec<String>| (row[9].clone(), row[10].clone(), row[11].clone());
    assert_eq!(
        cells(&rows[0]),
        (
            "City".into(),
            r#""Oslo, \"Old\"""#.into(),
            r#""Bergen""#.into()
        )
    );
    assert_eq!(
        cells(&rows[1]),
        ("Email".into(), r#""""#.into(), r#""=cmd()""#.into())
    );
    assert_eq!(cells(&rows[2]), ("Fax".into(), "".into(), r#""2""#.into()));
    assert_eq!(cells(&rows[3]), ("Phone".into(), "null".into(), "".into()));
    assert_eq!(rows[0][0], entry.id.to_string());
    assert_eq!(rows[0][5], "7");
    assert_eq!(rows[0][8], "update");
    assert_eq!((rows[4][8].as_str(), rows[4][9].as_str()), ("revert", ""));
}

#[test]
fn csv_text_cells_that_look_like_formulas_are_made_inert() {
    let mut entry = update(json!({"A": 1}), json!({"A": 2}));
    entry.data.actor = "=HYPERLINK(\"x\")".into();
    entry.data.record = "-1".into();
    let text = report_csv(&[entry]).expect("csv");
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let row = reader.records().next().expect("row").expect("row");
    assert_eq!(&row[3], "'=HYPERLINK(\"x\")");
    assert_eq!(&row[7], "'-1");
}

#[test]
fn a_sealed_event_vouches_only_for_its_own_entries_in_order() {
    let a = update(json!({"A": 1}), json!({"A": 2})).data;
    let b = update(json!({"B": 1}), json!({"B": 2})).data;
    let mut event = NewAuditEvent::new(a.org.clone(), AuditKind::ChangeRecorded, a.at);
    event.changes_sha256 = Some(digest([&a, &b]));
    let sealed = event.seal(4, crate::audit::GENESIS);
    let entries = vec![stored(a.clone(), 4, 0), stored(b.clone(), 4, 1)];
    assert!(digest::vouches(&sealed, &entries));
    let swapped = vec![stored(b.clone(), 4, 0), stored(a.clone(), 4, 1)];
    assert!(!digest::vouches(&sealed, &swapped));
    let elsewhere = vec![stored(a.clone(), 5, 0), stored(b.clone(), 5, 1)];
    assert!(!digest::vouches(&sealed, &elsewhere));
    assert!(!digest::vouches(&sealed, &entries[..1]));
    let mut tampered = entries.clone();
    tampered[1].data.fields[0].before = Some(json!(0));
    assert!(!digest::vouches(&sealed, &tampered));
}
