//! How a refusal reads on the wire: its JSON body in the generic or the CRM's shape,
//! and the one rescue that turns it into a response.

use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http::{Response, StatusCode};
use serde_json::{Map, Value, json};
use support_access_core::change::{RevertError, SupportChangeError};

use super::{Refusal, Shape};
use crate::body::Body;

impl Refusal {
    /// The JSON body in `shape`.
    pub fn body(&self, shape: Shape, request_id: &str) -> Value {
        let mut details = Map::new();
        details.insert("error".into(), json!(self.code()));
        if let Some(restriction) = self.restriction() {
            details.insert("restriction".into(), json!(restriction));
        }
        if let Some(rule) = self.rule() {
            details.insert("rule".into(), json!(rule));
        }
        if let Self::Change(SupportChangeError::Revert(RevertError::ChangedSince(fields))) = self {
            details.insert("fields".into(), json!(fields));
        }
        details.insert("request_id".into(), json!(request_id));
        if let Self::Offered { approval, .. } = self {
            details.insert("approval".into(), approval.json());
        }
        match shape {
            Shape::Generic => {
                let mut body = details;
                body.insert("message".into(), json!(self.message()));
                Value::Object(body)
            }
            Shape::Zoho => json!({
                "code": zoho_code(self.status()),
                "status": "error",
                "message": self.message(),
                "details": details,
            }),
        }
    }

    /// The rescue: the HTTP response of this refusal, for the proxy and the management
    /// API alike. A store failure's detail goes to the log here, never to the client.
    pub fn render(&self, shape: Shape, request_id: &str) -> Response<Body> {
        if let Self::Store(e) = self {
            tracing::error!(request_id, error = %e, "store unavailable; refusing");
        }
        let bytes = serde_json::to_vec(&self.body(shape, request_id)).unwrap_or_default();
        let mut response = Response::new(Body::bytes(bytes));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Ok(id) = HeaderValue::from_str(request_id) {
            headers.insert("x-request-id", id);
        }
        response
    }
}

fn zoho_code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::UNAUTHORIZED => "INVALID_TOKEN",
        StatusCode::FORBIDDEN => "NO_PERMISSION",
        StatusCode::NOT_FOUND => "INVALID_URL_PATTERN",
        StatusCode::PAYLOAD_TOO_LARGE => "REQUEST_ENTITY_TOO_LARGE",
        s if s.is_client_error() => "INVALID_REQUEST",
        _ => "INTERNAL_ERROR",
    }
}
