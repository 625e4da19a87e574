//! The support-request pipeline of SPEC §3, one named step per stage:
//!
//! identify (`app.rs`) → [`check::verify`] → [`authorise`] → [`check::normalise`] →
//! [`approval::decide`] (the policy, and one-request approvals) → [`inspect::body`]
//! (or [`approval::body`] to offer or use an approval) → [`capture::before`] (support
//! record writes) → record `request.allowed` → [`send::identity_headers`] and forward
//! → [`send::complete`] → [`capture::after`] → hand `request.completed` to the writer
//! ([`crate::completions`]: the response does not wait for its commit).
//!
//! Each step takes what it needs and returns `Result<_, Refusal>`; [`support`] drives
//! them. Every refusal after verification is audited as `request.blocked`; if the audit
//! log cannot take an event, the answer is `503` and nothing is forwarded. The audit
//! events are built from one [`RequestRecord`] that the steps fill in as they go.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use http::header::USER_AGENT;
use http::{Request, Response, StatusCode};
use support_access_core::service::{Refusal as AccessRefusal, SupportTokenFacts};
use support_access_core::{Grant, RequestLine, RequestOutcome, RequestRecord, StoreError};
use support_access_policy::SupportContext;

use crate::access_log::{SupportFacts, Unverified};
use crate::body::Body;
use crate::conn::Connection;
use crate::live::Watch;
use crate::metrics::{Class, Outcome, StoreOp};
use crate::refusal::{Refusal, Shape};
use crate::state::App;
use crate::store_call::bounded;

mod approval;
mod capture;
mod check;
mod inspect;
mod send;
#[cfg(test)]
mod tests;

/// Why the pipeline stopped before forwarding.
enum Stop {
    /// Refused, and audited as `request.blocked`.
    Blocked(Refusal),
    /// Refused without an audit event: the store cannot take one.
    Unaudited(Refusal),
    /// Answered by the gateway itself: the holder released their own seat.
    Answered(Response<Body>),
}

impl From<Refusal> for Stop {
    fn from(refusal: Refusal) -> Self {
        Self::Blocked(refusal)
    }
}

/// One support request on its way: where its events go and how it answers.
struct Ctx<'a> {
    app: &'a App,
    request_id: &'a str,
    started: Instant,
    shape: Shape,
    record: RequestRecord,
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
    let shape = app.shape_for(request.uri().path());
    let facts = match check::verify(&app.signer, &token, now) {
        Ok(facts) => facts,
        Err(refusal) => {
            let mut response = refuse_unaudited(app, refusal, shape, request_id, started);
            response.extensions_mut().insert(Unverified);
            return response;
        }
    };
    let line = request_line(&request, connection.peer(), request_id);
    let mut ctx = Ctx {
        app,
        request_id,
        started,
        shape,
        record: RequestRecord::new(facts, line),
    };
    // Watched from before the grant is read: an end of access after this is seen.
    let watch = app.live.watch(&ctx.record.facts);
    let who = SupportFacts::of(&ctx.record.facts);
    let mut response = match steps(&mut ctx, request, connection, form.as_deref(), &watch).await {
        Ok(response) => response,
        Err(Stop::Blocked(refusal)) => ctx.block(refusal).await,
        Err(Stop::Unaudited(refusal)) => ctx.refuse_unaudited(refusal),
        Err(Stop::Answered(response)) => {
            app.finish(Class::support, Outcome::answered, started);
            response
        }
    };
    response.extensions_mut().insert(who);
    response
}

