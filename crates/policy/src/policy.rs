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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use support_access_core::Restriction;

use crate::file::{Access, EffectName, PolicyFile, RefusalShape, RestrictionFile};
use crate::normalise::Target;
use crate::rewrite::SetKey;

/// The placeholder that stands for a version segment in templates and lookup keys. It
/// holds a `%`, which no normalised path keeps, so no real segment can collide with it.
const VERSION_PLACEHOLDER: &str = "%v";

/// The first segment of the route-table keys of subtree rules (templates ending in
/// `{*rest}`), so they share the one route table without meeting ordinary routes.
const SUBTREE_NAMESPACE: &str = "/%t";

/// A method as the policy sees it: `HEAD` is `GET`; anything else is not a policy
/// method (see [`Policy::decide`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum PolicyMethod {
    /// `GET` and `HEAD`.
    Get,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `PATCH`.
    Patch,
    /// `DELETE`.
    Delete,
}

impl PolicyMethod {
    /// Every policy method.
    pub const ALL: [PolicyMethod; 5] = [
        PolicyMethod::Get,
        PolicyMethod::Post,
        PolicyMethod::Put,
        PolicyMethod::Patch,
        PolicyMethod::Delete,
    ];

    /// The policy method of a request method, compared exactly (methods are
    /// case-sensitive: `get` is not `GET`). `HEAD` is `GET`.
    pub fn from_request(method: &str) -> Option<Self> {
        match method {
            "GET" | "HEAD" => Some(Self::Get),
            "POST" => Some(Self::Post),
            "PUT" => Some(Self::Put),
            "PATCH" => Some(Self::Patch),
            "DELETE" => Some(Self::Delete),
            _ => None,
        }
    }

    /// The method's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Self::Get => 1,
            Self::Post => 2,
            Self::Put => 4,
            Self::Patch => 8,
            Self::Delete => 16,
        }
    }
}

impl fmt::Display for PolicyMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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

fn invalid(at: impl Into<String>, message: impl Into<String>) -> PolicyError {
    PolicyError::Invalid {
        at: at.into(),
        message: message.into(),
    }
}

/// Whether a request may go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Forward, after applying the decision's guards.
    Allowed,
    /// Refuse with `403`; nothing reaches the upstream.
    Denied,
}

/// What the gateway must do with the body of an allowed request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GuardKind {
    /// Set `data[].Owner` to `{"id": "<support user>"}` (record creation).
    OwnerToSupportUser,
    /// Refuse a body whose owner/assignee keys name the support user (any caller).
    NoAssignToSupportUser,
    /// Refuse (support requests) date or date-time values more than `years` after now.
    DateGuard {
        /// The limit in years.
        years: u32,
    },
    /// The user changed must be the support user.
    SelfOnly {
        /// The user id in the path, if the route has one.
        path_user: Option<String>,
        /// The body array of user objects whose `id` must be the support user.
        body_array: Option<String>,
    },
    /// Refuse a body carrying any of these keys (ASCII case-insensitive), anywhere.
    ForbidBodyKeys {
        /// The keys, lower-cased.
        keys: Arc<[String]>,
    },
    /// A tunnel: check every sub-request with the policy.
    Composite,
    /// Rewrite side-effect keys of the body (support requests), each rewrite audited.
    SetBodyKeys {
        /// The rewrites, in order.
        set: Arc<[SetKey]>,
    },
    /// Bulk write field mappings: no owner mapping to the support user (any caller);
    /// for support, the owner only ever the support user.
    BulkWriteOwner,
}

impl GuardKind {
    /// Whether this guard also applies to ordinary traffic (restriction 17 holds for
    /// every caller); the others apply to support requests only.
    pub fn guards_ordinary_traffic(&self) -> bool {
        matches!(
            self,
            Self::NoAssignToSupportUser | Self::Composite | Self::BulkWriteOwner
        )
    }
}

/// One body guard and the rule it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Guard {
    /// What to check or rewrite.
    #[serde(flatten)]
    pub kind: GuardKind,
    /// The rule that asks for it.
    pub rule: Arc<str>,
    /// The restriction it implements, if any.
    pub restriction: Option<u8>,
}

