//! SPEC §11 as policy data: which support requests of the Zoho policy write records,
//! which records they touch, and how a record is read back.

use serde_json::{Value, json};
use support_access_core::change::Operation;
use support_access_policy::Policy;
use support_access_policy::changes::{ReadOutcome, RecordWrite, RecordWrites};

fn zoho() -> Policy {
    Policy::from_toml_str(include_str!("../../../config/policy/zoho-crm-v8.toml"))
        .expect("the Zoho policy compiles")
}

fn classify(
    writes: &RecordWrites,
    method: &str,
    path: &str,
    query: Option<&str>,
    body: Option<Value>,
) -> Option<RecordWrite> {
    writes
        .classify(method, path, query, body.as_ref())
        .expect("the records are named")
}

#[test]
fn a_single_record_update_names_its_record_and_reads_it_in_the_same_version() {
    let policy = zoho();
    let writes = policy.record_writes().expect("[changes]");
    let write = classify(
        writes,
        "PUT",
        "/crm/v7/Leads/42",
        None,
        Some(json!({"data": [{}]})),
    )
    .expect("a record write");
    assert_eq!(write.module, "Leads");
    assert_eq!(write.operation, Operation::Update);
    assert_eq!(write.ids, vec!["42"]);
    assert_eq!(write.read_path("42"), "/crm/v7/Leads/42");
    assert_eq!(writes.record_path("Leads", "42"), "/crm/v8/Leads/42");
}

#[test]
fn a_bulk_update_names_every_id_of_its_body_as_strings_and_integers() {
    let policy = zoho();
    let writes = policy.record_writes().expect("[changes]");
    let body = json!({"data": [{"id": "1"}, {"id": 4150868000000225013_u64}], "trigger": []});
    let write = classify(writes, "PUT", "/crm/v8/Deals", None, Some(body)).expect("a write");
    assert_eq!(write.operation, Operation::Update);
    assert_eq!(write.ids, vec!["1", "4150868000000225013"]);
}

#[test]
fn a_bulk_update_whose_records_cannot_be_named_is_an_error_not_a_pass() {
    let policy = zoho();
    let writes = policy.record_writes().expect("[changes]");
    let no_id = json!({"data": [{"id": "1"}, {"Last_Name": "x"}]});
    assert!(
        writes
            .classify("PUT", "/crm/v8/Deals", None, Some(&no_id))
            .is_err()
    );
    assert!(writes.classify("PUT", "/crm/v8/Deals", None, None).is_err());
    assert!(
        writes
            .classify("DELETE", "/crm/v8/Deals", Some("fields=x"), None)
            .is_err()
    );
}

#[test]
fn an_id_that_is_not_one_plain_path_segment_is_refused_not_read() {
    let policy = zoho();
    let writes = policy.record_writes().expect("[changes]");
    for id in ["../settings/x", "1/2", "1?x=2", "..", "1%2F2", "a b", "1#x"] {
        let body = json!({"data": [{"id": id}]});
        assert!(
            writes
                .classify("PUT", "/crm/v8/Leads", None, Some(&body))
                .is_err(),
            "{id}"
        );
        let query = format!(
            "ids=1,{}",
            id.replace('%', "%25")
                .replace('#', "%23")
                .replace('&', "%26")
        );
        assert!(
            writes
                .classify("DELETE", "/crm/v8/Leads", Some(&query), None)
                .is_err(),
            "{id}"
        );
    }
    let answer = json!({"data": [{"details": {"id": "../x"}}, {"details": {"id": "7"}}]});
    let create = classify(writes, "POST", "/crm/v8/Leads", None, None).expect("a write");
    assert_eq!(create.created_ids(&answer), vec!["7"]);
}

#[test]
fn deletes_name_their_records_from_the_path_or_the_ids_parameter() {
    let policy = zoho();
    let writes = policy.record_writes().expect("[changes]");
    let one = classify(writes, "DELETE", "/crm/v8/Leads/7", None, None).expect("a write");
    assert_eq!(
        (one.operation, one.ids),
        (Operation::Delete, vec!["7".to_owned()])
    );
    let many = classify(
        writes,
        "DELETE",
        "/crm/v8/Leads",
        Some("ids=7,8%2C9&wf_trigger=false"),
        None,
    )
    .expect("a write");
    assert_eq!(many.ids, vec!["7", "8", "9"]);
}

#[test]
fn a_create_takes_its_ids_from_the_answer() {
    let policy = zoho();
    let writes = policy.record_writes().expect("[changes]");
    let write = classify(
        writes,
        "POST",
        "/crm/v8/Leads",
        None,
        Some(json!({"data": [{}]})),
    )
    .expect("a write");
    assert_eq!(write.operation, Operation::Create);
    assert!(write.ids.is_empty());
    assert!(write.ids_from_answer());
    let answer = json!({"data": [
        {"code": "SUCCESS", "status": "success", "details": {"id": "555"}},
        {"code": "INVALID_DATA", "status": "error", "details": {}},
        {"code": "SUCCESS", "status": "success", "details": {"id": 556}},
    ]});
    assert_eq!(write.created_ids(&answer), vec!["555", "556"]);
}

