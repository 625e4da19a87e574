//! A log the customer can verify: each org's audit events as a Merkle tree (RFC 9162
//! §2.1), signed checkpoints in the C2SP `tlog-checkpoint` / `signed-note` formats, and
//! inclusion and consistency proofs (SPEC §6.1).
//!
//! The tree, proofs, notes and checkpoints are pure: no I/O, no clock. The port and
//! the checkpointer are where they meet the store and the clock:
//!
//! - [`tree`]: node addresses ([`NodeId`]), the [`Frontier`] that appends leaves
//!   incrementally and says which new nodes to persist, and the [`HashReader`] contract
//!   a store fulfils (with [`MemoryTree`], the in-memory reference);
//! - [`proof`]: [`InclusionPlan`] / [`ConsistencyPlan`] list the stored nodes a proof
//!   needs (so an adapter fetches them in one query) and build the proof from them;
//!   [`InclusionProof::verify`] / [`ConsistencyProof::verify`] check proofs the way a
//!   customer does, with the RFC 9162 §2.1.3.2 / §2.1.4.2 algorithms;
//! - [`note`]: C2SP signed notes with Ed25519 ([`NoteSigner`], [`NoteVerifier`], verifier
//!   keys `<name>+<hex key id>+<base64(0x01 ‖ public key)>`);
//! - [`checkpoint`]: [`Checkpoint`], the signed tree head `origin / size / root`;
//! - [`store`]: the [`AuditTree`] port (the tree and checkpoints a store keeps with
//!   the events) and the proofs served from it;
//! - [`checkpointer`]: the [`Checkpointer`] that signs a checkpoint of every log that
//!   grew, once per interval, with an [`AuditSigner`].
//!
//! The tree's leaves are an org's events in `seq` order: leaf index `seq - 1`, leaf input
//! the event's 32-byte chain `hash` ([`event_leaf`]). `docs/tlog.md` says what a store
//! persists per append and how proofs are served.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::audit::ChainHash;

pub mod checkpoint;
pub mod checkpointer;
pub mod note;
pub mod proof;
pub mod store;
pub mod tree;

pub use checkpoint::{Checkpoint, CheckpointError, audit_key_name, audit_origin};
pub use checkpointer::{
    AuditSigner, CheckpointRun, Checkpointer, CheckpointerError, checkpoint_due,
};
pub use note::{
    NoteError, NoteSignature, NoteSigner, NoteVerifier, OpenedNote, SignedNote, SignerKeyError,
    VerifierKeyError, key_id, open_note, parse_note, sign_all,
};
pub use proof::{ConsistencyPlan, ConsistencyProof, InclusionPlan, InclusionProof, ProofError};
pub use store::{AuditTree, GrownLog, StoredCheckpoint, TreeHead, TreeReadError};
pub use tree::{
    Frontier, HashReader, MAX_TREE_SIZE, MemoryTree, Node, NodeId, TreeError, consistency_proof,
    inclusion_proof, stored_node_count, tree_root,
};

/// A hash in the tree: a leaf hash, an interior node's hash or a root. 32 bytes of
/// SHA-256; written in standard base64 (with padding) in checkpoints and proofs.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TreeHash(pub [u8; 32]);

/// The root of the empty tree: `SHA-256("")` (RFC 9162 §2.1.1).
pub const EMPTY_ROOT: TreeHash = TreeHash([
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
]);

/// The leaf hash of `input`: `SHA-256(0x00 ‖ input)` (RFC 9162 §2.1.1).
pub fn leaf_hash(input: &[u8]) -> TreeHash {
    TreeHash(
        Sha256::new()
            .chain_update([0x00])
            .chain_update(input)
            .finalize()
            .into(),
    )
}

/// The hash of an interior node: `SHA-256(0x01 ‖ left ‖ right)` (RFC 9162 §2.1.1).
pub fn node_hash(left: &TreeHash, right: &TreeHash) -> TreeHash {
    let mut input = [0u8; 65];
    input[0] = 0x01;
    input[1..33].copy_from_slice(&left.0);
    input[33..].copy_from_slice(&right.0);
    TreeHash(Sha256::digest(input).into())
}

/// The leaf of an audit event: the leaf hash of its 32-byte chain `hash` (SPEC §6.1).
pub fn event_leaf(event_hash: &ChainHash) -> TreeHash {
    leaf_hash(&event_hash.0)
}

/// Text that is not the standard base64 of 32 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("not a tree hash (the standard base64 of 32 bytes)")]
pub struct MalformedHash;

impl TreeHash {
    /// Standard base64 with padding (44 characters).
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// Parses standard base64 with padding of exactly 32 bytes; anything else is
    /// refused (no URL alphabet, no missing padding, no trailing bits).
    pub fn from_base64(text: &str) -> Result<Self, MalformedHash> {
        let bytes = STANDARD.decode(text).map_err(|_| MalformedHash)?;
        bytes.try_into().map(Self).map_err(|_| MalformedHash)
    }
}

impl fmt::Display for TreeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl fmt::Debug for TreeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TreeHash({})", self.to_base64())
    }
}

impl FromStr for TreeHash {
    type Err = MalformedHash;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::from_base64(text)
    }
}

impl Serialize for TreeHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for TreeHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::from_base64(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