/// The policy's answer for one method and path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Allowed or denied.
    pub verdict: Verdict,
    /// For a denial, the stable refusal code (`route_denied`, `read_only_route`,
    /// `default_denied`, `method_not_allowed`, `unknown_api_prefix`).
    pub code: Option<&'static str>,
    /// The rule (or default) that decided, or for an allowed request the first guard's
    /// rule.
    pub rule: Option<Arc<str>>,
    /// The restriction of that rule.
    pub restriction: Option<u8>,
    /// Guards the gateway must apply to the body before forwarding (allowed only).
    pub guards: Vec<Guard>,
    /// The matched route template, if any.
    pub route: Option<Arc<str>>,
    /// A human sentence.
    pub message: Arc<str>,
}

impl Decision {
    /// Whether the request may go on.
    pub fn is_allowed(&self) -> bool {
        self.verdict == Verdict::Allowed
    }

    /// Whether the gateway must read the body (some guard applies).
    pub fn needs_body(&self) -> bool {
        self.is_allowed() && !self.guards.is_empty()
    }

    /// Whether a guard of this kind applies.
    pub fn has_guard(&self, pred: impl Fn(&GuardKind) -> bool) -> bool {
        self.guards.iter().any(|g| pred(&g.kind))
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
}

#[derive(Debug, Clone)]
struct RouteRule {
    rule: usize,
    /// Parameter name → segment index in the path.
    params: Vec<(String, usize)>,
    /// How specific the rule's template is ([`specificity`]), compared
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
}

/// One segment of a parsed template.
enum TemplateSegment {
    Literal(String),
    Version,
    Param(String),
    CatchAll(String),
}

fn split_segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

fn is_version_segment(segment: &str) -> bool {
    let Some(rest) = segment.strip_prefix('v') else {
        return false;
    };
    let (major, minor) = match rest.split_once('.') {
        Some((major, minor)) => (major, Some(minor)),
        None => (rest, None),
    };
    let digits = |s: &str| !s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit());
    digits(major) && minor.is_none_or(digits)
}

fn starts_with_segments(segments: &[&str], prefix: &[String]) -> bool {
    segments.len() >= prefix.len() && segments.iter().zip(prefix).all(|(a, b)| *a == b)
}

/// What the lookup key of a path is.
enum Lookup {
    /// A key for the route table (version replaced by the placeholder).
    Key(String),
    /// Under a governed root with no recognisable version segment.
    Unversioned,
}

impl Policy {
    /// Parses and compiles a policy file.
    pub fn from_toml_str(text: &str) -> Result<Self, PolicyError> {
        let file: PolicyFile =
            toml::from_str(text).map_err(|e| PolicyError::Syntax(e.to_string()))?;
        Self::compile(file)
    }

    /// Compiles an already parsed policy file.
    pub fn compile(file: PolicyFile) -> Result<Self, PolicyError> {
        let mut version_roots = Vec::new();
        for root in &file.api.version_roots {
            if !root.starts_with('/') {
                return Err(invalid(
                    "api.version_roots",
                    format!("'{root}' must start with '/'"),
                ));
            }
            version_roots.push(split_segments(root));
        }
        version_roots.sort_by_key(|r| std::cmp::Reverse(r.len()));
        let governed_roots: Vec<Vec<String>> = file
            .api
            .governed_roots
            .iter()
            .map(|r| split_segments(r))
            .collect();
        let refusal_prefixes = file
            .refusal
            .prefixes
            .iter()
            .map(|p| split_segments(p))
            .collect();

        let mut seen_ids = HashSet::new();
        let mut prefix_defaults = Vec::new();
        for prefix in &file.defaults.prefixes {
            let at = format!("defaults.prefix '{}'", prefix.id);
            if !seen_ids.insert(prefix.id.clone()) {
                return Err(invalid(at, "duplicate id"));
            }
            check_restriction(&at, prefix.restriction)?;
            let parsed =
                parse_template(&prefix.prefix, &version_roots).map_err(|m| invalid(&at, m))?;
            let mut segments = Vec::new();
            for segment in parsed {
                match segment {
                    TemplateSegment::Literal(s) => segments.push(s),
                    TemplateSegment::Version => segments.push(VERSION_PLACEHOLDER.to_owned()),
                    _ => {
                        return Err(invalid(
                            &at,
                            "a prefix holds literal segments and v{N} only",
                        ));
                    }
                }
            }
            let message = prefix.message.clone().unwrap_or_else(|| {
                format!(
                    "The support access policy refuses this method under {}.",
                    prefix.prefix
                )
            });
            prefix_defaults.push(PrefixDefault {
                id: prefix.id.as_str().into(),
                segments,
                read: prefix.read,
                write: prefix.write,
                restriction: prefix.restriction,
                message: message.into(),
            });
        }
        prefix_defaults.sort_by_key(|p| std::cmp::Reverse(p.segments.len()));

        let mut restrictions = BTreeMap::new();
        for (key, entry) in &file.restrictions {
            let at = format!("restrictions.{key}");
            let number: u8 = key
                .parse()
                .map_err(|_| invalid(&at, "the key must be a restriction number"))?;
            check_restriction(&at, Some(number))?;
            if entry.ui_only && entry.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
                return Err(invalid(&at, "ui_only needs a non-empty reason"));
            }
            restrictions.insert(number, entry.clone());
        }

