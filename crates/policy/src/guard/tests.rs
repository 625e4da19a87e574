use super::*;
use serde_json::json;

const SUPPORT: u64 = 4_150_868_000_000_225_013;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

#[test]
fn ids_match_as_integers_and_strings_but_not_as_other_numbers() {
    assert!(id_matches(&json!(SUPPORT), SUPPORT));
    assert!(id_matches(&json!("4150868000000225013"), SUPPORT));
    assert!(id_matches(&json!(" +04150868000000225013 "), SUPPORT));
    assert!(!id_matches(&json!(SUPPORT - 1), SUPPORT));
    assert!(!id_matches(&json!("4150868000000225014"), SUPPORT));
    assert!(!id_matches(&json!("4150868000000225013x"), SUPPORT));
    assert!(!id_matches(&json!(-1), SUPPORT));
    assert!(!id_matches(&json!(null), SUPPORT));
    assert!(!id_matches(&json!(""), SUPPORT));
    // Two ids that only differ past f64 precision stay different.
    let neighbour: serde_json::Value = serde_json::from_str("4150868000000225012").unwrap();
    assert!(!id_matches(&neighbour, SUPPORT));
}

#[test]
fn a_float_near_a_forbidden_id_counts_as_that_id() {
    let float: serde_json::Value = serde_json::from_str("4.150868000000225013e18").unwrap();
    assert!(float.is_f64());
    assert!(id_matches(&float, SUPPORT));
    assert!(!id_matches(&json!(1.5), SUPPORT));
}

#[test]
fn assignments_are_found_at_any_depth_in_any_spelling() {
    let keys = vec![
        "owner".to_owned(),
        "assign_to".to_owned(),
        "transfer".to_owned(),
    ];
    let ids = [SUPPORT];
    for body in [
        json!({"data": [{"Owner": {"id": SUPPORT}}]}),
        json!({"data": [{"a": 1}, {"OWNER": {"ID": "4150868000000225013"}}]}),
        json!({"owner": SUPPORT.to_string()}),
        json!({"data": [{"assign_to": [{"id": SUPPORT}]}]}),
        json!({"transfer": {"id": SUPPORT, "records": true}}),
        json!({"x": {"y": [{"owner": {"id": "@{1:$.users[0].id}"}}]}}),
    ] {
        assert!(find_assignment(&body, &keys, &ids).is_some(), "{body}");
    }
    for body in [
        json!({"data": [{"Owner": {"id": 1}}]}),
        json!({"data": [{"Created_By": {"id": SUPPORT}}]}),
        json!({"owner_name": SUPPORT}),
    ] {
        assert!(find_assignment(&body, &keys, &ids).is_none(), "{body}");
    }
}

#[test]
fn the_date_guard_allows_exactly_five_years_and_refuses_one_second_more() {
    let now = at("2026-01-15T10:00:00Z");
    let ok = |s: &str| find_far_date(&json!({"data": [{"d": s}]}), now, 5).is_none();
    assert!(ok("2031-01-15"));
    assert!(ok("2031-01-15T10:00:00Z"));
    assert!(ok("2031-01-15T11:00:00+01:00"));
    assert!(ok("2031-01-15T10:00:00"));
    assert!(ok("2030-12-31T23:59:59Z"));
    assert!(!ok("2031-01-16"));
    assert!(!ok("2031-01-15T10:00:01Z"));
    assert!(!ok("2031-01-15T10:00:01"));
    assert!(!ok("2031-01-15T09:00:01-01:00"));
    assert!(!ok("2099-01-01T00:00:00+05:30"));
    assert!(!ok("2099-01-01 plan"));
    // Not dates.
    assert!(ok("2099"));
    assert!(ok("20990101"));
    assert!(ok("2099-13-01"));
    assert!(ok("on 2099-01-01"));
    assert!(ok("2099-01-01x"));
}

#[test]
fn the_date_guard_reads_nested_values_but_not_keys() {
    let now = at("2026-01-15T10:00:00Z");
    let nested = json!({"data": [{"sub": {"list": [{"Due": "2040-01-01"}]}}]});
    assert_eq!(
        find_far_date(&nested, now, 5).as_deref(),
        Some("2040-01-01")
    );
    let key_only = json!({"2040-01-01": "x"});
    assert!(find_far_date(&key_only, now, 5).is_none());
}

#[test]
fn the_owner_rewrite_replaces_every_spelling_of_owner_in_every_record() {
    let out = rewrite_owner(
        br#"{"data":[{"Last_Name":"A","owner":{"id":1}},{"Last_Name":"B"}],"trigger":["workflow"]}"#,
        SupportUserId::from_u64(SUPPORT),
    )
    .unwrap();
    let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
    for record in value["data"].as_array().unwrap() {
        assert_eq!(record["Owner"], json!({"id": "4150868000000225013"}));
        assert!(record.get("owner").is_none());
    }
    assert_eq!(value["trigger"], json!(["workflow"]));
}

#[test]
fn the_owner_rewrite_refuses_bodies_that_are_not_record_lists() {
    let support = SupportUserId::from_u64(SUPPORT);
    for body in [
        &br#"{"data": {}}"#[..],
        br#"[1]"#,
        br#"{"data":[1]}"#,
        br#"{}"#,
    ] {
        assert_eq!(
            rewrite_owner(body, support).unwrap_err().code(),
            "body_shape_unsupported"
        );
    }
    assert_eq!(
        rewrite_owner(b"{", support).unwrap_err().code(),
        "malformed_json"
    );
}
