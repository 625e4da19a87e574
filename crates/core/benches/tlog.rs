//! The audit log's Merkle tree (issue 14): what an append costs the store, and tree
//! heads, inclusion and consistency proofs at 1,000,000 leaves from an in-memory store
//! (`MemoryTree`, the reference `HashReader`), plus signing and opening a checkpoint.
//!
//! Each append benchmark does what a store does per transaction: read the frontier
//! nodes, rebuild the `Frontier`, append the new events' leaves, collect the nodes to
//! persist and the new root. Proof benchmarks are plan → read → prove.
//!
//! Run: `cargo bench -p support-access-core --bench tlog`.
#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use support_access_core::audit::ChainHash;
use support_access_core::tlog::{
    Checkpoint, ConsistencyPlan, Frontier, HashReader, InclusionPlan, MemoryTree, NoteSigner,
    TreeHash, audit_key_name, consistency_proof, event_leaf, inclusion_proof, tree_root,
};

const MILLION: u64 = 1_000_000;

/// The chain hash of event `seq` (any 32 bytes do).
fn event_hash(seq: u64) -> ChainHash {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seq.to_be_bytes());
    bytes[8] = 0xa5;
    ChainHash(bytes)
}

fn leaves(range: std::ops::Range<u64>) -> Vec<TreeHash> {
    range.map(|seq| event_leaf(&event_hash(seq))).collect()
}

fn million_tree() -> MemoryTree {
    let mut tree = MemoryTree::new();
    tree.append(&leaves(1..MILLION + 1)).unwrap();
    tree
}

fn append(c: &mut Criterion, tree: &MemoryTree) {
    let mut group = c.benchmark_group("tlog/append_to_1M");
    for batch in [1u64, 10, 100] {
        let events: Vec<ChainHash> = (MILLION + 1..MILLION + 1 + batch).map(event_hash).collect();
        group.throughput(Throughput::Elements(batch));
        group.bench_with_input(BenchmarkId::from_parameter(batch), &events, |b, events| {
            b.iter(|| {
                let size = tree.size();
                let ids = Frontier::nodes_for(size).unwrap();
                let hashes = tree.read_hashes(&ids).unwrap();
                let mut frontier = Frontier::from_hashes(size, &hashes).unwrap();
                let leaves: Vec<TreeHash> = events.iter().map(event_leaf).collect();
                let persist = frontier.append(&leaves).unwrap();
                black_box((persist, frontier.root()))
            });
        });
    }
    group.finish();

    // Throughput of appending with the frontier kept in memory (a bulk import or a
    // verifier recomputing the tree from events).
    let mut group = c.benchmark_group("tlog/append_bulk");
    group.sample_size(20);
    let batch = leaves(1..10_001);
    group.throughput(Throughput::Elements(batch.len() as u64));
    group.bench_function("10000_leaves_from_empty", |b| {
        b.iter(|| {
            let mut frontier = Frontier::new();
            black_box(frontier.append(&batch).unwrap());
            black_box(frontier.root())
        });
    });
    group.finish();
}

fn proofs(c: &mut Criterion, tree: &MemoryTree) {
    let mut group = c.benchmark_group("tlog/at_1M");
    group.bench_function("tree_root", |b| {
        b.iter(|| black_box(tree_root(tree, black_box(MILLION)).unwrap()));
    });
    let indexes = [0, 1, 333_333, 500_000, 999_998, 999_999];
    group.bench_function("inclusion_proof", |b| {
        let mut at = 0;
        b.iter(|| {
            at = (at + 1) % indexes.len();
            black_box(inclusion_proof(tree, indexes[at], MILLION).unwrap())
        });
    });
    let froms = [1, 2, 333_333, 500_000, 524_288, 999_999];
    group.bench_function("consistency_proof", |b| {
        let mut at = 0;
        b.iter(|| {
            at = (at + 1) % froms.len();
            black_box(consistency_proof(tree, froms[at], MILLION).unwrap())
        });
    });
    group.bench_function("plan_nodes_only", |b| {
        b.iter(|| {
            let inclusion = InclusionPlan::new(black_box(333_333), MILLION).unwrap();
            let consistency = ConsistencyPlan::new(black_box(333_333), MILLION).unwrap();
            black_box((inclusion.nodes().len(), consistency.nodes().len()))
        });
    });

    let root = tree.root();
    let inclusion = inclusion_proof(tree, 333_333, MILLION).unwrap();
    let leaf = event_leaf(&event_hash(333_334));
    group.bench_function("verify_inclusion", |b| {
        b.iter(|| inclusion.verify(black_box(&leaf), &root).unwrap());
    });
    let old_root = tree_root(tree, 333_333).unwrap();
    let consistency = consistency_proof(tree, 333_333, MILLION).unwrap();
    group.bench_function("verify_consistency", |b| {
        b.iter(|| consistency.verify(black_box(&old_root), &root).unwrap());
    });
    group.finish();
}

fn checkpoints(c: &mut Criterion, tree: &MemoryTree) {
    let mut group = c.benchmark_group("tlog/checkpoint");
    let signer = NoteSigner::from_seed(&audit_key_name("support-gateway"), &[7; 32]).unwrap();
    let origin = "support-gateway/audit/org-1";
    let checkpoint = Checkpoint::new(origin, tree.size(), tree.root()).unwrap();
    group.bench_function("sign", |b| {
        b.iter(|| black_box(checkpoint.sign(&signer).unwrap()));
    });
    let signed = checkpoint.sign(&signer).unwrap();
    let trusted = [signer.verifier()];
    group.bench_function("open", |b| {
        b.iter(|| black_box(Checkpoint::open(black_box(&signed), origin, &trusted).unwrap()));
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    let tree = million_tree();
    append(c, &tree);
    proofs(c, &tree);
    checkpoints(c, &tree);
}

criterion_group! {
    name = tlog;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = benches
}
criterion_main!(tlog);
