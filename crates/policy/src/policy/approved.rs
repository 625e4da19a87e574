//! The decision for a request the customer approved (SPEC §10): the refusal lifted,
//! the route's body guards kept.

use super::Policy;
use super::decision::Decision;
use crate::normalise::Target;

impl Policy {
    /// What to do with a support request that carries a valid approval: `None` unless
    /// [`Policy::decide`] denies it and the denial is
    /// [`approvable`](Decision::approvable); then an allowed decision naming the rule
    /// that refused it, with the guards of every rule on the route, so that the body
    /// of an approved request is guarded (and rewritten) as an allowed one would be.
    pub fn decide_approved(&self, method: &str, target: &Target) -> Option<Decision> {
        let denied = self.decide(method, target);
        if denied.is_allowed() || !denied.approvable {
            return None;
        }
        let mut guards = Vec::new();
        for guard in self.route_guards(method, target) {
            if !guards.contains(&guard) {
                guards.push(guard);
            }
        }
        Some(Decision::allowed(
            denied.rule,
            denied.restriction,
            guards,
            denied.route,
        ))
    }
}
