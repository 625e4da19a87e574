//! Compiling a parsed policy file into a [`Policy`]: every check of the file, and the
//! one route table of every template of every rule.

use std::collections::{BTreeMap, HashMap, HashSet};

use support_access_core::Restriction;

use super::method::PolicyMethod;
use super::template::{
    SUBTREE_NAMESPACE, TemplateSegment, VERSION_PLACEHOLDER, parse_template, pattern_contains,
    prefix_pattern, route_key, specificity, split_segments, under_governed_without_version,
};
use super::{
    CompiledRule, NEVER_APPROVABLE, Policy, PolicyError, PrefixDefault, RouteEntry, RouteRule,
    invalid,
};
use crate::file::{PolicyFile, PrefixDefaultFile, RestrictionFile, RuleFile};
use crate::rewrite::SetKey;

impl Policy {
    /// Parses and compiles a policy file.
    pub fn from_toml_str(text: &str) -> Result<Self, PolicyError> {
        let file: PolicyFile =
            toml::from_str(text).map_err(|e| PolicyError::Syntax(e.to_string()))?;
        Self::compile(file)
    }

    /// Compiles an already parsed policy file.
    pub fn compile(file: PolicyFile) -> Result<Self, PolicyError> {
        let version_roots = version_roots(&file.api.version_roots)?;
        let governed_roots: Vec<Vec<String>> = segments_of(&file.api.governed_roots);
        let mut seen_ids = HashSet::new();
        let prefix_defaults =
            prefix_defaults(&file.defaults.prefixes, &version_roots, &mut seen_ids)?;
        let restrictions = restrictions(&file.restrictions)?;
        let mut rules = Vec::new();
        let mut table = RouteTable::default();
        for rule in &file.rules {
            let compiled = compile_rule(rule, &restrictions, &mut seen_ids)?;
            let roots = Roots {
                version: &version_roots,
                governed: &governed_roots,
            };
            table.add_rule(rule, rules.len(), roots)?;
            rules.push(compiled);
        }
        let has_subtrees = table.has_subtrees();
        let (router, routes) = table.finish()?;
        Ok(Self {
            name: file.name,
            refusal_shape: file.refusal.shape,
            refusal_prefixes: segments_of(&file.refusal.prefixes),
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
            assignment_keys: lower_all(&file.guards.assignment_keys),
            date_guard_years: file.guards.date_guard_years,
            record_writes: match &file.changes {
                Some(changes) => Some(std::sync::Arc::new(crate::changes::compile(changes)?)),
                None => None,
            },
        })
    }
}

fn segments_of(paths: &[String]) -> Vec<Vec<String>> {
    paths.iter().map(|p| split_segments(p)).collect()
}

fn lower_all(keys: &[String]) -> Vec<String> {
    keys.iter().map(|k| k.to_ascii_lowercase()).collect()
}

/// The version roots, longest first.
fn version_roots(roots: &[String]) -> Result<Vec<Vec<String>>, PolicyError> {
    let mut version_roots = Vec::new();
    for root in roots {
        if !root.starts_with('/') {
            return Err(invalid(
                "api.version_roots",
                format!("'{root}' must start with '/'"),
            ));
        }
        version_roots.push(split_segments(root));
    }
    version_roots.sort_by_key(|r| std::cmp::Reverse(r.len()));
    Ok(version_roots)
}

/// The `[[defaults.prefix]]` entries, longest prefix first.
fn prefix_defaults(
    prefixes: &[PrefixDefaultFile],
    version_roots: &[Vec<String>],
    seen_ids: &mut HashSet<String>,
) -> Result<Vec<PrefixDefault>, PolicyError> {
    let mut out = Vec::new();
    for prefix in prefixes {
        let at = format!("defaults.prefix '{}'", prefix.id);
        if !seen_ids.insert(prefix.id.clone()) {
            return Err(invalid(at, "duplicate id"));
        }
        check_restriction(&at, prefix.restriction)?;
        let parsed = parse_template(&prefix.prefix, version_roots).map_err(|m| invalid(&at, m))?;
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
        out.push(PrefixDefault {
            id: prefix.id.as_str().into(),
            segments,
            read: prefix.read,
            write: prefix.write,
            restriction: prefix.restriction,
            message: message.into(),
        });
    }
    out.sort_by_key(|p| std::cmp::Reverse(p.segments.len()));
    Ok(out)
}

/// The `[restrictions.N]` entries by number.
fn restrictions(
    entries: &BTreeMap<String, RestrictionFile>,
) -> Result<BTreeMap<u8, RestrictionFile>, PolicyError> {
    let mut out = BTreeMap::new();
    for (key, entry) in entries {
        let at = format!("restrictions.{key}");
        let number: u8 = key
            .parse()
            .map_err(|_| invalid(&at, "the key must be a restriction number"))?;
        check_restriction(&at, Some(number))?;
        if entry.ui_only && entry.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
            return Err(invalid(&at, "ui_only needs a non-empty reason"));
        }
        out.insert(number, entry.clone());
    }
    Ok(out)
}

