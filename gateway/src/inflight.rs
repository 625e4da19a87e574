//! The steps of a support request that wait — for its body, for the CRM — each under
//! the holder's [`Watch`]: when support access ends meanwhile (revoke, expiry, seat
//! release, on any instance), the wait ends with the refusal the next request would
//! get, and what was under way is dropped (the upstream request is reset, never
//! completed).

use bytes::Bytes;
use http::header::HeaderMap;
use http::{Request, Response};
use hyper::body::Incoming;
use support_access_core::service::SupportTokenFacts;

use crate::body::Body;
use crate::live::{Ended, Watch};
use crate::metrics::StoreOp;
use crate::refusal::Refusal;
use crate::state::App;
use crate::store_call::bounded;
use crate::upstream::UpstreamFailure;

/// Reads a body a rule must inspect (bounded in size and in time), then checks the
/// grant again: access that ended while the body arrived refuses the request.
pub(crate) async fn read_body(
    app: &App,
    watch: &Watch,
    facts: &SupportTokenFacts,
    headers: &HeaderMap,
    incoming: Body,
) -> Result<Bytes, Refusal> {
    let read = tokio::select! {
        biased;
        why = watch.ended() => {
            app.live.cuts().body_read();
            return Err(why.into());
        }
        read = crate::read::read_body(&app.limits, headers, incoming) => read,
    };
    let bytes = read?;
    let now = app.access.now();
    let limit = app.limits.store_timeout;
    match bounded(
        &app.metrics,
        limit,
        StoreOp::grant_lookup,
        app.access.authorise(facts, now),
    )
    .await
    {
        Ok(_) => Ok(bytes),
        // Ended, or a store that cannot say (`503`): refused either way.
        Err(refused) => Err(refused.into()),
    }
}

/// Why a forwarded request got no response from the CRM.
pub(crate) enum Cut {
    /// Support access ended while the request waited; the upstream request was dropped.
    Ended(Ended),
    /// The CRM failed.
    Upstream(UpstreamFailure),
}

/// Sends `request` to the CRM and waits for its response head, unless support access
/// ends first: then the upstream request is dropped (its connection closed, an upload
/// aborted) and the holder's refusal returned.
pub(crate) async fn forward(
    app: &App,
    watch: &Watch,
    request: Request<Body>,
    target: &str,
) -> Result<Response<Incoming>, Cut> {
    tokio::select! {
        biased;
        why = watch.ended() => {
            app.live.cuts().head_wait();
            Err(Cut::Ended(why))
        }
        sent = app.upstream.send(request, target) => match sent {
            Ok(response) => Ok(response),
            // An upload cut by the guard fails the send: report why.
            Err(failure) => match watch.ended_now() {
                Some(why) => Err(Cut::Ended(why)),
                None => Err(Cut::Upstream(failure)),
            },
        },
    }
}
