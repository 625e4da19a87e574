//! An independent implementation of RFC 9162 §2.1 written straight from its recursive
//! definitions (`MTH`, `PATH`, `PROOF` / `SUBPROOF`), with its own hashing, and the
//! library checked against it for every tree size 1..=64, every leaf and every pair
//! of sizes.

use std::cell::RefCell;
use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::tlog::{
    ConsistencyProof, HashReader, InclusionProof, MemoryTree, ProofError, TreeHash,
    consistency_proof, inclusion_proof, leaf_hash, tree_root,
};

/// `SHA-256` over the concatenation of `parts`.
fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// The largest power of two smaller than `n` (RFC 9162: "k < n ≤ 2k"), by counting.
fn largest_power_of_two_below(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// The RFC's definitions over a list of leaf inputs `D`. `MTH` results are memoised by
/// range only to keep the exhaustive tests fast; the recursion is the RFC's.
pub(super) struct Rfc9162 {
    leaves: Vec<Vec<u8>>,
    memo: RefCell<HashMap<(usize, usize), [u8; 32]>>,
}

impl Rfc9162 {
    pub(super) fn new(leaves: Vec<Vec<u8>>) -> Self {
        Self {
            leaves,
            memo: RefCell::default(),
        }
    }

    /// `MTH(D[lo:hi])`.
    pub(super) fn mth(&self, lo: usize, hi: usize) -> [u8; 32] {
        if let Some(hash) = self.memo.borrow().get(&(lo, hi)) {
            return *hash;
        }
        let hash = match hi - lo {
            0 => sha256(&[]),
            1 => sha256(&[&[0x00], &self.leaves[lo]]),
            n => {
                let k = largest_power_of_two_below(n);
                sha256(&[&[0x01], &self.mth(lo, lo + k), &self.mth(lo + k, hi)])
            }
        };
        self.memo.borrow_mut().insert((lo, hi), hash);
        hash
    }

    /// `PATH(m, D[lo:hi])`, `m` relative to `lo`.
    pub(super) fn path(&self, m: usize, lo: usize, hi: usize) -> Vec<[u8; 32]> {
        let n = hi - lo;
        if n == 1 {
            return Vec::new();
        }
        let k = largest_power_of_two_below(n);
        if m < k {
            let mut path = self.path(m, lo, lo + k);
            path.push(self.mth(lo + k, hi));
            path
        } else {
            let mut path = self.path(m - k, lo + k, hi);
            path.push(self.mth(lo, lo + k));
            path
        }
    }

    /// `PROOF(m, D[n]) = SUBPROOF(m, D[n], true)`.
    pub(super) fn proof(&self, m: usize, n: usize) -> Vec<[u8; 32]> {
        self.subproof(m, 0, n, true)
    }

    /// `SUBPROOF(m, D[lo:hi], b)`.
    fn subproof(&self, m: usize, lo: usize, hi: usize, b: bool) -> Vec<[u8; 32]> {
        let n = hi - lo;
        if m == n {
            return if b {
                Vec::new()
            } else {
                vec![self.mth(lo, hi)]
            };
        }
        let k = largest_power_of_two_below(n);
        if m <= k {
            let mut proof = self.subproof(m, lo, lo + k, b);
            proof.push(self.mth(lo + k, hi));
            proof
        } else {
            let mut proof = self.subproof(m - k, lo + k, hi, false);
            proof.push(self.mth(lo, lo + k));
            proof
        }
    }
}

/// Leaf inputs like an audit event's: 32 bytes each, all different.
pub(super) fn event_like_leaves(count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| sha256(&[b"event", &(i as u64).to_be_bytes()]).to_vec())
        .collect()
}

fn hashes(raw: &[[u8; 32]]) -> Vec<TreeHash> {
    raw.iter().copied().map(TreeHash).collect()
}

fn flipped(hash: &TreeHash, bit: usize) -> TreeHash {
    let mut bytes = hash.0;
    bytes[bit / 8 % 32] ^= 1 << (bit % 8);
    TreeHash(bytes)
}

