//! The entry of every request on the proxy listener: read a form body if one may carry
//! a token, identify, then hand the request to the support pipeline
//! ([`crate::pipeline`]), the management API ([`crate::management`]) or the ordinary
//! forward ([`crate::ordinary`]). The shared state is [`crate::state::App`].
//!
//! Support traffic and the management API reach the store, so they run on the main
//! runtime ([`crate::main_runtime`]); ordinary traffic stays on the thread that serves
//! its connection.

use std::sync::Arc;
use std::time::Instant;

use http::{Request, Response};
use hyper::body::Incoming;
use support_access_core::StoreError;
use tracing::Instrument;

use crate::access_log::Logged;
use crate::body::Body;
use crate::conn::Connection;
use crate::identify::{Identity, identify};
use crate::main_runtime::Gone;
use crate::metrics::{Class, Outcome};
use crate::refusal::{Refusal, Shape};
use crate::request_id::X_REQUEST_ID;

pub use crate::ordinary::strip_support_headers;
pub use crate::state::App;
pub use crate::support_users::SupportUsers;
pub use crate::target::MANAGEMENT_PREFIX;

impl App {
    /// Answers one request from the proxy listener: its id (the client's own or a new
    /// one) goes upstream, into the response, the audit events and, as the `request`
    /// span, into every log line; the access line is written when the body is done.
    pub async fn handle(
        self: Arc<Self>,
        mut request: Request<Incoming>,
        connection: Connection,
    ) -> Response<Logged> {
        let started = Instant::now();
        let id = self.request_ids.for_request(request.headers());
        request
            .headers_mut()
            .insert(X_REQUEST_ID.clone(), id.header().clone());
        let line = crate::access_log::enabled(self.access_log)
            .then(|| crate::access_log::Line::start(id.header(), &request, started));
        let span = tracing::info_span!("request", request_id = id.as_str());
        let mut response = self
            .route(request, connection, id.as_str(), started)
            .instrument(span)
            .await;
        response
            .headers_mut()
            .insert(X_REQUEST_ID.clone(), id.header().clone());
        crate::access_log::wrap(response, line)
    }

    async fn route(
        self: &Arc<Self>,
        request: Request<Incoming>,
        connection: Connection,
        request_id: &str,
        started: Instant,
    ) -> Response<Body> {
        // A form-encoded body may carry `access_token` or `_method`: read it (bounded)
        // before identifying, so that discovery sees what the upstream will.
        let (parts, incoming) = request.into_parts();
        let (body, form) = if crate::identify::reads_form(&parts.headers) {
            match crate::read::read_body(&self.limits, &parts.headers, Body::from(incoming)).await {
                Ok(bytes) => (Body::bytes(bytes.clone()), Some(bytes)),
                Err(refusal) => {
                    self.finish(Class::ordinary, Outcome::refused, started);
                    return refusal.render(self.shape_for(parts.uri.path()), request_id);
                }
            }
        } else {
            (Body::from(incoming), None)
        };
        let request = Request::from_parts(parts, body);
        let identity = identify(
            request.headers(),
            request.uri().query(),
            form.as_deref(),
            &self.auth.token_cookies,
            &self.signer,
        );
        match identity {
            Err(refusal) => {
                let shape = self.shape_for(request.uri().path());
                tracing::info!(
                    request_id,
                    code = refusal.code(),
                    "refused before identification"
                );
                self.finish(Class::ordinary, Outcome::refused, started);
                refusal.render(shape, request_id)
            }
            Ok(Identity::Support(token)) => {
                let shape = self.shape_for(request.uri().path());
                let (app, id) = (self.clone(), request_id.to_owned());
                let support = async move {
                    let (app, id) = (&app, id.as_str());
                    crate::pipeline::support(app, request, &connection, token, form, id, started)
                        .await
                };
                let answer = self.main.run(Box::pin(support)).await;
                self.or_gone(answer, Class::support, shape, request_id, started)
            }
            Ok(Identity::Ordinary) if request.uri().path().starts_with(MANAGEMENT_PREFIX) => {
                let (app, id) = (self.clone(), request_id.to_owned());
                let management = async move {
                    let (management, metrics) = (&app.management, &app.metrics);
                    crate::management::handle(management, metrics, request, &id, started).await
                };
                let answer = self.main.run(Box::pin(management)).await;
                self.or_gone(
                    answer,
                    Class::management,
                    Shape::Generic,
                    request_id,
                    started,
                )
            }
            Ok(Identity::Ordinary) => {
                crate::ordinary::forward(self, request, &connection, form, request_id, started)
                    .await
            }
        }
    }

    /// The answer of work run on the main runtime, or `503` if that runtime is gone
    /// (the process is ending): fail closed, nothing was forwarded.
    fn or_gone(
        &self,
        answer: Result<Response<Body>, Gone>,
        class: Class,
        shape: Shape,
        request_id: &str,
        started: Instant,
    ) -> Response<Body> {
        answer.unwrap_or_else(|Gone| {
            tracing::warn!(request_id, "the main runtime is gone; refusing");
            self.finish(class, Outcome::refused, started);
            let gone = StoreError::Unavailable("the gateway is shutting down".into());
            Refusal::Store(gone).render(shape, request_id)
        })
    }
}
