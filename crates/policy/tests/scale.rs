//! (f) A policy of 10,000 generated rules compiles and decides (timing is for the
//! benchmarks, not for tests).
#![allow(clippy::unwrap_used)]

use std::fmt::Write;

use support_access_policy::{Policy, Verdict, normalise_target};

#[test]
fn a_policy_of_ten_thousand_rules_compiles_and_decides() {
    let mut text = String::from(
        r#"
name = "generated"
[refusal]
shape = "generic"
[api]
version_roots = ["/crm"]
governed_roots = ["/crm"]
[defaults]
read = "allow"
write = "allow"
[guards]
assignment_keys = ["owner"]
date_guard_years = 5
"#,
    );
    for index in 0..10_000 {
        let effect = if index % 2 == 0 { "deny" } else { "read_only" };
        writeln!(
            text,
            "[[rule]]\nid = \"r{index}\"\nrestriction = {}\neffect = \"{effect}\"\nmethods = [\"POST\"]\npaths = [\"/crm/v{{N}}/m{index}/{{id}}/actions/a{}\", \"/crm/v{{N}}/settings/s{index}\"]\n",
            index % 32 + 1,
            index % 7,
        )
        .unwrap();
    }
    let policy = Policy::from_toml_str(&text).unwrap();
    assert_eq!(policy.rules().count(), 10_000);
    let decide = |method: &str, path: &str| policy.decide(method, &normalise_target(path).unwrap());
    let first = decide("POST", "/crm/v8/M0/1/actions/a0");
    assert_eq!(
        (first.verdict, first.rule.as_deref()),
        (Verdict::Denied, Some("r0"))
    );
    let last = decide("POST", "/crm/v2/settings/S9999");
    assert_eq!(
        (last.verdict, last.rule.as_deref()),
        (Verdict::Denied, Some("r9999"))
    );
    assert!(decide("GET", "/crm/v8/settings/s9999").is_allowed());
    assert!(decide("POST", "/crm/v8/m5/1/actions/other").is_allowed());
}
