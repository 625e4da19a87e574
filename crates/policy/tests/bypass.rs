//! (c) Every disguise of issue 6 point 1, against the three blocked routes: refused by
//! the normaliser or denied by the policy, never allowed.
#![allow(clippy::unwrap_used)]

use support_access_policy::{Policy, check_header_names, normalise_target};

fn policy() -> Policy {
    Policy::from_toml_str(include_str!("../../../config/policy/zoho-crm-v8.toml")).unwrap()
}

/// `Ok(code)` when refused or denied, `Err(..)` when the request would be forwarded.
fn verdict(policy: &Policy, method: &str, raw: &str) -> Result<&'static str, String> {
    match normalise_target(raw) {
        Err(error) => Ok(error.code()),
        Ok(target) => {
            let decision = policy.decide(method, &target);
            if decision.is_allowed() {
                Err(format!(
                    "{method} {raw} is forwarded as {}",
                    target.forward_target()
                ))
            } else {
                Ok(decision.code.unwrap_or("denied"))
            }
        }
    }
}

const SEND_MAIL: &[&str] = &[
    "/crm/v8/Leads/1/actions/send_mail",
    "/crm/v8/leads/1/actions/send_mail",
    "/CRM/V8/LEADS/1/ACTIONS/SEND_MAIL",
    "/crm/v8/Leads/1/actions/Send_Mail",
    "//crm/v8/Leads/1/actions/send_mail",
    "/crm//v8///Leads/1/actions//send_mail",
    "/crm/v8/Leads/1/actions/send_mail/",
    "/crm/v8/Leads/1/actions/send_mail//",
    "/crm/v8/Leads/1/actions/send%5Fmail",
    "/crm/v8/Leads/1/actions/send%5fmail",
    "/crm/v8/Leads/1/actions/%73%65%6E%64%5F%6D%61%69%6C",
    "/%63rm/v8/Leads/1/%61ctions/send_mail",
    "/crm/%768/Leads/1/actions/send_mail",
    "/crm/v8/Leads/1/actions%2Fsend_mail",
    "/crm/v8/Leads/1/actions%2fsend_mail",
    "/crm/v8/Leads/1/actions%5Csend_mail",
    "/crm/v8/Leads/1/actions\\send_mail",
    "/crm/v8/Leads/1/./actions/send_mail",
    "/crm/v8/Leads/1/x/../actions/send_mail",
    "/crm/v8/Leads/1/x/%2e%2e/actions/send_mail",
    "/crm/v8/Leads/1/x/%2E%2E/actions/send_mail",
    "/crm/v8/Leads/1/x/.%2e/actions/send_mail",
    "/crm/v8/Leads/1/x/%252e%252e/actions/send_mail",
    "/crm/v8/Leads/1/actions/send_mail%2500",
    "/crm/v8/Leads/1/actions/send_mail;x=1",
    "/crm/v8/Leads;x/1/actions/send_mail",
    "/crm/v8/Leads/1/..;x/1/actions/send_mail",
    "/crm/v8/Leads/1/actions/send_mail%3Bx",
    "/crm/v8/Leads/1/actions/%c0%afsend_mail",
    "/crm/v8/Leads/1/actions/send_mail%c0%ae",
    "/crm/v8/Leads/1/actions/send_mail%00",
    "/crm/v8/Leads/1/actions/send_mail\u{0}",
    "/crm/v8/Leads/1/actions/send_mail%0d%0a",
    "/crm/v8/Leads/1/actions/send_mail\t",
    "/crm/v8/Leads/1/actions/send_mail?x=1",
    "/crm/v8/Leads/1/actions/send_mail?",
    "/crm/v8/Leads/1/actions/send_mail#x",
    "/crm/v8/Leads/1/actions/send_mail%23x",
    "/crm/v8/Leads/1/actions/send_mail%3Fx",
    "/crm/v8/Leads/1/actions/send_mail.",
    "/crm/v8/Leads/1/actions/send_mail.json",
    "/crm/v2/Leads/1/actions/send_mail",
    "/crm/v2.1/Leads/1/actions/send_mail",
    "/crm/V8/Leads/1/actions/send_mail",
    "/crm/x/v8/Leads/1/actions/send_mail",
    "/crm/bulk/v8/Leads/1/actions/send_mail",
    "http://crm.example/crm/v8/Leads/1/actions/send_mail",
    "https://www.zohoapis.com/crm/v8/Leads/1/actions/send_mail",
    "/crm/v8/Leads/1/actions/send_mail?_method=POST",
];

const BULK_READ: &[&str] = &[
    "/crm/bulk/v8/read",
    "/crm/BULK/v8/Read",
    "/crm/bulk//v8/read/",
    "/crm/bulk/v8/%72ead",
    "/crm/bulk%2Fv8/read",
    "/crm/bulk/v8/./read",
    "/crm/bulk/x/../v8/read",
    "/crm/bulk/v8;x/read",
    "/crm/bulk/v2/read",
    "/crm/bulk/v2.1/read",
    "/crm/x/bulk/v8/read",
    "/crm/bulk/x/v8/read",
    "/crm/bulk/v8/read?x",
    "/crm/bulk/v8/read/1/result",
    "/crm/bulk/v8/read%00",
];