/// SPEC §3 in order, once the token verified.
async fn steps(
    ctx: &mut Ctx<'_>,
    request: Request<Body>,
    connection: &Connection,
    form: Option<&[u8]>,
    watch: &Watch,
) -> Result<Response<Body>, Stop> {
    let app = ctx.app;
    let now = app.access.now();
    let grant = authorise(app, &mut ctx.record, now).await?;
    app.live.attach(&ctx.record.facts, connection);

    let target = check::normalise(&request, form)?;
    ctx.record.line.path = target.path().to_owned();
    ctx.shape = app.shape_for(target.path());
    if check::releases_own_seat(request.method(), &target) {
        return Err(release_own_seat(app, &ctx.record.facts, ctx.request_id).await?);
    }
    let (method, headers) = (request.method(), request.headers());
    let (decision, gate) = approval::decide(&app.policy, method, &target, headers)?;
    ctx.record.rule = decision.rule.as_ref().map(|rule| rule.to_string());
    ctx.record.restriction = decision.restriction;

    let (mut parts, incoming) = request.into_parts();
    let context = SupportContext {
        support_user: grant.support_user,
        now,
    };
    let record = &mut ctx.record;
    let (body, read) = if approval::takes_body(&decision, &gate) {
        let inputs = approval::Inputs {
            app,
            watch,
            grant: &grant,
            target: &target,
            context: &context,
        };
        approval::body(inputs, record, &decision, gate, &mut parts, incoming).await?
    } else {
        let body = inspect::body(
            app, watch, record, &decision, &context, &mut parts, incoming,
        );
        body.await?
    };
    let caller = capture::Caller {
        grant: &grant,
        facts: &ctx.record.facts,
        peer: connection.peer(),
        tls: connection.is_tls(),
    };
    let before = capture::before(
        app,
        caller,
        &parts.method,
        &target,
        &parts.headers,
        read.as_ref(),
    );
    let capture = before.await?;

    // Recorded durably before anything is forwarded.
    if let Err(e) = ctx.append(RequestOutcome::Allowed).await {
        tracing::error!(request_id = ctx.request_id, error = %e, "audit log unavailable; nothing forwarded");
        return Err(Stop::Unaudited(Refusal::AuditUnavailable));
    }

    let in_flight = crate::completions::InFlight::new(&app.metrics);
    send::identity_headers(
        &mut parts.headers,
        &grant,
        &ctx.record.facts,
        connection.peer(),
        connection.is_tls(),
    );
    let request = Request::from_parts(parts, body);
    let forwarded = crate::inflight::forward(app, watch, request, &target.forward_target()).await;
    let (mut response, completed) = send::complete(ctx, watch, forwarded);
    if let Some(capture) = capture {
        response = capture::after(ctx, &grant, capture, response).await;
    }
    // Handed to the writer; the response does not wait for its commit.
    let append = app.access.record_request_owned(&ctx.record, completed);
    let request_id = ctx.request_id;
    app.completions.record(append, in_flight, request_id).await;
    Ok(response)
}

/// What the audit log says of the request before the pipeline has looked at it.
fn request_line<B>(request: &Request<B>, peer: SocketAddr, request_id: &str) -> RequestLine {
    RequestLine {
        request_id: request_id.to_owned(),
        method: request.method().as_str().to_owned(),
        path: request.uri().path().to_owned(),
        client_ip: Some(peer.ip().to_string()),
        user_agent: request
            .headers()
            .get(USER_AGENT)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
    }
}

/// The grant must be active now and the token's actor must hold its seat under the
/// claim the token was issued for. A store that cannot say refuses unaudited (`503`).
/// The record carries the grant's reason and ticket from here on, refused or not.
async fn authorise(
    app: &App,
    record: &mut RequestRecord,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Grant, Stop> {
    let authorised = app.access.authorise_request(record, now);
    let limit = app.limits.store_timeout;
    match bounded(&app.metrics, limit, StoreOp::grant_lookup, authorised).await {
        Ok(grant) => Ok(grant),
        Err(AccessRefusal::Store(e)) => Err(Stop::Unaudited(e.into())),
        Err(refused) => Err(Stop::Blocked(refused.into())),
    }
}

/// The one management call a support token may make: releasing its own seat (`204`).
async fn release_own_seat(
    app: &App,
    facts: &SupportTokenFacts,
    request_id: &str,
) -> Result<Stop, Refusal> {
    let limit = app.limits.store_timeout;
    let access = app.access.for_request(request_id);
    let (access, live, metrics) = ((&access, &app.approvals), &app.live, &app.metrics);
    crate::seat::release(access, live, metrics, limit, &facts.org, &facts.actor).await?;
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(Stop::Answered(response))
}

impl Ctx<'_> {
    /// Records what became of the request, bounded by `limits.store_timeout`.
    async fn append(&self, outcome: RequestOutcome) -> Result<(), StoreError> {
        let started = Instant::now();
        let app = self.app;
        let recorded = app.access.record_request(&self.record, outcome);
        let limit = app.limits.store_timeout;
        let outcome = bounded(&app.metrics, limit, StoreOp::audit_append, recorded).await;
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

    fn refuse_unaudited(&self, refusal: Refusal) -> Response<Body> {
        refuse_unaudited(self.app, refusal, self.shape, self.request_id, self.started)
    }
}

/// Refuses without an audit event: the token did not verify (so no org is known), or
/// the store cannot take one.
fn refuse_unaudited(
    app: &App,
    refusal: Refusal,
    shape: Shape,
    request_id: &str,
    started: Instant,
) -> Response<Body> {
    tracing::info!(
        request_id,
        code = refusal.code(),
        "support request refused unaudited"
    );
    app.finish(Class::support, Outcome::refused, started);
    refusal.render(shape, request_id)
}
