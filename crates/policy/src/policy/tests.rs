use super::template::is_version_segment;
use super::*;
use crate::normalise::normalise_target;

const BASE: &str = r#"
name = "test"
[refusal]
shape = "generic"
[api]
version_roots = ["/api", "/api/bulk"]
governed_roots = ["/api"]
[defaults]
read = "allow"
write = "allow"
[[defaults.prefix]]
id = "default-admin-write"
prefix = "/api/v{N}/admin"
write = "deny"
[guards]
assignment_keys = ["owner"]
date_guard_years = 5
"#;

fn policy(rules: &str) -> Policy {
    Policy::from_toml_str(&format!("{BASE}{rules}")).unwrap()
}

fn decide(policy: &Policy, method: &str, path: &str) -> Decision {
    policy.decide(method, &normalise_target(path).unwrap())
}

fn error(rules: &str) -> String {
    Policy::from_toml_str(&format!("{BASE}{rules}"))
        .unwrap_err()
        .to_string()
}

#[test]
fn a_literal_route_wins_over_a_parameter_route_and_backtracks_when_it_leads_nowhere() {
    let policy = policy(
        r#"
[[rule]]
id = "deny-mail"
restriction = 5
effect = "deny"
methods = ["POST"]
paths = ["/api/v{N}/{module}/{id}/send"]
[[rule]]
id = "allow-special"
effect = "allow"
methods = ["POST"]
paths = ["/api/v{N}/special/{id}/other"]
"#,
    );
    assert!(!decide(&policy, "POST", "/api/v1/Leads/1/send").is_allowed());
    assert!(!decide(&policy, "POST", "/api/v1/special/1/send").is_allowed());
    let special = decide(&policy, "POST", "/api/v1/special/1/other");
    assert_eq!(special.rule.as_deref(), Some("allow-special"));
}

#[test]
fn subtree_rules_apply_to_the_prefix_and_everything_under_it_on_top_of_specific_routes() {
    let policy = policy(
        r#"
[[rule]]
id = "org-read-only"
restriction = 11
effect = "read_only"
methods = ["*"]
paths = ["/api/v{N}/org/{*rest}"]
[[rule]]
id = "currency-guard"
restriction = 20
effect = "date_guard"
methods = ["PUT"]
paths = ["/api/v{N}/org/currencies/{id}"]
[[rule]]
id = "records"
effect = "date_guard"
methods = ["PUT"]
paths = ["/api/v{N}/{module}/{id}/{related}"]
"#,
    );
    for path in [
        "/api/v1/org",
        "/api/v1/org/currencies/5",
        "/api/v1/org/a/b/c",
    ] {
        let decision = decide(&policy, "PUT", path);
        assert_eq!(decision.rule.as_deref(), Some("org-read-only"), "{path}");
        assert!(decide(&policy, "GET", path).is_allowed(), "{path}");
    }
    assert!(decide(&policy, "PUT", "/api/v1/organisation").is_allowed());
}

#[test]
fn nested_subtrees_carry_the_rules_of_the_subtrees_that_contain_them() {
    let policy = policy(
        r#"
[[rule]]
id = "outer"
restriction = 11
effect = "read_only"
methods = ["*"]
paths = ["/api/v{N}/org/{*rest}"]
[[rule]]
id = "inner"
restriction = 20
effect = "date_guard"
methods = ["*"]
paths = ["/api/v{N}/org/taxes/{*rest}"]
"#,
    );
    let decision = decide(&policy, "POST", "/api/v1/org/taxes/1");
    assert_eq!(decision.rule.as_deref(), Some("outer"));
    let read = decide(&policy, "GET", "/api/v1/org/taxes/1");
    assert!(read.is_allowed() && read.rule.as_deref() == Some("inner"));
}

#[test]
fn defaults_decide_routes_no_rule_decides_and_an_allow_rule_overrides_them() {
    let policy = policy(
        r#"
[[rule]]
id = "allow-fields"
effect = "allow"
methods = ["POST"]
paths = ["/api/v{N}/admin/fields"]
"#,
    );
    let denied = decide(&policy, "POST", "/api/v3/admin/other");
    assert_eq!(denied.code, Some("default_denied"));
    assert_eq!(denied.rule.as_deref(), Some("default-admin-write"));
    assert!(decide(&policy, "GET", "/api/v3/admin/other").is_allowed());
    assert!(decide(&policy, "POST", "/api/v3/admin/fields").is_allowed());
    assert!(decide(&policy, "POST", "/elsewhere").is_allowed());
}

