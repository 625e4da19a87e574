//! The gateway's own routes on the proxy listener, under `/support-access/`.
//! The full management API (SPEC §5) lands with its own issue; the JWK Set of the
//! support keys is served now, since the upstream needs it to verify support tokens.

use std::time::Instant;

use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;

use crate::app::App;
use crate::body::Body;
use crate::metrics::{Class, Outcome};
use crate::refusal::{Refusal, Shape};

/// Answers a request under `/support-access/` that carries no support token.
pub(crate) async fn handle(
    app: &App,
    request: Request<Incoming>,
    request_id: &str,
    started: Instant,
) -> Response<Body> {
    let path = request.uri().path();
    let response = match (request.method(), path) {
        (&Method::GET | &Method::HEAD, "/support-access/v1/jwks.json") => {
            json(StatusCode::OK, &app.signer.jwks())
        }
        _ => Refusal::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("No management route {} {path}.", request.method()),
        )
        .render(Shape::Generic, request_id),
    };
    let outcome = if response.status().is_success() {
        Outcome::answered
    } else {
        Outcome::refused
    };
    app.finish(Class::management, outcome, started);
    response
}

/// A JSON response.
pub(crate) fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(Body::bytes(serde_json::to_vec(value).unwrap_or_default()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
