use super::*;
use crate::guard::RefusalKind;
use support_access_core::SupportUserId;

fn policy() -> Policy {
    Policy::from_toml_str(include_str!("../../../../config/policy/zoho-crm-v8.toml")).unwrap()
}

fn ctx() -> SupportContext {
    SupportContext {
        support_user: SupportUserId::from_u64(77),
        now: chrono::DateTime::UNIX_EPOCH,
    }
}

fn check(body: serde_json::Value) -> Result<BodyOutcome, BodyRefusal> {
    let policy = policy();
    let target = normalise_target("/crm/v8/__composite_requests").unwrap();
    let decision = policy.decide("POST", &target);
    assert!(decision.has_guard(|g| *g == GuardKind::Composite));
    policy.check_composite_body(&decision, body.to_string().as_bytes(), &ctx())
}

fn sub(method: &str, uri: &str) -> serde_json::Value {
    serde_json::json!({"method": method, "uri": uri})
}

#[test]
fn allowed_sub_requests_pass_and_creation_bodies_get_the_support_owner() {
    let body = serde_json::json!({"__composite_requests": [
        sub("GET", "/crm/v8/Leads"),
        {"sub_request_id": "2", "method": "POST", "uri": "/crm/v8/Leads", "body": {"data": [{"Last_Name": "A"}]}},
    ], "parallel_execution": true});
    let BodyOutcome::Rewritten(bytes) = check(body).unwrap() else {
        panic!("expected a rewrite");
    };
    let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        value["__composite_requests"][1]["body"]["data"][0]["Owner"]["id"],
        "77"
    );
}

#[test]
fn one_denied_sub_request_refuses_the_whole_call() {
    let body = serde_json::json!({"__composite_requests": [
        sub("GET", "/crm/v8/Leads"),
        sub("POST", "/crm/v8/Leads/1/actions/send_mail"),
    ]});
    let refusal = check(body).unwrap_err();
    assert_eq!(refusal.code(), "composite_sub_request_denied");
    assert_eq!(refusal.restriction, Some(5));
    assert_eq!(refusal.kind, RefusalKind::Forbidden);
}