        let mut rules = Vec::new();
        let mut routes: Vec<RouteEntry> = Vec::new();
        let mut route_index: HashMap<String, usize> = HashMap::new();
        let mut subtree_patterns: Vec<(String, Vec<Option<String>>)> = Vec::new();
        for rule in &file.rules {
            let at = format!("rule '{}'", rule.id);
            if rule.id.trim().is_empty() {
                return Err(invalid("rule", "a rule needs an id"));
            }
            if !seen_ids.insert(rule.id.clone()) {
                return Err(invalid(at, "duplicate id"));
            }
            check_restriction(&at, rule.restriction)?;
            if let Some(number) = rule.restriction
                && restrictions.get(&number).is_some_and(|r| r.ui_only)
            {
                return Err(invalid(
                    &at,
                    format!("restriction {number} is marked ui_only"),
                ));
            }
            let methods = parse_methods(&rule.methods).map_err(|m| invalid(&at, m))?;
            if rule.paths.is_empty() {
                return Err(invalid(&at, "paths is empty"));
            }
            check_effect_fields(rule).map_err(|m| invalid(&at, m))?;
            let message = rule
                .message
                .clone()
                .unwrap_or_else(|| match rule.restriction {
                    Some(n) => {
                        let title = Restriction::by_number(n).map_or("", |r| r.title);
                        format!("Restricted for support access: {title} (restriction {n}).")
                    }
                    None => "Refused by the support access policy.".to_owned(),
                });
            let index = rules.len();
            rules.push(CompiledRule {
                id: rule.id.as_str().into(),
                restriction: rule.restriction,
                methods,
                effect: rule.effect,
                user_param: rule.user_param.clone(),
                body_array: rule.body_array.clone(),
                body_keys: rule
                    .body_keys
                    .iter()
                    .map(|k| k.to_ascii_lowercase())
                    .collect(),
                set: rule
                    .set
                    .iter()
                    .map(SetKey::compile)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|m| invalid(&at, m))?
                    .into(),
                message: message.into(),
                paths: rule.paths.clone(),
            });
            for path in &rule.paths {
                let parsed = parse_template(path, &version_roots).map_err(|m| invalid(&at, m))?;
                let subtree = matches!(parsed.last(), Some(TemplateSegment::CatchAll(_)));
                let (key, params) = route_key(&parsed);
                let key = if subtree {
                    subtree_patterns.push((key.clone(), prefix_pattern(&parsed)));
                    format!("{SUBTREE_NAMESPACE}{key}")
                } else {
                    key
                };
                if under_governed_without_version(&parsed, &governed_roots, &version_roots) {
                    return Err(invalid(
                        &at,
                        format!("'{path}' is under a governed root but has no v{{N}} segment"),
                    ));
                }
                if let Some(user) = &rule.user_param
                    && !params.iter().any(|(name, _)| name == user)
                {
                    return Err(invalid(
                        &at,
                        format!("'{path}' has no parameter {{{user}}}"),
                    ));
                }
                let slot = match route_index.get(&key) {
                    Some(&slot) => slot,
                    None => {
                        routes.push(RouteEntry {
                            template: path.as_str().into(),
                            rules: Vec::new(),
                            subtree,
                        });
                        route_index.insert(key, routes.len() - 1);
                        routes.len() - 1
                    }
                };
                let specificity = specificity(&parsed);
                if let Some(entry) = routes.get_mut(slot) {
                    entry.rules.push(RouteRule {
                        rule: index,
                        params,
                        specificity,
                    });
                }
            }
        }

        // A subtree also carries the rules of every shorter subtree that contains it, so
        // that the most specific subtree found by the lookup is enough.
        let own_rules: Vec<Vec<RouteRule>> = routes.iter().map(|r| r.rules.clone()).collect();
        for (inner_key, inner) in &subtree_patterns {
            let Some(&inner_slot) = route_index.get(&format!("{SUBTREE_NAMESPACE}{inner_key}"))
            else {
                continue;
            };
            for (outer_key, outer) in &subtree_patterns {
                if outer_key == inner_key || !pattern_contains(outer, inner) {
                    continue;
                }
                let inherited = route_index
                    .get(&format!("{SUBTREE_NAMESPACE}{outer_key}"))
                    .and_then(|&slot| own_rules.get(slot))
                    .cloned()
                    .unwrap_or_default();
                if let Some(entry) = routes.get_mut(inner_slot) {
                    entry.rules.extend(inherited);
                }
            }
        }
        let has_subtrees = !subtree_patterns.is_empty();

        let mut router = matchit::Router::new();
        for (key, slot) in &route_index {
            router
                .insert(key.clone(), *slot)
                .map_err(|e| invalid(format!("route '{key}'"), e.to_string()))?;
        }

        Ok(Self {
            name: file.name,
            refusal_shape: file.refusal.shape,
            refusal_prefixes,
            version_roots,
            governed_roots,
            default_read: file.defaults.read,
            default_write: file.defaults.write,
            prefix_defaults,
            router,
            routes,
            has_subtrees,
            rules,
            restrictions,
            assignment_keys: file
                .guards
                .assignment_keys
                .iter()
                .map(|k| k.to_ascii_lowercase())
                .collect(),
            date_guard_years: file.guards.date_guard_years,
        })
    }

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
        })
    }

    /// Decides a request: `method` as on the request line, `target` from
    /// [`normalise_target`](crate::normalise::normalise_target).
    ///
    /// `HEAD` is decided as `GET`. Any other method than GET, HEAD, POST, PUT, PATCH and
    /// DELETE (`OPTIONS`, `get`, `FOO`) is denied with `method_not_allowed` if the path
    /// is denied for some method, and otherwise allowed with the guards of every method.
    ///
    /// A last segment with a suffix (`send_mail.json`) is also decided without it, and
    /// the stricter of the two answers wins.
    pub fn decide(&self, method: &str, target: &Target) -> Decision {
        let decision = self.decide_exact(method, target);
        if decision.is_allowed()
            && let Some(stripped) = target.without_suffix()
        {
            let other = self.decide_exact(method, &stripped);
            if !other.is_allowed() {
                return other;
            }
        }
        decision
    }

    fn decide_exact(&self, method: &str, target: &Target) -> Decision {
        let key = match self.lookup(target.match_key()) {
            Lookup::Key(key) => key,
            Lookup::Unversioned => {
                return Decision {
                    verdict: Verdict::Denied,
                    code: Some("unknown_api_prefix"),
                    rule: Some("default-unversioned-api-path".into()),
                    restriction: None,
                    guards: Vec::new(),
                    route: None,
                    message: "The path is under the CRM API but has no recognised version prefix."
                        .into(),
                };
            }
        };
        let decision = self.decide_key(method, &key, target, true);
        if !decision.is_allowed() {
            return decision;
        }
        // The same path under the other version roots (`/crm/bulk/v8/x` ↔ `/crm/v8/x`):
        // Zoho accepts `/crm(/.*)?/v[0-9]+…`, so the infix is not trusted to separate
        // APIs; a denial under any root wins.
        if let Some((root, rest)) = key.split_once(&format!("/{VERSION_PLACEHOLDER}")) {
            for other in &self.version_roots {
                let other_root: String = other.iter().map(|s| format!("/{s}")).collect();
                if other_root == root {
                    continue;
                }
                let alternate = format!("{other_root}/{VERSION_PLACEHOLDER}{rest}");
                let denial = self.decide_key(method, &alternate, target, false);
                if !denial.is_allowed() {
                    return denial;
                }
            }
        }
        decision
    }

    /// Decides one lookup key; without `use_defaults` only rules can deny.
    fn decide_key(&self, method: &str, key: &str, target: &Target, use_defaults: bool) -> Decision {
        let key = key.to_owned();
        let route = self.matched(&key);
        match PolicyMethod::from_request(method) {
            Some(m) => self.evaluate(m, &key, route, target, use_defaults),
            None => {
                let mut guards: Vec<Guard> = Vec::new();
                for m in PolicyMethod::ALL {
                    let decision = self.evaluate(m, &key, route, target, use_defaults);
                    if !decision.is_allowed() {
                        return Decision {
                            code: Some("method_not_allowed"),
                            message: format!(
                                "Method '{}' is refused on a path the support access policy restricts.",
                                method.escape_default()
                            )
                            .into(),
                            ..decision
                        };
                    }
                    for guard in decision.guards {
                        if !guards.contains(&guard) {
                            guards.push(guard);
                        }
                    }
                }
                Decision {
                    verdict: Verdict::Allowed,
                    code: None,
                    rule: guards.first().map(|g| g.rule.clone()),
                    restriction: None,
                    guards,
                    route: self.template(route),
                    message: "Allowed by the support access policy.".into(),
                }
            }
        }
    }

    fn lookup(&self, match_key: &str) -> Lookup {
        let segments: Vec<&str> = match_key.split('/').filter(|s| !s.is_empty()).collect();
        for root in &self.version_roots {
            if starts_with_segments(&segments, root)
                && segments
                    .get(root.len())
                    .is_some_and(|s| is_version_segment(s))
            {
                // A second version segment further on (`/crm/v8/v8/…`,
                // `/crm/v8/bulk/v8/read`): Zoho routes `/crm(/.*)?/v[0-9]+/…`, so the
                // path may reach another route than the one it seems to name.
                if segments[root.len() + 1..]
                    .iter()
                    .any(|s| is_version_segment(s))
                {
                    return Lookup::Unversioned;
                }
                let mut key = String::with_capacity(match_key.len());
                for (index, segment) in segments.iter().enumerate() {
                    key.push('/');
                    key.push_str(if index == root.len() {
                        VERSION_PLACEHOLDER
                    } else {
                        segment
                    });
                }
                return Lookup::Key(key);
            }
        }
        if self
            .governed_roots
            .iter()
            .any(|root| starts_with_segments(&segments, root))
        {
            return Lookup::Unversioned;
        }
        Lookup::Key(if match_key.is_empty() {
            "/".to_owned()
        } else {
            match_key.to_owned()
        })
    }

    fn matched(&self, key: &str) -> Matched {
        let route = self
            .router
            .at(key)
            .ok()
            .map(|m| *m.value)
            .filter(|&slot| self.routes.get(slot).is_some_and(|r| !r.subtree));
        let subtree = if self.has_subtrees {
            let base = if key == "/" { "" } else { key };
            // A sentinel last segment (`%` never survives normalisation) makes the
            // catch-all match the prefix itself too.
            let probe = format!("{SUBTREE_NAMESPACE}{base}/%");
            self.router
                .at(&probe)
                .ok()
                .map(|m| *m.value)
                .filter(|&slot| self.routes.get(slot).is_some_and(|r| r.subtree))
        } else {
            None
        };
        Matched { route, subtree }
    }

    fn template(&self, matched: Matched) -> Option<Arc<str>> {
        matched
            .route
            .or(matched.subtree)
            .and_then(|slot| self.routes.get(slot))
            .map(|r| r.template.clone())
    }

    fn matched_rules(&self, matched: Matched) -> impl Iterator<Item = &RouteRule> {
        [matched.route, matched.subtree]
            .into_iter()
            .flatten()
            .filter_map(|slot| self.routes.get(slot))
            .flat_map(|entry| entry.rules.iter())
    }

    fn evaluate(
        &self,
        method: PolicyMethod,
        key: &str,
        route: Matched,
        target: &Target,
        use_defaults: bool,
    ) -> Decision {
        let template = self.template(route);
        // The deciding rules of the most specific template that has any: at one
        // specificity, a denial beats an allow.
        let mut best: Option<(&[u8], &CompiledRule, Option<&'static str>)> = None;
        let mut guards = Vec::new();
        for route_rule in self.matched_rules(route) {
            let Some(rule) = self.rules.get(route_rule.rule) else {
                continue;
            };
            if rule.methods & method.bit() == 0 {
                continue;
            }
            let deny_code = match rule.effect {
                EffectName::Deny => Some("route_denied"),
                EffectName::ReadOnly if method != PolicyMethod::Get => Some("read_only_route"),
                EffectName::ReadOnly | EffectName::Allow => None,
                _ => {
                    if let Some(guard) = self.rule_guard(rule, route_rule, target) {
                        guards.push(guard);
                    }
                    continue;
                }
            };
            let level: &[u8] = &route_rule.specificity;
            let replace = match &best {
                None => true,
                Some((best_level, _, best_code)) => {
                    level > *best_level
                        || (level == *best_level && best_code.is_none() && deny_code.is_some())
                }
            };
            if replace {
                best = Some((level, rule, deny_code));
            }
        }
        if let Some((_, rule, code)) = best {
            return match code {
                Some(code) => Decision {
                    verdict: Verdict::Denied,
                    code: Some(code),
                    rule: Some(rule.id.clone()),
                    restriction: rule.restriction,
                    guards: Vec::new(),
                    route: template,
                    message: rule.message.clone(),
                },
                None => Decision {
                    verdict: Verdict::Allowed,
                    code: None,
                    // A read that a `read_only` rule lets through names its first guard,
                    // as reads no rule decides do; an `allow` names itself.
                    rule: match rule.effect {
                        EffectName::Allow => Some(rule.id.clone()),
                        _ => guards
                            .first()
                            .map(|g| g.rule.clone())
                            .or(Some(rule.id.clone())),
                    },
                    restriction: match rule.effect {
                        EffectName::Allow => rule.restriction,
                        _ => None,
                    },
                    guards,
                    route: template,
                    message: "Allowed by the support access policy.".into(),
                },
            };
        }
        let is_read = method == PolicyMethod::Get;
        let segments: Vec<&str> = key.split('/').filter(|s| !s.is_empty()).collect();
        let prefix = self.prefix_defaults.iter().find(|p| {
            starts_with_segments(&segments, &p.segments)
                && if is_read {
                    p.read.is_some()
                } else {
                    p.write.is_some()
                }
        });
        let access = match prefix {
            _ if !use_defaults => Access::Allow,
            Some(p) if is_read => p.read.unwrap_or(self.default_read),
            Some(p) => p.write.unwrap_or(self.default_write),
            None if is_read => self.default_read,
            None => self.default_write,
        };
        match access {
            Access::Allow => Decision {
                verdict: Verdict::Allowed,
                code: None,
                rule: guards.first().map(|g: &Guard| g.rule.clone()),
                restriction: None,
                guards,
                route: template,
                message: "Allowed by the support access policy.".into(),
            },
            Access::Deny => Decision {
                verdict: Verdict::Denied,
                code: Some("default_denied"),
                rule: Some(prefix.map_or_else(|| "default".into(), |p| p.id.clone())),
                restriction: prefix.and_then(|p| p.restriction),
                guards: Vec::new(),
                route: template,
                message: prefix.map_or_else(
                    || "The support access policy refuses routes it does not name.".into(),
                    |p| p.message.clone(),
                ),
            },
        }
    }
}

