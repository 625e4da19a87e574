//! The support-request pipeline of SPEC §3, top to bottom:
//! verify → authorise (grant and seat) → normalise → policy and body guards →
//! audit durably → forward with identity headers → record the outcome.
//!
//! Every refusal after verification is audited as `request.blocked`; if the audit log
//! cannot take an event, the answer is `503` and nothing is forwarded.

use std::time::Instant;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HeaderValue, TRANSFER_ENCODING, USER_AGENT};
use http::{Request, Response, StatusCode};
use sha2::{Digest, Sha256};
use support_access_core::service::{Refusal as AccessRefusal, SupportTokenFacts};
use support_access_core::{Grant, RequestLine, RequestOutcome, RequestRecord, StoreError};
use support_access_policy::normalise::{check_header_names, method_overrides, normalise_target};
use support_access_policy::{BodyOutcome, NormaliseError, SupportContext};

use crate::app::{App, MANAGEMENT_PREFIX, strip_support_headers};
use crate::body::Body;
use crate::conn::Connection;
use crate::inflight::Cut;
use crate::live::{Ended, Streaming};
use crate::metrics::{Class, Outcome, StoreOp};
use crate::refusal::{Refusal, Shape};
use crate::store_call::bounded;
use crate::upstream::prepare_headers;

/// Who is asking, for the audit events of one support request.
struct Ctx<'a> {
    app: &'a App,
    request_id: &'a str,
    started: Instant,
    shape: Shape,
    grant: Option<Grant>,
    record: RequestRecord,
}

impl Ctx<'_> {
    async fn append(&self, outcome: RequestOutcome) -> Result<(), StoreError> {
        let started = Instant::now();
        let app = self.app;
        let outcome = bounded(
            &app.metrics,
            app.limits.store_timeout,
            StoreOp::audit_append,
            app.access.record_request(&self.record, outcome),
        )
        .await;
        app.metrics.audit_append(started.elapsed());
        outcome
    }

    /// Refuses the request, recording `request.blocked`; `503` if that record fails.
    async fn block(&self, refusal: Refusal) -> Response<Body> {
        let blocked = RequestOutcome::Blocked {
            status: refusal.status().as_u16(),
            error: refusal.code().to_owned(),
            rule: refusal.rule().map(|rule| rule.into_owned()),
            restriction: refusal.restriction(),
            latency_ms: self.started.elapsed().as_millis() as u64,
        };
        let refusal = match self.append(blocked).await {
            Ok(()) => refusal,
            Err(e) => {
                tracing::error!(request_id = self.request_id, error = %e, "audit log unavailable; refusing");
                Refusal::AuditUnavailable
            }
        };
        tracing::info!(
            request_id = self.request_id,
            code = refusal.code(),
            status = refusal.status().as_u16(),
            "support request refused"
        );
        self.app
            .finish(Class::support, Outcome::refused, self.started);
        refusal.render(self.shape, self.request_id)
    }

    /// Refuses without an audit event: the store cannot take it.
    fn refuse_unaudited(&self, refusal: Refusal) -> Response<Body> {
        refuse_unaudited(self.app, refusal, self.shape, self.request_id, self.started)
    }
}

/// Refuses without an audit event: the token did not verify (so no org is known), or
/// the store cannot say.
fn refuse_unaudited(
    app: &App,
    refusal: Refusal,
    shape: Shape,
    request_id: &str,
    started: Instant,
) -> Response<Body> {
    tracing::info!(request_id, code = refusal.code(), "support token refused");
    app.finish(Class::support, Outcome::refused, started);
    refusal.render(shape, request_id)
}

fn header_value(text: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(text).ok()
}

