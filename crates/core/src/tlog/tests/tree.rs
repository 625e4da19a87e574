use proptest::prelude::*;
use sha2::{Digest, Sha256};

use super::naive::{Rfc9162, event_like_leaves};
use crate::audit::ChainHash;
use crate::tlog::{
    ConsistencyPlan, EMPTY_ROOT, Frontier, HashReader, InclusionPlan, MAX_TREE_SIZE, MemoryTree,
    Node, NodeId, TreeError, TreeHash, consistency_proof, event_leaf, inclusion_proof, leaf_hash,
    stored_node_count, tree_root,
};

fn leaves(count: usize) -> Vec<TreeHash> {
    event_like_leaves(count)
        .iter()
        .map(|leaf| leaf_hash(leaf))
        .collect()
}

#[test]
fn the_empty_tree_has_the_hash_of_nothing_as_root() {
    assert_eq!(
        EMPTY_ROOT.0.to_vec(),
        hex::decode("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855").unwrap()
    );
    assert_eq!(Frontier::new().root(), EMPTY_ROOT);
    assert_eq!(tree_root(&MemoryTree::new(), 0).unwrap(), EMPTY_ROOT);
}

#[test]
fn an_event_leaf_is_the_leaf_hash_of_the_event_chain_hash() {
    let chain = ChainHash([7; 32]);
    let mut input = vec![0x00];
    input.extend_from_slice(&[7; 32]);
    assert_eq!(
        event_leaf(&chain).0.to_vec(),
        Sha256::digest(&input).to_vec()
    );
}

#[test]
fn packed_positions_are_go_tlog_stored_hash_indexes() {
    // Go sumdb/tlog writes record 0 → [(0,0)], record 1 → [(0,1), (1,0)], record 2 →
    // [(0,2)], record 3 → [(0,3), (1,1), (2,0)], record 4 → [(0,4)].
    let order = [
        (0, 0),
        (0, 1),
        (1, 0),
        (0, 2),
        (0, 3),
        (1, 1),
        (2, 0),
        (0, 4),
    ];
    for (packed, (level, index)) in order.into_iter().enumerate() {
        let id = NodeId::new(level, index);
        assert_eq!(id.packed(), packed as u64, "{id:?}");
        assert_eq!(NodeId::from_packed(packed as u64), id);
    }
}

#[test]
fn packed_positions_round_trip() {
    // Go's TestSplitStoredHashIndex, wider.
    for level in 0..12u8 {
        for index in 0..300u64 {
            let id = NodeId::new(level, index);
            assert_eq!(NodeId::from_packed(id.packed()), id);
        }
    }
    let far = NodeId::new(3, (MAX_TREE_SIZE >> 3) - 1);
    assert_eq!(NodeId::from_packed(far.packed()), far);
    assert!(far.packed() < i64::MAX as u64);
}

#[test]
fn appends_write_nodes_in_dense_packed_order_and_only_completed_subtrees() {
    let mut frontier = Frontier::new();
    let mut written = 0u64;
    for (n, leaf) in leaves(1000).into_iter().enumerate() {
        let mut persist = Vec::new();
        frontier.push(leaf, &mut persist).unwrap();
        // The leaf and one node per subtree it completes.
        assert_eq!(persist.len(), 1 + (n as u64).trailing_ones() as usize);
        for node in &persist {
            assert_eq!(
                node.id.packed(),
                written,
                "node {:?} after leaf {n}",
                node.id
            );
            assert_eq!(
                node.id.leaves().end,
                n as u64 + 1,
                "{:?} is complete",
                node.id
            );
            written += 1;
        }
    }
    // Just under two nodes per leaf.
    assert_eq!(written, 2 * 1000 - u64::from(1000u32.count_ones()));
}

