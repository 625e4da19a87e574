//! The [`Checkpointer`]: signs and stores a checkpoint of each org's log that grew,
//! at most once per `audit.checkpoint_interval` (SPEC §6.1).
//!
//! The gateway calls [`Checkpointer::run`] on a timer (any period up to the interval:
//! whether an org is due is decided from the stored checkpoints, so several instances
//! sharing a database need no coordination — the store's `Conflict` on a second
//! checkpoint of one size settles a race). Before it signs, the checkpointer checks
//! that the stored tree is a consistent extension of the org's last checkpoint, so the
//! gateway never signs a rewritten log.

use std::fmt::Debug;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use thiserror::Error;

use super::checkpoint::{Checkpoint, CheckpointError, audit_origin};
use super::note::{NoteError, NoteSigner, NoteVerifier};
use super::store::{AuditTree, GrownLog, StoredCheckpoint, TreeHead, TreeReadError};
use crate::ids::OrgId;
use crate::ports::{Clock, StoreError};
use crate::time::to_micros;

/// The audit key, as the checkpointer uses it: a C2SP note signer.
///
/// [`NoteSigner`] implements it for a key held in memory. Loading the key from the
/// store and rotating it (`keys rotate --audit`) are the key store's business (issue
/// 13): such a provider implements this trait and signs with whatever key is current.
pub trait AuditSigner: Send + Sync + Debug {
    /// `text` as a signed note: one signature by the current audit key, then one by
    /// each other key still signing (during a key changeover, the old key within its
    /// overlap and the new key published ahead of its activation).
    fn sign_note(&self, text: &str) -> Result<String, NoteError>;
    /// The verifier of the current key.
    fn verifier(&self) -> NoteVerifier;
    /// The verifiers of every key that signs now, the current one first
    /// (`GET …/audit/verifier-key`, one a line). One key: just [`verifier`](Self::verifier).
    fn verifiers(&self) -> Vec<NoteVerifier> {
        vec![self.verifier()]
    }
}

impl AuditSigner for NoteSigner {
    fn sign_note(&self, text: &str) -> Result<String, NoteError> {
        self.sign(text)
    }

    fn verifier(&self) -> NoteVerifier {
        NoteSigner::verifier(self)
    }
}

/// Whether an org's log is due a checkpoint at `now`: it grew beyond its last
/// checkpoint, and that checkpoint (if any) was made at least `interval` ago.
pub fn checkpoint_due(
    head: &TreeHead,
    last: Option<(u64, DateTime<Utc>)>,
    now: DateTime<Utc>,
    interval: Duration,
) -> bool {
    match last {
        None => head.size > 0,
        Some((size, made_at)) => head.size > size && now - made_at >= interval,
    }
}

/// Why an org got no checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CheckpointerError {
    /// The org has no events: there is nothing to sign.
    #[error("org {0} has no audit events")]
    EmptyLog(OrgId),
    /// The stored tree is not a consistent extension of the org's last checkpoint, or
    /// its head does not match its nodes: the log was rewritten or the store is
    /// inconsistent. Nothing is signed.
    #[error("the log of org {org} is not an extension of its checkpoint of size {size}")]
    NotAnExtension {
        /// The org.
        org: OrgId,
        /// The size of the checkpoint it fails to extend (the head's own size when the
        /// head and its nodes disagree).
        size: u64,
    },
    /// The checkpoint could not be made or signed.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The tree could not be read.
    #[error(transparent)]
    Tree(#[from] TreeReadError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl CheckpointerError {
    /// The stable code of the error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::EmptyLog(_) => "empty_log",
            Self::NotAnExtension { .. } => "log_not_an_extension",
            Self::Checkpoint(error) => error.code(),
            Self::Tree(error) => error.code(),
            Self::Store(StoreError::Unavailable(_)) => "store_unavailable",
            Self::Store(_) => "store_error",
        }
    }
}

/// What one [`Checkpointer::run`] did.
#[derive(Debug, Default)]
pub struct CheckpointRun {
    /// The checkpoints made and stored.
    pub made: Vec<StoredCheckpoint>,
    /// Orgs that were due but got none, and why (another instance's checkpoint of the
    /// same size is not a failure and is not listed).
    pub failed: Vec<(OrgId, CheckpointerError)>,
}

/// Makes the checkpoints of every org's log (see the module documentation).
#[derive(Debug, Clone)]
pub struct Checkpointer {
    tree: Arc<dyn AuditTree>,
    clock: Arc<dyn Clock>,
    signer: Arc<dyn AuditSigner>,
    issuer: String,
    interval: Duration,
}

