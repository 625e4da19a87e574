//! The gateway's shared state: [`App`] holds what every request needs (the service,
//! the signer, the policy, the upstream client, metrics, the live registry, the
//! management routes), built once by [`crate::build`] and shared by all connections.
//! The entry of a request is `app.rs`; the background work is `sweeper.rs`.

use std::sync::Arc;
use std::time::Instant;

use support_access_core::SupportAccess;
use support_access_core::approval::service::Approvals;
use support_access_core::change::SupportChanges;
use support_access_policy::{Policy, RefusalShape};

use crate::audit_log::AuditLogService;
use crate::completions::Completions;
use crate::config;
use crate::live::LiveGrants;
use crate::main_runtime::MainRuntime;
use crate::management::{Management, Mgmt};
use crate::metrics::{Class, Metrics, Outcome};
use crate::notify::{WebhookParts, Webhooks};
use crate::refusal::Shape;
use crate::request_id::RequestIds;
use crate::support_users::SupportUsers;
use crate::tokens::{SupportSigner, Verifier};
use crate::upstream::Upstream;

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
    pub(crate) request_ids: RequestIds,
    pub(crate) audit_log: AuditLogService,
    /// `log.access`: whether each request writes an access line.
    pub(crate) access_log: bool,
    /// One-request approvals (SPEC §10).
    pub(crate) approvals: Approvals,
    /// What support changed (SPEC §11).
    pub(crate) changes: SupportChanges,
    /// Webhooks: the delivery worker, expiry warnings, checkpoints (SPEC §9).
    pub(crate) webhooks: Arc<Webhooks>,
    /// `request.completed` events on their way to the store, off the request path.
    pub(crate) completions: Completions,
    /// The runtime the gateway was built on, where whatever reaches the store runs.
    pub(crate) main: MainRuntime,
}

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
        audit_log: AuditLogService,
        approvals: Approvals,
        changes: SupportChanges,
        webhooks: WebhookParts,
    ) -> Self {
        let support_users = Arc::new(SupportUsers::default());
        let metrics = Arc::new(Metrics::default());
        let webhooks = Arc::new(Webhooks::new(
            webhooks,
            metrics.clone(),
            limits.store_timeout,
        ));
        let live = Arc::new(LiveGrants::new(metrics.cuts()));
        let management = Management::new(Mgmt {
            access: access.clone(),
            signer: signer.clone(),
            customer,
            staff,
            auth: auth.clone(),
            support_users: support_users.clone(),
            live: live.clone(),
            openapi: Arc::new(crate::management::openapi_json()),
            metrics: metrics.clone(),
            audit_log: audit_log.clone(),
            approvals: approvals.clone(),
            store_timeout: limits.store_timeout,
            changes: changes.clone(),
            webhooks: webhooks.service().clone(),
            policy: policy.clone(),
            upstream: upstream.clone(),
            limits,
        });
        let completions_metrics = metrics.clone();
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
            audit_log,
            access_log: true,
            approvals,
            changes,
            webhooks,
            completions: Completions::new(completions_metrics, limits.store_timeout),
            main: MainRuntime::current(),
        }
    }

    /// The webhook runtime (the worker's rounds, for tests that drive them).
    pub fn webhooks(&self) -> &Webhooks {
        &self.webhooks
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

    /// The verifiable audit log: checkpoints, proofs, the verifier key.
    pub fn audit_log(&self) -> &AuditLogService {
        &self.audit_log
    }

    /// The compiled route policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
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

    /// Waits until every `request.completed` handed to the audit writer so far is
    /// stored (or has failed): the signal for a reader that wants the outcome of the
    /// support requests already answered (they do not wait for it).
    pub async fn audit_settled(&self) {
        self.completions.settled().await;
    }

    /// How many support token holders have something in flight (a request, a stream, a
    /// connection): for tests that must wait until a request is under way.
    pub fn live_holders(&self) -> usize {
        self.live.len()
    }
}
