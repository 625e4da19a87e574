//! The verifiable audit log as the gateway serves it (SPEC §6.1, `docs/tlog.md`): the
//! [`AuditLogService`] over the store's Merkle tree and the [`Checkpointer`], built once
//! in wiring, so handlers and the background task never hold the raw port; and the task
//! that checkpoints every grown log each `audit.checkpoint_interval`.

use std::sync::Arc;
use std::time::Duration;

use support_access_core::StoreError;
use support_access_core::ids::OrgId;
use support_access_core::notify::service::Notifications;
use support_access_core::tlog::{
    AuditSigner, AuditTree, CheckpointRun, Checkpointer, CheckpointerError, ConsistencyProof,
    InclusionProof, NoteVerifier, StoredCheckpoint, TreeReadError,
};
use tokio::task::JoinHandle;

/// Checkpoints, proofs and the verifier key of each org's audit log.
#[derive(Debug, Clone)]
pub struct AuditLogService {
    tree: Arc<dyn AuditTree>,
    checkpointer: Checkpointer,
    key: Arc<dyn AuditSigner>,
    /// Each checkpoint made is also an `audit.checkpoint` notification (SPEC §9).
    notifications: Notifications,
}

impl AuditLogService {
    /// The service over `tree`, checkpointed by `checkpointer` (which signs with `key`).
    pub fn new(
        tree: Arc<dyn AuditTree>,
        checkpointer: Checkpointer,
        key: Arc<dyn AuditSigner>,
        notifications: Notifications,
    ) -> Self {
        Self {
            tree,
            checkpointer,
            key,
            notifications,
        }
    }

    /// The verifier keys (C2SP vkeys) of every audit key signing now, the one that
    /// signs first at the top: during a key changeover the old and the new key.
    pub fn verifiers(&self) -> Vec<NoteVerifier> {
        self.key.verifiers()
    }

    /// Signs and stores a checkpoint of every log due one, and queues the
    /// `audit.checkpoint` notification of each (once per org and size; a failure to
    /// queue is logged, the checkpoint stands).
    pub async fn checkpoint_due(&self) -> Result<CheckpointRun, StoreError> {
        let run = self.checkpointer.run().await?;
        for made in &run.made {
            let publish = self
                .notifications
                .publish_checkpoint(&made.org, made.size, &made.note);
            if let Err(error) = publish.await {
                tracing::warn!(org = %made.org, error = %error, "queueing audit.checkpoint failed");
            }
        }
        Ok(run)
    }

    /// The org's checkpoint of its current tree: the stored one when the log did not
    /// grow since, else one made now.
    pub async fn current_checkpoint(
        &self,
        org: &OrgId,
    ) -> Result<StoredCheckpoint, CheckpointerError> {
        self.checkpointer.current(org).await
    }

    /// The inclusion proof of event `seq` in the org's tree of `size` events.
    pub async fn inclusion_proof(
        &self,
        org: &OrgId,
        seq: u64,
        size: u64,
    ) -> Result<InclusionProof, TreeReadError> {
        self.tree.inclusion_proof(org, seq, size).await
    }

    /// The consistency proof between the org's trees of `from` and `to` events.
    pub async fn consistency_proof(
        &self,
        org: &OrgId,
        from: u64,
        to: u64,
    ) -> Result<ConsistencyProof, TreeReadError> {
        self.tree.consistency_proof(org, from, to).await
    }
}

/// Starts the task that checkpoints every grown log each `interval` (the first run at
/// once). Failures are logged; the next run tries again.
pub(crate) fn spawn(service: AuditLogService, interval: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match service.checkpoint_due().await {
                Ok(run) => {
                    if !run.made.is_empty() {
                        tracing::info!(made = run.made.len(), "signed audit checkpoints");
                    }
                    for (org, error) in run.failed {
                        tracing::error!(%org, code = error.code(), error = %error, "audit checkpoint refused");
                    }
                }
                Err(error) => tracing::warn!(error = %error, "audit checkpoint run failed"),
            }
        }
    })
}
