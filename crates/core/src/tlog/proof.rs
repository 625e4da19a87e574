//! Inclusion proofs (RFC 9162 §2.1.3) and consistency proofs (§2.1.4): generation from
//! stored nodes in two steps (a plan lists the nodes to read; the plan turns their
//! hashes into the proof), and verification as a customer does it.
//!
//! Generation walks the RFC's recursive `PATH` / `SUBPROOF` definitions over stored
//! complete subtrees (the layout of Go's `sumdb/tlog`); verification is the RFC's own
//! iterative algorithm (§2.1.3.2, §2.1.4.2), a different piece of code, so the two check
//! each other in the tests.

use thiserror::Error;

use super::tree::{Cursor, TreeError, check_count, check_size, complete_subtrees, split};
use super::{NodeId, TreeHash, node_hash};

/// What an inclusion proof of leaf `index` in the tree of `size` leaves needs read.
///
/// ```
/// use support_access_core::tlog::{InclusionPlan, MemoryTree, HashReader, leaf_hash};
/// let mut tree = MemoryTree::new();
/// let leaves: Vec<_> = (0u8..10).map(|i| leaf_hash(&[i])).collect();
/// tree.append(&leaves).unwrap();
/// let plan = InclusionPlan::new(3, 10).unwrap();
/// let hashes = tree.read_hashes(plan.nodes()).unwrap(); // one query in a database
/// let proof = plan.prove(&hashes).unwrap();
/// proof.verify(&leaves[3], &tree.root()).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionPlan {
    index: u64,
    size: u64,
    nodes: Vec<NodeId>,
}

impl InclusionPlan {
    /// The plan for leaf `index` (0-based: an event's `seq - 1`) in the tree of `size`.
    pub fn new(index: u64, size: u64) -> Result<Self, TreeError> {
        check_size(size)?;
        if index >= size {
            return Err(TreeError::IndexOutOfRange { index, size });
        }
        let mut nodes = Vec::new();
        path_nodes(0, size, index, &mut nodes);
        Ok(Self { index, size, nodes })
    }

    /// The stored nodes to read, at most `2 · log2(size)`, all distinct.
    pub fn nodes(&self) -> &[NodeId] {
        &self.nodes
    }

    /// The proof, from the hashes of [`InclusionPlan::nodes`] in that order.
    pub fn prove(&self, hashes: &[TreeHash]) -> Result<InclusionProof, TreeError> {
        check_count(self.nodes.len(), hashes.len())?;
        let mut cursor = Cursor::new(hashes);
        let mut path = Vec::new();
        path_hashes(0, self.size, self.index, &mut cursor, &mut path)?;
        cursor.finish()?;
        Ok(InclusionProof {
            index: self.index,
            size: self.size,
            hashes: path,
        })
    }
}

/// The nodes `PATH(m, D[lo:hi])` reads, in the order [`path_hashes`] consumes them.
fn path_nodes(lo: u64, hi: u64, m: u64, out: &mut Vec<NodeId>) {
    if hi - lo == 1 {
        return;
    }
    let k = split(hi - lo);
    if m < lo + k {
        path_nodes(lo, lo + k, m, out);
        complete_subtrees(lo + k, hi, out);
    } else {
        complete_subtrees(lo, lo + k, out);
        path_nodes(lo + k, hi, m, out);
    }
}

/// RFC 9162 `PATH(m, D[lo:hi])`, bottom-up, appended to `path`.
fn path_hashes(
    lo: u64,
    hi: u64,
    m: u64,
    cursor: &mut Cursor<'_>,
    path: &mut Vec<TreeHash>,
) -> Result<(), TreeError> {
    if hi - lo == 1 {
        return Ok(());
    }
    let k = split(hi - lo);
    if m < lo + k {
        path_hashes(lo, lo + k, m, cursor, path)?;
        path.push(cursor.subtree_hash(lo + k, hi)?);
    } else {
        let left = cursor.subtree_hash(lo, lo + k)?;
        path_hashes(lo + k, hi, m, cursor, path)?;
        path.push(left);
    }
    Ok(())
}

/// What a consistency proof from the tree of `from` leaves to the tree of `to` needs
/// read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyPlan {
    from: u64,
    to: u64,
    nodes: Vec<NodeId>,
}

impl ConsistencyPlan {
    /// The plan for `0 < from ≤ to`.
    pub fn new(from: u64, to: u64) -> Result<Self, TreeError> {
        check_size(to)?;
        if from > to {
            return Err(TreeError::SizesOutOfOrder { from, to });
        }
        if from == 0 {
            return Err(TreeError::EmptyOldTree);
        }
        let mut nodes = Vec::new();
        subproof_nodes(0, to, from, &mut nodes);
        Ok(Self { from, to, nodes })
    }

