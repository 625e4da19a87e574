//! One-request approvals in the pipeline (SPEC §10).
//!
//! - A support request refused by an approvable rule (every rule that refuses it is
//!   `approvable`; in a composite call, every refused sub-request) is offered an
//!   approval: its body is read, the request is fingerprinted (grant, actor, method,
//!   normalised path, query, body SHA-256) and the approvals service returns the open
//!   approval of the same request or records a new pending one (`approval.requested`).
//!   The refusal keeps its status, code, rule and restriction and carries the approval.
//!   No approval is offered for a request that would be refused even when approved
//!   (its body fails the guards of its route).
//! - A request with `Support-Approval: <id>` is decided as approved
//!   ([`Policy::decide_under_approval`]), its body read and guarded; then the store marks
//!   the approval used — once, whichever instance asks first — only if it is approved,
//!   unexpired, unused, made under the current grant and seat claim, and the request's
//!   fingerprint is exactly the approved one (`approval.used`). Anything else is
//!   `403 approval_invalid` and nothing is forwarded. The header is not forwarded.

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, Method};
use support_access_core::approval::service::RefusedRequest;
use support_access_core::approval::{ApprovalId, RequestShape, Unusable};
use support_access_core::{Grant, RequestRecord};
use support_access_policy::{Decision, GuardKind, Policy, SupportContext, Target};

use super::{check, inspect};
use crate::body::Body;
use crate::live::Watch;
use crate::metrics::StoreOp;
use crate::refusal::{Offer, Refusal};
use crate::state::App;
use crate::store_call::bounded;

/// The header support sends an approval back in.
pub(super) const HEADER: &str = "support-approval";

/// What a request does with approvals.
#[derive(Debug)]
pub(super) enum Gate {
    /// No `Support-Approval`: the plain pipeline (a composite call whose sub-requests
    /// are refused may still be offered an approval).
    Plain,
    /// Refused by an approvable denial: offer an approval with this refusal.
    Offer(Refusal),
    /// Carries `Support-Approval`: forwarded only if the store lets it use this one.
    Use(ApprovalId),
}

/// 3. The route policy decides, and what the request does with approvals. The
///    decision is the one to guard the body with: for an offer or a use, the decision
///    under approval.
pub(super) fn decide(
    policy: &Policy,
    method: &Method,
    target: &Target,
    headers: &HeaderMap,
) -> Result<(Decision, Gate), Refusal> {
    check::settings(target)?;
    let ticket = ticket(headers)?;
    let method = method.as_str();
    if let Some(id) = ticket {
        let decision = policy.decide_under_approval(method, target);
        return match decision.is_allowed() {
            true => Ok((decision, Gate::Use(id))),
            // No approval can lift this denial.
            false => Err(Refusal::ApprovalInvalid(Unusable::Mismatch)),
        };
    }
    let decision = policy.decide(method, target);
    if decision.is_allowed() {
        Ok((decision, Gate::Plain))
    } else if decision.approvable {
        let refusal = Refusal::from(&decision);
        let approved = policy.decide_under_approval(method, target);
        Ok((approved, Gate::Offer(refusal)))
    } else {
        Err(Refusal::from(&decision))
    }
}

/// Whether the body goes through [`body`] rather than the plain body step.
pub(super) fn takes_body(decision: &Decision, gate: &Gate) -> bool {
    !matches!(gate, Gate::Plain) || decision.has_guard(|kind| *kind == GuardKind::Composite)
}

/// The `Support-Approval` header: none, or exactly one approval id.
fn ticket(headers: &HeaderMap) -> Result<Option<ApprovalId>, Refusal> {
    let mut values = headers.get_all(HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let invalid = Refusal::ApprovalInvalid(Unusable::Unknown);
    if values.next().is_some() {
        return Err(invalid);
    }
    let text = value
        .to_str()
        .map_err(|_| Refusal::ApprovalInvalid(Unusable::Unknown))?;
    text.parse().map(Some).map_err(|_| invalid)
}

/// What [`body`] needs of the request besides its parts.
pub(super) struct Inputs<'a> {
    pub app: &'a App,
    pub watch: &'a Watch,
    pub grant: &'a Grant,
    pub target: &'a Target,
    pub context: &'a SupportContext,
}

