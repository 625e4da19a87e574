//! Policy decision time against the number of rules (issue 6: 10,000 rules within 1.5×
//! of 100). The policies are generated like `tests/scale.rs` does; each path is
//! normalised once, outside the measured loop, so what is timed is `Policy::decide`.
//!
//! Run: `cargo bench -p support-access-policy --bench decide` (or `bash bench/decide.sh`,
//! which also prints the 10,000 ÷ 100 ratios).
#![allow(clippy::unwrap_used, missing_docs)]

use std::fmt::Write;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use support_access_policy::{Policy, Verdict, normalise_target};

/// A policy of `rules` generated rules (two paths each), as in `tests/scale.rs`.
fn generated(rules: usize) -> Policy {
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
    for index in 0..rules {
        let effect = if index % 2 == 0 { "deny" } else { "read_only" };
        writeln!(
            text,
            "[[rule]]\nid = \"r{index}\"\nrestriction = {}\neffect = \"{effect}\"\nmethods = [\"POST\"]\npaths = [\"/crm/v{{N}}/m{index}/{{id}}/actions/a{}\", \"/crm/v{{N}}/settings/s{index}\"]\n",
            index % 32 + 1,
            index % 7,
        )
        .unwrap();
    }
    Policy::from_toml_str(&text).unwrap()
}

/// The paths timed, for a policy of `rules` rules: (name, method, path, verdict).
fn cases(rules: usize) -> Vec<(&'static str, &'static str, String, Verdict)> {
    // A rule from the middle of the table, so neither size finds it first or last.
    let mid = rules / 2;
    vec![
        (
            "denied_route",
            "POST",
            format!("/crm/v8/M{mid}/4150868000000225013/actions/a{}", mid % 7),
            Verdict::Denied,
        ),
        (
            "allowed_record_route",
            "GET",
            "/crm/v8/Leads/4150868000000225013".to_owned(),
            Verdict::Allowed,
        ),
        (
            "unknown_route",
            "PUT",
            "/crm/v8/no_such_thing/4150868000000225013/deeper/still".to_owned(),
            Verdict::Allowed,
        ),
    ]
}

fn decide(c: &mut Criterion) {
    let sizes = [100usize, 10_000];
    let policies: Vec<(usize, Policy)> = sizes.iter().map(|&n| (n, generated(n))).collect();
    for (case, _, _, _) in cases(100) {
        let mut group = c.benchmark_group(format!("decide/{case}"));
        for (rules, policy) in &policies {
            let (_, method, path, verdict) = cases(*rules)
                .into_iter()
                .find(|(name, ..)| *name == case)
                .unwrap();
            let target = normalise_target(&path).unwrap();
            assert_eq!(
                policy.decide(method, &target).verdict,
                verdict,
                "{method} {path} with {rules} rules"
            );
            group.bench_with_input(BenchmarkId::from_parameter(rules), &target, |b, target| {
                b.iter(|| policy.decide(black_box(method), black_box(target)));
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = decide
}
criterion_main!(benches);
