//! The steps that only look: the token, the request target, the route policy. Pure,
//! so each is tested without a socket.

use chrono::{DateTime, Utc};
use http::{Method, Request};
use support_access_core::service::SupportTokenFacts;
use support_access_policy::normalise::{check_header_names, method_overrides, normalise_target};
use support_access_policy::{NormaliseError, Target};

use crate::refusal::Refusal;
use crate::target::MANAGEMENT_PREFIX;
use crate::tokens::SupportSigner;

/// 1. The support token verifies (pinned EdDSA, cached until `exp`) and carries the
///    facts `authorise` checks.
pub(super) fn verify(
    signer: &SupportSigner,
    token: &str,
    now: DateTime<Utc>,
) -> Result<SupportTokenFacts, Refusal> {
    Ok(signer.verify(token, now)?.facts()?)
}

/// 2. What is forwarded is exactly what was checked. An HTTP/1.1 absolute-form target
///    is refused (HTTP/2 always carries `:scheme` and `:authority`, which are not one);
///    so are method overrides — headers, and `_method` in the query or a form body —
///    and headers that carry a path.
pub(super) fn normalise<B>(request: &Request<B>, form: Option<&[u8]>) -> Result<Target, Refusal> {
    if crate::target::is_absolute_form(request) {
        return Err(Refusal::AbsoluteForm);
    }
    check_header_names(request.headers().keys().map(|k| k.as_str()))?;
    // The query's `_method` is the normaliser's.
    if !method_overrides([], None, form).is_empty() {
        return Err(NormaliseError::MethodOverride("_method".into()).into());
    }
    let raw = request.uri().path_and_query().map_or("/", |p| p.as_str());
    Ok(normalise_target(raw)?)
}

/// Whether the request is the holder releasing their own seat (`DELETE /token`).
pub(super) fn releases_own_seat(method: &Method, target: &Target) -> bool {
    method == Method::DELETE && target.match_key() == "/support-access/v1/token"
}

/// 3. The Support Access settings are never the support user's (restriction 1); the
///    route policy decides the rest (`approval::decide`).
pub(super) fn settings(target: &Target) -> Result<(), Refusal> {
    if target
        .match_key()
        .starts_with(MANAGEMENT_PREFIX.trim_end_matches('/'))
    {
        return Err(Refusal::Settings);
    }
    Ok(())
}