    /// The stored nodes to read, at most `2 · log2(to) + 1`, all distinct.
    pub fn nodes(&self) -> &[NodeId] {
        &self.nodes
    }

    /// The proof, from the hashes of [`ConsistencyPlan::nodes`] in that order.
    pub fn prove(&self, hashes: &[TreeHash]) -> Result<ConsistencyProof, TreeError> {
        check_count(self.nodes.len(), hashes.len())?;
        let mut cursor = Cursor::new(hashes);
        let mut proof = Vec::new();
        subproof_hashes(0, self.to, self.from, &mut cursor, &mut proof)?;
        cursor.finish()?;
        Ok(ConsistencyProof {
            from: self.from,
            to: self.to,
            hashes: proof,
        })
    }
}

/// The nodes `SUBPROOF(m, D[lo:hi], lo == 0)` reads, in the order [`subproof_hashes`]
/// consumes them.
fn subproof_nodes(lo: u64, hi: u64, m: u64, out: &mut Vec<NodeId>) {
    if m == hi {
        if lo != 0 {
            complete_subtrees(lo, hi, out);
        }
        return;
    }
    let k = split(hi - lo);
    if m <= lo + k {
        subproof_nodes(lo, lo + k, m, out);
        complete_subtrees(lo + k, hi, out);
    } else {
        complete_subtrees(lo, lo + k, out);
        subproof_nodes(lo + k, hi, m, out);
    }
}

/// RFC 9162 `SUBPROOF(m, D[lo:hi], b)` with `b = (lo == 0)` — the subtree is still the
/// old tree's left edge exactly when it starts at leaf 0 — appended to `proof`.
fn subproof_hashes(
    lo: u64,
    hi: u64,
    m: u64,
    cursor: &mut Cursor<'_>,
    proof: &mut Vec<TreeHash>,
) -> Result<(), TreeError> {
    if m == hi {
        if lo != 0 {
            proof.push(cursor.subtree_hash(lo, hi)?);
        }
        return Ok(());
    }
    let k = split(hi - lo);
    if m <= lo + k {
        subproof_hashes(lo, lo + k, m, cursor, proof)?;
        proof.push(cursor.subtree_hash(lo + k, hi)?);
    } else {
        let left = cursor.subtree_hash(lo, lo + k)?;
        subproof_hashes(lo + k, hi, m, cursor, proof)?;
        proof.push(left);
    }
    Ok(())
}

/// Why a proof does not prove what it claims.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProofError {
    /// The leaf index is not below the tree size.
    #[error("leaf index {index} is not in a tree of {size} leaves")]
    IndexOutOfRange {
        /// The claimed leaf index.
        index: u64,
        /// The claimed tree size.
        size: u64,
    },
    /// A consistency proof from the empty tree, which proves nothing.
    #[error("a consistency proof from the empty tree proves nothing")]
    EmptyOldTree,
    /// The newer tree is smaller than the older one: the log lost leaves.
    #[error("the newer tree ({to} leaves) is smaller than the older one ({from} leaves)")]
    SizesOutOfOrder {
        /// The older size.
        from: u64,
        /// The newer size.
        to: u64,
    },
    /// The proof has the wrong number of hashes for its sizes.
    #[error("the proof has {got} hashes where {expected} are needed")]
    WrongLength {
        /// Hashes a proof for these sizes has.
        expected: usize,
        /// Hashes the proof has.
        got: usize,
    },
    /// The inclusion proof does not lead from the leaf to the root.
    #[error("the leaf and proof do not lead to the tree's root")]
    RootMismatch,
    /// The consistency proof does not lead from the older root to the newer one: the
    /// newer tree does not extend the older one (its first leaves were changed), or a
    /// root or the proof is not what it claims.
    #[error("the newer tree is not an extension of the older one")]
    Inconsistent,
}

impl ProofError {
    /// The stable code of the error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::IndexOutOfRange { .. } => "leaf_out_of_range",
            Self::EmptyOldTree => "empty_old_tree",
            Self::SizesOutOfOrder { .. } => "sizes_out_of_order",
            Self::WrongLength { .. } => "wrong_proof_length",
            Self::RootMismatch => "root_mismatch",
            Self::Inconsistent => "inconsistent",
        }
    }
}

/// `bits.Len64`: the number of bits needed for `x`.
fn bit_len(x: u64) -> u32 {
    64 - x.leading_zeros()
}

/// The number of hashes in the inclusion proof of `index < size`: the levels below the
/// node where the paths to `index` and `size - 1` part, plus the left siblings above it.
fn inclusion_len(index: u64, size: u64) -> usize {
    let inner = bit_len(index ^ (size - 1));
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    (inner + border) as usize
}

