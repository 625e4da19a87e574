//! The attack families of issue 10, through the public API on the Zoho policy: each
//! family is generated (proptest), not one example. The e2e suite
//! (`tests/e2e/attacks.rs`) sends the same shapes over real sockets.
#![allow(clippy::unwrap_used)]

use std::sync::OnceLock;

use chrono::DateTime;
use proptest::prelude::*;
use serde_json::{Value, json};
use support_access_core::SupportUserId;
use support_access_policy::normalise::method_overrides;
use support_access_policy::{
    BodyOutcome, BodyRefusal, Guarded, Policy, RefusalKind, SupportContext, normalise_target,
};

const SUPPORT: u64 = 4_150_868_000_000_225_013;
const ADMIN: u64 = 4_150_868_000_000_000_001;

fn policy() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(|| {
        Policy::from_toml_str(include_str!("../../../config/policy/zoho-crm-v8.toml")).unwrap()
    })
}

fn ctx() -> SupportContext {
    SupportContext {
        support_user: SupportUserId::from_u64(SUPPORT),
        now: DateTime::parse_from_rfc3339("2026-01-15T10:00:00Z")
            .unwrap()
            .to_utc(),
    }
}

fn support(method: &str, path: &str, body: &str) -> Result<Guarded, BodyRefusal> {
    let decision = policy().decide(method, &normalise_target(path).unwrap());
    assert!(decision.is_allowed(), "{method} {path}: {decision:?}");
    policy().guard_support_body(&decision, body.as_bytes(), &ctx())
}

fn ordinary(method: &str, path: &str, body: &str) -> Result<(), BodyRefusal> {
    assert!(
        policy().ordinary_needs_body(method, path),
        "{method} {path} must be read"
    );
    policy().check_ordinary_body(
        method,
        path,
        body.as_bytes(),
        &[SupportUserId::from_u64(SUPPORT)],
    )
}

fn forwarded(guarded: &Guarded, original: &str) -> Value {
    match &guarded.outcome {
        BodyOutcome::Rewritten(bytes) => serde_json::from_slice(bytes).unwrap(),
        BodyOutcome::Unchanged => serde_json::from_str(original).unwrap(),
    }
}

