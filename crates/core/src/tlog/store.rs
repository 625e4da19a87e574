//! The [`AuditTree`] port: each org's Merkle tree as the store keeps it, in the same
//! transactions as the audit events, and the signed checkpoints made of it.
//!
//! Adapters answer three low-level questions (the tree head, stored node hashes, and
//! stored checkpoints); the proofs and older roots are provided on top of them here,
//! from the pure [`InclusionPlan`] / [`ConsistencyPlan`] / [`Frontier`], so every
//! adapter serves exactly the same proofs. Reading the head and then the nodes needs no
//! transaction: a stored node never changes and the head only grows, so every node of
//! a tree no larger than a head once read is there.

use std::fmt::Debug;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use thiserror::Error;

use super::proof::{ConsistencyPlan, ConsistencyProof, InclusionPlan, InclusionProof};
use super::tree::{Frontier, NodeId, TreeError};
use super::{EMPTY_ROOT, TreeHash};
use crate::ids::OrgId;
use crate::ports::StoreError;

/// The tree of an org's first `size` events: its size and RFC 9162 root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeHead {
    /// The number of leaves: the org's last `seq`.
    pub size: u64,
    /// The root: [`EMPTY_ROOT`] for no events.
    pub root: TreeHash,
}

impl TreeHead {
    /// The head of the empty tree.
    pub const EMPTY: Self = Self {
        size: 0,
        root: EMPTY_ROOT,
    };
}

/// A signed checkpoint as the store keeps it: the note text exactly as signed, with
/// the size and root it names and when it was made (so it is never re-rendered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// The org whose log it is of.
    pub org: OrgId,
    /// The tree size it signs.
    pub size: u64,
    /// The root it signs.
    pub root: TreeHash,
    /// When it was made.
    pub made_at: DateTime<Utc>,
    /// The C2SP signed note, byte for byte as signed.
    pub note: String,
}

/// An org whose tree grew beyond its latest checkpoint (or that has events and none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrownLog {
    /// The org.
    pub org: OrgId,
    /// Its current tree head.
    pub head: TreeHead,
    /// Its latest checkpoint's size and time, if it has one.
    pub last_checkpoint: Option<(u64, DateTime<Utc>)>,
}

/// Why a proof or an older root was not served.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TreeReadError {
    /// The request names no proof: a `seq` of 0, a leaf beyond the size asked for, a
    /// consistency proof from the empty tree or from a larger tree to a smaller one.
    #[error(transparent)]
    Invalid(TreeError),
    /// A size beyond the org's log.
    #[error("the log holds {tree_size} events, fewer than the {size} asked for")]
    BeyondLog {
        /// The size asked for.
        size: u64,
        /// The org's current tree size.
        tree_size: u64,
    },
    /// The store holds no hash, or the wrong number of hashes, for nodes its tree must
    /// have: the store is inconsistent (never answered with a made-up proof).
    #[error("the stored tree is inconsistent: {0}")]
    Inconsistent(TreeError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl TreeReadError {
    /// The stable code of the error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(error) => error.code(),
            Self::BeyondLog { .. } => "beyond_log",
            Self::Inconsistent(_) => "tree_store_inconsistent",
            Self::Store(StoreError::Unavailable(_)) => "store_unavailable",
            Self::Store(_) => "store_error",
        }
    }
}

/// Each org's audit log as a Merkle tree (SPEC §6.1, `docs/tlog.md`), kept by the
/// store that keeps the [`AuditLog`](crate::ports::AuditLog).
///
/// Promises:
/// - Every event the store appends (through `AuditLog::append` or as a grant change's
///   event) MUST become leaf `seq - 1` of its org's tree, with leaf hash
///   [`event_leaf`](super::event_leaf)`(hash)`, in the same transaction as the event:
///   `tree_head` MUST always be the RFC 9162 root of the org's event hashes in `seq`
///   order, also under concurrent appends from several handles on the same data; an
///   append that fails or is refused MUST leave the tree unchanged.
/// - `tree_head` MUST return [`TreeHead::EMPTY`] for an org without events.
/// - `read_nodes` MUST return one entry per id, in the order asked: the hash the
///   append that completed that node stored (Go `sumdb/tlog` stored hashes: after `n`
///   events exactly the nodes `NodeId::from_packed(0 .. stored_node_count(n))`), and
///   `None` for a node the org's tree does not have (yet).
/// - `save_checkpoint` MUST store the checkpoint exactly, and MUST return `Conflict`
///   (storing nothing) when the org already has one of that size.
/// - `latest_checkpoint` MUST return the org's checkpoint of the largest size (`None`
///   without one); `checkpoint_at` the one of that size, if any.
/// - `grown_logs` MUST list, by org, at most `limit` orgs whose tree is larger than
///   their latest checkpoint's size and whose latest checkpoint was made at or before
///   `checkpointed_by` (every org with events and no checkpoint), each with its head
///   and latest checkpoint's size and time.
/// - A second handle on the same data MUST see every tree change and checkpoint of the
///   first.
///
/// Provided on top (not for adapters to override): [`AuditTree::root_at`],
/// [`AuditTree::inclusion_proof`], [`AuditTree::consistency_proof`].
#[async_trait]
pub trait AuditTree: Send + Sync + Debug {
    /// The org's current tree head.
    async fn tree_head(&self, org: &OrgId) -> Result<TreeHead, StoreError>;