impl Policy {
    /// The guard a rule asks for on a matched route, if its effect is a guard.
    fn rule_guard(
        &self,
        rule: &CompiledRule,
        route_rule: &RouteRule,
        target: &Target,
    ) -> Option<Guard> {
        let kind = match rule.effect {
            EffectName::Allow | EffectName::Deny | EffectName::ReadOnly => return None,
            EffectName::OwnerToSupportUser => GuardKind::OwnerToSupportUser,
            EffectName::NoAssignToSupportUser => GuardKind::NoAssignToSupportUser,
            EffectName::DateGuard => GuardKind::DateGuard {
                years: self.date_guard_years,
            },
            EffectName::SelfOnly => GuardKind::SelfOnly {
                path_user: rule.user_param.as_ref().and_then(|name| {
                    let index = route_rule.params.iter().find(|(n, _)| n == name)?.1;
                    target.segments().nth(index).map(str::to_owned)
                }),
                body_array: rule.body_array.clone(),
            },
            EffectName::ForbidBodyKeys => GuardKind::ForbidBodyKeys {
                keys: rule.body_keys.clone(),
            },
            EffectName::Composite => GuardKind::Composite,
            EffectName::SetBodyKeys => GuardKind::SetBodyKeys {
                set: rule.set.clone(),
            },
            EffectName::BulkWriteOwner => GuardKind::BulkWriteOwner,
        };
        Some(Guard {
            kind,
            rule: rule.id.clone(),
            restriction: rule.restriction,
        })
    }

