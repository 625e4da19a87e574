//! Node addresses, incremental appends, and what a store holds.
//!
//! A store keeps, per org, the hash of every *complete* subtree (a node whose `2^level`
//! leaves are all present), addressed by [`NodeId`] `(level, index)`. A node never
//! changes once its subtree is complete, so the set only grows: appending leaf `n`
//! writes the leaf hash and the hash of each subtree that leaf completes
//! (`1 + trailing_ones(n)` nodes, two on average). This is the layout of Go's
//! `golang.org/x/mod/sumdb/tlog` ("stored hashes", Crosby and Wallach §3.3).
//!
//! - The [`Frontier`] of a tree of `n` leaves is its at most 63 complete subtrees in
//!   the binary decomposition of `n` ([`Frontier::nodes_for`]); from them it appends
//!   `k` leaves computing `O(k + log n)` hashes and gives the root.
//! - Any tree head, inclusion or consistency proof at any size `m ≤ n` needs only
//!   `O(log m)` stored nodes, listed up front ([`Frontier::nodes_for`],
//!   [`InclusionPlan`], [`ConsistencyPlan`]),
//!   so a database adapter reads them in one query.
//!
//! [`HashReader`] is the store's side of that contract for synchronous readers;
//! [`MemoryTree`] is the in-memory one used by tests and benchmarks.

use std::ops::Range;

use thiserror::Error;

use super::{EMPTY_ROOT, TreeHash, node_hash};
use crate::tlog::proof::{ConsistencyPlan, ConsistencyProof, InclusionPlan, InclusionProof};

/// The largest tree supported: 2^62 leaves, so every [`NodeId::packed`] fits in an
/// `i64` column.
pub const MAX_TREE_SIZE: u64 = 1 << 62;

/// The address of a complete subtree: the node at `level` (0 = leaves) that is the
/// `index`-th from the left on its level, covering leaves
/// `[index · 2^level, (index + 1) · 2^level)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// Height above the leaves: 0 for a leaf hash.
    pub level: u8,
    /// Position among the nodes of that level, from 0.
    pub index: u64,
}

/// A stored node: its address and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    /// Where the node is.
    pub id: NodeId,
    /// Its hash: the leaf hash at level 0, the subtree's root above.
    pub hash: TreeHash,
}

impl NodeId {
    /// The node at `level`, `index`.
    pub const fn new(level: u8, index: u64) -> Self {
        Self { level, index }
    }

    /// Leaf `index` (level 0).
    pub const fn leaf(index: u64) -> Self {
        Self { level: 0, index }
    }

    /// The leaves the node covers.
    pub fn leaves(&self) -> Range<u64> {
        self.index << self.level..(self.index + 1) << self.level
    }

    /// The node's position in the dense order nodes are written in: Go tlog's
    /// `StoredHashIndex`. Appends produce nodes in exactly increasing `packed` order
    /// with no gap (leaf `n`'s nodes start at `NodeId::leaf(n).packed()`), so a store
    /// may key nodes by this one integer (an `i64` for trees up to
    /// [`MAX_TREE_SIZE`]). Defined for nodes of such trees only.
    pub fn packed(&self) -> u64 {
        // Level L's n-th node is written right after level L+1's (2n+1)-th; walk down to
        // the last leaf under the node, then count the nodes written before it.
        let mut n = self.index;
        for _ in 0..self.level {
            n = 2 * n + 1;
        }
        let mut packed = 0;
        while n > 0 {
            packed += n;
            n >>= 1;
        }
        packed + u64::from(self.level)
    }

    /// The node at position `packed` in the dense order; the inverse of
    /// [`NodeId::packed`]. Defined for positions of trees up to [`MAX_TREE_SIZE`]
    /// (`packed < stored_node_count(MAX_TREE_SIZE)`), i.e. keys a store wrote itself.
    pub fn from_packed(packed: u64) -> Self {
        // The leaf written last before `packed`: StoredHashIndex(0, n) < 2n, so n lies
        // in [packed/2, packed/2 + log2(packed)].
        let mut n = packed / 2;
        let mut at = NodeId::leaf(n).packed();
        loop {
            // Leaf n is followed by the 1 + trailing_zeros(n + 1) nodes it completes.
            let next = at + 1 + u64::from((n + 1).trailing_zeros());
            if next > packed {
                break;
            }
            n += 1;
            at = next;
        }
        let level = (packed - at) as u8;
        Self::new(level, n >> level)
    }
}

