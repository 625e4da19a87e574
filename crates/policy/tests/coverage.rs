//! (a) The Zoho policy covers the whole restriction catalogue.
#![allow(clippy::unwrap_used)]

use support_access_core::{CATALOGUE, Restriction};
use support_access_policy::{Coverage, Policy};

fn policy() -> Policy {
    Policy::from_toml_str(include_str!("../../../config/policy/zoho-crm-v8.toml")).unwrap()
}

#[test]
fn every_one_of_the_32_restrictions_is_enforced_by_a_rule_or_ui_only_with_a_reason() {
    let policy = policy();
    let coverage = policy.coverage();
    assert_eq!(coverage.len(), CATALOGUE.len());
    for (number, covered) in coverage {
        match covered {
            Coverage::Rules { rules } => assert!(!rules.is_empty(), "restriction {number}"),
            Coverage::UiOnly { reason } => {
                assert!(
                    !reason.trim().is_empty(),
                    "restriction {number} has no reason"
                )
            }
            Coverage::Missing => panic!("restriction {number} is not covered"),
        }
    }
}

#[test]
fn every_rule_names_an_existing_restriction_and_unique_id() {
    let policy = policy();
    let mut ids = std::collections::HashSet::new();
    for rule in policy.rules() {
        assert!(ids.insert(rule.id.clone()), "duplicate rule id {}", rule.id);
        if let Some(number) = rule.restriction {
            assert!(
                Restriction::by_number(number).is_some(),
                "rule {} names {number}",
                rule.id
            );
        }
        assert!(
            !rule.methods.is_empty() && !rule.paths.is_empty(),
            "rule {}",
            rule.id
        );
    }
}

#[test]
fn the_restrictions_with_direct_routes_are_enforced_by_rules_not_marked_ui_only() {
    let policy = policy();
    let coverage = policy.coverage();
    for number in [1u8, 2, 3, 5, 6, 7, 9, 11, 12, 13, 17, 20, 25] {
        let (_, covered) = coverage.iter().find(|(n, _)| *n == number).unwrap();
        assert!(
            matches!(covered, Coverage::Rules { .. }),
            "restriction {number}: {covered:?}"
        );
    }
}

#[test]
fn a_policy_refusing_a_restriction_outside_the_catalogue_does_not_load() {
    let text = include_str!("../../../config/policy/zoho-crm-v8.toml").replacen(
        "restriction = 9\n",
        "restriction = 33\n",
        1,
    );
    let error = Policy::from_toml_str(&text).unwrap_err();
    assert!(error.to_string().contains("33"), "{error}");
}
