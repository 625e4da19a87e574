//! Revert planning: what is put back, `changed_since`, what cannot be reverted.

use serde_json::json;

use super::*;
use crate::change::revert::changed_since;

#[test]
fn a_revert_writes_the_before_values_and_null_where_a_field_was_absent() {
    let entry = update(
        json!({"City": "Oslo", "Modified_Time": "1"}),
        json!({"City": "Bergen", "Email": "a@b.c", "Modified_Time": "2"}),
    );
    let current = record(json!({"City": "Bergen", "Email": "a@b.c", "Modified_Time": "3"}));
    let plan = plan_revert(&entry, Some(&current), false).expect("plan");
    assert_eq!(plan.change, entry.id);
    assert_eq!(
        (plan.module.as_str(), plan.record.as_str()),
        ("Leads", "4150868000000225013")
    );
    assert_eq!(
        plan.body(),
        json!({"data": [{"City": "Oslo", "Email": null}]})
    );
    assert!(plan.changed_since.is_empty());
}

#[test]
fn a_field_changed_after_support_refuses_the_revert_unless_forced() {
    let entry = update(
        json!({"City": "Oslo", "Phone": "1", "Street": "A"}),
        json!({"City": "Bergen", "Phone": "2", "Street": "B"}),
    );
    let current = record(json!({"City": "Bergen", "Phone": "3", "Modified_Time": "x"}));
    let refused = plan_revert(&entry, Some(&current), false).expect_err("changed since");
    assert_eq!(
        refused,
        RevertError::ChangedSince(vec!["Phone".into(), "Street".into()])
    );
    assert_eq!(refused.code(), "changed_since");
    let forced = plan_revert(&entry, Some(&current), true).expect("forced");
    assert_eq!(forced.changed_since, vec!["Phone", "Street"]);
    assert_eq!(forced.values.get("Phone"), Some(&json!("1")));
}

#[test]
fn a_record_that_is_gone_has_changed_every_field() {
    let entry = update(json!({"City": "Oslo"}), json!({"City": "Bergen"}));
    assert_eq!(changed_since(&entry, None), vec!["City"]);
    assert!(plan_revert(&entry, None, false).is_err());
}

#[test]
fn only_an_update_not_yet_reverted_can_be_reverted() {
    let c = capture();
    let a = record(json!({"City": "Oslo"}));
    for (before, after, op) in [
        (None, Some(&a), Operation::Create),
        (Some(&a), None, Operation::Delete),
    ] {
        let entry = NewChangeEntry::capture(&c, "Leads", "1", before, after, &zoho());
        let entry = stored(entry.expect("entry"), 1, 0);
        let refused = plan_revert(&entry, Some(&a), true).expect_err("not an update");
        assert_eq!(refused, RevertError::NotRevertible(op));
        assert_eq!(refused.code(), "change_not_revertible");
    }
    let original = update(json!({"City": "Oslo"}), json!({"City": "Bergen"}));
    let back = record(json!({"City": "Oslo"}));
    let revert = NewChangeEntry::revert(&c, &original, Some(&back), Some(&back), &zoho());
    assert_eq!(revert.operation, Operation::Revert);
    assert_eq!(revert.reverts, Some(original.id));
    assert!(revert.fields.is_empty());
    let revert = stored(revert, 2, 0);
    assert!(matches!(
        plan_revert(&revert, Some(&back), true),
        Err(RevertError::NotRevertible(Operation::Revert))
    ));
    let mut reverted = original.clone();
    reverted.reverted_by = Some(revert.id);
    let refused = plan_revert(&reverted, Some(&back), true).expect_err("reverted");
    assert_eq!(refused, RevertError::AlreadyReverted(revert.id));
    assert_eq!(refused.code(), "change_already_reverted");
}
