//! The gateway's shared state and the entry of every proxied request: identify, then
//! either the support pipeline ([`crate::pipeline`]), the management API, or the
//! ordinary forward.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HeaderMap};
use http::{Request, Response};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use support_access_core::SupportAccess;
use support_access_core::ids::SupportUserId;
use support_access_policy::{Policy, RefusalShape};

use crate::body::Body;
use crate::config;
use crate::conn::Connection;
use crate::identify::{Identity, identify};
use crate::metrics::{Class, Metrics, Outcome, StoreOp};
use crate::refusal::{Refusal, Shape};
use crate::tokens::{SupportSigner, Verifier};
use crate::upstream::{Upstream, prepare_headers};

/// Everything a request needs, shared by all connections.
#[derive(Debug)]
pub struct App {
    pub(crate) access: SupportAccess,
    pub(crate) signer: SupportSigner,
    pub(crate) policy: Arc<Policy>,
    pub(crate) upstream: Upstream,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) auth: config::Auth,
    pub(crate) limits: config::Limits,
    pub(crate) support_users: Arc<SupportUsers>,
    pub(crate) management: crate::management::Management,
    pub(crate) live: Arc<crate::live::LiveGrants>,
    request_ids: RequestIds,
}

/// The hidden support users of the open grants, for the assignment guard on ordinary
/// traffic. Refreshed by the sweeper and after every local lifecycle change.
#[derive(Debug, Default)]
pub struct SupportUsers(RwLock<Arc<[SupportUserId]>>);