/// Why a tree operation could not be done: the arguments name no such tree or
/// proof, or the store answered something that is not the tree.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TreeError {
    /// An inclusion proof for a leaf the tree does not have.
    #[error("leaf index {index} is not in a tree of {size} leaves")]
    IndexOutOfRange {
        /// The leaf asked for (0-based).
        index: u64,
        /// The tree size asked for.
        size: u64,
    },
    /// A consistency proof from the empty tree, which proves nothing (RFC 9162 §2.1.4
    /// defines proofs from a non-empty tree).
    #[error("a consistency proof needs a non-empty older tree")]
    EmptyOldTree,
    /// A consistency proof from a larger tree to a smaller one.
    #[error("the older tree size {from} is larger than the newer {to}")]
    SizesOutOfOrder {
        /// The older size asked for.
        from: u64,
        /// The newer size asked for.
        to: u64,
    },
    /// A size beyond [`MAX_TREE_SIZE`].
    #[error("a tree of {size} leaves is larger than supported")]
    TooLarge {
        /// The size asked for.
        size: u64,
    },
    /// Fewer or more hashes than nodes asked for.
    #[error("the store returned {got} hashes for {expected} nodes")]
    WrongCount {
        /// Nodes asked for.
        expected: usize,
        /// Hashes returned.
        got: usize,
    },
    /// The store holds no hash for a node the tree must have.
    #[error("the store holds no hash for node (level {}, index {})", .0.level, .0.index)]
    MissingNode(NodeId),
}

impl TreeError {
    /// The stable code of the error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::IndexOutOfRange { .. } => "leaf_out_of_range",
            Self::EmptyOldTree => "empty_old_tree",
            Self::SizesOutOfOrder { .. } => "sizes_out_of_order",
            Self::TooLarge { .. } => "tree_too_large",
            Self::WrongCount { .. } => "tree_store_wrong_count",
            Self::MissingNode(_) => "tree_store_missing_node",
        }
    }
}

pub(crate) fn check_size(size: u64) -> Result<(), TreeError> {
    if size > MAX_TREE_SIZE {
        return Err(TreeError::TooLarge { size });
    }
    Ok(())
}

pub(crate) fn check_count(expected: usize, got: usize) -> Result<(), TreeError> {
    if expected != got {
        return Err(TreeError::WrongCount { expected, got });
    }
    Ok(())
}

/// The largest power of two strictly below `n` (for `n ≥ 2`): where RFC 9162 splits a
/// tree of `n` leaves.
pub(crate) fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// Appends to `out` the complete subtrees that make up leaves `[lo, hi)`, largest
/// (leftmost) first. `lo` must be a multiple of the first piece's width, which holds
/// for every range the tree and proof algorithms ask for.
pub(crate) fn complete_subtrees(mut lo: u64, hi: u64, out: &mut Vec<NodeId>) {
    while lo < hi {
        let width = 1u64 << (63 - (hi - lo).leading_zeros());
        debug_assert_eq!(lo % width, 0, "misaligned subtree [{lo}, {hi})");
        let level = width.trailing_zeros() as u8;
        out.push(NodeId::new(level, lo >> level));
        lo += width;
    }
}

/// How many complete subtrees make up leaves `[lo, hi)`.
fn complete_subtree_count(mut lo: u64, hi: u64) -> usize {
    let mut count = 0;
    while lo < hi {
        lo += 1u64 << (63 - (hi - lo).leading_zeros());
        count += 1;
    }
    count
}