/// One rule's own checks and compiled form (its paths go to the [`RouteTable`]).
fn compile_rule(
    rule: &RuleFile,
    restrictions: &BTreeMap<u8, RestrictionFile>,
    seen_ids: &mut HashSet<String>,
) -> Result<CompiledRule, PolicyError> {
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
    check_approvable(rule).map_err(|m| invalid(&at, m))?;
    let set = rule
        .set
        .iter()
        .map(SetKey::compile)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|m| invalid(&at, m))?;
    Ok(CompiledRule {
        id: rule.id.as_str().into(),
        restriction: rule.restriction,
        methods,
        effect: rule.effect,
        user_param: rule.user_param.clone(),
        body_array: rule.body_array.clone(),
        body_keys: lower_all(&rule.body_keys).into(),
        set: set.into(),
        message: rule_message(rule).into(),
        paths: rule.paths.clone(),
        approvable: rule.approvable,
    })
}

fn rule_message(rule: &RuleFile) -> String {
    rule.message
        .clone()
        .unwrap_or_else(|| match rule.restriction {
            Some(n) => {
                let title = Restriction::by_number(n).map_or("", |r| r.title);
                format!("Restricted for support access: {title} (restriction {n}).")
            }
            None => "Refused by the support access policy.".to_owned(),
        })
}

/// The API roots a template is checked against.
#[derive(Clone, Copy)]
struct Roots<'a> {
    version: &'a [Vec<String>],
    governed: &'a [Vec<String>],
}

/// The route table being built: one entry per distinct route key, each with the rules
/// of every template that has that key.
#[derive(Default)]
struct RouteTable {
    routes: Vec<RouteEntry>,
    index: HashMap<String, usize>,
    /// The route key and prefix pattern of every subtree template.
    subtree_patterns: Vec<(String, Vec<Option<String>>)>,
}

impl RouteTable {
    /// Adds every path of rule number `index`.
    fn add_rule(&mut self, rule: &RuleFile, index: usize, roots: Roots) -> Result<(), PolicyError> {
        let at = format!("rule '{}'", rule.id);
        for path in &rule.paths {
            let parsed = parse_template(path, roots.version).map_err(|m| invalid(&at, m))?;
            let subtree = parsed.last().is_some_and(TemplateSegment::is_catch_all);
            let (key, params) = route_key(&parsed);
            let key = if subtree {
                self.subtree_patterns
                    .push((key.clone(), prefix_pattern(&parsed)));
                format!("{SUBTREE_NAMESPACE}{key}")
            } else {
                key
            };
            if under_governed_without_version(&parsed, roots.governed, roots.version) {
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
            let slot = self.slot(key, path, subtree);
            if let Some(entry) = self.routes.get_mut(slot) {
                entry.rules.push(RouteRule {
                    rule: index,
                    params,
                    specificity: specificity(&parsed),
                });
            }
        }
        Ok(())
    }

    /// The entry of a route key, created with this template if new.
    fn slot(&mut self, key: String, template: &str, subtree: bool) -> usize {
        if let Some(&slot) = self.index.get(&key) {
            return slot;
        }
        self.routes.push(RouteEntry {
            template: template.into(),
            rules: Vec::new(),
            subtree,
        });
        self.index.insert(key, self.routes.len() - 1);
        self.routes.len() - 1
    }

    fn has_subtrees(&self) -> bool {
        !self.subtree_patterns.is_empty()
    }

    /// A subtree also carries the rules of every shorter subtree that contains it, so
    /// that the most specific subtree found by the lookup is enough.
    fn inherit_subtree_rules(&mut self) {
        let own_rules: Vec<Vec<RouteRule>> = self.routes.iter().map(|r| r.rules.clone()).collect();
        let slot_of = |key: &str| {
            self.index
                .get(&format!("{SUBTREE_NAMESPACE}{key}"))
                .copied()
        };
        let mut inherited: Vec<(usize, Vec<RouteRule>)> = Vec::new();
        for (inner_key, inner) in &self.subtree_patterns {
            let Some(inner_slot) = slot_of(inner_key) else {
                continue;
            };
            for (outer_key, outer) in &self.subtree_patterns {
                if outer_key == inner_key || !pattern_contains(outer, inner) {
                    continue;
                }
                let rules = slot_of(outer_key)
                    .and_then(|slot| own_rules.get(slot))
                    .cloned()
                    .unwrap_or_default();
                inherited.push((inner_slot, rules));
            }
        }
        for (slot, rules) in inherited {
            if let Some(entry) = self.routes.get_mut(slot) {
                entry.rules.extend(rules);
            }
        }
    }

    /// The router over every route key, and the entries it points into.
    fn finish(mut self) -> Result<(matchit::Router<usize>, Vec<RouteEntry>), PolicyError> {
        self.inherit_subtree_rules();
        let mut router = matchit::Router::new();
        for (key, slot) in &self.index {
            router
                .insert(key.clone(), *slot)
                .map_err(|e| invalid(format!("route '{key}'"), e.to_string()))?;
        }
        Ok((router, self.routes))
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

/// `approvable` only where a refusal can be approved: a `deny` or `read_only` rule of a
/// restriction that is not in [`NEVER_APPROVABLE`].
fn check_approvable(rule: &RuleFile) -> Result<(), String> {
    use crate::file::EffectName;
    if !rule.approvable {
        return Ok(());
    }
    if let Some(number) = rule.restriction
        && NEVER_APPROVABLE.contains(&number)
    {
        return Err(format!(
            "approvable is refused: restriction {number} can never be approved (SPEC §10: never 1, 2, 9, 12, 17)"
        ));
    }
    if !matches!(rule.effect, EffectName::Deny | EffectName::ReadOnly) {
        return Err("approvable applies to deny and read_only rules only".to_owned());
    }
    Ok(())
}

fn check_effect_fields(rule: &RuleFile) -> Result<(), String> {
    use crate::file::EffectName;
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
