//! The Support Access route policy, pure: no I/O framework, no clock.
//!
//! What the gateway calls, in the order of SPEC §3 for a support request:
//!
//! 1. [`normalise_target`] on the request target and [`check_header_names`] on the
//!    header names → `400` with [`NormaliseError::code`] on refusal. Forward exactly
//!    [`Target::forward_target`].
//! 2. [`Policy::decide`]`(method, &target)` → a [`Decision`]; denied → `403` with its
//!    `code`, `rule`, `restriction` and `message`; a denial that is
//!    [`Decision::approvable`] may be offered an approval (SPEC §10), and a request
//!    carrying a valid one is decided by [`Policy::decide_approved`] instead.
//! 3. If [`Decision::needs_body`]: read the body (bounded) and call
//!    [`Policy::apply_support_guards`] → forward [`BodyOutcome::Rewritten`] bytes or the
//!    original body; a [`BodyRefusal`] is `400` or `403` by its [`RefusalKind`].
//!
//! For ordinary traffic: if [`Policy::ordinary_needs_body`] and the org has an active
//! support user, [`Policy::check_ordinary_body`] (restriction 17).
//!
//! The policy itself is data: [`Policy::from_toml_str`] on `config/policy/zoho-crm-v8.toml`
//! (format in [`file`]). [`Policy::explain`] backs `support-gateway policy explain`.

pub mod bulk;
pub mod changes;
pub mod composite;
pub mod explain;
pub mod file;
pub mod guard;
pub mod json;
pub mod lenient;
pub mod normalise;
pub mod policy;
pub mod query;
pub mod rewrite;

pub use explain::Explanation;
pub use file::{Access, EffectName, RefusalShape};
pub use guard::{BodyOutcome, BodyRefusal, Guarded, RefusalKind, SupportContext};
pub use normalise::{NormaliseError, Target, check_header_names, normalise_target};
pub use policy::{
    Coverage, Decision, Guard, GuardKind, NEVER_APPROVABLE, Policy, PolicyError, PolicyMethod,
    RuleInfo, Verdict,
};