/// Reads hashes in the order [`complete_subtrees`] listed them and folds them back
/// into the hashes of the ranges the proof algorithms walk.
pub(crate) struct Cursor<'a> {
    hashes: &'a [TreeHash],
    at: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(hashes: &'a [TreeHash]) -> Self {
        Self { hashes, at: 0 }
    }

    fn take(&mut self) -> Result<TreeHash, TreeError> {
        let hash = self
            .hashes
            .get(self.at)
            .copied()
            .ok_or(TreeError::WrongCount {
                expected: self.at + 1,
                got: self.hashes.len(),
            })?;
        self.at += 1;
        Ok(hash)
    }

    /// The root of leaves `[lo, hi)` from its complete subtrees, the next ones read.
    pub(crate) fn subtree_hash(&mut self, lo: u64, hi: u64) -> Result<TreeHash, TreeError> {
        let count = complete_subtree_count(lo, hi);
        let pieces = (0..count)
            .map(|_| self.take())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(fold_right(&pieces))
    }

    /// Fails unless every hash was used.
    pub(crate) fn finish(self) -> Result<(), TreeError> {
        check_count(self.at, self.hashes.len())
    }
}

/// `H(a, H(b, H(c, …)))`: the root of adjacent complete subtrees, largest first, as
/// RFC 9162 builds a tree whose size is not a power of two. The empty tree's root for
/// none.
fn fold_right(pieces: &[TreeHash]) -> TreeHash {
    let mut iter = pieces.iter().rev();
    let Some(last) = iter.next() else {
        return EMPTY_ROOT;
    };
    iter.fold(*last, |right, left| node_hash(left, &right))
}

/// The right edge of a tree: the complete subtrees in the binary decomposition of its
/// size, largest first. Enough to append leaves and to compute the root.
///
/// A store reads it with [`Frontier::nodes_for`] + [`Frontier::from_hashes`] (at most
/// 63 nodes, one query), or keeps the returned [`Frontier::nodes`] with its tree head.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    nodes: Vec<Node>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// The nodes that make up the frontier of a tree of `size` leaves, largest first:
    /// what a store reads before appending, or to compute the root at `size`.
    pub fn nodes_for(size: u64) -> Result<Vec<NodeId>, TreeError> {
        check_size(size)?;
        let mut nodes = Vec::with_capacity(size.count_ones() as usize);
        complete_subtrees(0, size, &mut nodes);
        Ok(nodes)
    }

    /// The frontier of a tree of `size` leaves from the hashes of
    /// [`Frontier::nodes_for`]`(size)`, in that order.
    pub fn from_hashes(size: u64, hashes: &[TreeHash]) -> Result<Self, TreeError> {
        let ids = Self::nodes_for(size)?;
        check_count(ids.len(), hashes.len())?;
        let nodes = ids
            .into_iter()
            .zip(hashes)
            .map(|(id, hash)| Node { id, hash: *hash })
            .collect();
        Ok(Self { size, nodes })
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The frontier's nodes, largest first.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The tree's root (RFC 9162 `MTH`), [`EMPTY_ROOT`] for no leaves. Costs one hash
    /// per frontier node beyond the first.
    pub fn root(&self) -> TreeHash {
        let hashes: Vec<TreeHash> = self.nodes.iter().map(|node| node.hash).collect();
        fold_right(&hashes)
    }

    /// Appends one leaf hash and pushes onto `persist` the nodes that are new: the leaf
    /// and every subtree it completes, in increasing [`NodeId::packed`] order.
    pub fn push(&mut self, leaf: TreeHash, persist: &mut Vec<Node>) -> Result<(), TreeError> {
        check_size(self.size + 1)?;
        let mut node = Node {
            id: NodeId::leaf(self.size),
            hash: leaf,
        };
        persist.push(node);
        while let Some(left) = self.nodes.last()
            && left.id.level == node.id.level
        {
            node = Node {
                id: NodeId::new(node.id.level + 1, node.id.index >> 1),
                hash: node_hash(&left.hash, &node.hash),
            };
            self.nodes.pop();
            persist.push(node);
        }
        self.nodes.push(node);
        self.size += 1;
        Ok(())
    }

    /// Appends leaf hashes in order and returns every new node to persist. All or
    /// nothing: a batch that would exceed [`MAX_TREE_SIZE`] changes nothing.
    pub fn append(&mut self, leaves: &[TreeHash]) -> Result<Vec<Node>, TreeError> {
        check_size(self.size.saturating_add(leaves.len() as u64))?;
        let mut persist = Vec::with_capacity(2 * leaves.len() + 1);
        for leaf in leaves {
            self.push(*leaf, &mut persist)?;
        }
        Ok(persist)
    }
}

