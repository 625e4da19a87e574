//! The entry of every request on the proxy listener: read a form body if one may carry
//! a token, identify, then hand the request to the support pipeline
//! ([`crate::pipeline`]), the management API ([`crate::management`]) or the ordinary
//! forward ([`crate::ordinary`]). The shared state is [`crate::state::App`].

use std::sync::Arc;
use std::time::Instant;

use http::{Request, Response};
use hyper::body::Incoming;

use crate::body::Body;
use crate::conn::Connection;
use crate::identify::{Identity, identify};
use crate::metrics::{Class, Outcome};

pub use crate::ordinary::strip_support_headers;
pub use crate::state::App;
pub use crate::support_users::SupportUsers;
pub use crate::target::MANAGEMENT_PREFIX;

impl App {
    /// Answers one request from the proxy listener.
    pub async fn handle(
        self: Arc<Self>,
        request: Request<Incoming>,
        connection: Connection,
    ) -> Response<Body> {
        let peer = connection.peer();
        let started = Instant::now();
        let request_id = self.request_ids.next();
        // A form-encoded body may carry `access_token` or `_method`: read it (bounded)
        // before identifying, so that discovery sees what the upstream will.
        let (parts, incoming) = request.into_parts();
        let (body, form) = if crate::identify::reads_form(&parts.headers) {
            match crate::read::read_body(&self.limits, &parts.headers, Body::from(incoming)).await {
                Ok(bytes) => (Body::bytes(bytes.clone()), Some(bytes)),
                Err(refusal) => {
                    self.finish(Class::ordinary, Outcome::refused, started);
                    return refusal.render(self.shape_for(parts.uri.path()), &request_id);
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
                refusal.render(shape, &request_id)
            }
            Ok(Identity::Support(token)) => {
                Box::pin(crate::pipeline::support(
                    &self,
                    request,
                    &connection,
                    token,
                    form,
                    &request_id,
                    started,
                ))
                .await
            }
            Ok(Identity::Ordinary) if request.uri().path().starts_with(MANAGEMENT_PREFIX) => {
                let management = crate::management::handle(
                    &self.management,
                    &self.metrics,
                    request,
                    &request_id,
                    started,
                );
                Box::pin(management).await
            }
            Ok(Identity::Ordinary) => {
                crate::ordinary::forward(&self, request, peer, form, &request_id, started).await
            }
        }
    }
}
