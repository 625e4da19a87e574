//! What the policy answers: a [`Decision`], with the body [`Guard`]s of an allowed one.

use std::sync::Arc;

use serde::Serialize;

use crate::rewrite::SetKey;

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
    /// For a denial, whether the customer may approve this one request (SPEC §10):
    /// every rule that refuses it is `approvable`. Never for an allowed request, a
    /// default, or a method the policy does not know.
    pub approvable: bool,
    /// Whether the request carries an approval (SPEC §10): set by
    /// [`Policy::decide_under_approval`](crate::Policy::decide_under_approval). The body
    /// guards then lift the approvable denials of composite sub-requests too, so that one
    /// approval covers the whole call.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub approved: bool,
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

    /// An allowed request with the guards to apply to its body. `rule` and
    /// `restriction` name what allowed it (or the first guard's rule).
    pub fn allowed(
        rule: Option<Arc<str>>,
        restriction: Option<u8>,
        guards: Vec<Guard>,
        route: Option<Arc<str>>,
    ) -> Self {
        Self {
            verdict: Verdict::Allowed,
            code: None,
            rule,
            restriction,
            guards,
            route,
            message: "Allowed by the support access policy.".into(),
            approvable: false,
            approved: false,
        }
    }

    /// A denied request: the stable `code`, the rule (or default) that decided, and a
    /// human sentence.
    pub fn denied(
        code: &'static str,
        rule: Arc<str>,
        restriction: Option<u8>,
        route: Option<Arc<str>>,
        message: Arc<str>,
    ) -> Self {
        Self {
            verdict: Verdict::Denied,
            code: Some(code),
            rule: Some(rule),
            restriction,
            guards: Vec::new(),
            route,
            message,
            approvable: false,
            approved: false,
        }
    }

    /// The same decision, approvable if it is a denial and `approvable` holds.
    pub(super) fn approvable_if(self, approvable: bool) -> Self {
        Self {
            approvable: approvable && !self.is_allowed(),
            ..self
        }
    }

    /// The same denial under another code and sentence (a method the policy does not
    /// know, refused because some method is refused on the path), never approvable.
    pub(super) fn recoded(self, code: &'static str, message: Arc<str>) -> Self {
        Self {
            code: Some(code),
            message,
            approvable: false,
            ..self
        }
    }
}