    /// The guards of every rule on the route of `target` for `method`, whatever the
    /// verdict (ordinary traffic is not denied, but is guarded). A path under a governed
    /// root without a version gets the assignment guard: its route is unknown.
    /// A last segment with a suffix also gets the guards of the path without it.
    pub(crate) fn route_guards(&self, method: &str, target: &Target) -> Vec<Guard> {
        let mut guards = self.route_guards_exact(method, target);
        if let Some(stripped) = target.without_suffix() {
            guards.extend(self.route_guards_exact(method, &stripped));
        }
        guards
    }

    fn route_guards_exact(&self, method: &str, target: &Target) -> Vec<Guard> {
        let key = match self.lookup(target.match_key()) {
            Lookup::Key(key) => key,
            Lookup::Unversioned => {
                return vec![Guard {
                    kind: GuardKind::NoAssignToSupportUser,
                    rule: "default-unversioned-api-path".into(),
                    restriction: Some(17),
                }];
            }
        };
        let matched = self.matched(&key);
        let bits = PolicyMethod::from_request(method).map_or(u8::MAX, PolicyMethod::bit);
        self.matched_rules(matched)
            .filter_map(|route_rule| {
                let rule = self.rules.get(route_rule.rule)?;
                if rule.methods & bits == 0 {
                    return None;
                }
                self.rule_guard(rule, route_rule, target)
            })
            .collect()
    }
}

