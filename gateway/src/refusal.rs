//! The one refusal renderer, shared by the proxy and the management API: every refusal
//! is a JSON body with `Content-Type: application/json`, in the generic shape of SPEC §3
//! or, where the policy asks for it, in the upstream CRM's own error shape.

use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use http::{Response, StatusCode};
use serde_json::{Map, Value, json};

use crate::body::Body;

/// The JSON shape of a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `{"error", "message", "restriction", "rule", "request_id"}`.
    Generic,
    /// Zoho CRM's `{"code", "status", "message", "details"}`, which the official SDKs
    /// turn into an exception with that code.
    Zoho,
}

/// A refusal on its way to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status.
    pub status: StatusCode,
    /// The stable error code.
    pub code: &'static str,
    /// A human sentence.
    pub message: String,
    /// The restriction (1–32) that refused, where one did.
    pub restriction: Option<u8>,
    /// The policy rule that refused, where one did.
    pub rule: Option<String>,
}

impl Refusal {
    /// A refusal with a status, a code and a message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            restriction: None,
            rule: None,
        }
    }

    /// Names the rule and restriction that refused.
    pub fn by_rule(mut self, rule: impl Into<String>, restriction: Option<u8>) -> Self {
        self.rule = Some(rule.into());
        self.restriction = restriction;
        self
    }

    /// The JSON body in `shape`.
    pub fn body(&self, shape: Shape, request_id: &str) -> Value {
        let mut details = Map::new();
        details.insert("error".into(), json!(self.code));
        if let Some(restriction) = self.restriction {
            details.insert("restriction".into(), json!(restriction));
        }
        if let Some(rule) = &self.rule {
            details.insert("rule".into(), json!(rule));
        }
        details.insert("request_id".into(), json!(request_id));
        match shape {
            Shape::Generic => {
                let mut body = details;
                body.insert("message".into(), json!(self.message));
                Value::Object(body)
            }
            Shape::Zoho => json!({
                "code": zoho_code(self.status),
                "status": "error",
                "message": self.message,
                "details": details,
            }),
        }
    }

    /// The HTTP response.
    pub fn render(&self, shape: Shape, request_id: &str) -> Response<Body> {
        let bytes = serde_json::to_vec(&self.body(shape, request_id)).unwrap_or_default();
        let mut response = Response::new(Body::bytes(bytes));
        *response.status_mut() = self.status;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generic_shape_names_code_rule_restriction_and_request_id() {
        let refusal = Refusal::new(
            StatusCode::FORBIDDEN,
            "restricted",
            "Support may not send e-mail.",
        )
        .by_rule("send-mail", Some(5));
        let body = refusal.body(Shape::Generic, "req-1");
        assert_eq!(
            body,
            json!({"error": "restricted", "message": "Support may not send e-mail.",
                   "restriction": 5, "rule": "send-mail", "request_id": "req-1"})
        );
    }

    #[test]
    fn the_zoho_shape_uses_zoho_codes_and_keeps_ours_in_details() {
        let forbidden =
            Refusal::new(StatusCode::FORBIDDEN, "restricted", "no").by_rule("r", Some(7));
        let body = forbidden.body(Shape::Zoho, "req-2");
        assert_eq!(body["code"], "NO_PERMISSION");
        assert_eq!(body["status"], "error");
        assert_eq!(body["details"]["error"], "restricted");
        assert_eq!(body["details"]["restriction"], 7);
        let unauthorised = Refusal::new(
            StatusCode::UNAUTHORIZED,
            "support_access_revoked",
            "revoked",
        );
        assert_eq!(unauthorised.body(Shape::Zoho, "r")["code"], "INVALID_TOKEN");
    }

    #[test]
    fn a_rendered_refusal_is_json_with_its_status() {
        let response = Refusal::new(StatusCode::BAD_GATEWAY, "upstream_unreachable", "down")
            .render(Shape::Generic, "r");
        assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(response.headers()["x-request-id"], "r");
    }
}
