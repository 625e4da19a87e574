//! The management API (SPEC §5) at `/support-access/v1`, on the proxy listener, plus the
//! admin page's assets at `/support-access/ui/`.
//!
//! One file per concern: the callers as extractors (`extract`: [`Admin`](extract),
//! `Staff`, the JSON body, the request id), what handlers answer (`reply`), one file per
//! resource (`grant`, `token`, `audit`, `approval`, `export`, `changes` for what support changed, `tlog` for checkpoints and proofs, `webhook` for notification endpoints, `meta` for the JWK Set, the OpenAPI
//! document and the settings), the wire types (`api`), the OpenAPI frame and security schemes (`doc`) and the admin page (`ui`). Every
//! refusal is a [`Refusal`], rendered here by [`Refusal::render`], the rescue the proxy
//! uses too; no handler builds an error body or matches an error code.

use std::sync::Arc;
use std::time::Instant;

use http::header::CONTENT_TYPE;
use http::{Request, Response, StatusCode};
use serde_json::Value;
use support_access_core::SupportAccess;
use tower::ServiceExt;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::body::Body;
use crate::config;
use crate::metrics::{Class, Metrics, Outcome, StoreOp};
use crate::refusal::{Refusal, Shape};
use crate::store_call::{StoreFailure, bounded};
use crate::support_users::SupportUsers;
use crate::tokens::{SupportSigner, Verifier};

pub mod api;
mod approval;
mod audit;
mod changes;
mod doc;
mod export;
mod extract;
mod grant;
mod meta;
mod reply;
mod tlog;
mod token;
mod ui;
mod webhook;

pub(crate) use extract::RequestId;
use reply::Refused;

/// The API's path prefix.
pub const PREFIX: &str = "/support-access/v1";

/// What the handlers need.
#[derive(Debug, Clone)]
pub(crate) struct Mgmt {
    pub access: SupportAccess,
    pub signer: SupportSigner,
    pub customer: Verifier,
    pub staff: Verifier,
    pub auth: config::Auth,
    pub support_users: Arc<SupportUsers>,
    pub live: Arc<crate::live::LiveGrants>,
    pub openapi: Arc<Value>,
    pub metrics: Arc<Metrics>,
    /// Checkpoints, proofs and the verifier key of the audit log.
    pub audit_log: crate::audit_log::AuditLogService,
    /// One-request approvals (SPEC §10).
    pub approvals: support_access_core::approval::service::Approvals,
    /// Bounds every store call (`limits.store_timeout`): `503` after it.
    pub store_timeout: std::time::Duration,
    /// What support changed, and reverts (SPEC §11).
    pub changes: support_access_core::change::SupportChanges,
    /// Webhook endpoints and their deliveries (SPEC §9).
    pub webhooks: support_access_core::notify::service::Notifications,
    /// The route policy: how a record is read back, its system fields.
    pub policy: Arc<support_access_policy::Policy>,
    /// The CRM, for a revert's reads and `PUT`.
    pub upstream: crate::upstream::Upstream,
    /// Bounds of the bodies a revert reads.
    pub limits: config::Limits,
}

impl Mgmt {
    /// A store call of a handler, bounded and counted.
    async fn call<T, E: StoreFailure>(
        &self,
        op: StoreOp,
        call: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        bounded(&self.metrics, self.store_timeout, op, call).await
    }

    async fn refresh_support_users(&self) {
        let (access, metrics) = (&self.access, &self.metrics);
        self.support_users
            .refresh(access, metrics, self.store_timeout)
            .await;
    }
}

/// A JSON response for the proxy's own answers (ops listener).
pub(crate) fn json(status: StatusCode, value: &Value) -> Response<Body> {
    reply::json(status, value).map(Body::Api)
}

/// The router and its OpenAPI document, built from the same handler list so neither can
/// miss a route.
pub(crate) fn router() -> (axum::Router<Mgmt>, utoipa::openapi::OpenApi) {
    use approval::*;
    use audit::*;
    use changes::*;
    use export::*;
    use grant::*;
    use meta::*;
    use tlog::*;
    use token::*;
    use webhook::*;
    let (router, doc) = OpenApiRouter::<Mgmt>::with_openapi(doc::base())
        .routes(routes!(post_grant, get_grant, patch_grant, delete_grant))
        .routes(routes!(post_token, delete_token))
        .routes(routes!(get_audit))
        .routes(routes!(get_approvals))
        .routes(routes!(get_approval))
        .routes(routes!(post_approve))
        .routes(routes!(post_deny))
        .routes(routes!(get_audit_export))
        .routes(routes!(get_changes))
        .routes(routes!(get_changes_report))
        .routes(routes!(post_change_revert))
        .routes(routes!(get_checkpoint))
        .routes(routes!(get_verifier_key))
        .routes(routes!(get_inclusion_proof))
        .routes(routes!(get_consistency_proof))
        .routes(routes!(get_jwks))
        .routes(routes!(get_openapi))
        .routes(routes!(get_settings))
        .routes(routes!(post_webhook, get_webhooks))
        .routes(routes!(delete_webhook))
        .routes(routes!(get_webhook_deliveries))
        .routes(routes!(post_webhook_test))
        .split_for_parts();
    (router, doc::finish(doc))
}

/// The management routes, ready to serve.
#[derive(Debug, Clone)]
pub(crate) struct Management {
    router: axum::Router,
}

impl Management {
    pub(crate) fn new(state: Mgmt) -> Self {
        let router = router().0;
        Self {
            router: router.with_state(state),
        }
    }
}

/// The OpenAPI document as JSON.
pub fn openapi_json() -> Value {
    serde_json::to_value(router().1).unwrap_or_default()
}

/// Answers a request under `/support-access/` that carries no support token.
pub(crate) async fn handle(
    management: &Management,
    metrics: &Metrics,
    request: Request<Body>,
    request_id: &str,
    started: Instant,
) -> Response<Body> {
    let path = request.uri().path();
    if let Some(asset) = path.strip_prefix("/support-access/ui") {
        let response = ui::serve(asset);
        metrics.request(Class::management, Outcome::answered, started.elapsed());
        return response;
    }
    let mut request = request.map(axum::body::Body::new);
    let caller = extract::CallerSlot::default();
    request
        .extensions_mut()
        .insert(RequestId(request_id.to_owned()));
    request.extensions_mut().insert(caller.clone());
    let response = match management.router.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let mut response = rescue(response, request_id);
    if let Some(caller) = caller.get() {
        response.extensions_mut().insert(caller.clone());
    }
    let outcome = if response.status().is_success() {
        Outcome::answered
    } else {
        Outcome::refused
    };
    metrics.request(Class::management, outcome, started.elapsed());
    response
}

/// The router's answer, with a handler's refusal, or axum's own bare 404 and 405,
/// rendered by the one rescue.
fn rescue(mut response: axum::response::Response, request_id: &str) -> Response<Body> {
    if let Some(Refused(refusal)) = response.extensions_mut().remove::<Refused>() {
        return refusal.render(Shape::Generic, request_id);
    }
    let bare = response.headers().get(CONTENT_TYPE).is_none();
    match response.status() {
        StatusCode::NOT_FOUND if bare => {
            Refusal::NotFound("No such management route.").render(Shape::Generic, request_id)
        }
        StatusCode::METHOD_NOT_ALLOWED if bare => {
            Refusal::MethodNotAllowed.render(Shape::Generic, request_id)
        }
        _ => response.map(Body::Api),
    }
}