#[test]
fn the_stored_node_count_is_what_appends_wrote() {
    let mut tree = MemoryTree::new();
    assert_eq!(stored_node_count(0), 0);
    for (n, leaf) in leaves(1025).into_iter().enumerate() {
        tree.append(&[leaf]).unwrap();
        assert_eq!(stored_node_count(n as u64 + 1), tree.stored() as u64);
    }
    assert_eq!(stored_node_count(MAX_TREE_SIZE), 2 * MAX_TREE_SIZE - 1);
}

#[test]
fn the_frontier_is_the_binary_decomposition_of_the_size() {
    for size in [0u64, 1, 2, 3, 7, 8, 100, 1_000_000, MAX_TREE_SIZE - 1] {
        let nodes = Frontier::nodes_for(size).unwrap();
        assert_eq!(nodes.len(), size.count_ones() as usize);
        let mut next = 0;
        for id in &nodes {
            assert_eq!(id.leaves().start, next, "contiguous from leaf 0");
            next = id.leaves().end;
        }
        assert_eq!(next, size);
        assert!(nodes.windows(2).all(|pair| pair[0].level > pair[1].level));
    }
    assert_eq!(
        Frontier::nodes_for(MAX_TREE_SIZE + 1),
        Err(TreeError::TooLarge {
            size: MAX_TREE_SIZE + 1
        })
    );
}

#[test]
fn a_frontier_read_back_from_stored_nodes_continues_like_the_one_kept_in_memory() {
    let all = leaves(300);
    let mut tree = MemoryTree::new();
    for (n, leaf) in all.iter().enumerate() {
        let size = n as u64;
        let ids = Frontier::nodes_for(size).unwrap();
        let mut restored = Frontier::from_hashes(size, &tree.read_hashes(&ids).unwrap()).unwrap();
        assert_eq!(&restored, tree.frontier());
        let mut from_restored = Vec::new();
        restored.push(*leaf, &mut from_restored).unwrap();
        let mut kept = tree.frontier().clone();
        assert_eq!(kept.append(&[*leaf]).unwrap(), from_restored);
        tree.append(&[*leaf]).unwrap();
        assert_eq!(restored.root(), tree.root());
    }
}

#[test]
fn a_store_that_answers_the_wrong_number_of_hashes_is_refused() {
    let mut tree = MemoryTree::new();
    tree.append(&leaves(11)).unwrap();
    let ids = Frontier::nodes_for(11).unwrap();
    let mut hashes = tree.read_hashes(&ids).unwrap();
    hashes.pop();
    assert_eq!(
        Frontier::from_hashes(11, &hashes),
        Err(TreeError::WrongCount {
            expected: 3,
            got: 2
        })
    );
    let plan = InclusionPlan::new(4, 11).unwrap();
    let mut hashes = tree.read_hashes(plan.nodes()).unwrap();
    hashes.push(EMPTY_ROOT);
    assert!(matches!(
        plan.prove(&hashes),
        Err(TreeError::WrongCount { .. })
    ));
    let plan = ConsistencyPlan::new(3, 11).unwrap();
    assert!(matches!(plan.prove(&[]), Err(TreeError::WrongCount { .. })));
}

#[test]
fn the_memory_tree_refuses_nodes_it_does_not_hold() {
    let mut tree = MemoryTree::new();
    tree.append(&leaves(5)).unwrap();
    for id in [
        NodeId::leaf(5),
        NodeId::new(1, 2), // leaves 4..6: incomplete
        NodeId::new(3, 0), // leaves 0..8
        NodeId::new(200, u64::MAX),
        NodeId::new(62, 1),
    ] {
        assert_eq!(tree.read_hashes(&[id]), Err(TreeError::MissingNode(id)));
    }
    assert_eq!(tree.read_hashes(&[NodeId::new(2, 0)]).unwrap().len(), 1);
    assert_eq!(tree.stored(), 8);
}

