//! What handlers answer: JSON bodies, and refusals. A handler or extractor returns a
//! [`Refusal`]; axum carries it out of the router in the response's extensions, and
//! [`super::handle`] renders it with [`Refusal::render`], the one rescue the proxy uses
//! too, with the request id. Handlers never build an error body.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use http::StatusCode;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};

use crate::refusal::Refusal;

/// A handler's answer.
pub(crate) type Reply = Result<Response, Refusal>;

/// A refusal on its way out of the router, for [`super::handle`] to render.
#[derive(Debug, Clone)]
pub(crate) struct Refused(pub Arc<Refusal>);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = self.status().into_response();
        response.extensions_mut().insert(Refused(Arc::new(self)));
        response
    }
}

/// A JSON answer, never cached.
pub(crate) fn json(status: StatusCode, value: &impl serde::Serialize) -> Response {
    let mut response = Response::new(axum::body::Body::from(
        serde_json::to_vec(value).unwrap_or_default(),
    ));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A management request that does not validate (`400`).
pub(crate) fn invalid(code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal::Invalid {
        code,
        message: message.into(),
    }
}

/// An RFC 3339 date-time field, or `invalid_date`.
pub(crate) fn parse_time(field: &'static str, text: &str) -> Result<DateTime<Utc>, Refusal> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .map_err(|_| {
            invalid(
                "invalid_date",
                format!("`{field}` must be an RFC 3339 date-time like 2026-12-01T00:00:00Z."),
            )
        })
}

/// An optional text field of at most `max` characters; blank is none.
pub(crate) fn bounded_text(
    field: &'static str,
    value: Option<String>,
    max: usize,
) -> Result<Option<String>, Refusal> {
    match value {
        Some(text) if text.chars().count() > max => Err(invalid(
            "invalid_body",
            format!("`{field}` may be at most {max} characters."),
        )),
        Some(text) if text.trim().is_empty() => Ok(None),
        other => Ok(other),
    }
}

/// A query parameter's value, `None` when absent or blank.
pub(crate) fn present(value: Option<String>) -> Option<String> {
    value.filter(|s| !s.trim().is_empty())
}

/// The `limit` query parameter: a number from 1 to `max`, `None` when absent or blank.
pub(crate) fn page_limit(value: Option<String>, max: u32) -> Result<Option<u32>, Refusal> {
    present(value)
        .map(|text| {
            text.parse::<u32>()
                .ok()
                .filter(|l| (1..=max).contains(l))
                .ok_or_else(|| {
                    invalid(
                        "invalid_limit",
                        format!("`limit` must be a number from 1 to {max}."),
                    )
                })
        })
        .transpose()
}

/// The `cursor` query parameter, read by `decode`; `None` when absent or blank.
pub(crate) fn page_cursor<C, E>(
    value: Option<String>,
    decode: impl FnOnce(&str) -> Result<C, E>,
) -> Result<Option<C>, Refusal> {
    present(value).map(|c| decode(&c)).transpose().map_err(|_| {
        invalid(
            "invalid_cursor",
            "`cursor` is not a cursor this API returned.",
        )
    })
}
