//! The Zoho policy's approvable routes (SPEC §10): restrictions 5 and 7 offer an
//! approval; the never-approvable restrictions do not.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use support_access_policy::{NEVER_APPROVABLE, Policy, normalise_target};

fn policy() -> Policy {
    Policy::from_toml_str(include_str!("../../../config/policy/zoho-crm-v8.toml")).unwrap()
}

fn decide(policy: &Policy, method: &str, path: &str) -> support_access_policy::Decision {
    policy.decide(method, &normalise_target(path).unwrap())
}

#[test]
fn export_and_send_mail_refusals_are_approvable() {
    let policy = policy();
    for (method, path, rule, restriction) in [
        ("POST", "/crm/bulk/v8/read", "r7-bulk-read", 7),
        ("GET", "/crm/bulk/v8/read/123/result", "r7-bulk-read", 7),
        ("POST", "/crm/bulk/v8/backup", "r7-backup", 7),
        (
            "POST",
            "/crm/v8/Leads/1/actions/send_mail",
            "r5-send-mail",
            5,
        ),
        (
            "POST",
            "/crm/v8/Leads/1/actions/portal_invite",
            "r5-portal-invite",
            5,
        ),
    ] {
        let decision = decide(&policy, method, path);
        assert!(!decision.is_allowed(), "{method} {path}");
        assert_eq!(decision.rule.as_deref(), Some(rule), "{method} {path}");
        assert_eq!(decision.restriction, Some(restriction), "{method} {path}");
        assert!(decision.approvable, "{method} {path}: {decision:?}");
    }
}

#[test]
fn never_approvable_restrictions_refuse_without_an_offer() {
    let policy = policy();
    for (method, path, restriction) in [
        ("GET", "/support-access/v1/grants", 1),
        ("DELETE", "/crm/v8/users/42", 2),
        ("POST", "/crm/v8/settings/audit_log_export", 9),
        ("POST", "/crm/v8/settings/profiles", 12),
    ] {
        let decision = decide(&policy, method, path);
        assert!(!decision.is_allowed(), "{method} {path}");
        assert_eq!(decision.restriction, Some(restriction), "{method} {path}");
        assert!(!decision.approvable, "{method} {path}");
    }
}

#[test]
fn only_rules_of_restrictions_5_and_7_are_approvable() {
    let approvable: Vec<u8> = policy()
        .rules()
        .filter(|r| r.approvable)
        .filter_map(|r| r.restriction)
        .collect();
    assert!(!approvable.is_empty());
    assert!(
        approvable.iter().all(|n| [5, 7].contains(n)),
        "{approvable:?}"
    );
    assert!(approvable.iter().all(|n| !NEVER_APPROVABLE.contains(n)));
}

#[test]
fn the_explanation_says_whether_a_refusal_is_approvable() {
    let policy = policy();
    let export = policy.explain("POST", "/crm/bulk/v8/read").to_string();
    assert!(export.contains("approvable:  yes"), "{export}");
    let settings = policy
        .explain("GET", "/support-access/v1/grants")
        .to_string();
    assert!(settings.contains("approvable:  no"), "{settings}");
    let allowed = policy.explain("GET", "/crm/v8/Leads").to_string();
    assert!(!allowed.contains("approvable:"), "{allowed}");
}

#[test]
fn an_approved_request_is_allowed_with_the_guards_of_its_route() {
    let policy = policy();
    let target = normalise_target("/crm/v8/Events/1/actions/cancel").unwrap();
    assert!(!policy.decide("POST", &target).is_allowed());
    let approved = policy.decide_approved("POST", &target).unwrap();
    assert!(approved.is_allowed());
    assert!(!approved.approvable);
    assert_eq!(approved.rule.as_deref(), Some("r5-cancel-meeting"));
    assert_eq!(approved.restriction, Some(5));
    assert!(
        approved
            .guards
            .iter()
            .any(|g| &*g.rule == "r5-meeting-cancel-no-mail"),
        "{approved:?}"
    );
    assert!(approved.needs_body());
    let refused = normalise_target("/crm/v8/settings/audit_log_export").unwrap();
    assert!(policy.decide_approved("POST", &refused).is_none());
    let allowed = normalise_target("/crm/v8/Leads").unwrap();
    assert!(policy.decide_approved("GET", &allowed).is_none());
}