/// `name` with its letters upper- or lower-cased by `pattern`, and `i` sometimes the
/// dotless `ı` (which Java's `equalsIgnoreCase` equates with `I`).
fn case_variant(name: &str, pattern: &[bool], dotless: bool) -> String {
    name.chars()
        .enumerate()
        .map(|(i, c)| {
            if c == 'i' && dotless {
                '\u{0131}'
            } else if pattern[i % pattern.len()] {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

/// The decimal digit sets the generators draw from (zero code points).
const ZEROS: [u32; 9] = [
    0x30, 0xFF10, 0x660, 0x6F0, 0x966, 0x9E6, 0xE50, 0x1D7CE, 0x1E950,
];

/// A lenient spelling of `id`: per-digit scripts, `_` separators, padding, sign, leading
/// zeros, or an exponent form; as a JSON string literal, `\u`-escaped or raw.
fn spelling(id: u64, scripts: &[u8], underscores: &[bool], form: u8, escape: bool) -> String {
    let digits = id.to_string();
    let mut text = String::new();
    for (i, b) in digits.bytes().enumerate() {
        let zero = ZEROS[usize::from(scripts[i % scripts.len()]) % ZEROS.len()];
        text.push(char::from_u32(zero + u32::from(b - b'0')).unwrap());
        if underscores[i % underscores.len()] && i + 1 < digits.len() {
            text.push('_');
        }
    }
    let text = match form % 5 {
        0 => text,
        1 => format!(" +{text}\u{3000}"),
        2 => format!("00{text}.0"),
        3 => format!("{}.{}e{}", &digits[..1], &digits[1..], digits.len() - 1),
        _ => format!("{digits}0e-1"),
    };
    let json = serde_json::to_string(&text).unwrap();
    if !escape {
        return json;
    }
    json.chars()
        .map(|c| {
            if c.is_ascii() {
                c.to_string()
            } else {
                let mut units = [0u16; 2];
                c.encode_utf16(&mut units)
                    .iter()
                    .map(|u| format!("\\u{u:04x}"))
                    .collect()
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------
// Item 1: restriction 2, another user's details behind a case-variant key.
// ---------------------------------------------------------------------------------

#[test]
fn a_users_update_with_case_variant_id_keys_is_ambiguous_and_refused() {
    for body in [
        format!(r#"{{"users":[{{"ID":"{SUPPORT}","id":"{ADMIN}","email":"x@evil.example"}}]}}"#),
        format!(r#"{{"users":[{{"id":"{SUPPORT}","Id":"{ADMIN}"}}]}}"#),
        format!(r#"{{"users":[{{"id":"{SUPPORT}","\u0131d":"{ADMIN}"}}]}}"#),
        format!(r#"{{"users":[{{"id":"{SUPPORT}"}}],"USERS":[{{"id":"{ADMIN}"}}]}}"#),
    ] {
        let refused = support("PUT", "/crm/v8/users", &body).unwrap_err();
        assert_eq!(
            (refused.code, refused.kind),
            ("ambiguous_body", RefusalKind::BadRequest),
            "{body}"
        );
    }
    let lone_upper = format!(r#"{{"users":[{{"ID":"{ADMIN}"}}]}}"#);
    assert_eq!(
        support("PUT", "/crm/v8/users", &lone_upper)
            .unwrap_err()
            .code,
        "self_only"
    );
    let own = format!(r#"{{"users":[{{"ID":"{SUPPORT}","email":"me@vendor.example"}}]}}"#);
    assert!(support("PUT", "/crm/v8/users", &own).is_ok());
    let float = format!(r#"{{"users":[{{"id":{SUPPORT}.0}}]}}"#);
    assert_eq!(
        support("PUT", "/crm/v8/users", &float).unwrap_err().code,
        "self_only",
        "a float is never surely the support user"
    );
}

#[test]
fn a_composite_users_update_with_case_variant_id_keys_is_refused() {
    let body = format!(
        r#"{{"__composite_requests":[{{"method":"PUT","uri":"/crm/v8/users","body":{{"users":[{{"ID":"{SUPPORT}","id":"{ADMIN}"}}]}}}}]}}"#
    );
    assert_eq!(
        support("POST", "/crm/v8/__composite_requests", &body)
            .unwrap_err()
            .code,
        "ambiguous_body"
    );
    let string_body = format!(
        r#"{{"__composite_requests":[{{"method":"PUT","uri":"/crm/v8/users","body":"{{\"users\":[{{\"id\":\"{ADMIN}\"}}]}}"}}]}}"#
    );
    assert_eq!(
        support("POST", "/crm/v8/__composite_requests", &string_body)
            .unwrap_err()
            .code,
        "composite_shape"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn every_case_variant_of_the_id_key_beside_another_is_refused(
        pattern in proptest::collection::vec(any::<bool>(), 2),
        dotless in any::<bool>(),
        first_support in any::<bool>(),
        composite in any::<bool>(),
    ) {
        let variant = case_variant("id", &pattern, dotless);
        prop_assume!(variant != "id");
        let (a, b) = if first_support { (SUPPORT, ADMIN) } else { (ADMIN, SUPPORT) };
        let users = format!(r#"{{"users":[{{"{variant}":"{a}","id":"{b}"}}]}}"#);
        let refused = if composite {
            let body = format!(r#"{{"__composite_requests":[{{"method":"PUT","uri":"/crm/v8/users/{SUPPORT}","body":{users}}}]}}"#);
            support("POST", "/crm/v8/__composite_requests", &body).unwrap_err()
        } else {
            support("PUT", "/crm/v8/users", &users).unwrap_err()
        };
        prop_assert_eq!(refused.code, "ambiguous_body");
    }

    #[test]
    fn a_lone_id_key_in_any_case_must_surely_be_the_support_user(
        pattern in proptest::collection::vec(any::<bool>(), 2),
        dotless in any::<bool>(),
        array_pattern in proptest::collection::vec(any::<bool>(), 5),
    ) {
        let key = case_variant("id", &pattern, dotless);
        let users = case_variant("users", &array_pattern, false);
        let admin = format!(r#"{{"{users}":[{{"{key}":"{ADMIN}"}}]}}"#);
        prop_assert_eq!(support("PUT", "/crm/v8/users", &admin).unwrap_err().code, "self_only");
        let own = format!(r#"{{"{users}":[{{"{key}":"{SUPPORT}"}}]}}"#);
        prop_assert!(support("PUT", "/crm/v8/users", &own).is_ok());
    }
}

// ---------------------------------------------------------------------------------
// Item 3: restriction 17, other spellings of the support user's id.
// ---------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn change_owner_to_any_spelling_of_the_support_user_is_refused_for_every_caller(
        scripts in proptest::collection::vec(any::<u8>(), 1..6),
        underscores in proptest::collection::vec(any::<bool>(), 1..6),
        form in any::<u8>(),
        escape in any::<bool>(),
        owner_pattern in proptest::collection::vec(any::<bool>(), 5),
        bulk in any::<bool>(),
    ) {
        let id = spelling(SUPPORT, &scripts, &underscores, form, escape);
        let owner = case_variant("owner", &owner_pattern, false);
        let path = if bulk { "/crm/v8/Leads/actions/change_owner" } else { "/crm/v8/Leads/42/actions/change_owner" };
        let body = format!(r#"{{"{owner}":{{"id":{id}}},"notify":false}}"#);
        let refused = ordinary("POST", path, &body).unwrap_err();
        prop_assert_eq!(refused.code, "assignment_to_support_user", "{}", body);
        let refused = support("POST", path, &body).unwrap_err();
        prop_assert_eq!(refused.code, "assignment_to_support_user", "{}", body);
        // The same spelling of another user's id passes.
        let other = spelling(ADMIN, &scripts, &underscores, form, escape);
        let body = format!(r#"{{"{owner}":{{"id":{other}}}}}"#);
        prop_assert!(ordinary("POST", path, &body).is_ok(), "{}", body);
    }

    #[test]
    fn lar_id_naming_the_support_user_is_refused_and_support_may_not_apply_rules(
        scripts in proptest::collection::vec(any::<u8>(), 1..4),
        underscores in proptest::collection::vec(any::<bool>(), 1..4),
        form in any::<u8>(),
    ) {
        let id = spelling(SUPPORT, &scripts, &underscores, form, false);
        let body = format!(r#"{{"data":[{{"Last_Name":"A"}}],"lar_id":{id}}}"#);
        prop_assert_eq!(ordinary("POST", "/crm/v8/Leads", &body).unwrap_err().code, "assignment_to_support_user");
        let rule = r#"{"data":[{"Last_Name":"A"}],"lar_id":"3652397000000190011"}"#;
        prop_assert!(ordinary("POST", "/crm/v8/Leads", rule).is_ok());
        prop_assert_eq!(support("POST", "/crm/v8/Leads", rule).unwrap_err().code, "forbidden_body_key");
    }
}

// ---------------------------------------------------------------------------------
// Item 4: bulk write field mappings.
// ---------------------------------------------------------------------------------

fn bulk_job(mapping: &str) -> String {
    format!(
        r#"{{"operation":"insert","resource":[{{"type":"data","module":{{"api_name":"Leads"}},"file_id":"1","field_mappings":[{{"api_name":"Last_Name","index":0}},{mapping}]}}]}}"#
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn a_bulk_write_mapping_owner_to_the_support_user_is_refused_for_every_caller(
        scripts in proptest::collection::vec(any::<u8>(), 1..4),
        underscores in proptest::collection::vec(any::<bool>(), 1..4),
        form in any::<u8>(),
        shape in 0u8..3,
        name_pattern in proptest::collection::vec(any::<bool>(), 5),
    ) {
        let id = spelling(SUPPORT, &scripts, &underscores, form, false);
        let default = match shape {
            0 => format!(r#"{{"value":{id}}}"#),
            1 => id.clone(),
            _ => format!(r#"{{"value":{SUPPORT}}}"#),
        };
        let name = case_variant("owner", &name_pattern, false);
        let body = bulk_job(&format!(r#"{{"api_name":"{name}","default_value":{default}}}"#));
        prop_assert_eq!(ordinary("POST", "/crm/bulk/v8/write", &body).unwrap_err().code, "assignment_to_support_user");
    }
}

#[test]
fn a_support_bulk_write_may_map_the_owner_only_to_itself() {
    let own = bulk_job(&format!(
        r#"{{"api_name":"Owner","default_value":{{"value":"{SUPPORT}"}}}}"#
    ));
    assert!(support("POST", "/crm/bulk/v8/write", &own).is_ok());
    assert!(
        support(
            "POST",
            "/crm/bulk/v8/write",
            &bulk_job(r#"{"api_name":"First_Name","index":1}"#)
        )
        .is_ok()
    );
    for mapping in [
        format!(r#"{{"api_name":"Owner","default_value":{{"value":"{ADMIN}"}}}}"#),
        r#"{"api_name":"Owner","index":2}"#.to_owned(),
        r#"{"api_name":"Owner","find_by":"email","default_value":{"value":"a@b.example"}}"#
            .to_owned(),
    ] {
        let refused = support("POST", "/crm/bulk/v8/write", &bulk_job(&mapping)).unwrap_err();
        assert_eq!(
            (refused.code, refused.restriction),
            ("bulk_owner_mapping", Some(17)),
            "{mapping}"
        );
    }
    let unlisted = r#"{"operation":"insert","resource":[{"type":"data","module":{"api_name":"Leads"},"file_id":"1"}]}"#;
    assert_eq!(
        support("POST", "/crm/bulk/v8/write", unlisted)
            .unwrap_err()
            .code,
        "bulk_owner_mapping"
    );
}

// ---------------------------------------------------------------------------------
// Item 6: method overrides on ordinary traffic.
// ---------------------------------------------------------------------------------

#[test]
fn an_ordinary_get_overridden_to_post_is_guarded_as_post() {
    let path = "/crm/v8/Leads/42/actions/change_owner";
    assert!(!policy().ordinary_needs_body("GET", path));
    for (name, value) in [
        ("X-HTTP-Method-Override", "POST"),
        ("x-http-method", "post"),
        ("X-Method-Override", " Post "),
        ("X_HTTP_Method_Override", "POST"),
    ] {
        let methods = method_overrides([(name, value)], None, None);
        assert_eq!(methods, ["POST"], "{name}");
        assert!(
            methods
                .iter()
                .any(|m| policy().ordinary_needs_body(m, path))
        );
    }
    for query in [
        "_method=POST",
        "x=1;_method=post",
        "%5Fmethod=POST",
        "_METHOD=POST",
    ] {
        assert_eq!(method_overrides([], Some(query), None), ["POST"], "{query}");
    }
    assert_eq!(
        method_overrides([], None, Some(b"a=1&_method=POST")),
        ["POST"]
    );
}

// ---------------------------------------------------------------------------------
// Item 8: rule specificity.
// ---------------------------------------------------------------------------------

#[test]
fn the_reads_by_post_of_data_sharing_stay_allowed_while_its_writes_stay_denied() {
    for path in [
        "/crm/v8/settings/data_sharing/rules/search",
        "/crm/v8/settings/data_sharing/rules/actions/summary",
        "/crm/v2/Settings/Data_Sharing/Rules/Search",
    ] {
        let decision = policy().decide("POST", &normalise_target(path).unwrap());
        assert!(decision.is_allowed(), "{path}: {decision:?}");
        assert_eq!(
            decision.rule.as_deref(),
            Some("allow-data-sharing-reads-by-post")
        );
        let explained = policy().explain("POST", path);
        assert_eq!(explained.outcome(), "allowed");
    }
    for (method, path) in [
        ("PUT", "/crm/v8/settings/data_sharing"),
        ("POST", "/crm/v8/settings/data_sharing/rules"),
        ("POST", "/crm/v8/settings/data_sharing/rules/actions/run"),
        ("DELETE", "/crm/v8/settings/data_sharing/rules/search"),
        (
            "PUT",
            "/crm/v8/settings/data_sharing/rules/1/actions/activate",
        ),
    ] {
        let decision = policy().decide(method, &normalise_target(path).unwrap());
        assert!(!decision.is_allowed(), "{method} {path}");
        assert_eq!(
            decision.rule.as_deref(),
            Some("r12-data-sharing"),
            "{method} {path}"
        );
    }
}

#[test]
fn on_equal_specificity_deny_wins_and_a_narrower_deny_beats_a_broader_allow() {
    let policy = Policy::from_toml_str(
        r#"
name = "t"
[refusal]
shape = "generic"
[api]
version_roots = ["/api"]
[defaults]
read = "allow"
write = "allow"
[guards]
assignment_keys = []
date_guard_years = 5
[[rule]]
id = "allow-x"
effect = "allow"
methods = ["POST"]
paths = ["/api/v{N}/x/{id}"]
[[rule]]
id = "deny-x"
effect = "deny"
methods = ["POST"]
paths = ["/api/v{N}/x/{item}"]
[[rule]]
id = "allow-tree"
effect = "allow"
methods = ["*"]
paths = ["/api/v{N}/tree/{*rest}"]
[[rule]]
id = "deny-leaf"
effect = "deny"
methods = ["*"]
paths = ["/api/v{N}/tree/leaf"]
"#,
    )
    .unwrap();
    let decide = |method: &str, path: &str| policy.decide(method, &normalise_target(path).unwrap());
    assert_eq!(
        decide("POST", "/api/v1/x/1").rule.as_deref(),
        Some("deny-x")
    );
    assert!(!decide("POST", "/api/v1/x/1").is_allowed());
    assert!(!decide("GET", "/api/v1/tree/leaf").is_allowed());
    assert!(decide("GET", "/api/v1/tree/other").is_allowed());
}

// ---------------------------------------------------------------------------------
// Item 9: side effects through flags, rewritten and listed.
// ---------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn support_record_writes_never_forward_a_workflow_trigger(
        route in 0usize..4,
        trigger in proptest::option::of(proptest::collection::vec(
            prop_oneof![Just("workflow"), Just("Workflow"), Just("approval"), Just("blueprint"), Just(" WORKFLOW ")], 0..4)),
        key_pattern in proptest::collection::vec(any::<bool>(), 7),
        composite in any::<bool>(),
    ) {
        let (method, path) = [
            ("POST", "/crm/v8/Leads"),
            ("PUT", "/crm/v8/Leads"),
            ("PUT", "/crm/v8/Leads/42"),
            ("POST", "/crm/v8/Contacts/upsert"),
        ][route];
        let key = case_variant("trigger", &key_pattern, false);
        let mut record = json!({"data": [{"Last_Name": "A"}]});
        if let Some(list) = &trigger {
            record[key.as_str()] = json!(list);
        }
        let (body, prefix) = if composite {
            (json!({"__composite_requests": [{"method": method, "uri": path, "body": record}]}).to_string(), "sub_request[0]:")
        } else {
            (record.to_string(), "")
        };
        let (method, path) = if composite { ("POST", "/crm/v8/__composite_requests") } else { (method, path) };
        let guarded = support(method, path, &body).unwrap();
        let out = forwarded(&guarded, &body);
        let record = if composite { out["__composite_requests"][0]["body"].clone() } else { out };
        let object = record.as_object().unwrap();
        let triggers: Vec<&Value> = object.iter().filter(|(k, _)| k.eq_ignore_ascii_case("trigger")).map(|(_, v)| v).collect();
        prop_assert_eq!(triggers.len(), 1);
        let list = triggers[0].as_array().unwrap();
        prop_assert!(list.iter().all(|t| !t.as_str().unwrap().trim().eq_ignore_ascii_case("workflow")), "{:?}", list);
        prop_assert_eq!(&record["wf_trigger"], &json!(false));
        let had_workflow = trigger.as_ref().is_some_and(|l| l.iter().any(|t| t.trim().eq_ignore_ascii_case("workflow")));
        let expected = match &trigger {
            None => Some(format!("{prefix}trigger:default")),
            Some(_) if had_workflow => Some(format!("{prefix}trigger:-workflow")),
            Some(_) => None,
        };
        if let Some(expected) = expected {
            prop_assert!(guarded.rewrites.contains(&expected), "{:?}", guarded.rewrites);
        }
        let forced = format!("{prefix}wf_trigger:false");
        prop_assert!(guarded.rewrites.contains(&forced), "{:?}", guarded.rewrites);
    }
}

#[test]
fn flags_that_mail_someone_are_forced_off_and_listed() {
    let guarded = support(
        "POST",
        "/crm/v8/Leads/42/actions/change_owner",
        r#"{"owner":{"id":"111"},"notify":true}"#,
    )
    .unwrap();
    assert_eq!(guarded.rewrites, ["notify:false"]);
    let guarded = support(
        "POST",
        "/crm/v8/Leads/actions/change_owner",
        r#"{"ids":["1"],"owner":{"id":"111"}}"#,
    )
    .unwrap();
    assert_eq!(
        forwarded(&guarded, "")["notify"],
        json!(false),
        "inserted where absent"
    );
    let body =
        r#"{"data":[{"overwrite":true,"notify_lead_owner":true,"NOTIFY_NEW_ENTITY_OWNER":true}]}"#;
    let guarded = support("POST", "/crm/v8/Leads/42/actions/convert", body).unwrap();
    let out = forwarded(&guarded, body);
    assert_eq!(out["data"][0]["notify_lead_owner"], json!(false));
    assert_eq!(out["data"][0]["NOTIFY_NEW_ENTITY_OWNER"], json!(false));
    assert_eq!(
        guarded.rewrites,
        ["notify_lead_owner:false", "notify_new_entity_owner:false"]
    );
    let body = r#"{"webforms":[{"name":"f","notify_owner":true}]}"#;
    let guarded = support("PUT", "/crm/v8/settings/webforms/7", body).unwrap();
    assert_eq!(
        forwarded(&guarded, body)["webforms"][0]["notify_owner"],
        json!(false)
    );
    let cancel = policy().decide(
        "POST",
        &normalise_target("/crm/v8/Events/9/actions/cancel").unwrap(),
    );
    assert!(
        !cancel.is_allowed(),
        "meeting cancel stays denied (restriction 5)"
    );
}
