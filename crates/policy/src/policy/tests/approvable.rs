//! `approvable` rules (SPEC §10): which denials offer an approval, and the loader's
//! refusal of never-approvable restrictions.

use super::*;

const APPROVABLE_EXPORT: &str = r#"
[[rule]]
id = "r7-export"
restriction = 7
effect = "deny"
methods = ["*"]
paths = ["/api/v{N}/export", "/api/v{N}/export/{*rest}"]
approvable = true
[[rule]]
id = "r6-mail-settings"
restriction = 6
effect = "read_only"
methods = ["*"]
paths = ["/api/v{N}/mail_settings"]
"#;

#[test]
fn a_denial_by_an_approvable_rule_says_so() {
    let policy = policy(APPROVABLE_EXPORT);
    let denied = decide(&policy, "POST", "/api/v1/export/jobs");
    assert!(!denied.is_allowed());
    assert_eq!(denied.rule.as_deref(), Some("r7-export"));
    assert_eq!(denied.restriction, Some(7));
    assert!(denied.approvable, "{denied:?}");
    let info = policy.rules().find(|r| &*r.id == "r7-export").unwrap();
    assert!(info.approvable);
}

#[test]
fn a_denial_by_a_rule_without_approvable_is_not_approvable() {
    let policy = policy(APPROVABLE_EXPORT);
    let denied = decide(&policy, "PUT", "/api/v1/mail_settings");
    assert_eq!(denied.rule.as_deref(), Some("r6-mail-settings"));
    assert!(!denied.approvable);
    let default = decide(&policy, "POST", "/api/v1/admin/x");
    assert_eq!(default.code, Some("default_denied"));
    assert!(!default.approvable, "a default is never approvable");
}

#[test]
fn allowed_requests_and_unknown_methods_are_never_approvable() {
    let policy = policy(APPROVABLE_EXPORT);
    let read = decide(&policy, "GET", "/api/v1/mail_settings");
    assert!(read.is_allowed());
    assert!(!read.approvable);
    let odd = decide(&policy, "OPTIONS", "/api/v1/export");
    assert_eq!(odd.code, Some("method_not_allowed"));
    assert!(!odd.approvable);
}

#[test]
fn a_broader_rule_that_is_not_approvable_takes_the_offer_away() {
    let policy = policy(
        r#"
[[rule]]
id = "r12-admin"
restriction = 12
effect = "deny"
methods = ["*"]
paths = ["/api/v{N}/perms/{*rest}"]
[[rule]]
id = "r7-perms-export"
restriction = 7
effect = "deny"
methods = ["*"]
paths = ["/api/v{N}/perms/export"]
approvable = true
"#,
    );
    let denied = decide(&policy, "POST", "/api/v1/perms/export");
    assert_eq!(denied.rule.as_deref(), Some("r7-perms-export"));
    assert!(!denied.approvable, "restriction 12 also refuses it");
}

#[test]
fn a_denial_under_another_version_root_must_be_approvable_too() {
    let policy = policy(
        r#"
[[rule]]
id = "r7-export"
restriction = 7
effect = "deny"
methods = ["*"]
paths = ["/api/v{N}/export"]
approvable = true
[[rule]]
id = "r9-bulk-export"
restriction = 9
effect = "deny"
methods = ["*"]
paths = ["/api/bulk/v{N}/export"]
"#,
    );
    let denied = decide(&policy, "POST", "/api/v1/export");
    assert_eq!(denied.rule.as_deref(), Some("r7-export"));
    assert!(
        !denied.approvable,
        "/api/bulk/v1/export is refused by restriction 9"
    );
}

#[test]
fn the_loader_refuses_approvable_on_each_never_approvable_restriction() {
    for number in NEVER_APPROVABLE {
        let message = error(&format!(
            r#"
[[rule]]
id = "r{number}-rule"
restriction = {number}
effect = "deny"
methods = ["*"]
paths = ["/api/v{{N}}/x{number}"]
approvable = true
"#
        ));
        assert!(
            message.contains(&format!("rule 'r{number}-rule'")),
            "{message}"
        );
        assert!(
            message.contains(&format!("restriction {number} can never be approved")),
            "{message}"
        );
    }
    assert_eq!(NEVER_APPROVABLE, [1, 2, 9, 12, 17]);
}

#[test]
fn the_loader_refuses_approvable_on_rules_that_do_not_refuse_a_route() {
    let message = error(
        r#"
[[rule]]
id = "allow-x"
effect = "allow"
methods = ["GET"]
paths = ["/api/v{N}/x"]
approvable = true
"#,
    );
    assert!(message.contains("rule 'allow-x'"), "{message}");
    assert!(
        message.contains("deny and read_only rules only"),
        "{message}"
    );
}

#[test]
fn a_denial_of_the_path_without_its_suffix_must_be_approvable_too() {
    let policy = policy(
        r#"
[[rule]]
id = "r7-report-json"
restriction = 7
effect = "deny"
methods = ["*"]
paths = ["/api/v{N}/report.json"]
approvable = true
[[rule]]
id = "r9-report"
restriction = 9
effect = "deny"
methods = ["*"]
paths = ["/api/v{N}/report"]
"#,
    );
    let denied = decide(&policy, "POST", "/api/v1/report.json");
    assert_eq!(denied.rule.as_deref(), Some("r7-report-json"));
    assert!(
        !denied.approvable,
        "/api/v1/report is refused by restriction 9"
    );
    let alone = decide(&policy, "POST", "/api/v1/other.json");
    assert!(alone.is_allowed());
}
