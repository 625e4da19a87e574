//! 4. The body guards: a body a rule must read is read (bounded, under the holder's
//!    watch, the grant checked again once it arrived), guarded and perhaps rewritten;
//!    any other body streams to the CRM under the watch.

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HeaderValue, TRANSFER_ENCODING};
use http::request::Parts;
use sha2::{Digest, Sha256};
use support_access_core::RequestRecord;
use support_access_policy::{BodyOutcome, Decision, Policy, SupportContext};

use crate::body::Body;
use crate::live::{Streaming, Watch};
use crate::refusal::Refusal;
use crate::state::App;

/// The body to forward, and its bytes if the gateway read it. The record learns the
/// hash of what is forwarded and the rewrites made to it (the hash of what was read,
/// if the guards refuse it).
pub(super) async fn body(
    app: &App,
    watch: &Watch,
    record: &mut RequestRecord,
    decision: &Decision,
    context: &SupportContext,
    parts: &mut Parts,
    incoming: Body,
) -> Result<(Body, Option<Bytes>), Refusal> {
    if !decision.needs_body() {
        return Ok((stream(watch, incoming), None));
    }
    let facts = &record.facts;
    let bytes = crate::inflight::read_body(app, watch, facts, &parts.headers, incoming).await?;
    let guarded = guard(&app.policy, decision, bytes, context, record)?;
    Ok(forwarded(guarded, parts))
}

/// The body to forward after the guards, its length fixed if it was rewritten.
pub(super) fn forwarded(guarded: Guarded, parts: &mut Parts) -> (Body, Option<Bytes>) {
    if guarded.rewritten {
        parts.headers.remove(TRANSFER_ENCODING);
        let length = HeaderValue::from(guarded.bytes.len());
        parts.headers.insert(CONTENT_LENGTH, length);
    }
    (Body::bytes(guarded.bytes.clone()), Some(guarded.bytes))
}

/// A body that passed the guards.
#[derive(Debug)]
pub(super) struct Guarded {
    /// What to forward.
    pub bytes: Bytes,
    /// Whether it differs from what was read.
    pub rewritten: bool,
}

/// Applies the decision's guards to a body that was read, noting its hash and the
/// rewrites on `record`.
pub(super) fn guard(
    policy: &Policy,
    decision: &Decision,
    bytes: Bytes,
    context: &SupportContext,
    record: &mut RequestRecord,
) -> Result<Guarded, Refusal> {
    record.body_sha256 = Some(sha256(&bytes));
    let guarded = policy.guard_support_body(decision, &bytes, context)?;
    record.rewrites = guarded.rewrites;
    Ok(match guarded.outcome {
        BodyOutcome::Unchanged => Guarded {
            bytes,
            rewritten: false,
        },
        BodyOutcome::Rewritten(rewritten) => {
            record.body_sha256 = Some(sha256(&rewritten));
            Guarded {
                bytes: rewritten.into(),
                rewritten: true,
            }
        }
    })
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A body no rule reads: empty or held bodies as they are; an upload streams under the
/// guard, so that the CRM sees it cut if access ends.
fn stream(watch: &Watch, incoming: Body) -> Body {
    if http_body::Body::is_end_stream(&incoming) || matches!(incoming, Body::Full(_)) {
        incoming
    } else {
        Body::Revocable(Box::new(watch.guard(incoming, Streaming::Upload)))
    }
}
