//! 4b. What support changed (SPEC §11): for a support record write (the policy's
//! `[changes]` says which requests are, also inside a composite call), the records it
//! touches are read from the CRM just before it is forwarded, with the request's own
//! identity, and again after a `2xx`; the field-level difference is stored with its
//! `change.recorded` event. A before-read that fails refuses the write (`503
//! change_capture_failed`): nothing support changes goes unrecorded. Other requests are
//! not touched: [`before`] answers `None` for them without reading anything.

use std::net::SocketAddr;

use bytes::Bytes;
use futures::StreamExt;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, EXPECT, HeaderMap, TRANSFER_ENCODING};
use http::{Method, Response};
use serde_json::Value;
use support_access_core::Grant;
use support_access_core::change::{NewChangeEntry, Record};
use support_access_core::service::SupportTokenFacts;
use support_access_policy::Target;
use support_access_policy::changes::{ReadOutcome, RecordWrite, RecordWrites};

use super::Ctx;
use crate::body::Body;
use crate::metrics::StoreOp;
use crate::refusal::Refusal;
use crate::state::App;
use crate::store_call::bounded;

/// A support write whose records were read before it was forwarded.
pub(super) struct Capture {
    /// The headers of the reads: the request's own, without its body's.
    headers: HeaderMap,
    /// Whether the write is a composite call (the answer is one per sub-request).
    composite: bool,
    writes: Vec<Pending>,
}

/// One write (of the request, or of one composite sub-request) and its before-reads.
struct Pending {
    sub_request: Option<usize>,
    write: RecordWrite,
    before: Vec<(String, Option<Record>)>,
}

/// Who asks: the read headers carry the support request's own identity.
pub(super) struct Caller<'a> {
    pub grant: &'a Grant,
    pub facts: &'a SupportTokenFacts,
    pub peer: SocketAddr,
    /// Whether the client reached the gateway over TLS (`X-Forwarded-Proto`).
    pub tls: bool,
}

/// Reads the records a support write touches; `None` when it is no record write.
/// `body` is the body as it will be forwarded, if the gateway read it.
pub(super) async fn before(
    app: &App,
    caller: Caller<'_>,
    method: &Method,
    target: &Target,
    headers: &HeaderMap,
    body: Option<&Bytes>,
) -> Result<Option<Capture>, Refusal> {
    let Some(policy) = app.policy.record_writes() else {
        return Ok(None);
    };
    let (method, path) = (method.as_str(), target.path());
    let json = || body.and_then(|b| serde_json::from_slice::<Value>(b).ok());
    let (composite, writes) = if policy.is_composite(method, path) {
        let Some(body) = json() else {
            return Err(refuse("the composite body was not read"));
        };
        let writes = policy.classify_composite(&body).map_err(|e| refuse(&e.0))?;
        let writes = writes.into_iter().map(|(i, w)| (Some(i), w)).collect();
        (true, writes)
    } else {
        match policy.classify(method, path, target.query(), json().as_ref()) {
            Ok(Some(write)) => (false, vec![(None, write)]),
            Ok(None) => return Ok(None),
            Err(e) => return Err(refuse(&e.0)),
        }
    };
    if writes.is_empty() {
        return Ok(None);
    }
    let headers = read_headers(headers, &caller);
    let mut paths = Vec::new();
    for (_, write) in &writes {
        for id in &write.ids {
            let path = write.read_path(id);
            if !read_allowed(app, &path) {
                return Err(refuse(
                    "the policy does not allow support to read the record",
                ));
            }
            paths.push(path);
        }
    }
    let mut reads = read_all(app, policy, &headers, paths).await.into_iter();
    let mut pending = Vec::new();
    for (sub_request, write) in writes {
        let mut before = Vec::new();
        for id in &write.ids {
            match reads.next() {
                Some(ReadOutcome::Found(record)) => before.push((id.clone(), Some(record))),
                Some(ReadOutcome::Absent) => before.push((id.clone(), None)),
                Some(ReadOutcome::Failed(why)) => return Err(refuse(&why)),
                None => return Err(refuse("a read is missing")),
            }
        }
        pending.push(Pending {
            sub_request,
            write,
            before,
        });
    }
    Ok(Some(Capture {
        headers,
        composite,
        writes: pending,
    }))
}

/// Whether the route policy lets support `GET` the path: a read the gateway makes on
/// support's behalf goes nowhere support could not read itself.
fn read_allowed(app: &App, path: &str) -> bool {
    support_access_policy::normalise_target(path)
        .is_ok_and(|target| app.policy.decide("GET", &target).is_allowed())
}