const AUDIT_EXPORT: &[&str] = &[
    "/crm/v8/settings/audit_log_export",
    "/crm/v8/Settings/Audit_Log_Export",
    "/crm/v8/settings/audit%5Flog%5Fexport",
    "/crm/v8/settings/audit_log_export/",
    "/crm/v8//settings//audit_log_export",
    "/crm/v8/settings%2Faudit_log_export",
    "/crm/v8/settings%5Caudit_log_export",
    "/crm/v8/Leads/../settings/audit_log_export",
    "/crm/v8/Leads/%2e%2e/settings/audit_log_export",
    "/crm/v8/settings;a/audit_log_export",
    "/crm/v2/settings/audit_log_export",
    "/crm/v2.1/settings/audit_log_export",
    "/crm/x/v8/settings/audit_log_export",
    "/crm/v8/settings/audit_log_export?type=x",
    "/crm/v8/settings/audit_log_export/123",
];

#[test]
fn no_disguise_of_the_three_blocked_routes_is_forwarded() {
    let policy = policy();
    for raw in SEND_MAIL.iter().chain(BULK_READ).chain(AUDIT_EXPORT) {
        for method in [
            "POST", "GET", "HEAD", "OPTIONS", "post", "PUT", "DELETE", "PATCH", "FOO",
        ] {
            if let Err(forwarded) = verdict(&policy, method, raw) {
                // Only one thing may pass: a method that the route does not deny and
                // that no disguise turned into the blocked one. None do here.
                panic!("{forwarded}");
            }
        }
    }
}

#[test]
fn the_disguises_are_refused_for_the_right_reason() {
    let policy = policy();
    let code = |raw: &str| verdict(&policy, "POST", raw).unwrap();
    assert_eq!(
        code("/crm/v8/Leads/1/actions/send_mail%2F"),
        "encoded_slash"
    );
    assert_eq!(
        code("/crm/v8/Leads/1/x/%2e%2e/actions/send_mail"),
        "dot_segment"
    );
    assert_eq!(
        code("/crm/v8/Leads/1/x/%252e%252e/actions/send_mail"),
        "double_encoding"
    );
    assert_eq!(
        code("/crm/v8/Leads/1/..;x/1/actions/send_mail"),
        "path_parameter"
    );
    assert_eq!(
        code("/crm/v8/Leads/1/actions/%c0%afsend_mail"),
        "non_ascii_path"
    );
    assert_eq!(
        code("/crm/v8/Leads/1/actions/send_mail%00"),
        "control_character"
    );
    assert_eq!(
        code("/crm/x/v8/settings/audit_log_export"),
        "unknown_api_prefix"
    );
    assert_eq!(
        code("/crm/v8/Leads/1/actions/send_mail?_method=POST"),
        "method_override"
    );
    assert_eq!(
        code("https://www.zohoapis.com/crm/v8/Leads"),
        "absolute_form_target"
    );
    assert_eq!(code("/crm/v8/Leads/1/actions/send_mail"), "route_denied");
    assert_eq!(
        verdict(&policy, "OPTIONS", "/crm/bulk/v8/read").unwrap(),
        "method_not_allowed"
    );
}

#[test]
fn an_allowed_route_can_not_be_turned_into_a_blocked_one_by_override_headers_or_query() {
    // The gateway refuses these before deciding; the normaliser gives the code.
    assert_eq!(
        check_header_names(["X-HTTP-Method-Override"])
            .unwrap_err()
            .code(),
        "method_override"
    );
    assert_eq!(
        check_header_names(["x-http-method"]).unwrap_err().code(),
        "method_override"
    );
    assert_eq!(
        check_header_names(["X-Method-Override"])
            .unwrap_err()
            .code(),
        "method_override"
    );
    assert_eq!(
        check_header_names(["X-Original-URL"]).unwrap_err().code(),
        "path_override"
    );
    assert_eq!(
        check_header_names(["X-Forwarded-Uri"]).unwrap_err().code(),
        "path_override"
    );
    assert_eq!(
        check_header_names(["X-Rewrite-URL"]).unwrap_err().code(),
        "path_override"
    );
    for raw in [
        "/crm/v8/Leads?_method=DELETE",
        "/crm/v8/Leads?_METHOD=DELETE",
        "/crm/v8/Leads?a=1&%5fmethod=DELETE",
        "/crm/v8/Leads?x-http-method-override=DELETE",
        "/crm/v8/Leads?_url=/crm/v8/settings/audit_log_export",
    ] {
        assert!(normalise_target(raw).is_err(), "{raw}");
    }
}

#[test]
fn what_is_forwarded_is_exactly_what_was_checked() {
    let target =
        normalise_target("//crm/v8/%4Ceads//4150868000000225013/?fields=Last_Name").unwrap();
    assert_eq!(
        target.forward_target(),
        "/crm/v8/Leads/4150868000000225013?fields=Last_Name"
    );
    assert_eq!(normalise_target(&target.forward_target()).unwrap(), target);
}