/// 4. (with approvals) The body is read (bounded, under the watch) and fingerprinted;
///    then an approval is used (the body to forward) or offered (the refusal).
pub(super) async fn body(
    inputs: Inputs<'_>,
    record: &mut RequestRecord,
    decision: &Decision,
    gate: Gate,
    parts: &mut Parts,
    incoming: Body,
) -> Result<(Body, Option<bytes::Bytes>), Refusal> {
    let app = inputs.app;
    parts.headers.remove(HEADER);
    let facts = &record.facts;
    let bytes = crate::inflight::read_body(app, inputs.watch, facts, &parts.headers, incoming);
    let (bytes, gate) = match (bytes.await, gate) {
        (Ok(bytes), gate) => (bytes, gate),
        // Too large to fingerprint: refused as the policy says, with no offer.
        (Err(Refusal::BodyTooLarge { .. }), Gate::Offer(refusal)) => return Err(refusal),
        (Err(refusal), _) => return Err(refusal),
    };
    let (policy, context) = (&app.policy, inputs.context);
    match gate {
        Gate::Use(id) => {
            let guarded = inspect::guard(policy, decision, bytes.clone(), context, record)?;
            let shape = shape(record, parts, inputs.target, &bytes);
            let request_id = Some(record.line.request_id.clone());
            let used = app
                .approvals
                .use_approval(inputs.grant, id, &shape, request_id);
            let limit = app.limits.store_timeout;
            if let Err(e) = bounded(&app.metrics, limit, StoreOp::approval, used).await {
                tracing::info!(request_id = record.line.request_id, approval = %id, reason = %e, "approval not usable for this request");
                return Err(e.into());
            }
            record.approval = Some(id);
            Ok(inspect::forwarded(guarded, parts))
        }
        Gate::Offer(refusal) => Err(offer(&inputs, record, decision, parts, bytes, refusal).await),
        Gate::Plain => match inspect::guard(policy, decision, bytes.clone(), context, record) {
            Ok(guarded) => Ok(inspect::forwarded(guarded, parts)),
            Err(refusal @ Refusal::Body(_)) => {
                let method = parts.method.as_str();
                let approved = policy.decide_under_approval(method, inputs.target);
                Err(offer(&inputs, record, &approved, parts, bytes, refusal).await)
            }
            Err(refusal) => Err(refusal),
        },
    }
}

/// The request as its approval is bound to it.
fn shape<'a>(
    record: &'a RequestRecord,
    parts: &'a Parts,
    target: &'a Target,
    body: &'a [u8],
) -> RequestShape<'a> {
    RequestShape {
        grant: record.facts.grant,
        actor: &record.facts.actor,
        method: parts.method.as_str(),
        path: target.path(),
        query: parts.uri.query(),
        body,
    }
}

/// `refusal` with an approval of this request, if the request would be forwarded once
/// approved (`approved` allows it and its body passes the guards); else `refusal`.
async fn offer(
    inputs: &Inputs<'_>,
    record: &mut RequestRecord,
    approved: &Decision,
    parts: &Parts,
    bytes: Bytes,
    refusal: Refusal,
) -> Refusal {
    let app = inputs.app;
    record.body_sha256 = Some(support_access_core::approval::body_sha256(&bytes));
    let mut scratch = record.clone();
    let guards = inspect::guard(
        &app.policy,
        approved,
        bytes.clone(),
        inputs.context,
        &mut scratch,
    );
    if !approved.is_allowed() || guards.is_err() {
        return refusal;
    }
    let refused = RefusedRequest {
        shape: shape(record, parts, inputs.target, &bytes),
        restriction: refusal.restriction(),
        rule: refusal.rule().map(|rule| rule.into_owned()),
        request_id: Some(record.line.request_id.clone()),
    };
    let requested = app.approvals.request(inputs.grant, refused);
    let limit = app.limits.store_timeout;
    match bounded(&app.metrics, limit, StoreOp::approval, requested).await {
        Ok(approval) => {
            record.approval = Some(approval.id);
            Refusal::Offered {
                refusal: Box::new(refusal),
                approval: Offer::of(&approval),
            }
        }
        Err(e) => Refusal::from(e),
    }
}