#[test]
fn reads_and_routes_that_are_no_record_write_are_not_captured() {
    let policy = zoho();
    let writes = policy.record_writes().expect("[changes]");
    let body = Some(json!({"data": [{"id": "1"}]}));
    for (method, path) in [
        ("GET", "/crm/v8/Leads/1"),
        ("GET", "/crm/v8/Leads"),
        ("POST", "/crm/v8/coql"),
        ("POST", "/crm/v8/users"),
        ("PUT", "/crm/v8/users/1"),
        ("PUT", "/crm/v8/org/currencies"),
        ("PUT", "/crm/v8/settings/modules"),
        ("PUT", "/crm/v8/Contacts/roles"),
        ("POST", "/crm/v8/Leads/upsert"),
        ("POST", "/crm/v8/__composite_requests"),
        ("POST", "/crm/v8/Leads/1/actions/convert"),
        ("PUT", "/crm/x/Leads/1"),
    ] {
        assert_eq!(
            classify(writes, method, path, None, body.clone()),
            None,
            "{method} {path}"
        );
    }
}

#[test]
fn composite_sub_requests_are_classified_one_by_one() {
    let policy = zoho();
    let writes = policy.record_writes().expect("[changes]");
    assert!(writes.is_composite("POST", "/crm/v8/__composite_requests"));
    assert!(!writes.is_composite("POST", "/crm/v8/Leads"));
    let body = json!({"__composite_requests": [
        {"sub_request_id": "1", "method": "GET", "uri": "/crm/v8/Leads/1"},
        {"sub_request_id": "2", "method": "PUT", "uri": "/crm/v8/Leads/2", "body": {"data": [{"Last_Name": "x"}]}},
        {"sub_request_id": "3", "method": "DELETE", "uri": "/crm/v8/Deals", "params": {"ids": "5,6"}},
        {"sub_request_id": "4", "method": "POST", "uri": "/crm/v8/Contacts", "body": {"data": [{}]}},
    ]});
    let found = writes.classify_composite(&body).expect("named");
    let summary: Vec<(usize, Operation, Vec<String>)> = found
        .into_iter()
        .map(|(i, w)| (i, w.operation, w.ids))
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, Operation::Update, vec!["2".to_owned()]),
            (2, Operation::Delete, vec!["5".to_owned(), "6".to_owned()]),
            (3, Operation::Create, vec![]),
        ]
    );
    let answer = json!({"__composite_requests": [
        {"code": 200, "body": {}},
        {"code": "202", "body": {"data": []}},
    ]});
    assert_eq!(
        writes.composite_answer(&answer, 1).map(|(s, _)| s),
        Some(202)
    );
    assert_eq!(writes.composite_answer(&answer, 2), None);
}

#[test]
fn a_read_finds_the_record_its_absence_or_a_failure() {
    let policy = zoho();
    let writes = policy.record_writes().expect("[changes]");
    let found = writes.read_outcome(200, br#"{"data":[{"id":"1","Last_Name":"x"}]}"#);
    let ReadOutcome::Found(record) = found else {
        panic!("{found:?}");
    };
    assert_eq!(record["Last_Name"], "x");
    assert_eq!(writes.read_outcome(204, b""), ReadOutcome::Absent);
    let invalid = br#"{"data":[{"code":"INVALID_DATA","status":"error","details":{}}]}"#;
    assert_eq!(writes.read_outcome(400, invalid), ReadOutcome::Absent);
    for (status, body) in [
        (500, &b"{}"[..]),
        (401, br#"{"code":"INVALID_TOKEN"}"#),
        (200, b"not json"),
        (200, br#"{"data":[]}"#),
        (200, br#"{"data":[{"status":"error","code":"X"}]}"#),
    ] {
        assert!(
            matches!(writes.read_outcome(status, body), ReadOutcome::Failed(_)),
            "{status} {body:?}"
        );
    }
}

#[test]
fn the_zoho_system_fields_are_left_out() {
    let policy = zoho();
    let system = policy.record_writes().expect("[changes]").system_fields();
    assert!(system.contains("Modified_Time"));
    assert!(system.contains("$approval_state"));
    assert!(!system.contains("Last_Name"));
    assert_eq!(
        policy
            .record_writes()
            .expect("[changes]")
            .read_concurrency(),
        4
    );
}

#[test]
fn a_changes_section_that_cannot_be_used_is_refused_naming_the_key() {
    let base = include_str!("../../../config/policy/zoho-crm-v8.toml");
    for (from, to, at) in [
        (
            "read = \"/crm/v{N}/{module}/{id}\"",
            "read = \"/crm/v{N}/{module}\"",
            "changes.read",
        ),
        (
            "operation = \"create\"\nids = { from = \"answer\"",
            "operation = \"update\"\nids = { from = \"answer\"",
            "changes.write[0]",
        ),
        (
            "method = \"POST\"\npath = \"/crm/v{N}/{module}\"",
            "method = \"GET\"\npath = \"/crm/v{N}/{module}\"",
            "changes.write[0]",
        ),
    ] {
        assert!(base.contains(from), "{from}");
        let text = base.replacen(from, to, 1);
        let error = Policy::from_toml_str(&text)
            .expect_err("refused")
            .to_string();
        assert!(error.contains(at), "{error}");
    }
}
