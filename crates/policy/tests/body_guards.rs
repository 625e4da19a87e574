//! (g) Body guards through the public API, on the Zoho policy.
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Utc};
use support_access_core::SupportUserId;
use support_access_policy::{
    BodyOutcome, BodyRefusal, Decision, Policy, RefusalKind, SupportContext, normalise_target,
};

const SUPPORT: u64 = 4_150_868_000_000_225_013;

fn policy() -> Policy {
    Policy::from_toml_str(include_str!("../../../config/policy/zoho-crm-v8.toml")).unwrap()
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-15T10:00:00Z")
        .unwrap()
        .to_utc()
}

fn ctx() -> SupportContext {
    SupportContext {
        support_user: SupportUserId::from_u64(SUPPORT),
        now: now(),
    }
}

fn decision(policy: &Policy, method: &str, path: &str) -> Decision {
    let decision = policy.decide(method, &normalise_target(path).unwrap());
    assert!(decision.is_allowed(), "{method} {path}: {decision:?}");
    decision
}

fn support(method: &str, path: &str, body: &str) -> Result<BodyOutcome, BodyRefusal> {
    let policy = policy();
    let decision = decision(&policy, method, path);
    policy.apply_support_guards(&decision, body.as_bytes(), &ctx())
}

fn rewritten(outcome: BodyOutcome) -> serde_json::Value {
    match outcome {
        BodyOutcome::Rewritten(bytes) => serde_json::from_slice(&bytes).unwrap(),
        BodyOutcome::Unchanged => panic!("expected a rewrite"),
    }
}

#[test]
fn record_creation_gets_the_support_user_as_owner_on_every_creation_route() {
    for (method, path) in [
        ("POST", "/crm/v8/Leads"),
        ("POST", "/crm/v8/leads"),
        ("POST", "/crm/v2/Notes"),
        ("POST", "/crm/v8/Contacts/upsert"),
        ("POST", "/crm/v8/Deals/1/actions/clone"),
    ] {
        let body = r#"{"data":[{"Last_Name":"A","Owner":{"id":1}},{"Last_Name":"B"}],"trigger":["workflow"]}"#;
        let value = rewritten(support(method, path, body).unwrap());
        for record in value["data"].as_array().unwrap() {
            assert_eq!(record["Owner"]["id"], SUPPORT.to_string(), "{path}");
        }
    }
}

