//! The body guards over arbitrary bodies: the support guards (owner rewrite, assignment
//! guard, date guard, forbidden keys, side-effect rewrites) on every route that has
//! one, and the ordinary traffic assignment guard. Never panics; a rewritten body is
//! JSON and carries no `workflow` trigger.
//!
//! The attack shapes of issue 10 are generated too, steered by the input: the support
//! user's id in Unicode digits of many scripts (raw or `\u`-escaped), with `_`
//! separators, padding, signs, leading zeros or exponent forms, under an owner key in
//! any letter case; and `id` keys in two case spellings in one object. Each must be
//! refused.

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
    if let Ok(guarded) = POLICY.guard_support_body(decision, body, &ctx)
        && let BodyOutcome::Rewritten(bytes) = &guarded.outcome
        && decision.has_guard(|k| matches!(k, support_access_policy::GuardKind::SetBodyKeys { .. }))
    {
        let value: serde_json::Value = serde_json::from_slice(bytes).expect("JSON");
        if let Some(trigger) = value.get("trigger").and_then(|t| t.as_array()) {
            assert!(
                trigger.iter().all(|t| t.as_str().is_none_or(|t| !t.trim().eq_ignore_ascii_case("workflow"))),
                "{method} {path}: a workflow trigger was forwarded: {value}"
            );
        }
    }
    let users = [SupportUserId::from_u64(SUPPORT_USER)];
    if POLICY.ordinary_needs_body(method, path) {
        let _ = POLICY.check_ordinary_body(method, path, body, &users);
    }

    attack_shapes(data);
});

/// The decimal digit sets the spellings draw from (zero code points).
const ZEROS: [u32; 10] = [0x30, 0xFF10, 0x660, 0x6F0, 0x966, 0x9E6, 0xE50, 0xF20, 0x1D7CE, 0x1E950];

/// A lenient spelling of the support user's id, steered by `bytes`, as a JSON literal.
fn spelling(bytes: &[u8]) -> String {
    let digits = SUPPORT_USER.to_string();
    let pick = |i: usize| bytes.get(i).copied().unwrap_or(0);
    let mut text = String::new();
    for (i, b) in digits.bytes().enumerate() {
        let zero = ZEROS[usize::from(pick(i)) % ZEROS.len()];
        text.push(char::from_u32(zero + u32::from(b - b'0')).expect("a digit"));
        if pick(i) & 0x80 != 0 && i + 1 < digits.len() {
            text.push('_');
        }
    }
    let text = match pick(30) % 6 {
        0 => text,
        1 => format!(" +{text}\u{3000}"),
        2 => format!("000{text}.000"),
        3 => format!("{}.{}e{}", &digits[..1], &digits[1..], digits.len() - 1),
        4 => return format!("{digits}.0"),
        _ => return format!("{}.{}E+{}", &digits[..1], &digits[1..], digits.len() - 1),
    };
    let json = serde_json::to_string(&text).expect("a string");
    if pick(31) & 1 == 0 {
        return json;
    }
    json.chars()
        .map(|c| {
            if c.is_ascii() {
                c.to_string()
            } else {
                let mut units = [0u16; 2];
                c.encode_utf16(&mut units).iter().map(|u| format!("\\u{u:04x}")).collect()
            }
        })
        .collect()
}

/// `name` with letters upper-cased where `bits` say so.
fn cased(name: &str, bits: u8) -> String {
    name.chars()
        .enumerate()
        .map(|(i, c)| if bits >> (i % 8) & 1 == 1 { c.to_ascii_uppercase() } else { c })
        .collect()
}

fn attack_shapes(data: &[u8]) {
    let pick = |i: usize| data.get(i).copied().unwrap_or(0);
    let users = [SupportUserId::from_u64(SUPPORT_USER)];
    let id = spelling(data);
    let owner = cased("owner", pick(32));
    let path = "/crm/v8/Leads/42/actions/change_owner";
    let body = format!(r#"{{"{owner}":{{"{}":{id}}}}}"#, cased("id", pick(33)));
    let refused = POLICY.check_ordinary_body("POST", path, body.as_bytes(), &users);
    assert!(refused.is_err(), "an assignment to the support user passed: {body}");

    let variant = cased("id", pick(34) | 1);
    let ambiguous = format!(r#"{{"users":[{{"{variant}":"{SUPPORT_USER}","id":"1"}}]}}"#);
    let decision = POLICY.decide("PUT", &normalise_target("/crm/v8/users").expect("a path"));
    let ctx = SupportContext {
        support_user: SupportUserId::from_u64(SUPPORT_USER),
        now: now(),
    };
    let refused = POLICY.apply_support_guards(&decision, ambiguous.as_bytes(), &ctx);
    assert_eq!(refused.map_err(|r| r.code), Err("ambiguous_body"), "{ambiguous}");
}