fn check_restriction(at: &str, number: Option<u8>) -> Result<(), PolicyError> {
    match number {
        Some(n) if Restriction::by_number(n).is_none() => Err(invalid(
            at,
            format!("restriction {n} is not in the catalogue (1-32)"),
        )),
        _ => Ok(()),
    }
}

fn parse_methods(methods: &[String]) -> Result<u8, String> {
    if methods.is_empty() {
        return Err("methods is empty".to_owned());
    }
    let mut bits = 0;
    for method in methods {
        if method == "*" {
            bits |= PolicyMethod::ALL.iter().fold(0, |acc, m| acc | m.bit());
            continue;
        }
        let parsed = PolicyMethod::from_request(method).ok_or_else(|| {
            format!("unknown method '{method}' (GET, POST, PUT, PATCH, DELETE, *)")
        })?;
        bits |= parsed.bit();
    }
    Ok(bits)
}

fn check_effect_fields(rule: &crate::file::RuleFile) -> Result<(), String> {
    let self_only = rule.effect == EffectName::SelfOnly;
    if self_only && rule.user_param.is_none() && rule.body_array.is_none() {
        return Err("self_only needs user_param or body_array".to_owned());
    }
    if !self_only && (rule.user_param.is_some() || rule.body_array.is_some()) {
        return Err("user_param and body_array apply to self_only only".to_owned());
    }
    let forbid = rule.effect == EffectName::ForbidBodyKeys;
    if forbid && rule.body_keys.is_empty() {
        return Err("forbid_body_keys needs body_keys".to_owned());
    }
    if !forbid && !rule.body_keys.is_empty() {
        return Err("body_keys applies to forbid_body_keys only".to_owned());
    }
    let set = rule.effect == EffectName::SetBodyKeys;
    if set && rule.set.is_empty() {
        return Err("set_body_keys needs set".to_owned());
    }
    if !set && !rule.set.is_empty() {
        return Err("set applies to set_body_keys only".to_owned());
    }
    Ok(())
}