impl SupportUsers {
    /// The current list.
    pub fn get(&self) -> Arc<[SupportUserId]> {
        self.0
            .read()
            .map(|users| users.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    /// Replaces the list.
    pub fn set(&self, users: Vec<SupportUserId>) {
        let users: Arc<[SupportUserId]> = users.into();
        match self.0.write() {
            Ok(mut current) => *current = users,
            Err(poisoned) => *poisoned.into_inner() = users,
        }
    }
}

/// Request ids: a random per-process prefix and a counter, unique without coordination.
#[derive(Debug)]
struct RequestIds {
    prefix: u32,
    next: AtomicU64,
}

impl RequestIds {
    fn new() -> Self {
        Self {
            prefix: uuid::Uuid::new_v4().as_u128() as u32,
            next: AtomicU64::new(1),
        }
    }

    fn next(&self) -> String {
        format!(
            "{:08x}-{:x}",
            self.prefix,
            self.next.fetch_add(1, Ordering::Relaxed)
        )
    }
}

/// The prefix of the gateway's own routes on the proxy listener.
pub const MANAGEMENT_PREFIX: &str = "/support-access/";

impl App {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        access: SupportAccess,
        signer: SupportSigner,
        customer: Verifier,
        staff: Verifier,
        policy: Arc<Policy>,
        upstream: Upstream,
        auth: config::Auth,
        limits: config::Limits,
    ) -> Self {
        let support_users = Arc::new(SupportUsers::default());
        let metrics = Arc::new(Metrics::default());
        let live = Arc::new(crate::live::LiveGrants::new(metrics.cuts()));
        let management = crate::management::Management::new(crate::management::Mgmt {
            access: access.clone(),
            signer: signer.clone(),
            customer,
            staff,
            auth: auth.clone(),
            support_users: support_users.clone(),
            live: live.clone(),
            openapi: Arc::new(crate::management::openapi_json()),
            metrics: metrics.clone(),
            store_timeout: limits.store_timeout,
        });
        Self {
            access,
            signer,
            policy,
            upstream,
            metrics,
            auth,
            limits,
            support_users,
            management,
            live,
            request_ids: RequestIds::new(),
        }
    }

    /// The metrics, for the ops listener.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The Support Access service the gateway runs on.
    pub fn access(&self) -> &SupportAccess {
        &self.access
    }

    /// The signer of support tokens.
    pub fn signer(&self) -> &SupportSigner {
        &self.signer
    }

    /// The compiled route policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

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
            match self.read_body(&parts.headers, Body::from(incoming)).await {
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
                Box::pin(crate::management::handle(
                    &self,
                    request,
                    &request_id,
                    started,
                ))
                .await
            }
            Ok(Identity::Ordinary) => {
                self.forward_ordinary(request, peer, form, &request_id, started)
                    .await
            }
        }
    }

    /// Ordinary traffic: forwarded unchanged, except that incoming `X-Support-Access-*`
    /// headers are removed and assignments to a hidden support user are refused.
    async fn forward_ordinary(
        &self,
        request: Request<Body>,
        peer: SocketAddr,
        form: Option<Bytes>,
        request_id: &str,
        started: Instant,
    ) -> Response<Body> {
        let (mut parts, incoming) = request.into_parts();
        strip_support_headers(&mut parts.headers);
        let target = parts
            .uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
        let support_users = self.support_users.get();
        // Guarded as the request line's method and every method an override names.
        let methods = crate::ordinary::guarded_methods(&parts, form.as_deref());
        let body = if !support_users.is_empty()
            && methods
                .iter()
                .any(|method| self.policy.ordinary_needs_body(method, &target))
        {
            let bytes = match self.read_body(&parts.headers, incoming).await {
                Ok(bytes) => bytes,
                Err(refusal) => {
                    self.finish(Class::ordinary, Outcome::refused, started);
                    return refusal.render(self.shape_for(parts.uri.path()), request_id);
                }
            };
            if let Some(refused) = methods.iter().find_map(|method| {
                self.policy
                    .check_ordinary_body(method, &target, &bytes, &support_users)
                    .err()
            }) {
                self.finish(Class::ordinary, Outcome::refused, started);
                tracing::info!(
                    request_id,
                    code = refused.code,
                    "ordinary request refused by the assignment guard"
                );
                return Refusal::from(refused).render(self.shape_for(parts.uri.path()), request_id);
            }
            Body::bytes(bytes)
        } else {
            incoming
        };
        prepare_headers(&mut parts.headers, peer);
        let path = parts.uri.path().to_owned();
        match self
            .upstream
            .send(Request::from_parts(parts, body), &target)
            .await
        {
            Ok(response) => {
                self.finish(Class::ordinary, Outcome::forwarded, started);
                response.map(Body::from)
            }
            Err(failure) => {
                self.metrics.upstream_error(failure.label());
                self.finish(Class::ordinary, Outcome::refused, started);
                Refusal::from(failure).render(self.shape_for(&path), request_id)
            }
        }
    }

    /// Reads a body a rule must inspect, refusing it beyond the configured limit or when
    /// it does not arrive within `limits.body_read_timeout`.
    pub(crate) async fn read_body(
        &self,
        headers: &HeaderMap,
        incoming: Body,
    ) -> Result<Bytes, Refusal> {
        let limit = self.limits.max_inspected_body_bytes;
        let declared = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|length| length > limit as u64) {
            return Err(Refusal::BodyTooLarge { limit });
        }
        let read = Limited::new(incoming, limit).collect();
        match tokio::time::timeout(self.limits.body_read_timeout, read).await {
            Err(_) => Err(Refusal::BodyReadTimeout),
            Ok(Ok(collected)) => Ok(collected.to_bytes()),
            Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
                Err(Refusal::BodyTooLarge { limit })
            }
            Ok(Err(_)) => Err(Refusal::BodyUnreadable),
        }
    }

    /// The refusal shape for a path under the policy.
    pub(crate) fn shape_for(&self, path: &str) -> Shape {
        match self.policy.refusal_shape_for(path) {
            RefusalShape::Zoho => Shape::Zoho,
            RefusalShape::Generic => Shape::Generic,
        }
    }

    pub(crate) fn finish(&self, class: Class, outcome: Outcome, started: Instant) {
        self.metrics.request(class, outcome, started.elapsed());
    }

    /// How many support token holders have something in flight (a request, a stream, a
    /// connection): for tests that must wait until a request is under way.
    pub fn live_holders(&self) -> usize {
        self.live.len()
    }

    /// Ends what is in flight (requests, uploads, streams, connections) of support
    /// holders the store no longer authorises (revoked elsewhere, expired, seat
    /// released). Bounded by `limits.store_timeout`.
    pub async fn recheck_live(&self) {
        if !self.live.is_empty() {
            let recheck = self.live.recheck(&self.access, self.access.now());
            if tokio::time::timeout(self.limits.store_timeout, recheck)
                .await
                .is_err()
            {
                tracing::warn!("the recheck of support access in flight did not finish in time");
            }
        }
    }

    /// Closes open grants past their end, ends what they had in flight, and refreshes
    /// the list of support users. Each store call is bounded by `limits.store_timeout`.
    pub async fn sweep(&self) {
        let (metrics, limit) = (&self.metrics, self.limits.store_timeout);
        let expired = self.access.expire_due(100);
        match crate::store_call::bounded(metrics, limit, StoreOp::sweep, expired).await {
            Ok(0) => {}
            Ok(closed) => tracing::info!(closed, "closed expired grants"),
            Err(e) => tracing::warn!(error = %e, "expiry sweep failed"),
        }
        self.recheck_live().await;
        let open = self.access.support_users(10_000);
        match crate::store_call::bounded(metrics, limit, StoreOp::sweep, open).await {
            Ok(users) => self.support_users.set(users),
            Err(e) => tracing::warn!(error = %e, "could not refresh the support users"),
        }
    }
}

pub use crate::ordinary::strip_support_headers;