#[test]
fn version_segments_match_every_version_and_unversioned_governed_paths_are_denied() {
    let policy = policy(
        r#"
[[rule]]
id = "deny-read"
restriction = 7
effect = "deny"
methods = ["*"]
paths = ["/api/bulk/v{N}/read"]
"#,
    );
    for path in [
        "/api/bulk/v1/read",
        "/api/bulk/V2.1/read",
        "/API/BULK/v8/READ/",
    ] {
        assert_eq!(
            decide(&policy, "POST", path).rule.as_deref(),
            Some("deny-read"),
            "{path}"
        );
    }
    for path in [
        "/api/x/v1/read",
        "/api/bulk/x/read",
        "/api",
        "/api/v1x/read",
    ] {
        assert_eq!(
            decide(&policy, "GET", path).code,
            Some("unknown_api_prefix"),
            "{path}"
        );
    }
    // `v1` as a module name after the version is just a module.
    assert!(decide(&policy, "POST", "/api/v1/bulk/read").is_allowed());
}

#[test]
fn invalid_policies_are_refused_with_the_rule_named() {
    let rule = |extra: &str| {
        format!("[[rule]]\nid = \"bad\"\neffect = \"deny\"\nmethods = [\"GET\"]\n{extra}\n")
    };
    assert!(error(&rule("paths = [\"/api/v{N}/x\"]\nrestriction = 0")).contains("bad"));
    assert!(error(&rule("paths = [\"api/v{N}/x\"]")).contains("must start with '/'"));
    assert!(error(&rule("paths = [\"/api/x\"]")).contains("no v{N}"));
    assert!(error(&rule("paths = [\"/other/v{N}/x\"]")).contains("version root"));
    assert!(error(&rule("paths = [\"/api/v{N}/{*rest}/x\"]")).contains("catch-all"));
    assert!(error(&rule("paths = [\"/api/v{N}//x\"]")).contains("empty segment"));
    assert!(error(&rule("paths = []")).contains("paths is empty"));
    assert!(
        error("[[rule]]\nid = \"m\"\neffect = \"deny\"\nmethods = [\"get\"]\npaths = [\"/x\"]\n")
            .contains("unknown method")
    );
    assert!(error("[[rule]]\nid = \"s\"\neffect = \"self_only\"\nmethods = [\"PUT\"]\npaths = [\"/x/{id}\"]\n").contains("user_param"));
    assert!(error("[[rule]]\nid = \"s\"\neffect = \"self_only\"\nuser_param = \"user\"\nmethods = [\"PUT\"]\npaths = [\"/x/{id}\"]\n").contains("no parameter {user}"));
    assert!(error("[restrictions.4]\nui_only = true\n").contains("reason"));
    assert!(error("[restrictions.40]\nui_only = true\nreason = \"x\"\n").contains("40"));
    let twice = rule("paths = [\"/x\"]");
    assert!(error(&format!("{twice}{twice}")).contains("duplicate id"));
    assert!(error("unknown_key = 1\n").contains("unknown"));
}

#[test]
fn a_restriction_cannot_be_both_ui_only_and_enforced_by_rules() {
    let text = "[restrictions.5]\nui_only = true\nreason = \"x\"\n[[rule]]\nid = \"r\"\nrestriction = 5\neffect = \"deny\"\nmethods = [\"POST\"]\npaths = [\"/x\"]\n";
    assert!(error(text).contains("ui_only"));
}

#[test]
fn the_policy_method_of_head_is_get_and_lowercase_methods_are_not_policy_methods() {
    assert_eq!(PolicyMethod::from_request("HEAD"), Some(PolicyMethod::Get));
    assert_eq!(PolicyMethod::from_request("get"), None);
    assert_eq!(PolicyMethod::from_request("OPTIONS"), None);
    assert!(is_version_segment("v8") && is_version_segment("v2.1"));
    assert!(!is_version_segment("v") && !is_version_segment("v8.") && !is_version_segment("x8"));
}

mod approvable;