#[test]
fn sub_request_uris_go_through_the_normaliser_and_are_forwarded_canonical() {
    let refused = |uri: &str| {
        check(serde_json::json!({"__composite_requests": [sub("POST", uri)]}))
            .unwrap_err()
            .code()
    };
    assert_eq!(
        refused("/crm/v8/settings%2Faudit_log_export"),
        "encoded_slash"
    );
    assert_eq!(
        refused("/crm/v8/x/../settings/audit_log_export"),
        "dot_segment"
    );
    assert_eq!(
        refused("https://www.zohoapis.com/crm/v8/Leads"),
        "absolute_form_target"
    );
    assert_eq!(
        refused("/crm/x/v8/settings/audit_log_export"),
        "composite_sub_request_denied"
    );
    assert_eq!(
        refused("/crm/v8/@{1:$.data[0].x}/1/actions/send_mail"),
        "composite_reference_in_uri"
    );
    assert_eq!(refused("/crm/v8/__composite_requests"), "nested_composite");
    let BodyOutcome::Rewritten(bytes) =
        check(serde_json::json!({"__composite_requests": [sub("GET", "//crm/v8/%4Ceads/")]}))
            .unwrap()
    else {
        panic!("expected the canonical uri");
    };
    assert!(
        String::from_utf8(bytes)
            .unwrap()
            .contains(r#""uri":"/crm/v8/Leads""#)
    );
}

#[test]
fn unknown_shapes_methods_params_and_headers_are_refused() {
    let code = |body: serde_json::Value| check(body).unwrap_err().code();
    assert_eq!(
        code(serde_json::json!({"__composite_requests": []})),
        "composite_shape"
    );
    assert_eq!(
        code(serde_json::json!({"requests": [sub("GET", "/crm/v8/Leads")]})),
        "composite_shape"
    );
    let six: Vec<_> = (0..6).map(|_| sub("GET", "/crm/v8/Leads")).collect();
    assert_eq!(
        code(serde_json::json!({"__composite_requests": six})),
        "composite_shape"
    );
    assert_eq!(
        code(
            serde_json::json!({"__composite_requests": [{"method": "GET", "url": "/crm/v8/Leads"}]})
        ),
        "composite_shape"
    );
    assert_eq!(
        code(serde_json::json!({"__composite_requests": [sub("get", "/crm/v8/Leads")]})),
        "composite_shape"
    );
    assert_eq!(
        code(serde_json::json!({"__composite_requests": [sub("HEAD", "/crm/v8/Leads")]})),
        "composite_shape"
    );
    assert_eq!(
        code(
            serde_json::json!({"__composite_requests": [{"method": "GET", "uri": "/crm/v8/Leads", "params": {"_method": "DELETE"}}]})
        ),
        "method_override"
    );
    assert_eq!(
        code(
            serde_json::json!({"__composite_requests": [{"method": "GET", "uri": "/crm/v8/Leads", "headers": {"X-HTTP-Method-Override": "DELETE"}}]})
        ),
        "method_override"
    );
    assert_eq!(
        code(
            serde_json::json!({"__composite_requests": [{"method": "GET", "uri": "/crm/v8/Leads", "headers": {"Authorization": "x"}}]})
        ),
        "composite_header_refused"
    );
    assert_eq!(check_raw(b"not json").unwrap_err().code(), "malformed_json");
    assert_eq!(check_raw(b"").unwrap_err().code(), "body_required");
}

fn check_raw(body: &[u8]) -> Result<BodyOutcome, BodyRefusal> {
    let policy = policy();
    let decision = policy.decide(
        "POST",
        &normalise_target("/crm/v8/__composite_requests").unwrap(),
    );
    policy.check_composite_body(&decision, body, &ctx())
}

#[test]
fn sub_request_bodies_get_the_guards_of_their_own_route() {
    let assign = serde_json::json!({"__composite_requests": [
        {"method": "POST", "uri": "/crm/v8/Leads/1/actions/change_owner", "body": {"owner": {"id": 77}}},
    ]});
    assert_eq!(
        check(assign).unwrap_err().code(),
        "assignment_to_support_user"
    );
    let far = serde_json::json!({"__composite_requests": [
        {"method": "PUT", "uri": "/crm/v8/Leads/1", "body": {"data": [{"Due": "2099-01-01"}]}},
    ]});
    assert_eq!(check(far).unwrap_err().code(), "date_too_far_ahead");
    let other_user = serde_json::json!({"__composite_requests": [
        {"method": "PUT", "uri": "/crm/v8/users/78", "body": {"users": [{"id": 78}]}},
    ]});
    assert_eq!(check(other_user).unwrap_err().code(), "self_only");
}

fn check_approved(body: serde_json::Value) -> Result<BodyOutcome, BodyRefusal> {
    let policy = policy();
    let target = normalise_target("/crm/v8/__composite_requests").unwrap();
    let decision = policy.decide_under_approval("POST", &target);
    assert!(decision.approved && decision.is_allowed());
    policy.check_composite_body(&decision, body.to_string().as_bytes(), &ctx())
}

#[test]
fn an_approval_of_the_whole_call_lifts_its_approvable_sub_request_denials() {
    let body = serde_json::json!({"__composite_requests": [
        sub("GET", "/crm/v8/Leads"),
        sub("POST", "/crm/v8/Leads/1/actions/send_mail"),
    ]});
    let refused = check(body.clone()).unwrap_err();
    assert_eq!(refused.code, "composite_sub_request_denied");
    assert_eq!(refused.restriction, Some(5));
    check_approved(body).expect("approved as a whole");
}

#[test]
fn an_approval_never_lifts_a_never_approvable_sub_request() {
    let body = serde_json::json!({"__composite_requests": [
        sub("POST", "/crm/v8/Leads/1/actions/send_mail"),
        sub("GET", "/crm/v8/settings/audit_log_export"),
    ]});
    let refused = check_approved(body).unwrap_err();
    assert_eq!(refused.code, "composite_sub_request_denied");
    assert_eq!(refused.restriction, Some(9));
}
