//! Deciding one request: the lookup key of its path, the rules of the most specific
//! template, the defaults, and the guards that ride along.

use std::sync::Arc;

use super::decision::{Decision, Guard, GuardKind};
use super::method::PolicyMethod;
use super::template::{
    SUBTREE_NAMESPACE, VERSION_PLACEHOLDER, is_version_segment, starts_with_segments,
};
use super::{CompiledRule, Matched, Policy, PrefixDefault, RouteRule};
use crate::file::{Access, EffectName};
use crate::normalise::Target;

/// The rule that names what is refused on a governed path without a version.
const UNVERSIONED_RULE: &str = "default-unversioned-api-path";

/// What the lookup key of a path is.
enum Lookup {
    /// A key for the route table (version replaced by the placeholder).
    Key(String),
    /// Under a governed root with no recognisable version segment.
    Unversioned,
}

/// The deciding rule of the most specific template, and its denial code if it denies.
type Best<'a> = (&'a [u8], &'a CompiledRule, Option<&'static str>);

impl Policy {
    /// Decides a request: `method` as on the request line, `target` from
    /// [`normalise_target`](crate::normalise::normalise_target).
    ///
    /// `HEAD` is decided as `GET`. Any other method than GET, HEAD, POST, PUT, PATCH and
    /// DELETE (`OPTIONS`, `get`, `FOO`) is denied with `method_not_allowed` if the path
    /// is denied for some method, and otherwise allowed with the guards of every method.
    ///
    /// A last segment with a suffix (`send_mail.json`) is also decided without it, and
    /// the stricter of the two answers wins.
    ///
    /// A denial is [`approvable`](Decision::approvable) only if every rule that refuses
    /// the request is: at any specificity, under every version root, and for the path
    /// without its suffix.
    pub fn decide(&self, method: &str, target: &Target) -> Decision {
        let decision = self.decide_exact(method, target);
        let Some(stripped) = target.without_suffix() else {
            return decision;
        };
        if decision.is_allowed() {
            let other = self.decide_exact(method, &stripped);
            if !other.is_allowed() {
                return other;
            }
        } else if decision.approvable {
            let other = self.decide_exact(method, &stripped);
            let approvable = other.is_allowed() || other.approvable;
            return decision.approvable_if(approvable);
        }
        decision
    }

    fn decide_exact(&self, method: &str, target: &Target) -> Decision {
        let key = match self.lookup(target.match_key()) {
            Lookup::Key(key) => key,
            Lookup::Unversioned => {
                return Decision::denied(
                    "unknown_api_prefix",
                    UNVERSIONED_RULE.into(),
                    None,
                    None,
                    "The path is under the CRM API but has no recognised version prefix.".into(),
                );
            }
        };
        let decision = self.decide_key(method, &key, target, true);
        let mut others = self.denials_under_other_roots(method, &key, target);
        if decision.is_allowed() {
            let Some(first) = others.next() else {
                return decision;
            };
            let approvable = first.approvable && others.all(|other| other.approvable);
            return first.approvable_if(approvable);
        }
        if decision.approvable {
            let approvable = others.all(|other| other.approvable);
            return decision.approvable_if(approvable);
        }
        decision
    }

