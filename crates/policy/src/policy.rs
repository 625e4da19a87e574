//! The compiled route policy and its decisions.
//!
//! A [`Policy`] is built once from the policy file ([`Policy::from_toml_str`]) into one
//! [`matchit`] route table holding every template of every rule, so a decision costs one
//! lookup whatever the number of rules. Templates and lookup keys are lower-cased, and
//! the version segment after each `[api] version_roots` prefix (`v8`, `v2.1`, …) is
//! replaced by one placeholder on both sides, so one rule covers every API version.
//! Literal segments win over parameters (`/crm/v{N}/settings/…` over
//! `/crm/v{N}/{module}/…`); the table backtracks to parameters when a literal branch
//! does not lead to a route.
//!
//! For one path and method, the rules that decide (`allow`, `deny`, `read_only`) of the
//! **most specific** template that has any decide (SPEC §4): templates compare segment by
//! segment from the left, a literal beating a parameter and a parameter beating a final
//! `{*rest}`, so the reads-by-POST `allow` of
//! `/crm/v{N}/settings/data_sharing/rules/search` beats the `read_only` of
//! `/crm/v{N}/settings/data_sharing/{*rest}`. Among the rules of that one template, a
//! `deny` (or a `read_only` for any method but GET) beats an `allow`. When no rule
//! decides, the defaults do (the longest `[[defaults.prefix]]`, then `[defaults]`).
//! Guards (`owner_to_support_user`, `no_assign_to_support_user`, `date_guard`,
//! `self_only`, `forbid_body_keys`, `composite`, `set_body_keys`, `bulk_write_owner`) of
//! every rule on the route and method, at any specificity, ride along on an allowed
//! [`Decision`]; the gateway applies them to the body (see [`crate::guard`]).
//!
//! The module reads by concern: `template` parses the templates of the file,
//! `compile` checks the file and builds the route table, `decide` answers one request,
//! `decision` holds the answer.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use crate::file::{Access, EffectName, RefusalShape, RestrictionFile};
use crate::rewrite::SetKey;

mod approved;
mod compile;
mod decide;
mod decision;
mod method;
mod template;

pub use decision::{Decision, Guard, GuardKind, Verdict};
pub use method::PolicyMethod;
pub(crate) use template::is_version_segment;
use template::starts_with_segments;

/// A policy file that cannot be used. The message names the key or rule at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// Not valid TOML, or not the shape of a policy file.
    #[error("policy file: {0}")]
    Syntax(String),
    /// Valid TOML whose content is refused.
    #[error("policy file: {at}: {message}")]
    Invalid {
        /// The key or rule id at fault.
        at: String,
        /// What is wrong.
        message: String,
    },
}

/// The restrictions whose rules may never be `approvable` (SPEC §10): the Support
/// Access settings, other users' details, the audit log export, admin-level
/// permissions and assignment to the support user.
pub const NEVER_APPROVABLE: [u8; 5] = [1, 2, 9, 12, 17];

fn invalid(at: impl Into<String>, message: impl Into<String>) -> PolicyError {
    PolicyError::Invalid {
        at: at.into(),
        message: message.into(),
    }
}
/// How a restriction is covered by the policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Coverage {
    /// Enforced by these rules.
    Rules {
        /// Rule ids.
        rules: Vec<Arc<str>>,
    },
    /// Marked UI-only with this reason.
    UiOnly {
        /// Why no route implements it.
        reason: String,
    },
    /// Neither: the policy does not cover it.
    Missing,
}

/// Read-only view of a rule, for listings and tests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleInfo {
    /// Rule id.
    pub id: Arc<str>,
    /// Restriction number.
    pub restriction: Option<u8>,
    /// Effect.
    pub effect: EffectName,
    /// Methods.
    pub methods: Vec<PolicyMethod>,
    /// Path templates as written.
    pub paths: Vec<String>,
    /// Whether its refusals may be approved one request at a time (SPEC §10).
    pub approvable: bool,
}

#[derive(Debug, Clone)]
struct CompiledRule {
    id: Arc<str>,
    restriction: Option<u8>,
    methods: u8,
    effect: EffectName,
    user_param: Option<String>,
    body_array: Option<String>,
    body_keys: Arc<[String]>,
    set: Arc<[SetKey]>,
    message: Arc<str>,
    paths: Vec<String>,
    approvable: bool,
}

