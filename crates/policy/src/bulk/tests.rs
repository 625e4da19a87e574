use serde_json::json;

use super::*;

const SUPPORT: u64 = 4_150_868_000_000_225_013;

fn keys() -> Vec<String> {
    vec!["owner".to_owned(), "assign_to".to_owned()]
}

fn job(mappings: serde_json::Value) -> serde_json::Value {
    json!({"operation": "insert", "resource": [{"type": "data", "module": {"api_name": "Leads"},
        "file_id": "111", "field_mappings": mappings}]})
}

#[test]
fn an_owner_default_naming_the_support_user_is_an_assignment_in_any_shape() {
    for default in [
        json!({"value": "4150868000000225013"}),
        json!({"value": 4_150_868_000_000_225_013_u64}),
        json!("4_150_868_000_000_225_013"),
        json!({"id": "\u{FF14}150868000000225013"}),
        json!([{"value": "4.150868000000225013e18"}]),
    ] {
        for name in ["Owner", "OWNER", " owner ", "\u{0131}gnored"] {
            let body = job(json!([{"api_name": name, "default_value": default.clone()}]));
            let found = find_mapped_assignment(&body, &keys(), &[SUPPORT]);
            assert_eq!(
                found.is_some(),
                name != "\u{0131}gnored",
                "{name} {default}"
            );
        }
    }
    let other = job(json!([{"api_name": "Owner", "default_value": {"value": "111"}}]));
    assert!(find_mapped_assignment(&other, &keys(), &[SUPPORT]).is_none());
}

#[test]
fn support_may_map_the_owner_only_to_itself() {
    let problem = |mappings| support_owner_problem(&job(mappings), &keys(), SUPPORT);
    assert_eq!(
        problem(json!([{"api_name": "Last_Name", "index": 0}])),
        None
    );
    assert_eq!(
        problem(
            json!([{"api_name": "Owner", "find_by": "id", "default_value": {"value": SUPPORT.to_string()}}])
        ),
        None
    );
    for refused in [
        json!([{"api_name": "Owner", "default_value": {"value": "111"}}]),
        json!([{"api_name": "Owner", "index": 3}]),
        json!([{"api_name": "Owner", "index": 3, "default_value": {"value": SUPPORT}}]),
        json!([{"api_name": "Owner", "find_by": "email", "default_value": {"value": "a@b"}}]),
        json!([{"api_name": "owner"}]),
        json!([{"api_name": "Assign_To", "default_value": 4.150868000000225e18}]),
    ] {
        assert!(problem(refused.clone()).is_some(), "{refused}");
    }
    let unlisted = json!({"operation": "insert", "resource": [{"type": "data", "file_id": "1"}]});
    assert!(support_owner_problem(&unlisted, &keys(), SUPPORT).is_some());
    assert!(support_owner_problem(&json!({"operation": "insert"}), &keys(), SUPPORT).is_some());
}