/// How many grown logs one run looks at; the rest wait for the next run.
const RUN_LIMIT: u32 = 1000;

impl Checkpointer {
    /// A checkpointer for origins `<issuer>/audit/<org>`, one checkpoint per org at
    /// most every `interval`.
    pub fn new(
        tree: Arc<dyn AuditTree>,
        clock: Arc<dyn Clock>,
        signer: Arc<dyn AuditSigner>,
        issuer: impl Into<String>,
        interval: Duration,
    ) -> Self {
        Self {
            tree,
            clock,
            signer,
            issuer: issuer.into(),
            interval,
        }
    }

    /// The logs due a checkpoint now (at most a thousand; the rest are due next run:
    /// those checkpointed now drop out until the interval has passed again).
    pub async fn due(&self) -> Result<Vec<GrownLog>, StoreError> {
        let now = self.clock.now();
        let by = now.checked_sub_signed(self.interval).unwrap_or(now);
        let mut grown = self.tree.grown_logs(by, RUN_LIMIT).await?;
        grown.retain(|log| checkpoint_due(&log.head, log.last_checkpoint, now, self.interval));
        Ok(grown)
    }

    /// Signs and stores a checkpoint of every log that is due one.
    pub async fn run(&self) -> Result<CheckpointRun, StoreError> {
        let mut run = CheckpointRun::default();
        for log in self.due().await? {
            match self.make(&log.org, log.head).await {
                Ok(Some(made)) => run.made.push(made),
                Ok(None) => {}
                Err(error) => run.failed.push((log.org, error)),
            }
        }
        Ok(run)
    }

    /// The org's checkpoint of its current tree (`audit checkpoint --org`): the stored
    /// one when the log did not grow since, else a new one, signed and stored now
    /// whatever the interval.
    pub async fn current(&self, org: &OrgId) -> Result<StoredCheckpoint, CheckpointerError> {
        let head = self.tree.tree_head(org).await?;
        if head.size == 0 {
            return Err(CheckpointerError::EmptyLog(org.clone()));
        }
        if let Some(stored) = self.tree.checkpoint_at(org, head.size).await? {
            return Ok(stored);
        }
        match self.make(org, head).await? {
            Some(made) => Ok(made),
            // Another instance stored this size meanwhile.
            None => self
                .tree
                .checkpoint_at(org, head.size)
                .await?
                .ok_or(CheckpointerError::Store(StoreError::NotFound)),
        }
    }

    /// Checks `head` against its nodes and the last checkpoint, signs and stores it.
    /// `None` when another instance stored a checkpoint of that size first.
    async fn make(
        &self,
        org: &OrgId,
        head: TreeHead,
    ) -> Result<Option<StoredCheckpoint>, CheckpointerError> {
        if self.tree.root_at(org, head.size).await? != head.root {
            return Err(CheckpointerError::NotAnExtension {
                org: org.clone(),
                size: head.size,
            });
        }
        if let Some(last) = self.tree.latest_checkpoint(org).await? {
            self.check_extends(org, &last, &head).await?;
        }
        let note = Checkpoint::new(&audit_origin(&self.issuer, org), head.size, head.root)?;
        let note = self
            .signer
            .sign_note(&note.body())
            .map_err(CheckpointError::from)?;
        let stored = StoredCheckpoint {
            org: org.clone(),
            size: head.size,
            root: head.root,
            made_at: to_micros(self.clock.now()),
            note,
        };
        match self.tree.save_checkpoint(&stored).await {
            Ok(()) => Ok(Some(stored)),
            Err(StoreError::Conflict(_)) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// `NotAnExtension` unless the tree of `head` extends the checkpoint `last`.
    async fn check_extends(
        &self,
        org: &OrgId,
        last: &StoredCheckpoint,
        head: &TreeHead,
    ) -> Result<(), CheckpointerError> {
        let not_an_extension = || CheckpointerError::NotAnExtension {
            org: org.clone(),
            size: last.size,
        };
        if last.size > head.size {
            return Err(not_an_extension());
        }
        let proof = match self.tree.consistency_proof(org, last.size, head.size).await {
            Ok(proof) => proof,
            Err(TreeReadError::BeyondLog { .. }) => return Err(not_an_extension()),
            Err(error) => return Err(error.into()),
        };
        proof
            .verify(&last.root, &head.root)
            .map_err(|_| not_an_extension())
    }
}