/// The number of hashes in the consistency proof for `0 < from < to`.
fn consistency_len(from: u64, to: u64) -> usize {
    let inner = bit_len((from - 1) ^ (to - 1));
    let border = (from - 1).checked_shr(inner).unwrap_or(0).count_ones();
    let shift = from.trailing_zeros();
    // When `from` is a power of two the old root is the proof's unstated first node.
    let seed = usize::from(!from.is_power_of_two());
    seed + (inner.saturating_sub(shift) + border) as usize
}

/// A proof that a leaf is in a tree (RFC 9162 §2.1.3): the audit path, bottom-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    /// The leaf's index (an event's `seq - 1`).
    pub index: u64,
    /// The tree size the proof is for.
    pub size: u64,
    /// The audit path, the leaf's sibling first.
    pub hashes: Vec<TreeHash>,
}

impl InclusionProof {
    /// Checks that `leaf` (a leaf hash, e.g. [`event_leaf`](super::event_leaf)) is leaf
    /// [`InclusionProof::index`] of the tree of [`InclusionProof::size`] leaves whose
    /// root is `root` (RFC 9162 §2.1.3.2).
    pub fn verify(&self, leaf: &TreeHash, root: &TreeHash) -> Result<(), ProofError> {
        let (index, size) = (self.index, self.size);
        if index >= size {
            return Err(ProofError::IndexOutOfRange { index, size });
        }
        let expected = inclusion_len(index, size);
        if self.hashes.len() != expected {
            return Err(ProofError::WrongLength {
                expected,
                got: self.hashes.len(),
            });
        }
        let (mut f_n, mut s_n) = (index, size - 1);
        let mut r = *leaf;
        for p in &self.hashes {
            if s_n == 0 {
                return Err(ProofError::RootMismatch);
            }
            if f_n & 1 == 1 || f_n == s_n {
                r = node_hash(p, &r);
                if f_n & 1 == 0 {
                    while f_n & 1 == 0 && f_n != 0 {
                        f_n >>= 1;
                        s_n >>= 1;
                    }
                }
            } else {
                r = node_hash(&r, p);
            }
            f_n >>= 1;
            s_n >>= 1;
        }
        if s_n != 0 || r != *root {
            return Err(ProofError::RootMismatch);
        }
        Ok(())
    }
}

/// A proof that the tree of `to` leaves extends the tree of `from` leaves (RFC 9162
/// §2.1.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyProof {
    /// The older tree's size.
    pub from: u64,
    /// The newer tree's size.
    pub to: u64,
    /// The consistency path.
    pub hashes: Vec<TreeHash>,
}

impl ConsistencyProof {
    /// Checks that the tree of [`ConsistencyProof::to`] leaves with root `new_root`
    /// contains as its first [`ConsistencyProof::from`] leaves the tree whose root is
    /// `old_root` (RFC 9162 §2.1.4.2). Equal sizes need an empty proof and equal roots.
    pub fn verify(&self, old_root: &TreeHash, new_root: &TreeHash) -> Result<(), ProofError> {
        let (from, to) = (self.from, self.to);
        if from > to {
            return Err(ProofError::SizesOutOfOrder { from, to });
        }
        if from == 0 {
            return Err(ProofError::EmptyOldTree);
        }
        let expected = if from == to {
            0
        } else {
            consistency_len(from, to)
        };
        if self.hashes.len() != expected {
            return Err(ProofError::WrongLength {
                expected,
                got: self.hashes.len(),
            });
        }
        if from == to {
            return if old_root == new_root {
                Ok(())
            } else {
                Err(ProofError::Inconsistent)
            };
        }
        // 2. When `from` is a power of two the old root starts the path.
        let mut path = self.hashes.iter();
        let seed = if from.is_power_of_two() {
            *old_root
        } else {
            match path.next() {
                Some(first) => *first,
                None => return Err(ProofError::Inconsistent),
            }
        };
        // 3.–4.
        let (mut f_n, mut s_n) = (from - 1, to - 1);
        while f_n & 1 == 1 {
            f_n >>= 1;
            s_n >>= 1;
        }
        // 5.–6.
        let (mut f_r, mut s_r) = (seed, seed);
        for c in path {
            if s_n == 0 {
                return Err(ProofError::Inconsistent);
            }
            if f_n & 1 == 1 || f_n == s_n {
                f_r = node_hash(c, &f_r);
                s_r = node_hash(c, &s_r);
                if f_n & 1 == 0 {
                    while f_n & 1 == 0 && f_n != 0 {
                        f_n >>= 1;
                        s_n >>= 1;
                    }
                }
            } else {
                s_r = node_hash(&s_r, c);
            }
            f_n >>= 1;
            s_n >>= 1;
        }
        // 7.
        if f_r != *old_root || s_n != 0 || s_r != *new_root {
            return Err(ProofError::Inconsistent);
        }
        Ok(())
    }
}