    /// The same path under the other version roots (`/crm/bulk/v8/x` ↔ `/crm/v8/x`):
    /// Zoho accepts `/crm(/.*)?/v[0-9]+…`, so the infix is not trusted to separate APIs;
    /// a denial under any root wins.
    fn denials_under_other_roots<'a>(
        &'a self,
        method: &'a str,
        key: &str,
        target: &'a Target,
    ) -> impl Iterator<Item = Decision> + 'a {
        let alternates: Vec<String> = key
            .split_once(&format!("/{VERSION_PLACEHOLDER}"))
            .map(|(root, rest)| {
                self.version_roots
                    .iter()
                    .map(|other| other.iter().map(|s| format!("/{s}")).collect::<String>())
                    .filter(|other_root| other_root != root)
                    .map(|other_root| format!("{other_root}/{VERSION_PLACEHOLDER}{rest}"))
                    .collect()
            })
            .unwrap_or_default();
        alternates
            .into_iter()
            .map(move |alternate| self.decide_key(method, &alternate, target, false))
            .filter(|decision| !decision.is_allowed())
    }

    /// Decides one lookup key; without `use_defaults` only rules can deny.
    fn decide_key(&self, method: &str, key: &str, target: &Target, use_defaults: bool) -> Decision {
        let route = self.matched(key);
        if let Some(m) = PolicyMethod::from_request(method) {
            return self.evaluate(m, key, route, target, use_defaults);
        }
        let mut guards: Vec<Guard> = Vec::new();
        for m in PolicyMethod::ALL {
            let decision = self.evaluate(m, key, route, target, use_defaults);
            if !decision.is_allowed() {
                let message = format!(
                    "Method '{}' is refused on a path the support access policy restricts.",
                    method.escape_default()
                );
                return decision.recoded("method_not_allowed", message.into());
            }
            for guard in decision.guards {
                if !guards.contains(&guard) {
                    guards.push(guard);
                }
            }
        }
        let rule = guards.first().map(|g| g.rule.clone());
        Decision::allowed(rule, None, guards, self.template(route))
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
        let (best, guards, denials_approvable) = self.deciding_rule(method, route, target);
        match best {
            Some((_, rule, Some(code))) => Decision::denied(
                code,
                rule.id.clone(),
                rule.restriction,
                template,
                rule.message.clone(),
            )
            .approvable_if(denials_approvable),
            Some((_, rule, None)) => match rule.effect {
                EffectName::Allow => {
                    Decision::allowed(Some(rule.id.clone()), rule.restriction, guards, template)
                }
                // A read that a `read_only` rule lets through names its first guard, as
                // reads no rule decides do; an `allow` names itself.
                _ => {
                    let named = guards.first().map_or(&rule.id, |g| &g.rule).clone();
                    Decision::allowed(Some(named), None, guards, template)
                }
            },
            None => self.by_default(method, key, guards, template, use_defaults),
        }
    }

    /// The deciding rules of the most specific template that has any (at one
    /// specificity, a denial beats an allow), the guards of every rule on the route, and
    /// whether every rule on the route that would refuse the method is `approvable`.
    fn deciding_rule(
        &self,
        method: PolicyMethod,
        route: Matched,
        target: &Target,
    ) -> (Option<Best<'_>>, Vec<Guard>, bool) {
        let mut best: Option<Best<'_>> = None;
        let mut guards = Vec::new();
        let mut denials_approvable = true;
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
                    guards.extend(self.rule_guard(rule, route_rule, target));
                    continue;
                }
            };
            if deny_code.is_some() {
                denials_approvable &= rule.approvable;
            }
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
        (best, guards, denials_approvable)
    }

    /// The decision of the defaults when no rule decides: the longest
    /// `[[defaults.prefix]]` with an answer for the method, then `[defaults]`.
    fn by_default(
        &self,
        method: PolicyMethod,
        key: &str,
        guards: Vec<Guard>,
        template: Option<Arc<str>>,
        use_defaults: bool,
    ) -> Decision {
        let is_read = method == PolicyMethod::Get;
        let prefix = self.prefix_default(key, is_read);
        let access = match prefix {
            _ if !use_defaults => Access::Allow,
            Some(p) if is_read => p.read.unwrap_or(self.default_read),
            Some(p) => p.write.unwrap_or(self.default_write),
            None if is_read => self.default_read,
            None => self.default_write,
        };
        match access {
            Access::Allow => {
                let rule = guards.first().map(|g| g.rule.clone());
                Decision::allowed(rule, None, guards, template)
            }
            Access::Deny => Decision::denied(
                "default_denied",
                prefix.map_or_else(|| "default".into(), |p| p.id.clone()),
                prefix.and_then(|p| p.restriction),
                template,
                prefix.map_or_else(
                    || "The support access policy refuses routes it does not name.".into(),
                    |p| p.message.clone(),
                ),
            ),
        }
    }

    fn prefix_default(&self, key: &str, is_read: bool) -> Option<&PrefixDefault> {
        let segments: Vec<&str> = key.split('/').filter(|s| !s.is_empty()).collect();
        self.prefix_defaults.iter().find(|p| {
            starts_with_segments(&segments, &p.segments)
                && if is_read {
                    p.read.is_some()
                } else {
                    p.write.is_some()
                }
        })
    }

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
                    rule: UNVERSIONED_RULE.into(),
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
