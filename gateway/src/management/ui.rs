//! The admin web page (SPEC §8): static assets built into the binary, served under
//! `/support-access/ui/`. The page talks only to the management API.

use http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HeaderValue, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use http::{Response, StatusCode};

use crate::body::Body;
use crate::refusal::{Refusal, Shape};

const INDEX: &str = include_str!("../../ui/index.html");
const SCRIPT: &str = include_str!("../../ui/app.js");
const CHECKPOINT_SCRIPT: &str = include_str!("../../ui/checkpoint.js");
const APPROVALS: &str = include_str!("../../ui/approvals.js");
const STYLE: &str = include_str!("../../ui/style.css");
const CHANGES: &str = include_str!("../../ui/changes.js");
const COMMON: &str = include_str!("../../ui/common.js");
const WEBHOOKS: &str = include_str!("../../ui/webhooks.js");

/// Serves `asset`, the path after `/support-access/ui`.
pub(crate) fn serve(asset: &str) -> Response<Body> {
    let (content, content_type) = match asset {
        "" => {
            let mut redirect = Response::new(Body::empty());
            *redirect.status_mut() = StatusCode::PERMANENT_REDIRECT;
            redirect.headers_mut().insert(
                http::header::LOCATION,
                HeaderValue::from_static("/support-access/ui/"),
            );
            return redirect;
        }
        "/" | "/index.html" => (INDEX, "text/html; charset=utf-8"),
        "/app.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        "/checkpoint.js" => (CHECKPOINT_SCRIPT, "text/javascript; charset=utf-8"),
        "/approvals.js" => (APPROVALS, "text/javascript; charset=utf-8"),
        "/changes.js" => (CHANGES, "text/javascript; charset=utf-8"),
        "/common.js" => (COMMON, "text/javascript; charset=utf-8"),
        "/webhooks.js" => (WEBHOOKS, "text/javascript; charset=utf-8"),
        "/style.css" => (STYLE, "text/css; charset=utf-8"),
        _ => {
            return Refusal::NotFound("No such page.").render(Shape::Generic, "ui");
        }
    };
    let mut response = Response::new(Body::bytes(content));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    response
}