fn refuse(why: &str) -> Refusal {
    tracing::warn!(
        why,
        "support record write refused: its records could not be read first"
    );
    Refusal::ChangeCaptureFailed
}

/// After the CRM answered: on a `2xx`, reads the records again and stores what changed
/// with its `change.recorded` event. The answer is held (bounded) to name created
/// records, then given to the client unchanged.
pub(super) async fn after(
    ctx: &Ctx<'_>,
    grant: &Grant,
    capture: Capture,
    response: Response<Body>,
) -> Response<Body> {
    let app = ctx.app;
    let Some(policy) = app.policy.record_writes() else {
        return response;
    };
    if !response.status().is_success() {
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = match crate::read::read_body(&app.limits, &parts.headers, body).await {
        Ok(bytes) => bytes,
        Err(refusal) => {
            tracing::error!(
                request_id = ctx.request_id,
                code = refusal.code(),
                "the answer to a support record write could not be read; its change is not recorded"
            );
            return Refusal::Upstream(crate::upstream::UpstreamFailure::Broken)
                .render(ctx.shape, ctx.request_id);
        }
    };
    let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let who = app
        .changes
        .capture(grant, &ctx.record.facts.actor.to_string(), ctx.request_id);
    // Which records to read again: (write, id), each read the policy lets support make.
    let mut targets = Vec::new();
    for pending in &capture.writes {
        let answer = match (capture.composite, pending.sub_request) {
            (true, Some(index)) => match policy.composite_answer(&answer, index) {
                Some((status, body)) if (200..300).contains(&status) => body,
                _ => continue,
            },
            _ => &answer,
        };
        let write = &pending.write;
        let ids = match write.ids_from_answer() {
            true => write.created_ids(answer),
            false => write.ids.clone(),
        };
        for id in ids {
            let path = write.read_path(&id);
            if read_allowed(app, &path) {
                targets.push((pending, id, path));
            } else {
                tracing::error!(
                    request_id = ctx.request_id,
                    path,
                    "a created record's read is not allowed to support; its change is not recorded"
                );
            }
        }
    }
    let paths = targets.iter().map(|(_, _, path)| path.clone()).collect();
    let reads = read_all(app, policy, &capture.headers, paths).await;
    let system = policy.system_fields();
    let mut entries = Vec::new();
    for ((pending, id, _), read) in targets.into_iter().zip(reads) {
        let write = &pending.write;
        let after = match read {
            ReadOutcome::Found(record) => Some(record),
            ReadOutcome::Absent => None,
            ReadOutcome::Failed(why) => {
                tracing::error!(
                    request_id = ctx.request_id,
                    module = write.module,
                    record = id,
                    why,
                    "the after-read of a support write failed; this record's change is not recorded"
                );
                continue;
            }
        };
        let before = pending
            .before
            .iter()
            .find(|(known, _)| *known == id)
            .and_then(|(_, record)| record.as_ref());
        let entry =
            NewChangeEntry::capture(&who, &write.module, &id, before, after.as_ref(), system);
        entries.extend(entry);
    }
    let recorded = app.changes.record(grant, &who, entries);
    let limit = app.limits.store_timeout;
    if let Err(e) = bounded(&app.metrics, limit, StoreOp::audit_append, recorded).await {
        tracing::error!(request_id = ctx.request_id, error = %e, "could not record what a support write changed");
    }
    Response::from_parts(parts, Body::bytes(bytes))
}

/// The headers of a read: the request's own (its credentials, the identity headers),
/// without those of its body.
fn read_headers(headers: &HeaderMap, caller: &Caller<'_>) -> HeaderMap {
    let mut headers = headers.clone();
    for name in [CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING, EXPECT] {
        headers.remove(name);
    }
    super::send::identity_headers(
        &mut headers,
        caller.grant,
        caller.facts,
        caller.peer,
        caller.tls,
    );
    headers
}

/// The `GET`s of `paths`, at most the policy's `read_concurrency` at a time, in order.
async fn read_all(
    app: &App,
    policy: &RecordWrites,
    headers: &HeaderMap,
    paths: Vec<String>,
) -> Vec<ReadOutcome> {
    let (upstream, limits) = (&app.upstream, &app.limits);
    futures::stream::iter(paths)
        .map(|path| async move {
            crate::record_read::read(upstream, limits, policy, headers, &path).await
        })
        .buffered(policy.read_concurrency())
        .collect()
        .await
}
