//! The access log (SPEC §7): one structured line per request on the proxy listener at
//! `info`, target `access`, written when the response body is done (or dropped): request
//! id, method, path (never the query), status, latency, bytes sent, traffic (`ordinary`,
//! `support` or `management`), for support the org, grant and actor, and for a
//! lifecycle action (grant, change, revoke, token, release, export, approval, webhook,
//! revert) its name. `log.access = false`, or a filter that turns `access` off, costs one check
//! per request and nothing else.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::{Method, Response, Uri};
use http_body::{Frame, SizeHint};
use support_access_core::service::SupportTokenFacts;

use crate::body::{Body, BoxError};
use crate::target::MANAGEMENT_PREFIX;

/// Who a support request was, put on its response by the pipeline for the log line.
#[derive(Debug, Clone)]
pub(crate) struct SupportFacts {
    pub org: String,
    pub grant: String,
    pub actor: String,
}

impl SupportFacts {
    pub(crate) fn of(facts: &SupportTokenFacts) -> Self {
        Self {
            org: facts.org.to_string(),
            grant: facts.grant.to_string(),
            actor: facts.actor.to_string(),
        }
    }
}

/// A support request whose token did not verify: no org, grant or actor to name.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Unverified;

/// What the management API knows of its caller, for the log line.
#[derive(Debug, Clone, Default)]
pub(crate) struct Caller {
    pub org: Option<String>,
    pub actor: Option<String>,
}

/// What is known of a request when it arrives.
#[derive(Debug)]
pub(crate) struct Line {
    request_id: http::HeaderValue,
    method: Method,
    uri: Uri,
    started: Instant,
    status: u16,
    traffic: &'static str,
    support: Option<SupportFacts>,
    caller: Option<Caller>,
}

/// Whether access lines are written at all: the config's `log.access` and the filter.
pub(crate) fn enabled(configured: bool) -> bool {
    configured && tracing::enabled!(target: "access", tracing::Level::INFO)
}

impl Line {
    pub(crate) fn start<B>(
        request_id: &http::HeaderValue,
        request: &http::Request<B>,
        started: Instant,
    ) -> Box<Self> {
        Box::new(Self {
            request_id: request_id.clone(),
            method: request.method().clone(),
            uri: request.uri().clone(),
            started,
            status: 0,
            traffic: "ordinary",
            support: None,
            caller: None,
        })
    }

    /// Learns the status and who the request was from the response's extensions.
    fn answered<B>(&mut self, response: &mut Response<B>) {
        self.status = response.status().as_u16();
        let extensions = response.extensions_mut();
        if let Some(facts) = extensions.remove::<SupportFacts>() {
            self.traffic = "support";
            self.support = Some(facts);
        } else if extensions.remove::<Unverified>().is_some() {
            self.traffic = "support";
        } else if self.uri.path().starts_with(MANAGEMENT_PREFIX) {
            self.traffic = "management";
            self.caller = extensions.remove::<Caller>();
        }
    }

    fn write(&self, bytes: u64) {
        let latency_ms = self.started.elapsed().as_secs_f64() * 1000.0;
        let request_id = self.request_id.to_str().unwrap_or_default();
        let path = self.uri.path();
        let (org, grant, actor) = match (&self.support, &self.caller) {
            (Some(s), _) => (
                Some(s.org.as_str()),
                Some(s.grant.as_str()),
                Some(s.actor.as_str()),
            ),
            (None, Some(c)) => (c.org.as_deref(), None, c.actor.as_deref()),
            (None, None) => (None, None, None),
        };
        let action = action(&self.method, path, self.status);
        tracing::info!(
            target: "access",
            request_id,
            method = self.method.as_str(),
            path,
            status = self.status,
            latency_ms,
            bytes,
            traffic = self.traffic,
            org,
            grant,
            actor,
            action,
            "request"
        );
    }
}

/// The lifecycle action a successful management call (or a support holder's own
/// release) was, by method and route.
fn action(method: &Method, path: &str, status: u16) -> Option<&'static str> {
    if !(200..300).contains(&status) {
        return None;
    }
    let route = path
        .strip_prefix(MANAGEMENT_PREFIX)?
        .strip_prefix("v1")?
        .trim_end_matches('/');
    let named = match (method.as_str(), route) {
        ("POST", "/grant") => "grant",
        ("PATCH", "/grant") => "change",
        ("DELETE", "/grant") => "revoke",
        ("POST", "/token") => "token",
        ("DELETE", "/token") => "release",
        ("GET", "/audit/export") => "export",
        ("GET" | "HEAD", _) => return None,
        (_, r) if r.starts_with("/approvals") => "approval",
        (_, r) if r.starts_with("/webhooks") => "webhook",
        ("POST", r) if r.starts_with("/changes/") && r.ends_with("/revert") => "revert",
        _ => return None,
    };
    Some(named)
}

/// A response body that writes the request's access line once it is done or dropped.
#[derive(Debug)]
pub struct Logged {
    body: Body,
    bytes: u64,
    line: Option<Box<Line>>,
}

/// The response, its body wrapped to write `line` (if any) when it is done.
pub(crate) fn wrap(mut response: Response<Body>, line: Option<Box<Line>>) -> Response<Logged> {
    let line = line.map(|mut line| {
        line.answered(&mut response);
        line
    });
    response.map(|body| Logged {
        body,
        bytes: 0,
        line,
    })
}

impl Drop for Logged {
    fn drop(&mut self) {
        if let Some(line) = self.line.take() {
            line.write(self.bytes);
        }
    }
}

impl http_body::Body for Logged {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.body).poll_frame(cx);
        // Without a line (`log.access` off) nothing is counted: the wrapper only forwards.
        if this.line.is_some()
            && let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            this.bytes += data.len() as u64;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_actions_are_named_by_method_and_route_when_they_succeed() {
        let grant = "/support-access/v1/grant";
        assert_eq!(action(&Method::POST, grant, 201), Some("grant"));
        assert_eq!(action(&Method::PATCH, grant, 200), Some("change"));
        assert_eq!(action(&Method::DELETE, grant, 204), Some("revoke"));
        assert_eq!(action(&Method::DELETE, grant, 404), None);
        assert_eq!(action(&Method::GET, grant, 200), None);
        assert_eq!(
            action(&Method::POST, "/support-access/v1/webhooks/x", 201),
            Some("webhook")
        );
        assert_eq!(
            action(&Method::POST, "/support-access/v1/changes/c1/revert", 200),
            Some("revert")
        );
        assert_eq!(action(&Method::POST, "/crm/v8/Leads", 201), None);
    }
}