#[test]
fn plans_refuse_what_no_tree_has() {
    assert_eq!(
        InclusionPlan::new(5, 5),
        Err(TreeError::IndexOutOfRange { index: 5, size: 5 })
    );
    assert_eq!(
        InclusionPlan::new(0, 0),
        Err(TreeError::IndexOutOfRange { index: 0, size: 0 })
    );
    assert_eq!(
        ConsistencyPlan::new(6, 5),
        Err(TreeError::SizesOutOfOrder { from: 6, to: 5 })
    );
    assert_eq!(ConsistencyPlan::new(0, 5), Err(TreeError::EmptyOldTree));
    assert_eq!(
        InclusionPlan::new(0, u64::MAX),
        Err(TreeError::TooLarge { size: u64::MAX })
    );
    assert_eq!(
        ConsistencyPlan::new(1, MAX_TREE_SIZE + 1),
        Err(TreeError::TooLarge {
            size: MAX_TREE_SIZE + 1
        })
    );
    let codes = [
        TreeError::IndexOutOfRange { index: 0, size: 0 }.code(),
        TreeError::EmptyOldTree.code(),
        TreeError::SizesOutOfOrder { from: 1, to: 0 }.code(),
        TreeError::TooLarge { size: 0 }.code(),
        TreeError::WrongCount {
            expected: 0,
            got: 1,
        }
        .code(),
        TreeError::MissingNode(NodeId::leaf(0)).code(),
    ];
    let unique: std::collections::HashSet<_> = codes.iter().collect();
    assert_eq!(unique.len(), codes.len());
}

#[test]
fn a_batch_that_would_overflow_the_tree_changes_nothing() {
    let mut frontier = Frontier::from_hashes(
        MAX_TREE_SIZE - 1,
        &vec![EMPTY_ROOT; (MAX_TREE_SIZE - 1).count_ones() as usize],
    )
    .unwrap();
    let before = frontier.clone();
    assert_eq!(
        frontier.append(&[EMPTY_ROOT, EMPTY_ROOT]),
        Err(TreeError::TooLarge {
            size: MAX_TREE_SIZE + 1
        })
    );
    assert_eq!(frontier, before);
    assert_eq!(frontier.append(&[EMPTY_ROOT]).unwrap().len(), 62 + 1);
}

#[test]
fn proofs_at_a_million_leaves_read_a_logarithmic_number_of_distinct_nodes() {
    // Plans are pure: the node lists need no tree.
    for size in [1_000_000u64, 1 << 20, (1 << 20) + 1, MAX_TREE_SIZE] {
        let log = 64 - (size - 1).leading_zeros() as usize;
        for index in [0, 1, size / 3, size / 2, size - 2, size - 1] {
            let plan = InclusionPlan::new(index, size).unwrap();
            assert!(plan.nodes().len() <= 2 * log, "{index} of {size}");
            assert_distinct(plan.nodes());
        }
        for from in [1, 2, 3, size / 3, size / 2 + 1, size - 1, size] {
            let plan = ConsistencyPlan::new(from, size).unwrap();
            assert!(plan.nodes().len() <= 2 * log + 1, "{from} → {size}");
            assert_distinct(plan.nodes());
        }
        assert!(Frontier::nodes_for(size).unwrap().len() <= log + 1);
    }
}

fn assert_distinct(nodes: &[NodeId]) {
    let unique: std::collections::HashSet<_> = nodes.iter().collect();
    assert_eq!(unique.len(), nodes.len(), "{nodes:?}");
}

