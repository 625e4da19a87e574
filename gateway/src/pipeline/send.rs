//! 5. Forward with the identity headers, and the outcome `request.completed` records.

use std::net::SocketAddr;

use http::Response;
use http::header::{HeaderMap, HeaderValue};
use hyper::body::Incoming;
use support_access_core::service::SupportTokenFacts;
use support_access_core::{Grant, RequestOutcome};

use super::Ctx;
use crate::body::Body;
use crate::inflight::Cut;
use crate::live::{Streaming, Watch};
use crate::metrics::{Class, Outcome};
use crate::ordinary::strip_support_headers;
use crate::refusal::Refusal;
use crate::upstream::prepare_headers;

/// Only the gateway sets `X-Support-Access-*`: incoming ones go, the grant, support
/// user and actor are set; then the forwarding headers (`X-Forwarded-*`, hop-by-hop).
pub(super) fn identity_headers(
    headers: &mut HeaderMap,
    grant: &Grant,
    facts: &SupportTokenFacts,
    peer: SocketAddr,
    tls: bool,
) {
    strip_support_headers(headers);
    let identity = [
        ("x-support-access-grant", grant.id.to_string()),
        ("x-support-access-user", grant.support_user.to_string()),
        ("x-support-access-actor", facts.actor.to_string()),
    ];
    for (name, value) in identity {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    prepare_headers(headers, peer, tls);
}

/// The client's response — the CRM's, streaming under the holder's watch, or the
/// refusal of why there is none — and the outcome to record.
pub(super) fn complete(
    ctx: &Ctx<'_>,
    watch: &Watch,
    forwarded: Result<Response<Incoming>, Cut>,
) -> (Response<Body>, RequestOutcome) {
    let (app, started) = (ctx.app, ctx.started);
    let latency_ms = started.elapsed().as_millis() as u64;
    let (status, error, response) = match forwarded {
        Ok(response) => {
            app.finish(Class::support, Outcome::forwarded, started);
            let response = response.map(|body| {
                Body::Revocable(Box::new(watch.guard(Body::from(body), Streaming::Response)))
            });
            (response.status(), None, response)
        }
        Err(Cut::Ended(why)) => {
            let refusal = Refusal::from(why);
            tracing::info!(
                request_id = ctx.request_id,
                code = refusal.code(),
                "support access ended while the request waited for the CRM; upstream request dropped"
            );
            app.finish(Class::support, Outcome::refused, started);
            let response = refusal.render(ctx.shape, ctx.request_id);
            (response.status(), None, response)
        }
        Err(Cut::Upstream(failure)) => {
            app.metrics.upstream_error(failure.label());
            let refusal = Refusal::from(failure);
            app.finish(Class::support, Outcome::refused, started);
            let error = Some(refusal.code().to_owned());
            (
                refusal.status(),
                error,
                refusal.render(ctx.shape, ctx.request_id),
            )
        }
    };
    let completed = RequestOutcome::Completed {
        status: status.as_u16(),
        error,
        latency_ms,
    };
    (response, completed)
}