/// The specificity of a template (see [`RouteRule::specificity`]): 3 per literal, 2 per
/// parameter, 0 for a catch-all, and an end mark 1 after a template without one, so
/// that `/a/b` (3 3 1) beats `/a/b/{*rest}` (3 3 0) on the path `/a/b` itself.
fn specificity(segments: &[TemplateSegment]) -> Arc<[u8]> {
    let mut ranks: Vec<u8> = segments
        .iter()
        .map(|segment| match segment {
            TemplateSegment::Literal(_) | TemplateSegment::Version => 3,
            TemplateSegment::Param(_) => 2,
            TemplateSegment::CatchAll(_) => 0,
        })
        .collect();
    if !matches!(segments.last(), Some(TemplateSegment::CatchAll(_))) {
        ranks.push(1);
    }
    ranks.into()
}

fn parse_template(
    template: &str,
    version_roots: &[Vec<String>],
) -> Result<Vec<TemplateSegment>, String> {
    if !template.starts_with('/') {
        return Err(format!("'{template}' must start with '/'"));
    }
    let raw: Vec<&str> = template.split('/').skip(1).collect();
    if template != "/" && raw.iter().any(|s| s.is_empty()) {
        return Err(format!(
            "'{template}' has an empty segment or a trailing '/'"
        ));
    }
    let raw: Vec<&str> = raw.into_iter().filter(|s| !s.is_empty()).collect();
    let mut out = Vec::with_capacity(raw.len());
    let mut literals: Vec<String> = Vec::new();
    for (index, segment) in raw.iter().enumerate() {
        let lower = segment.to_ascii_lowercase();
        if lower == "v{n}" {
            if !version_roots.contains(&literals) {
                return Err(format!("'{template}': v{{N}} must follow a version root"));
            }
            out.push(TemplateSegment::Version);
            literals.push(VERSION_PLACEHOLDER.to_owned());
        } else if let Some(inner) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            let (name, catch_all) = match inner.strip_prefix('*') {
                Some(name) => (name, true),
                None => (inner, false),
            };
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(format!("'{template}': bad parameter '{segment}'"));
            }
            if catch_all && index + 1 != raw.len() {
                return Err(format!(
                    "'{template}': a catch-all must be the last segment"
                ));
            }
            out.push(if catch_all {
                TemplateSegment::CatchAll(name.to_owned())
            } else {
                TemplateSegment::Param(name.to_owned())
            });
            literals.push(String::from("{}"));
        } else {
            let valid = lower.bytes().all(|b| {
                b.is_ascii_alphanumeric()
                    || matches!(
                        b,
                        b'-' | b'.'
                            | b'_'
                            | b'~'
                            | b'!'
                            | b'$'
                            | b'&'
                            | b'\''
                            | b'('
                            | b')'
                            | b'*'
                            | b'+'
                            | b','
                            | b'='
                            | b':'
                            | b'@'
                    )
            });
            if !valid || lower.bytes().all(|b| b == b'.') {
                return Err(format!("'{template}': bad literal segment '{segment}'"));
            }
            literals.push(lower.clone());
            out.push(TemplateSegment::Literal(lower));
        }
    }
    Ok(out)
}

