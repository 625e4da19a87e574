//! The body guards over arbitrary bodies: the support guards (owner rewrite, assignment
//! guard, date guard, forbidden keys) on every route that has one, and the ordinary
//! traffic assignment guard. Never panics; a rewritten body is JSON.

#![no_main]

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use libfuzzer_sys::fuzz_target;
use support_access_core::ids::SupportUserId;
use support_access_policy::{BodyOutcome, Decision, Policy, SupportContext, normalise_target};

static POLICY: LazyLock<Policy> = LazyLock::new(|| {
    Policy::from_toml_str(include_str!("../../config/policy/zoho-crm-v8.toml"))
        .expect("the default policy compiles")
});

const ROUTES: [(&str, &str); 16] = [
    ("POST", "/crm/v8/Leads"),
    ("POST", "/crm/v8/Leads/upsert"),
    ("POST", "/crm/v8/Leads/4150868000000225013/actions/clone"),
    ("PUT", "/crm/v8/Leads"),
    ("PUT", "/crm/v8/Leads/4150868000000225013"),
    ("PATCH", "/crm/v8/Deals/4150868000000225013"),
    ("POST", "/crm/v8/Leads/actions/mass_update"),
    (
        "POST",
        "/crm/v8/Leads/4150868000000225013/actions/change_owner",
    ),
    ("POST", "/crm/v8/Leads/actions/mass_change_owner"),
    ("POST", "/crm/v8/Leads/4150868000000225013/actions/convert"),
    ("PUT", "/crm/v8/Leads/4150868000000225013/actions/blueprint"),
    ("POST", "/crm/v8/settings/webforms"),
    ("PUT", "/crm/v8/users/4150868000000225013"),
    ("PUT", "/crm/v8/settings/fields/4150868000000225013"),
    ("POST", "/crm/bulk/v8/write"),
    ("POST", "/crm/v8/users/actions/transfer_and_delete"),
];

const SUPPORT_USER: u64 = 4_150_868_000_000_999_001;

static GUARDED: LazyLock<Vec<(&'static str, &'static str, Decision)>> = LazyLock::new(|| {
    let guarded: Vec<_> = ROUTES
        .iter()
        .filter_map(|&(method, path)| {
            let target = normalise_target(path).expect("a route normalises");
            let decision = POLICY.decide(method, &target);
            decision.needs_body().then_some((method, path, decision))
        })
        .collect();
    assert!(!guarded.is_empty(), "no route of the list has a body guard");
    guarded
});

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).expect("a valid instant")
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let (method, path, decision) = &GUARDED[usize::from(pick) % GUARDED.len()];
    let ctx = SupportContext {
        support_user: SupportUserId::from_u64(SUPPORT_USER),
        now: now(),
    };
    if let Ok(BodyOutcome::Rewritten(rewritten)) = POLICY.apply_support_guards(decision, body, &ctx)
    {
        assert!(
            serde_json::from_slice::<serde_json::Value>(&rewritten).is_ok(),
            "{method} {path}: the rewritten body is not JSON: {:?}",
            String::from_utf8_lossy(&rewritten)
        );
    }
    let users = [SupportUserId::from_u64(SUPPORT_USER)];
    if POLICY.ordinary_needs_body(method, path) {
        let _ = POLICY.check_ordinary_body(method, path, body, &users);
    }
});