#[derive(Debug, Clone)]
struct RouteRule {
    rule: usize,
    /// Parameter name → segment index in the path.
    params: Vec<(String, usize)>,
    /// How specific the rule's template is (`template::specificity`), compared
    /// lexicographically; more is more specific.
    specificity: Arc<[u8]>,
}

#[derive(Debug, Clone)]
struct RouteEntry {
    template: Arc<str>,
    rules: Vec<RouteRule>,
    /// A subtree entry (`…/{*rest}`): its rules apply to the prefix and everything
    /// under it, on top of the most specific ordinary route's rules.
    subtree: bool,
}

/// The entries a lookup key hits: the most specific ordinary route and the most
/// specific subtree.
#[derive(Debug, Clone, Copy, Default)]
struct Matched {
    route: Option<usize>,
    subtree: Option<usize>,
}

#[derive(Debug, Clone)]
struct PrefixDefault {
    id: Arc<str>,
    segments: Vec<String>,
    read: Option<Access>,
    write: Option<Access>,
    restriction: Option<u8>,
    message: Arc<str>,
}

/// A compiled route policy. Cheap to share (`Arc<Policy>`); every method is pure.
#[derive(Debug, Clone)]
pub struct Policy {
    name: String,
    refusal_shape: RefusalShape,
    refusal_prefixes: Vec<Vec<String>>,
    version_roots: Vec<Vec<String>>,
    governed_roots: Vec<Vec<String>>,
    default_read: Access,
    default_write: Access,
    prefix_defaults: Vec<PrefixDefault>,
    router: matchit::Router<usize>,
    routes: Vec<RouteEntry>,
    has_subtrees: bool,
    rules: Vec<CompiledRule>,
    restrictions: BTreeMap<u8, RestrictionFile>,
    pub(crate) assignment_keys: Vec<String>,
    pub(crate) date_guard_years: u32,
    record_writes: Option<Arc<crate::changes::RecordWrites>>,
}

impl Policy {
    /// The policy's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The refusal shape for a (normalised) path: the file's `refusal.shape` under its
    /// `refusal.prefixes`, the generic shape elsewhere.
    pub fn refusal_shape_for(&self, path: &str) -> RefusalShape {
        let lower = path.to_ascii_lowercase();
        let segments: Vec<&str> = lower.split('/').filter(|s| !s.is_empty()).collect();
        if self.refusal_prefixes.is_empty()
            || self
                .refusal_prefixes
                .iter()
                .any(|p| starts_with_segments(&segments, p))
        {
            self.refusal_shape
        } else {
            RefusalShape::Generic
        }
    }

    /// How each of the 32 restrictions of the catalogue is covered.
    pub fn coverage(&self) -> Vec<(u8, Coverage)> {
        support_access_core::CATALOGUE
            .iter()
            .map(|restriction| {
                let number = restriction.number;
                let rules: Vec<Arc<str>> = self
                    .rules
                    .iter()
                    .filter(|r| r.restriction == Some(number))
                    .map(|r| r.id.clone())
                    .collect();
                let coverage = if !rules.is_empty() {
                    Coverage::Rules { rules }
                } else {
                    match self.restrictions.get(&number) {
                        Some(entry) if entry.ui_only => Coverage::UiOnly {
                            reason: entry.reason.clone().unwrap_or_default(),
                        },
                        _ => Coverage::Missing,
                    }
                };
                (number, coverage)
            })
            .collect()
    }

    /// Which support requests write records and how a record is read back (SPEC §11);
    /// `None` when the policy has no `[changes]` section.
    pub fn record_writes(&self) -> Option<&crate::changes::RecordWrites> {
        self.record_writes.as_deref()
    }

    /// The rules, in file order.
    pub fn rules(&self) -> impl Iterator<Item = RuleInfo> + '_ {
        self.rules.iter().map(|r| RuleInfo {
            id: r.id.clone(),
            restriction: r.restriction,
            effect: r.effect,
            methods: PolicyMethod::ALL
                .into_iter()
                .filter(|m| r.methods & m.bit() != 0)
                .collect(),
            paths: r.paths.clone(),
            approvable: r.approvable,
        })
    }
}

#[cfg(test)]
mod tests;
