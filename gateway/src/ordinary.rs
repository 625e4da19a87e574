//! Ordinary traffic (SPEC §3): forwarded unchanged but for two guards — incoming
//! `X-Support-Access-*` headers are removed, and assignments to a hidden support user
//! are refused — with the pure parts: which methods a request is guarded as, and which
//! incoming headers are the gateway's own.
//!
//! A method override (`X-HTTP-Method-Override` and kin in any spelling, `_method` in the
//! query or a form body) makes an upstream framework run another method than the
//! request line's, so the request is guarded as every method it names: a `GET` that
//! overrides to `POST` gets its body read by the assignment guard.

use std::time::Instant;

use bytes::Bytes;
use http::header::HeaderMap;
use http::request::Parts;
use http::{Request, Response};
use support_access_policy::normalise::{fold_header_name, method_overrides};

use crate::body::Body;
use crate::conn::Connection;
use crate::metrics::{Class, Outcome};
use crate::refusal::Refusal;
use crate::state::App;
use crate::upstream::prepare_headers_for;

/// The request line's method and every method an override names, without repeats.
pub(crate) fn guarded_methods(parts: &Parts, form: Option<&[u8]>) -> Vec<String> {
    let query = parts.uri.query();
    // Header values as text without copying them, unless one is not UTF-8 (then as the
    // lossy copies the upstream framework would see).
    let all_utf8 = parts
        .headers
        .values()
        .all(|value| std::str::from_utf8(value.as_bytes()).is_ok());
    let overrides = if all_utf8 {
        method_overrides(
            parts.headers.iter().map(|(name, value)| {
                (
                    name.as_str(),
                    std::str::from_utf8(value.as_bytes()).unwrap_or_default(),
                )
            }),
            query,
            form,
        )
    } else {
        let values: Vec<(&str, String)> = parts
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        method_overrides(values.iter().map(|(n, v)| (*n, v.as_str())), query, form)
    };
    let mut methods = vec![parts.method.as_str().to_owned()];
    for method in overrides {
        if !methods.contains(&method) {
            methods.push(method);
        }
    }
    methods
}

/// Whether a header is one of the gateway's own identity headers in a spelling an
/// upstream might fold into that name (`X_Support_Access_User`, `x.support.access.user`).
pub(crate) fn is_support_header(name: &str) -> bool {
    fold_header_name(name).starts_with("x-support-access-")
}

/// Removes every incoming `X-Support-Access-*` header, in any spelling: only the
/// gateway sets them.
pub fn strip_support_headers(headers: &mut HeaderMap) {
    if !headers.keys().any(|name| is_support_header(name.as_str())) {
        return;
    }
    let doomed: Vec<http::HeaderName> = headers
        .keys()
        .filter(|name| is_support_header(name.as_str()))
        .cloned()
        .collect();
    for name in doomed {
        headers.remove(name);
    }
}

/// Ordinary traffic: forwarded unchanged, except that incoming `X-Support-Access-*`
/// headers are removed and assignments to a hidden support user are refused.
pub(crate) async fn forward(
    app: &App,
    request: Request<Body>,
    connection: &Connection,
    form: Option<Bytes>,
    request_id: &str,
    started: Instant,
) -> Response<Body> {
    let (mut parts, incoming) = request.into_parts();
    strip_support_headers(&mut parts.headers);
    // A cheap clone (shared bytes) that outlives `parts`, for the send and a refusal.
    let path_and_query = parts.uri.path_and_query().cloned();
    let target = path_and_query.as_ref().map_or("/", |p| p.as_str());
    let path = path_and_query.as_ref().map_or("/", |p| p.path());
    let support_users = app.support_users.get();
    // Guarded as the request line's method and every method an override names; with no
    // hidden support user there is nothing to guard.
    let methods = if support_users.is_empty() {
        Vec::new()
    } else {
        crate::ordinary::guarded_methods(&parts, form.as_deref())
    };
    let body = if methods
        .iter()
        .any(|method| app.policy.ordinary_needs_body(method, target))
    {
        let bytes = match crate::read::read_body(&app.limits, &parts.headers, incoming).await {
            Ok(bytes) => bytes,
            Err(refusal) => {
                app.finish(Class::ordinary, Outcome::refused, started);
                return refusal.render(app.shape_for(path), request_id);
            }
        };
        if let Some(refused) = methods.iter().find_map(|method| {
            app.policy
                .check_ordinary_body(method, target, &bytes, &support_users)
                .err()
        }) {
            app.finish(Class::ordinary, Outcome::refused, started);
            tracing::info!(
                request_id,
                code = refused.code,
                "ordinary request refused by the assignment guard"
            );
            return Refusal::from(refused).render(app.shape_for(path), request_id);
        }
        Body::bytes(bytes)
    } else {
        incoming
    };
    prepare_headers_for(
        &mut parts.headers,
        connection.peer_header(),
        connection.is_tls(),
    );
    match app
        .upstream
        .send(Request::from_parts(parts, body), target)
        .await
    {
        Ok(response) => {
            app.finish(Class::ordinary, Outcome::forwarded, started);
            response.map(Body::from)
        }
        Err(failure) => {
            app.metrics.upstream_error(failure.label());
            app.finish(Class::ordinary, Outcome::refused, started);
            Refusal::from(failure).render(app.shape_for(path), request_id)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_folded_spelling_of_the_identity_headers_is_stripped() {
        let mut headers = HeaderMap::new();
        for name in [
            "x-support-access-user",
            "X_Support_Access_User",
            "x_support-access_grant",
            "x.support.access.actor",
        ] {
            headers.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                http::HeaderValue::from_static("forged"),
            );
        }
        headers.insert(
            "x-support-accessory",
            http::HeaderValue::from_static("kept"),
        );
        strip_support_headers(&mut headers);
        assert_eq!(headers.len(), 1, "{headers:?}");
    }

    #[test]
    fn a_get_overridden_to_post_is_guarded_as_both() {
        let (parts, ()) = http::Request::get("/crm/v8/Leads/1/actions/change_owner?_method=put")
            .header("X_HTTP_Method_Override", "post")
            .body(())
            .unwrap()
            .into_parts();
        assert_eq!(
            guarded_methods(&parts, Some(b"_method=PATCH")),
            ["GET", "POST", "PUT", "PATCH"]
        );
    }
}
