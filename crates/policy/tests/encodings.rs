//! (d) A path the policy denies is denied in every encoding the normaliser accepts.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use support_access_policy::{Policy, normalise_target};

const DENIED: &[(&str, &str)] = &[
    (
        "POST",
        "/crm/v8/Leads/4150868000000225013/actions/send_mail",
    ),
    ("POST", "/crm/bulk/v8/read"),
    ("POST", "/crm/v8/settings/audit_log_export"),
    ("GET", "/crm/bulk/v8/backup/urls"),
    ("DELETE", "/crm/v8/users/42"),
    ("PUT", "/crm/v8/settings/fiscal_year"),
    ("POST", "/crm/v8/functions/f/actions/execute"),
    ("POST", "/crm/v8/__zia_people_enrichment"),
    ("GET", "/support-access/v1/audit/export"),
];

fn policy() -> &'static Policy {
    static POLICY: std::sync::OnceLock<Policy> = std::sync::OnceLock::new();
    POLICY.get_or_init(|| {
        Policy::from_toml_str(include_str!("../../../config/policy/zoho-crm-v8.toml")).unwrap()
    })
}

/// One disguise per byte of the path: keep, flip case, or percent-encode (upper or
/// lower hex) an unreserved byte; plus extra slashes and a trailing slash.
fn disguise(path: &str, choices: &[u8], slashes: &[u8], trailing: bool) -> String {
    let mut out = String::new();
    for (index, byte) in path.bytes().enumerate() {
        let choice = choices.get(index).copied().unwrap_or(0);
        if byte == b'/' {
            out.push('/');
            for _ in 0..slashes.get(index).copied().unwrap_or(0) {
                out.push('/');
            }
            continue;
        }
        match choice % 4 {
            0 => out.push(char::from(byte)),
            1 => out.push(char::from(if byte.is_ascii_lowercase() {
                byte.to_ascii_uppercase()
            } else {
                byte.to_ascii_lowercase()
            })),
            2 => out.push_str(&format!("%{byte:02X}")),
            _ => out.push_str(&format!("%{byte:02x}")),
        }
    }
    if trailing {
        out.push('/');
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn a_denied_path_stays_denied_in_every_accepted_encoding(
        which in 0..DENIED.len(),
        choices in proptest::collection::vec(any::<u8>(), 64),
        slashes in proptest::collection::vec(0u8..3, 64),
        trailing in any::<bool>(),
        method_case in any::<bool>(),
    ) {
        let (method, path) = DENIED[which];
        let raw = disguise(path, &choices, &slashes, trailing);
        let method = if method_case { method.to_ascii_lowercase() } else { method.to_owned() };
        if let Ok(target) = normalise_target(&raw) {
            let decision = policy().decide(&method, &target);
            prop_assert!(!decision.is_allowed(), "{} {} was allowed", method, raw);
        }
    }

    #[test]
    fn the_normaliser_never_panics_and_its_output_is_a_fixed_point(raw in "\\PC{0,80}") {
        if let Ok(target) = normalise_target(&raw) {
            let again = normalise_target(&target.forward_target()).unwrap();
            prop_assert_eq!(again.path(), target.path());
            prop_assert!(!target.path().contains('%'));
            prop_assert!(!target.path().contains("//"));
        }
    }

    #[test]
    fn decisions_never_panic_on_any_ascii_target(raw in "/[ -~]{0,60}", method in "[A-Za-z]{1,8}") {
        if let Ok(target) = normalise_target(&raw) {
            let _ = policy().decide(&method, &target);
            let _ = policy().explain(&method, &raw).to_string();
        }
    }
}