const MAX: usize = 64;

/// Runs `check(tree, size)` with a tree that holds exactly `size` leaves, for every
/// size 1..=MAX, so a proof that reads a node beyond its tree fails.
fn for_every_size(mut check: impl FnMut(&Rfc9162, &MemoryTree, usize)) {
    let rfc = Rfc9162::new(event_like_leaves(MAX));
    let mut tree = MemoryTree::new();
    for size in 1..=MAX {
        tree.append(&[leaf_hash(&rfc.leaves[size - 1])]).unwrap();
        check(&rfc, &tree, size);
    }
}

#[test]
fn every_tree_size_up_to_64_has_the_rfc_root_from_the_frontier_and_from_stored_nodes() {
    for_every_size(|rfc, tree, size| {
        let want = TreeHash(rfc.mth(0, size));
        assert_eq!(tree.root(), want, "frontier root at size {size}");
        assert_eq!(tree_root(tree, size as u64).unwrap(), want);
        // Every older root is still computable from the grown store.
        for older in 1..=size {
            assert_eq!(
                tree_root(tree, older as u64).unwrap(),
                TreeHash(rfc.mth(0, older)),
                "root at {older} from a tree of {size}"
            );
        }
    });
}

#[test]
fn every_inclusion_proof_up_to_64_leaves_is_the_rfc_path_and_verifies() {
    let mut checked = 0;
    for_every_size(|rfc, tree, size| {
        let root = TreeHash(rfc.mth(0, size));
        for index in 0..size {
            let proof = inclusion_proof(tree, index as u64, size as u64).unwrap();
            assert_eq!(
                proof.hashes,
                hashes(&rfc.path(index, 0, size)),
                "PATH({index}, D[{size}])"
            );
            let leaf = leaf_hash(&rfc.leaves[index]);
            proof.verify(&leaf, &root).unwrap();
            // The RFC's own path verifies too (it is the same list, built independently).
            let rfc_proof = InclusionProof {
                index: index as u64,
                size: size as u64,
                hashes: hashes(&rfc.path(index, 0, size)),
            };
            rfc_proof.verify(&leaf, &root).unwrap();
            checked += 1;
        }
    });
    assert_eq!(checked, MAX * (MAX + 1) / 2);
}

#[test]
fn every_tampered_inclusion_proof_up_to_64_leaves_is_refused() {
    for_every_size(|rfc, tree, size| {
        let root = TreeHash(rfc.mth(0, size));
        for index in 0..size {
            let proof = inclusion_proof(tree, index as u64, size as u64).unwrap();
            let leaf = leaf_hash(&rfc.leaves[index]);
            let refused = |candidate: &InclusionProof, leaf: &TreeHash, root: &TreeHash| {
                assert!(
                    candidate.verify(leaf, root).is_err(),
                    "tampered proof accepted: {candidate:?} (index {index}, size {size})"
                );
            };
            // Any one bit of any hash.
            for at in 0..proof.hashes.len() {
                for bit in [0, 255] {
                    let mut bad = proof.clone();
                    bad.hashes[at] = flipped(&bad.hashes[at], bit);
                    refused(&bad, &leaf, &root);
                }
            }
            // A hash removed or added.
            if let Some((_, shorter)) = proof.hashes.split_last() {
                let bad = InclusionProof {
                    hashes: shorter.to_vec(),
                    ..proof.clone()
                };
                refused(&bad, &leaf, &root);
            }
            let mut longer = proof.clone();
            longer.hashes.push(root);
            refused(&longer, &leaf, &root);
            // Another leaf, another position, another root. (A different size with the
            // same root proves nothing either way: a root is only ever trusted with the
            // size it was signed with.)
            refused(&proof, &flipped(&leaf, 3), &root);
            refused(&proof, &leaf, &flipped(&root, 200));
            for other in [index ^ 1, index + 1, index.wrapping_sub(1)] {
                if other != index && other < size {
                    let bad = InclusionProof {
                        index: other as u64,
                        ..proof.clone()
                    };
                    refused(&bad, &leaf, &root);
                }
            }
        }
    });
}

