//! Every restriction the policy enforces with a route has at least one blocked request
//! that is proven never to reach the CRM. The requests are derived from the policy
//! itself, so a rule added to the policy file is exercised here too.

use std::collections::BTreeSet;

use support_access_e2e::harness::Harness;
use support_access_policy::{Coverage, EffectName, PolicyMethod, RuleInfo};

/// Turns a path template into a concrete path.
fn concrete(template: &str, user: &str) -> String {
    template
        .split('/')
        .map(|segment| match segment {
            "v{N}" => "v8".to_owned(),
            s if s.starts_with("{*") => "anything".to_owned(),
            "{module}" => "Leads".to_owned(),
            "{user}" | "{id}" if template.contains("/users/") => user.to_owned(),
            s if s.starts_with('{') => "4150868000000225013".to_owned(),
            s => s.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// A request this rule must refuse, if the rule refuses by route.
fn blocked_request(rule: &RuleInfo) -> Option<(String, String, String)> {
    let template = rule.paths.first()?;
    let other_user = "1111111111111111111";
    let path = concrete(template, other_user);
    let non_get = rule
        .methods
        .iter()
        .copied()
        .find(|m| *m != PolicyMethod::Get)
        .unwrap_or(PolicyMethod::Get);
    match rule.effect {
        EffectName::Deny => {
            let method = if rule.methods.contains(&PolicyMethod::Post) {
                PolicyMethod::Post
            } else {
                rule.methods.first().copied()?
            };
            Some((method.as_str().to_owned(), path, "{}".to_owned()))
        }
        EffectName::ReadOnly => Some((non_get.as_str().to_owned(), path, "{}".to_owned())),
        EffectName::SelfOnly => Some((
            non_get.as_str().to_owned(),
            path,
            format!(r#"{{"users":[{{"id":"{other_user}","first_name":"X"}}]}}"#),
        )),
        EffectName::DateGuard => Some((
            non_get.as_str().to_owned(),
            path,
            r#"{"data":[{"Last_Name":"Doe","Closing_Date":"2099-01-01"}]}"#.to_owned(),
        )),
        _ => None,
    }
}

#[tokio::test]
async fn every_restriction_with_a_route_has_a_blocked_request_that_never_reaches_the_crm() {
    let h = Harness::start().await;
    let (_, token) = h.grant_and_token("org-acme", "staff-ana", 2).await;
    let auth = format!("Zoho-oauthtoken {token}");
    let policy = h.gateway.app().policy();
    let mut proven = BTreeSet::new();
    for rule in policy.rules() {
        let Some(restriction) = rule.restriction else {
            continue;
        };
        let Some((method, path, body)) = blocked_request(&rule) else {
            continue;
        };
        h.stub.clear();
        let answer = h
            .http
            .send(&method, &path, &[("authorization", &auth)], body.as_bytes())
            .await;
        assert!(
            answer.status == 403 || answer.status == 400,
            "rule {} ({method} {path}) answered {}: {:?}",
            rule.id,
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
        assert!(answer.is_json(), "rule {}: not a JSON refusal", rule.id);
        assert!(
            h.stub.seen().is_empty(),
            "rule {}: {method} {path} reached the CRM",
            rule.id
        );
        proven.insert(restriction);
    }
    let with_routes: BTreeSet<u8> = policy
        .coverage()
        .into_iter()
        .filter(|(_, coverage)| matches!(coverage, Coverage::Rules { .. }))
        .map(|(number, _)| number)
        .collect();
    let unproven: Vec<u8> = with_routes.difference(&proven).copied().collect();
    // Restriction 17 is a guard on assignments, proven by the ordinary-traffic and
    // owner tests; every other enforced restriction must be proven here.
    assert!(
        unproven.iter().all(|r| *r == 17),
        "restrictions enforced by rules but never proven blocked: {unproven:?}"
    );
    assert!(proven.len() >= 10, "only {proven:?} proven");
}
