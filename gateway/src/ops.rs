//! The ops listener: `/healthz` (the process answers), `/readyz` (the store answers and
//! the audit log takes events), `/metrics` (Prometheus text format).

use std::time::Duration;

use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;

use crate::body::Body;
use crate::management::json;
use crate::state::App;

/// Answers one ops request.
pub(crate) async fn handle(app: &App, request: Request<Incoming>) -> Response<Body> {
    match request.uri().path() {
        "/healthz" => json(StatusCode::OK, &json!({"status": "ok"})),
        "/readyz" => {
            let probe = app.access.probe();
            match tokio::time::timeout(Duration::from_secs(2), probe).await {
                // The store reads, but the audit log refused the latest support
                // request's event (a full or read-only disk): support traffic gets 503.
                Ok(Ok(_)) if app.metrics().audit_health().failing() => json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &json!({"status": "unavailable", "error": "audit_unavailable"}),
                ),
                Ok(Ok(_)) => json(StatusCode::OK, &json!({"status": "ready"})),
                Ok(Err(e)) => json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &json!({"status": "unavailable", "error": e.code()}),
                ),
                Err(_) => json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &json!({"status": "unavailable", "error": "store_timeout"}),
                ),
            }
        }
        "/metrics" => {
            let mut response = Response::new(Body::bytes(app.metrics().render()));
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            response
        }
        _ => json(StatusCode::NOT_FOUND, &json!({"error": "not_found"})),
    }
}
