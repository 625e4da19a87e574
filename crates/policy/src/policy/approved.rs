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
        Some(Decision {
            approved: true,
            ..Decision::allowed(denied.rule, denied.restriction, guards, denied.route)
        })
    }

    /// The decision for a support request that carries an approval: an approvable
    /// denial lifted ([`Policy::decide_approved`]), an allowed request marked
    /// [`approved`](Decision::approved) (a composite call's approvable sub-requests are
    /// then lifted by the guards), any other denial as [`Policy::decide`] says.
    pub fn decide_under_approval(&self, method: &str, target: &Target) -> Decision {
        if let Some(approved) = self.decide_approved(method, target) {
            return approved;
        }
        let decision = self.decide(method, target);
        Decision {
            approved: decision.is_allowed(),
            ..decision
        }
    }
}
