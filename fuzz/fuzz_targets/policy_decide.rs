//! Path normalisation + policy matching over arbitrary request targets, with the
//! default Zoho CRM v8 policy. Besides "never panics":
//! - what is forwarded is what was checked: the forwarded target normalises again to
//!   the same path and gets the same decision;
//! - matching is ASCII case-insensitive: the lower-cased path gets the same decision;
//! - `HEAD` is `GET` for the policy.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use support_access_policy::{Decision, Policy, normalise_target};

static POLICY: LazyLock<Policy> = LazyLock::new(|| {
    Policy::from_toml_str(include_str!("../../config/policy/zoho-crm-v8.toml"))
        .expect("the default policy compiles")
});

const METHODS: [&str; 11] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "get", "post", "TRACE", "PROPFIND",
];

fn same(a: &Decision, b: &Decision) -> bool {
    a.verdict == b.verdict && a.rule == b.rule && a.restriction == b.restriction
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let method = METHODS[usize::from(pick) % METHODS.len()];
    let raw = String::from_utf8_lossy(rest);
    let Ok(target) = normalise_target(&raw) else {
        return;
    };
    let decision = POLICY.decide(method, &target);

    let forwarded = target.forward_target();
    let again = normalise_target(&forwarded)
        .unwrap_or_else(|e| panic!("{raw:?} normalised to {forwarded:?}, which is refused: {e}"));
    assert_eq!(again.path(), target.path(), "{raw:?}");
    assert_eq!(again.match_key(), target.match_key(), "{raw:?}");
    let second = POLICY.decide(method, &again);
    assert!(
        same(&decision, &second),
        "{method} {raw:?}: {decision:?} vs. forwarded {second:?}"
    );

    let lower = target.path().to_ascii_lowercase();
    let lowered = normalise_target(&lower)
        .unwrap_or_else(|e| panic!("{raw:?}: the lower-cased path {lower:?} is refused: {e}"));
    let third = POLICY.decide(method, &lowered);
    assert!(
        same(&decision, &third),
        "{method} {raw:?}: {decision:?} vs. lower case {third:?}"
    );

    if method == "HEAD" {
        let get = POLICY.decide("GET", &target);
        assert!(
            same(&decision, &get),
            "HEAD {raw:?}: {decision:?} vs. GET {get:?}"
        );
    }
});