#[test]
fn every_consistency_proof_up_to_64_leaves_is_the_rfc_proof_and_verifies() {
    let mut checked = 0;
    for_every_size(|rfc, tree, size| {
        let new_root = TreeHash(rfc.mth(0, size));
        for from in 1..=size {
            let old_root = TreeHash(rfc.mth(0, from));
            let proof = consistency_proof(tree, from as u64, size as u64).unwrap();
            assert_eq!(
                proof.hashes,
                hashes(&rfc.proof(from, size)),
                "PROOF({from}, D[{size}])"
            );
            proof.verify(&old_root, &new_root).unwrap();
            let rfc_proof = ConsistencyProof {
                from: from as u64,
                to: size as u64,
                hashes: hashes(&rfc.proof(from, size)),
            };
            rfc_proof.verify(&old_root, &new_root).unwrap();
            checked += 1;
        }
    });
    assert_eq!(checked, MAX * (MAX + 1) / 2);
}

#[test]
fn every_tampered_consistency_proof_up_to_64_leaves_is_refused() {
    for_every_size(|rfc, tree, size| {
        let new_root = TreeHash(rfc.mth(0, size));
        for from in 1..=size {
            let old_root = TreeHash(rfc.mth(0, from));
            let proof = consistency_proof(tree, from as u64, size as u64).unwrap();
            let refused = |candidate: &ConsistencyProof, old: &TreeHash, new: &TreeHash| {
                assert!(
                    candidate.verify(old, new).is_err(),
                    "tampered proof accepted: {candidate:?} ({from} → {size})"
                );
            };
            for at in 0..proof.hashes.len() {
                for bit in [0, 255] {
                    let mut bad = proof.clone();
                    bad.hashes[at] = flipped(&bad.hashes[at], bit);
                    refused(&bad, &old_root, &new_root);
                }
            }
            if let Some((_, shorter)) = proof.hashes.split_last() {
                let bad = ConsistencyProof {
                    hashes: shorter.to_vec(),
                    ..proof.clone()
                };
                refused(&bad, &old_root, &new_root);
            }
            let mut longer = proof.clone();
            longer.hashes.insert(0, old_root);
            refused(&longer, &old_root, &new_root);
            refused(&proof, &flipped(&old_root, 9), &new_root);
            refused(&proof, &old_root, &flipped(&new_root, 9));
            // The roots of other sizes do not pass for these.
            if from > 1 {
                refused(&proof, &TreeHash(rfc.mth(0, from - 1)), &new_root);
            }
            if from < size {
                refused(&proof, &old_root, &TreeHash(rfc.mth(0, size - 1)));
                // The sizes swapped: a shrinking log.
                let swapped = ConsistencyProof {
                    from: size as u64,
                    to: from as u64,
                    ..proof.clone()
                };
                assert_eq!(
                    swapped.verify(&new_root, &old_root),
                    Err(ProofError::SizesOutOfOrder {
                        from: size as u64,
                        to: from as u64
                    })
                );
            }
            for other_from in [from - 1, from + 1] {
                if other_from >= 1 && other_from <= size && other_from != from {
                    let bad = ConsistencyProof {
                        from: other_from as u64,
                        ..proof.clone()
                    };
                    refused(&bad, &old_root, &new_root);
                }
            }
        }
    });
}

#[test]
fn proofs_read_only_nodes_of_their_own_tree() {
    // A tree of exactly `size` leaves answers every plan for that size: no plan reads a
    // node that only a larger tree has (the reader refuses those, see tree tests).
    for_every_size(|_, tree, size| {
        let size = size as u64;
        for index in 0..size {
            let plan = crate::tlog::InclusionPlan::new(index, size).unwrap();
            tree.read_hashes(plan.nodes()).unwrap();
        }
        for from in 1..=size {
            let plan = crate::tlog::ConsistencyPlan::new(from, size).unwrap();
            tree.read_hashes(plan.nodes()).unwrap();
        }
    });
}