/// The route-table key of a template (parameters named by position, so templates that
/// differ only in parameter names share one route) and its parameter positions.
fn route_key(segments: &[TemplateSegment]) -> (String, Vec<(String, usize)>) {
    let mut key = String::new();
    let mut params = Vec::new();
    for (index, segment) in segments.iter().enumerate() {
        key.push('/');
        match segment {
            TemplateSegment::Literal(s) => key.push_str(s),
            TemplateSegment::Version => key.push_str(VERSION_PLACEHOLDER),
            TemplateSegment::Param(name) => {
                key.push_str(&format!("{{p{index}}}"));
                params.push((name.clone(), index));
            }
            TemplateSegment::CatchAll(name) => {
                key.push_str(&format!("{{*p{index}}}"));
                params.push((name.clone(), index));
            }
        }
    }
    if key.is_empty() {
        key.push('/');
    }
    (key, params)
}

/// The prefix of a subtree template (without its catch-all): literals, `None` for a
/// parameter.
fn prefix_pattern(segments: &[TemplateSegment]) -> Vec<Option<String>> {
    segments
        .iter()
        .filter_map(|segment| match segment {
            TemplateSegment::Literal(s) => Some(Some(s.clone())),
            TemplateSegment::Version => Some(Some(VERSION_PLACEHOLDER.to_owned())),
            TemplateSegment::Param(_) => Some(None),
            TemplateSegment::CatchAll(_) => None,
        })
        .collect()
}

/// Whether every path under `inner` is also under `outer`.
fn pattern_contains(outer: &[Option<String>], inner: &[Option<String>]) -> bool {
    outer.len() <= inner.len()
        && outer.iter().zip(inner).all(|(o, i)| match (o, i) {
            (None, _) => true,
            (Some(o), Some(i)) => o == i,
            (Some(_), None) => false,
        })
}

fn under_governed_without_version(
    segments: &[TemplateSegment],
    governed: &[Vec<String>],
    version_roots: &[Vec<String>],
) -> bool {
    let literals: Vec<&str> = segments
        .iter()
        .map(|s| match s {
            TemplateSegment::Literal(l) => l.as_str(),
            TemplateSegment::Version => VERSION_PLACEHOLDER,
            _ => "{}",
        })
        .collect();
    let versioned = version_roots.iter().any(|root| {
        starts_with_segments(&literals, root)
            && literals.get(root.len()) == Some(&VERSION_PLACEHOLDER)
    });
    !versioned
        && governed
            .iter()
            .any(|root| starts_with_segments(&literals, root))
}

#[cfg(test)]
mod tests;
