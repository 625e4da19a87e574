//! Reading one record back from the CRM (SPEC §11): the before- and after-reads of a
//! support write, and the reads around a revert. The policy's `[changes]` says what the
//! answer means.

use http::Request;
use http::header::HeaderMap;
use support_access_policy::changes::{ReadOutcome, RecordWrites};

use crate::body::Body;

/// One `GET {path}` through `upstream` with `headers`, and what its answer means.
pub(crate) async fn read(
    upstream: &crate::upstream::Upstream,
    limits: &crate::config::Limits,
    policy: &RecordWrites,
    headers: &HeaderMap,
    path: &str,
) -> ReadOutcome {
    let mut request = Request::new(Body::empty());
    *request.headers_mut() = headers.clone();
    let response = match upstream.send(request, path).await {
        Ok(response) => response,
        Err(failure) => return ReadOutcome::Failed(failure.label().to_owned()),
    };
    let status = response.status().as_u16();
    let (parts, body) = response.into_parts();
    match crate::read::read_body(limits, &parts.headers, Body::from(body)).await {
        Ok(bytes) => policy.read_outcome(status, &bytes),
        Err(refusal) => ReadOutcome::Failed(refusal.code().to_owned()),
    }
}