/// Runs one support request through the pipeline; `form` is its form-encoded body if
/// identification read one.
pub(crate) async fn support(
    app: &App,
    request: Request<Body>,
    connection: &Connection,
    token: String,
    form: Option<Bytes>,
    request_id: &str,
    started: Instant,
) -> Response<Body> {
    let now = app.access.now();
    let peer = connection.peer();
    let raw_path = request.uri().path().to_owned();
    let shape = app.shape_for(&raw_path);

    // 1. Verify the token, then the grant and the seat.
    let facts: SupportTokenFacts = match app
        .signer
        .verify(&token, now)
        .and_then(|claims| claims.facts())
    {
        Ok(facts) => facts,
        Err(e) => return refuse_unaudited(app, e.into(), shape, request_id, started),
    };
    let line = RequestLine {
        request_id: request_id.to_owned(),
        method: request.method().as_str().to_owned(),
        path: raw_path,
        client_ip: Some(peer.ip().to_string()),
        user_agent: request
            .headers()
            .get(USER_AGENT)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
    };
    let mut ctx = Ctx {
        app,
        request_id,
        started,
        shape,
        grant: None,
        record: RequestRecord::new(facts.clone(), line),
    };
    // Watched from before the grant is read: an end of access after this is seen.
    let watch = app.live.watch(&facts);
    let authorised = bounded(
        &app.metrics,
        app.limits.store_timeout,
        StoreOp::grant_lookup,
        app.access.authorise(&facts, now),
    )
    .await;
    match authorised {
        Ok(grant) => {
            ctx.record.authorised(&grant);
            ctx.grant = Some(grant);
            app.live.attach(&facts, connection);
        }
        Err(AccessRefusal::Store(e)) => {
            return ctx.refuse_unaudited(e.into());
        }
        Err(refused) => return ctx.block(refused.into()).await,
    }
    let Some(grant) = ctx.grant.clone() else {
        return ctx.refuse_unaudited(Refusal::Internal);
    };

    // 2. Normalise: what is forwarded is exactly what was checked. An HTTP/1.1
    // absolute-form target is refused; HTTP/2 always carries `:scheme` and
    // `:authority`, which are not one.
    if crate::target::is_absolute_form(&request) {
        return ctx.block(Refusal::AbsoluteForm).await;
    }
    // `_method` in a form body is an override like the headers (the query's is the
    // normaliser's).
    let form_override = !method_overrides([], None, form.as_deref()).is_empty();
    let names = request.headers().keys().map(|k| k.as_str());
    let checked = check_header_names(names).and_then(|()| match form_override {
        true => Err(NormaliseError::MethodOverride("_method".into())),
        false => Ok(()),
    });
    if let Err(e) = checked {
        return ctx.block(e.into()).await;
    }
    let raw_target = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let target = match normalise_target(&raw_target) {
        Ok(target) => target,
        Err(e) => {
            return ctx.block(e.into()).await;
        }
    };
    ctx.record.line.path = target.path().to_owned();
    ctx.shape = app.shape_for(target.path());

    // 3. The route policy, then the body guards. The one management call a support
    // token may make is releasing its own seat.
    if request.method() == http::Method::DELETE && target.match_key() == "/support-access/v1/token"
    {
        let released = bounded(
            &app.metrics,
            app.limits.store_timeout,
            StoreOp::lifecycle,
            app.access.release_seat(&facts.org, &facts.actor),
        )
        .await;
        return match released {
            Ok(_) => {
                app.live
                    .end_actor(facts.grant, &facts.actor, Ended::SeatReleased);
                app.finish(Class::support, Outcome::answered, started);
                let mut response = Response::new(Body::empty());
                *response.status_mut() = StatusCode::NO_CONTENT;
                response
            }
            Err(refused) => ctx.block(refused.into()).await,
        };
    }
    if target
        .match_key()
        .starts_with(MANAGEMENT_PREFIX.trim_end_matches('/'))
    {
        return ctx.block(Refusal::Settings).await;
    }
    let method = request.method().as_str().to_owned();
    let decision = app.policy.decide(&method, &target);
    if !decision.is_allowed() {
        return ctx.block(Refusal::from(&decision)).await;
    }
    ctx.record.rule = decision.rule.as_ref().map(|r| r.to_string());
    ctx.record.restriction = decision.restriction;
    let (mut parts, incoming) = request.into_parts();
    let body = if decision.needs_body() {
        let read = crate::inflight::read_body(app, &watch, &facts, &parts.headers, incoming);
        let bytes = match read.await {
            Ok(bytes) => bytes,
            Err(refusal) => return ctx.block(refusal).await,
        };
        ctx.record.body_sha256 = Some(hex::encode(Sha256::digest(&bytes)));
        let guard_ctx = SupportContext {
            support_user: grant.support_user,
            now,
        };
        match app.policy.guard_support_body(&decision, &bytes, &guard_ctx) {
            Ok(guarded) => {
                // The event names what was forwarded: the rewrites and their hash.
                ctx.record.rewrites = guarded.rewrites;
                match guarded.outcome {
                    BodyOutcome::Unchanged => Body::bytes(bytes),
                    BodyOutcome::Rewritten(rewritten) => {
                        ctx.record.body_sha256 = Some(hex::encode(Sha256::digest(&rewritten)));
                        parts.headers.remove(TRANSFER_ENCODING);
                        parts
                            .headers
                            .insert(CONTENT_LENGTH, HeaderValue::from(rewritten.len()));
                        Body::bytes(rewritten)
                    }
                }
            }
            Err(refused) => return ctx.block(refused.into()).await,
        }
    } else if http_body::Body::is_end_stream(&incoming) || matches!(incoming, Body::Full(_)) {
        incoming
    } else {
        // An upload streams under the guard: if access ends, the CRM sees it cut.
        Body::Revocable(Box::new(watch.guard(incoming, Streaming::Upload)))
    };

    // 4. Record the decision durably before anything is forwarded.
    if let Err(e) = ctx.append(RequestOutcome::Allowed).await {
        tracing::error!(request_id, error = %e, "audit log unavailable; nothing forwarded");
        app.finish(Class::support, Outcome::refused, started);
        return Refusal::AuditUnavailable.render(ctx.shape, request_id);
    }

    // 5. Forward with the identity headers, then record the outcome.
    let in_flight = InFlight::new(&app.metrics);
    strip_support_headers(&mut parts.headers);
    let identity = [
        ("x-support-access-grant", grant.id.to_string()),
        ("x-support-access-user", grant.support_user.to_string()),
        ("x-support-access-actor", facts.actor.to_string()),
    ];
    for (name, value) in identity {
        if let Some(value) = header_value(&value) {
            parts.headers.insert(name, value);
        }
    }
    prepare_headers(&mut parts.headers, peer);
    let request = Request::from_parts(parts, body);
    let forwarded = crate::inflight::forward(app, &watch, request, &target.forward_target()).await;
    let mut completed = Completed {
        status: 0,
        error: None,
    };
    let response = match forwarded {
        Ok(response) => {
            completed.status = response.status().as_u16();
            app.finish(Class::support, Outcome::forwarded, started);
            response.map(|body| {
                Body::Revocable(Box::new(watch.guard(Body::from(body), Streaming::Response)))
            })
        }
        Err(Cut::Ended(why)) => {
            let refusal = Refusal::from(why);
            tracing::info!(
                request_id,
                code = refusal.code(),
                "support access ended while the request waited for the CRM; upstream request dropped"
            );
            completed.status = refusal.status().as_u16();
            app.finish(Class::support, Outcome::refused, started);
            refusal.render(ctx.shape, request_id)
        }
        Err(Cut::Upstream(failure)) => {
            app.metrics.upstream_error(failure.label());
            let refusal = Refusal::from(failure);
            completed.status = refusal.status().as_u16();
            completed.error = Some(refusal.code().to_owned());
            app.finish(Class::support, Outcome::refused, started);
            refusal.render(ctx.shape, request_id)
        }
    };
    let completed = RequestOutcome::Completed {
        status: completed.status,
        error: completed.error,
        latency_ms: started.elapsed().as_millis() as u64,
    };
    if let Err(e) = ctx.append(completed).await {
        tracing::error!(request_id, error = %e, "could not record the outcome of a forwarded support request");
    }
    drop(in_flight);
    response
}

/// The outcome of a forwarded request, as the CRM's answer (or its absence) decides it.
struct Completed {
    status: u16,
    error: Option<String>,
}

/// Counts a support request between its durable `request.allowed` and its
/// `request.completed` (also when the request is dropped in between, at shutdown).
struct InFlight<'a>(&'a crate::metrics::Metrics);

impl<'a> InFlight<'a> {
    fn new(metrics: &'a crate::metrics::Metrics) -> Self {
        metrics.support_in_flight(1);
        Self(metrics)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.support_in_flight(-1);
    }
}