#[test]
fn an_explicit_support_owner_on_creation_is_not_an_assignment_refusal() {
    let body = format!(r#"{{"data":[{{"Last_Name":"A","Owner":{{"id":{SUPPORT}}}}}]}}"#);
    assert!(support("POST", "/crm/v8/Leads", &body).is_ok());
}

#[test]
fn assigning_records_to_the_support_user_is_refused_as_integer_or_string() {
    for (method, path, body) in [
        (
            "PUT",
            "/crm/v8/Leads/1",
            format!(r#"{{"data":[{{"Owner":{{"id":{SUPPORT}}}}}]}}"#),
        ),
        (
            "PUT",
            "/crm/v8/Leads",
            format!(r#"{{"data":[{{"id":"1","Owner":{{"id":"{SUPPORT}"}}}}]}}"#),
        ),
        (
            "POST",
            "/crm/v8/Leads/1/actions/change_owner",
            format!(r#"{{"owner":{{"id":"{SUPPORT}"}},"notify":true}}"#),
        ),
        (
            "POST",
            "/crm/v8/Leads/actions/mass_change_owner",
            format!(r#"{{"owner":{{"id":{SUPPORT}}},"cvid":"1"}}"#),
        ),
        (
            "POST",
            "/crm/v8/Leads/1/actions/convert",
            format!(r#"{{"data":[{{"assign_to":{{"id":{SUPPORT}}}}}]}}"#),
        ),
        (
            "POST",
            "/crm/v8/Leads/actions/mass_convert",
            format!(r#"{{"ids":["1"],"assign_to":{{"id":"{SUPPORT}"}}}}"#),
        ),
        (
            "POST",
            "/crm/v8/Leads/actions/mass_update",
            format!(r#"{{"ids":["1"],"data":[{{"Owner":"{SUPPORT}"}}]}}"#),
        ),
        (
            "PUT",
            "/crm/v8/Notes/1",
            format!(r#"{{"data":[{{"Owner":{{"id":{SUPPORT}}}}}]}}"#),
        ),
    ] {
        let refusal = support(method, path, &body).unwrap_err();
        assert_eq!(refusal.code(), "assignment_to_support_user", "{path}");
        assert_eq!(
            (refusal.restriction, refusal.kind),
            (Some(17), RefusalKind::Forbidden)
        );
    }
}

#[test]
fn ordinary_traffic_may_not_assign_to_an_active_support_user() {
    let policy = policy();
    let active = [SupportUserId::from_u64(SUPPORT)];
    let assign = format!(r#"{{"owner":{{"id":{SUPPORT}}}}}"#);
    for (method, path) in [
        ("POST", "/crm/v8/Leads/1/actions/change_owner"),
        ("POST", "/crm/v8/users/actions/transfer_and_delete"),
        ("POST", "/crm/v8/settings/webforms"),
        ("PUT", "/crm/v8/Leads/1"),
        ("POST", "/crm/v8/Leads%2F1/actions/change_owner"),
        ("POST", "/crm/v8/Leads/1/actions/change_owner.json"),
        ("POST", "/crm/x/v8/Leads/1/actions/change_owner"),
    ] {
        assert!(policy.ordinary_needs_body(method, path), "{path}");
        let refusal = policy
            .check_ordinary_body(method, path, assign.as_bytes(), &active)
            .unwrap_err();
        assert_eq!(refusal.code(), "assignment_to_support_user");
    }
    // Other owners, no active grant, reads and unrelated routes pass untouched.
    assert!(
        policy
            .check_ordinary_body(
                "PUT",
                "/crm/v8/Leads/1",
                br#"{"data":[{"Owner":{"id":5}}]}"#,
                &active
            )
            .is_ok()
    );
    assert!(
        policy
            .check_ordinary_body("PUT", "/crm/v8/Leads/1", assign.as_bytes(), &[])
            .is_ok()
    );
    assert!(!policy.ordinary_needs_body("GET", "/crm/v8/Leads"));
    assert!(!policy.ordinary_needs_body("POST", "/crm/v8/Leads/1/Attachments"));
    assert!(!policy.ordinary_needs_body("POST", "/crm/v8/coql"));
    // A composite call is scanned whole.
    let composite = format!(
        r#"{{"__composite_requests":[{{"method":"PUT","uri":"/crm/v8/Leads/1","body":{{"data":[{{"Owner":{{"id":"{SUPPORT}"}}}}]}}}}]}}"#
    );
    assert!(policy.ordinary_needs_body("POST", "/crm/v8/__composite_requests"));
    assert!(
        policy
            .check_ordinary_body(
                "POST",
                "/crm/v8/__composite_requests",
                composite.as_bytes(),
                &active
            )
            .is_err()
    );
    // Malformed JSON is refused on assignment routes only.
    assert_eq!(
        policy
            .check_ordinary_body("PUT", "/crm/v8/Leads/1", b"{", &active)
            .unwrap_err()
            .code(),
        "malformed_json"
    );
    assert!(
        policy
            .check_ordinary_body("POST", "/crm/v8/Leads/1/Attachments", b"\x89PNG", &active)
            .is_ok()
    );
}

#[test]
fn dates_up_to_exactly_five_years_ahead_pass_and_later_ones_are_refused() {
    let ok = |value: &str| {
        support(
            "PUT",
            "/crm/v8/Deals/1",
            &format!(r#"{{"data":[{{"Closing_Date":"{value}"}}]}}"#),
        )
    };
    assert!(ok("2031-01-15").is_ok());
    assert!(ok("2031-01-15T10:00:00Z").is_ok());
    assert!(ok("2031-01-15T15:30:00+05:30").is_ok());
    let refusal = ok("2031-01-16").unwrap_err();
    assert_eq!(
        (refusal.code(), refusal.restriction),
        ("date_too_far_ahead", Some(20))
    );
    assert!(ok("2031-01-15T10:00:01Z").is_err());
    let nested = r#"{"data":[{"Subform":[{"Due":{"at":"2040-05-05T00:00:00Z"}}]}]}"#;
    assert!(support("POST", "/crm/v8/Leads", nested).is_err());
    assert!(
        support(
            "POST",
            "/crm/v8/Leads/actions/mass_update",
            r#"{"ids":["1"],"data":[{"Due":"2099-01-01"}]}"#
        )
        .is_err()
    );
}

#[test]
fn big_integer_ids_never_go_through_floating_point() {
    // Neighbouring ids that a double cannot tell apart stay apart.
    let neighbour = SUPPORT - 1;
    let body = format!(r#"{{"owner":{{"id":{neighbour}}}}}"#);
    assert!(support("POST", "/crm/v8/Leads/1/actions/change_owner", &body).is_ok());
    let body = format!(r#"{{"owner":{{"id":"{neighbour}"}}}}"#);
    assert!(support("POST", "/crm/v8/Leads/1/actions/change_owner", &body).is_ok());
    // The owner rewrite keeps other big integers exact.
    let body = r#"{"data":[{"Account_Name":{"id":4150868000000225012},"Amount":12.5}]}"#;
    let value = rewritten(support("POST", "/crm/v8/Deals", body).unwrap());
    assert_eq!(
        value["data"][0]["Account_Name"]["id"].as_u64(),
        Some(4_150_868_000_000_225_012)
    );
}

#[test]
fn malformed_json_duplicate_keys_and_wrong_shapes_are_clear_errors() {
    let code = |path: &str, body: &str| support("POST", path, body).unwrap_err();
    for body in ["{", "not json", "{\"data\": [}", "\u{0}", "{}{}"] {
        let refusal = code("/crm/v8/Leads", body);
        assert_eq!(
            (refusal.code(), refusal.kind),
            ("malformed_json", RefusalKind::BadRequest),
            "{body}"
        );
    }
    let duplicate = code(
        "/crm/v8/Leads/1/actions/change_owner",
        r#"{"owner":{"id":1},"owner":{"id":2}}"#,
    );
    assert_eq!(duplicate.code(), "ambiguous_body");
    assert_eq!(
        code("/crm/v8/Leads", r#"{"data":{}}"#).code(),
        "body_shape_unsupported"
    );
    assert_eq!(code("/crm/v8/Leads", "").code(), "body_required");
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    assert_eq!(code("/crm/v8/Leads", &deep).code(), "malformed_json");
}

#[test]
fn the_content_type_is_irrelevant_because_guards_take_bytes() {
    // The SDK sends no Content-Type; guards never ask for one. Same bytes, same answer.
    let body = format!(r#"{{"data":[{{"Owner":{{"id":{SUPPORT}}}}}]}}"#);
    let first = support("PUT", "/crm/v8/Leads/1", &body).unwrap_err();
    let second = support("PUT", "/crm/v8/Leads/1", &body).unwrap_err();
    assert_eq!(first, second);
}

#[test]
fn routes_without_guards_do_not_need_their_body_read() {
    let policy = policy();
    for (method, path) in [
        ("GET", "/crm/v8/Leads"),
        ("POST", "/crm/v8/Leads/1/Attachments"),
        ("POST", "/crm/v8/coql"),
        ("DELETE", "/crm/v8/Leads/1"),
    ] {
        let decision = decision(&policy, method, path);
        assert!(!decision.needs_body(), "{method} {path}");
        assert_eq!(
            policy
                .apply_support_guards(&decision, b"\xff not json", &ctx())
                .unwrap(),
            BodyOutcome::Unchanged
        );
    }
}