/// How many nodes a tree of `size` leaves has stored: they are exactly the nodes
/// whose [`NodeId::packed`] is below this number (Go tlog's `StoredHashCount`).
pub fn stored_node_count(size: u64) -> u64 {
    match size.checked_sub(1) {
        None => 0,
        Some(last) => NodeId::leaf(last).packed() + 1 + u64::from(last.trailing_ones()),
    }
}

/// Reads stored nodes: the store's side of the tree, for synchronous readers (an
/// asynchronous port asks for the same node lists and hands the hashes to the same
/// plans).
///
/// The promises, which every implementation (and the future storage port) keeps:
///
/// - It MUST return exactly one hash per id in `nodes`, in the order of `nodes`.
/// - It MUST return, for each id, the hash persisted by the append that created that
///   node (a [`Node`] from [`Frontier::push`]), never a recomputed, default or zero hash.
/// - It MUST return [`TreeError::MissingNode`] for an id it holds no hash for, rather
///   than fewer hashes.
///
/// And the store that fills it:
///
/// - It MUST persist every [`Node`] an append returns in the same transaction as the
///   events those leaves are for, so the tree never lags or leads the log.
/// - It MUST never change or delete a stored node: a complete subtree never changes.
pub trait HashReader {
    /// The hashes of `nodes`, one per id, in the order asked.
    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<TreeHash>, TreeError>;
}

/// The root of the tree of the first `size` leaves, from stored nodes (one read of at
/// most 63 nodes).
pub fn tree_root(reader: &impl HashReader, size: u64) -> Result<TreeHash, TreeError> {
    let nodes = Frontier::nodes_for(size)?;
    let hashes = reader.read_hashes(&nodes)?;
    Ok(Frontier::from_hashes(size, &hashes)?.root())
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves, from stored nodes.
pub fn inclusion_proof(
    reader: &impl HashReader,
    index: u64,
    size: u64,
) -> Result<InclusionProof, TreeError> {
    let plan = InclusionPlan::new(index, size)?;
    let hashes = reader.read_hashes(plan.nodes())?;
    plan.prove(&hashes)
}

/// The consistency proof from the tree of `from` leaves to the tree of `to`, from
/// stored nodes.
pub fn consistency_proof(
    reader: &impl HashReader,
    from: u64,
    to: u64,
) -> Result<ConsistencyProof, TreeError> {
    let plan = ConsistencyPlan::new(from, to)?;
    let hashes = reader.read_hashes(plan.nodes())?;
    plan.prove(&hashes)
}

/// A whole tree in memory: every stored node in [`NodeId::packed`] order, plus the
/// frontier. The reference [`HashReader`], for tests, benchmarks and the in-memory
/// store; also how a verifier recomputes roots from a list of events.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    frontier: Frontier,
    hashes: Vec<TreeHash>,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// The current root.
    pub fn root(&self) -> TreeHash {
        self.frontier.root()
    }

    /// The current frontier.
    pub fn frontier(&self) -> &Frontier {
        &self.frontier
    }

    /// The number of stored nodes.
    pub fn stored(&self) -> usize {
        self.hashes.len()
    }

    /// Appends leaf hashes and stores the new nodes.
    pub fn append(&mut self, leaves: &[TreeHash]) -> Result<(), TreeError> {
        for node in self.frontier.append(leaves)? {
            debug_assert_eq!(node.id.packed(), self.hashes.len() as u64);
            self.hashes.push(node.hash);
        }
        Ok(())
    }
}

impl HashReader for MemoryTree {
    fn read_hashes(&self, nodes: &[NodeId]) -> Result<Vec<TreeHash>, TreeError> {
        nodes
            .iter()
            .map(|id| {
                // A node exists once its last leaf is in (checked without overflow for
                // ids of no possible tree).
                if id.level > 62 || id.index >= (MAX_TREE_SIZE >> id.level) {
                    return Err(TreeError::MissingNode(*id));
                }
                if id.leaves().end > self.size() {
                    return Err(TreeError::MissingNode(*id));
                }
                usize::try_from(id.packed())
                    .ok()
                    .and_then(|at| self.hashes.get(at))
                    .copied()
                    .ok_or(TreeError::MissingNode(*id))
            })
            .collect()
    }
}