#[test]
fn tree_hashes_are_strict_standard_base64() {
    let hash = leaf_hash(b"x");
    let text = hash.to_base64();
    assert_eq!(text.len(), 44);
    assert_eq!(TreeHash::from_base64(&text), Ok(hash));
    assert_eq!(text.parse::<TreeHash>(), Ok(hash));
    let json = serde_json::to_string(&hash).unwrap();
    assert_eq!(json, format!("\"{text}\""));
    assert_eq!(serde_json::from_str::<TreeHash>(&json).unwrap(), hash);
    let url_safe = text.replace('+', "-").replace('/', "_");
    for bad in [
        text.trim_end_matches('=').to_owned(), // no padding
        format!("{text}="),
        format!(" {text}"),
        text[..40].to_owned(),
        "AAAA".to_owned(),              // 3 bytes
        "A".repeat(44),                 // 33 bytes
        "A".repeat(42) + "B=",          // 32 bytes, but non-canonical trailing bits
        format!("{}AAAA", &text[..43]), // not a base64 length
    ] {
        assert!(TreeHash::from_base64(&bad).is_err(), "{bad:?}");
    }
    if url_safe != text {
        assert!(TreeHash::from_base64(&url_safe).is_err());
    }
    assert!(serde_json::from_str::<TreeHash>("\"AAAA\"").is_err());
}

/// Splits `count` leaves into batches of the given sizes (the rest in one).
fn batches(count: usize, cuts: &[usize]) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let mut at = 0;
    for cut in cuts {
        let end = (at + cut).min(count);
        ranges.push(at..end);
        at = end;
    }
    ranges.push(at..count);
    ranges
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn incremental_appends_in_any_batches_give_the_rfc_root(
        count in 0usize..400,
        cuts in proptest::collection::vec(0usize..60, 0..12),
        salt in any::<u64>(),
    ) {
        let inputs: Vec<Vec<u8>> = (0..count)
            .map(|i| [salt.to_be_bytes(), (i as u64).to_be_bytes()].concat())
            .collect();
        let rfc = Rfc9162::new(inputs.clone());
        let mut tree = MemoryTree::new();
        let mut written = 0;
        for range in batches(count, &cuts) {
            let batch: Vec<TreeHash> = inputs[range.clone()].iter().map(|i| leaf_hash(i)).collect();
            // Start each batch from the frontier as a store would read it.
            let size = tree.size();
            let ids = Frontier::nodes_for(size).unwrap();
            let mut frontier = Frontier::from_hashes(size, &tree.read_hashes(&ids).unwrap()).unwrap();
            let nodes: Vec<Node> = frontier.append(&batch).unwrap();
            // O(k + log n): at most 2k + log2(n + k) new nodes.
            let bound = 2 * batch.len() + 64 - (range.end as u64).leading_zeros() as usize;
            prop_assert!(nodes.len() <= bound);
            written += nodes.len();
            tree.append(&batch).unwrap();
            prop_assert_eq!(frontier.root(), TreeHash(rfc.mth(0, range.end)));
            prop_assert_eq!(tree.root(), frontier.root());
        }
        prop_assert_eq!(written, tree.stored());
    }

    #[test]
    fn proofs_at_random_sizes_are_the_rfc_proofs(
        size in 1usize..1000,
        index_seed in any::<u64>(),
        from_seed in any::<u64>(),
    ) {
        let inputs = event_like_leaves(size);
        let rfc = Rfc9162::new(inputs.clone());
        let mut tree = MemoryTree::new();
        tree.append(&inputs.iter().map(|i| leaf_hash(i)).collect::<Vec<_>>()).unwrap();
        let root = tree.root();
        prop_assert_eq!(root, TreeHash(rfc.mth(0, size)));

        let index = (index_seed % size as u64) as usize;
        let proof = inclusion_proof(&tree, index as u64, size as u64).unwrap();
        let want: Vec<TreeHash> = rfc.path(index, 0, size).into_iter().map(TreeHash).collect();
        prop_assert_eq!(&proof.hashes, &want);
        prop_assert!(proof.verify(&leaf_hash(&inputs[index]), &root).is_ok());

        let from = 1 + (from_seed % size as u64) as usize;
        let proof = consistency_proof(&tree, from as u64, size as u64).unwrap();
        let want: Vec<TreeHash> = rfc.proof(from, size).into_iter().map(TreeHash).collect();
        prop_assert_eq!(&proof.hashes, &want);
        prop_assert!(proof.verify(&TreeHash(rfc.mth(0, from)), &root).is_ok());
    }
}