    /// Stored node hashes of the org's tree, one per id in the order asked.
    async fn read_nodes(
        &self,
        org: &OrgId,
        nodes: &[NodeId],
    ) -> Result<Vec<Option<TreeHash>>, StoreError>;

    /// Stores a signed checkpoint.
    async fn save_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<(), StoreError>;

    /// The org's checkpoint of the largest size.
    async fn latest_checkpoint(&self, org: &OrgId) -> Result<Option<StoredCheckpoint>, StoreError>;

    /// The org's checkpoint of `size`.
    async fn checkpoint_at(
        &self,
        org: &OrgId,
        size: u64,
    ) -> Result<Option<StoredCheckpoint>, StoreError>;

    /// Orgs whose tree grew beyond their latest checkpoint, made at or before
    /// `checkpointed_by`, by org, at most `limit`.
    async fn grown_logs(
        &self,
        checkpointed_by: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<GrownLog>, StoreError>;

    /// The root of the org's tree at `size` (≤ its current size): one read of at most
    /// 63 nodes.
    async fn root_at(&self, org: &OrgId, size: u64) -> Result<TreeHash, TreeReadError> {
        within_log(self, org, size).await?;
        let ids = Frontier::nodes_for(size).map_err(TreeReadError::Invalid)?;
        let hashes = read_all(self, org, &ids).await?;
        let frontier = Frontier::from_hashes(size, &hashes).map_err(TreeReadError::Inconsistent)?;
        Ok(frontier.root())
    }

    /// The inclusion proof of event `seq` in the org's tree of `size` events
    /// (`1 ≤ seq ≤ size ≤` the current size).
    async fn inclusion_proof(
        &self,
        org: &OrgId,
        seq: u64,
        size: u64,
    ) -> Result<InclusionProof, TreeReadError> {
        let index =
            seq.checked_sub(1)
                .ok_or(TreeReadError::Invalid(TreeError::IndexOutOfRange {
                    index: 0,
                    size,
                }))?;
        let plan = InclusionPlan::new(index, size).map_err(TreeReadError::Invalid)?;
        within_log(self, org, size).await?;
        let hashes = read_all(self, org, plan.nodes()).await?;
        plan.prove(&hashes).map_err(TreeReadError::Inconsistent)
    }

    /// The consistency proof from the org's tree of `from` events to the one of `to`
    /// (`1 ≤ from ≤ to ≤` the current size).
    async fn consistency_proof(
        &self,
        org: &OrgId,
        from: u64,
        to: u64,
    ) -> Result<ConsistencyProof, TreeReadError> {
        let plan = ConsistencyPlan::new(from, to).map_err(TreeReadError::Invalid)?;
        within_log(self, org, to).await?;
        let hashes = read_all(self, org, plan.nodes()).await?;
        plan.prove(&hashes).map_err(TreeReadError::Inconsistent)
    }
}

/// `BeyondLog` unless the org's tree has at least `size` leaves.
async fn within_log<T: AuditTree + ?Sized>(
    tree: &T,
    org: &OrgId,
    size: u64,
) -> Result<(), TreeReadError> {
    let head = tree.tree_head(org).await?;
    if size > head.size {
        return Err(TreeReadError::BeyondLog {
            size,
            tree_size: head.size,
        });
    }
    Ok(())
}

/// Every node's hash, or `Inconsistent` for the first the store does not hold.
async fn read_all<T: AuditTree + ?Sized>(
    tree: &T,
    org: &OrgId,
    ids: &[NodeId],
) -> Result<Vec<TreeHash>, TreeReadError> {
    let hashes = tree.read_nodes(org, ids).await?;
    if hashes.len() != ids.len() {
        return Err(TreeReadError::Inconsistent(TreeError::WrongCount {
            expected: ids.len(),
            got: hashes.len(),
        }));
    }
    ids.iter()
        .zip(hashes)
        .map(|(id, hash)| hash.ok_or(TreeReadError::Inconsistent(TreeError::MissingNode(*id))))
        .collect()
}
