//! (d) A path the policy denies is denied in every encoding the normaliser accepts.
//!
//! "A path the policy denies": a few hand-picked routes, and every route of every rule
//! of the default policy (templates instantiated) for which the policy answers "deny".
//! "Every encoding the normaliser accepts": per byte, letter case and upper or lower
//! hex percent-encoding; repeated slashes; a trailing slash; a query tail; and the
//! method in its own case, lower case, and `HEAD` for `GET`.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use support_access_policy::{Policy, PolicyMethod, normalise_target};

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

/// A concrete path for a template: `{N}` is a version, `{*rest}` two segments,
/// `{module}`-like parameters a module name, the others a record id.
fn instantiate(template: &str) -> String {
    template
        .split('/')
        .map(|segment| match segment {
            "v{N}" => "v8".to_owned(),
            s if s.starts_with("{*") => "x/y".to_owned(),
            s if s.starts_with('{') && s.contains("module") => "Leads".to_owned(),
            s if s.starts_with('{') => "4150868000000225013".to_owned(),
            s => s.replace("{N}", "8"),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every (method, path) a rule of the default policy names and the policy denies.
fn denied_routes() -> &'static [(String, String)] {
    static ROUTES: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
    ROUTES.get_or_init(|| {
        let all = [
            PolicyMethod::Get,
            PolicyMethod::Post,
            PolicyMethod::Put,
            PolicyMethod::Patch,
            PolicyMethod::Delete,
        ];
        let mut routes = Vec::new();
        for rule in policy().rules() {
            let methods = if rule.methods.is_empty() {
                all.to_vec()
            } else {
                rule.methods.clone()
            };
            for template in &rule.paths {
                let path = instantiate(template);
                let Ok(target) = normalise_target(&path) else {
                    continue;
                };
                for method in &methods {
                    let method = method.as_str();
                    if !policy().decide(method, &target).is_allowed() {
                        routes.push((method.to_owned(), path.clone()));
                    }
                }
            }
        }
        for (method, path) in DENIED {
            routes.push(((*method).to_owned(), (*path).to_owned()));
        }
        routes.sort();
        routes.dedup();
        routes
    })
}

/// The method spellings that must get the same refusal.
fn method_variants(method: &str) -> Vec<String> {
    let mut variants = vec![method.to_owned(), method.to_ascii_lowercase()];
    if method == "GET" {
        variants.push("HEAD".to_owned());
    }
    variants
}

#[test]
fn the_policy_names_many_denied_routes_and_their_plain_disguises_are_accepted() {
    let routes = denied_routes();
    assert!(routes.len() > 100, "only {} denied routes", routes.len());
    for (method, path) in routes {
        let upper = path.to_ascii_uppercase();
        let all_encoded = disguise(path, &[2; 256], &[1; 256], true);
        for raw in [upper, all_encoded] {
            let target = normalise_target(&raw)
                .unwrap_or_else(|e| panic!("{raw}: an accepted encoding was refused: {e}"));
            for method in method_variants(method) {
                assert!(
                    !policy().decide(&method, &target).is_allowed(),
                    "{method} {raw} was allowed"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn every_denied_route_of_the_policy_stays_denied_in_every_accepted_encoding(
        which in any::<prop::sample::Index>(),
        choices in proptest::collection::vec(any::<u8>(), 128),
        slashes in proptest::collection::vec(0u8..3, 128),
        trailing in any::<bool>(),
        query in prop::option::of("[a-z_]{1,8}=[ -~&&[^#]]{0,12}"),
        method_variant in 0usize..3,
    ) {
        let routes = denied_routes();
        let (method, path) = &routes[which.index(routes.len())];
        let mut raw = disguise(path, &choices, &slashes, trailing);
        if let Some(query) = &query {
            raw.push('?');
            raw.push_str(query);
        }
        let variants = method_variants(method);
        let method = &variants[method_variant % variants.len()];
        if let Ok(target) = normalise_target(&raw) {
            let decision = policy().decide(method, &target);
            prop_assert!(!decision.is_allowed(), "{} {} was allowed", method, raw);
        }
    }

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
