//! The [`AuditTree`] contract: the tree kept with the events, the proofs served from it,
//! and stored checkpoints. Roots are checked against a naive RFC 9162 implementation
//! written here, independent of the adapter and of `support_access_core::tlog::tree`.

use std::sync::Arc;

use chrono::Duration;
use futures::future::{BoxFuture, join_all};
use support_access_core::audit::{AuditEvent, AuditKind, NewAuditEvent};
use support_access_core::ids::OrgId;
use support_access_core::tlog::{
    AuditTree, EMPTY_ROOT, NodeId, StoredCheckpoint, TreeError, TreeHash, TreeHead, TreeReadError,
    event_leaf, node_hash, stored_node_count,
};
use support_access_core::{AuditLog, GrantStore, StoreError};

use crate::support::{ev, fresh_org, grant_for, t0};
use crate::{Fixture, Teardown};

/// What the audit-tree suite needs from an adapter.
#[derive(Clone)]
pub struct AuditTreeFixture {
    /// A fresh, empty log.
    pub log: Arc<dyn AuditLog>,
    /// Its tree (the same store).
    pub tree: Arc<dyn AuditTree>,
    /// The grant store of the same data, whose changes append events too.
    pub grants: Arc<dyn GrantStore>,
    /// A second handle on the same data: its log.
    pub second_log: Arc<dyn AuditLog>,
    /// The second handle's tree.
    pub second_tree: Arc<dyn AuditTree>,
    /// Runs after the case.
    pub teardown: Teardown,
}

impl std::fmt::Debug for AuditTreeFixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditTreeFixture")
            .field("tree", &self.tree)
            .field("second_tree", &self.second_tree)
            .finish_non_exhaustive()
    }
}

impl Fixture for AuditTreeFixture {
    fn teardown(&self) -> BoxFuture<'static, ()> {
        (self.teardown)()
    }
}

/// RFC 9162 §2.1.1 `MTH`, straight from the definition.
pub fn naive_root(leaves: &[TreeHash]) -> TreeHash {
    match leaves.len() {
        0 => EMPTY_ROOT,
        1 => leaves[0],
        n => {
            let k = 1 << (usize::BITS - 1 - (n - 1).leading_zeros());
            node_hash(&naive_root(&leaves[..k]), &naive_root(&leaves[k..]))
        }
    }
}

async fn append_n(log: &Arc<dyn AuditLog>, org: &OrgId, n: i64) -> Vec<AuditEvent> {
    let mut stored = Vec::new();
    for minute in 0..n {
        let event = NewAuditEvent::new(
            org.clone(),
            AuditKind::RequestAllowed,
            t0() + Duration::minutes(minute),
        );
        stored.push(log.append(event).await.expect("append"));
    }
    stored
}

/// The leaves of the org's events as the log holds them.
async fn leaves(log: &Arc<dyn AuditLog>, org: &OrgId) -> Vec<TreeHash> {
    log.scan(org, 0, 10_000)
        .await
        .expect("scan")
        .iter()
        .map(|event| event_leaf(&event.hash))
        .collect()
}

async fn head(tree: &Arc<dyn AuditTree>, org: &OrgId) -> TreeHead {
    tree.tree_head(org).await.expect("tree head")
}

fn checkpoint(org: &OrgId, size: u64, root: TreeHash, minute: i64) -> StoredCheckpoint {
    StoredCheckpoint {
        org: org.clone(),
        size,
        root,
        made_at: t0() + Duration::minutes(minute) + Duration::microseconds(123_456),
        note: format!("example/audit/{org}\n{size}\n{root}\n\n— example/audit c2ln\n"),
    }
}

/// An org without events has the empty tree.
pub async fn an_org_without_events_has_the_empty_tree(f: AuditTreeFixture) {
    let org = fresh_org();
    assert_eq!(head(&f.tree, &org).await, TreeHead::EMPTY);
    assert_eq!(f.tree.root_at(&org, 0).await, Ok(EMPTY_ROOT));
    let read = f.tree.read_nodes(&org, &[NodeId::leaf(0)]).await;
    assert_eq!(read, Ok(vec![None]));
}

/// After every append the head is the RFC root of the event hashes, and so is the
/// root at every older size.
pub async fn the_head_is_the_rfc_root_of_the_event_hashes(f: AuditTreeFixture) {
    let org = fresh_org();
    for n in 1..=17u64 {
        append_n(&f.log, &org, 1).await;
        let leaves = leaves(&f.log, &org).await;
        assert_eq!(
            head(&f.tree, &org).await,
            TreeHead {
                size: n,
                root: naive_root(&leaves),
            }
        );
    }
    let leaves = leaves(&f.log, &org).await;
    for m in 0..=17 {
        let root = f.tree.root_at(&org, m).await.expect("root at m");
        assert_eq!(root, naive_root(&leaves[..m as usize]), "size {m}");
    }
}

/// Grant changes append their events to the tree like any other append.
pub async fn grant_change_events_enter_the_tree(f: AuditTreeFixture) {
    let org = fresh_org();
    let grant = grant_for(&org, 3);
    f.grants
        .insert(&grant, ev(&grant, AuditKind::GrantCreated))
        .await
        .expect("insert");
    append_n(&f.log, &org, 2).await;
    f.grants
        .set_expiry(
            grant.id,
            t0() + Duration::days(1),
            ev(&grant, AuditKind::GrantChanged),
        )
        .await
        .expect("set expiry");
    let leaves = leaves(&f.log, &org).await;
    assert_eq!(leaves.len(), 4);
    assert_eq!(
        head(&f.tree, &org).await,
        TreeHead {
            size: 4,
            root: naive_root(&leaves),
        }
    );
}

/// The stored nodes are exactly Go tlog's stored hashes, each the root of its subtree.
pub async fn stored_nodes_are_the_complete_subtrees(f: AuditTreeFixture) {
    let org = fresh_org();
    append_n(&f.log, &org, 11).await;
    let leaves = leaves(&f.log, &org).await;
    let count = stored_node_count(11);
    let ids: Vec<NodeId> = (0..=count).map(NodeId::from_packed).collect();
    let read = f.tree.read_nodes(&org, &ids).await.expect("read nodes");
    assert_eq!(read.len(), ids.len());
    for (id, hash) in ids.iter().zip(&read).take(count as usize) {
        let covered = id.leaves();
        let expected = naive_root(&leaves[covered.start as usize..covered.end as usize]);
        assert_eq!(*hash, Some(expected), "node {id:?}");
    }
    assert_eq!(read[count as usize], None, "no node beyond the tree");
    // Asked out of order and twice, answered in the order asked.
    let again = f
        .tree
        .read_nodes(&org, &[ids[3], ids[0], ids[3]])
        .await
        .expect("read nodes");
    assert_eq!(again, vec![read[3], read[0], read[3]]);
}

/// Inclusion proofs verify for every event at every size that holds it.
pub async fn inclusion_proofs_verify_for_every_event_and_size(f: AuditTreeFixture) {
    let org = fresh_org();
    append_n(&f.log, &org, 9).await;
    let leaves = leaves(&f.log, &org).await;
    for size in 1..=9u64 {
        let root = naive_root(&leaves[..size as usize]);
        for seq in 1..=size {
            let proof = f
                .tree
                .inclusion_proof(&org, seq, size)
                .await
                .expect("inclusion proof");
            assert_eq!((proof.index, proof.size), (seq - 1, size));
            proof
                .verify(&leaves[seq as usize - 1], &root)
                .unwrap_or_else(|e| panic!("seq {seq} size {size}: {e}"));
        }
    }
}

/// Consistency proofs verify between every pair of sizes.
pub async fn consistency_proofs_verify_between_every_pair_of_sizes(f: AuditTreeFixture) {
    let org = fresh_org();
    append_n(&f.log, &org, 9).await;
    let leaves = leaves(&f.log, &org).await;
    for to in 1..=9u64 {
        let new_root = naive_root(&leaves[..to as usize]);
        for from in 1..=to {
            let proof = f
                .tree
                .consistency_proof(&org, from, to)
                .await
                .expect("consistency proof");
            assert_eq!((proof.from, proof.to), (from, to));
            proof
                .verify(&naive_root(&leaves[..from as usize]), &new_root)
                .unwrap_or_else(|e| panic!("{from} -> {to}: {e}"));
        }
    }
}

/// Proofs and roots for sizes beyond the log, seq 0, from 0 and from > to are refused.
pub async fn proofs_beyond_the_log_or_of_no_tree_are_refused(f: AuditTreeFixture) {
    let org = fresh_org();
    append_n(&f.log, &org, 5).await;
    let beyond = TreeReadError::BeyondLog {
        size: 6,
        tree_size: 5,
    };
    assert_eq!(
        f.tree.inclusion_proof(&org, 6, 6).await.err(),
        Some(beyond.clone())
    );
    assert_eq!(
        f.tree.inclusion_proof(&org, 1, 6).await.err(),
        Some(beyond.clone())
    );
    assert_eq!(
        f.tree.consistency_proof(&org, 2, 6).await.err(),
        Some(beyond.clone())
    );
    assert_eq!(f.tree.root_at(&org, 6).await.err(), Some(beyond));
    assert!(matches!(
        f.tree.inclusion_proof(&org, 0, 5).await,
        Err(TreeReadError::Invalid(TreeError::IndexOutOfRange { .. }))
    ));
    assert!(matches!(
        f.tree.inclusion_proof(&org, 4, 3).await,
        Err(TreeReadError::Invalid(TreeError::IndexOutOfRange { .. }))
    ));
    assert_eq!(
        f.tree.consistency_proof(&org, 0, 5).await,
        Err(TreeReadError::Invalid(TreeError::EmptyOldTree))
    );
    assert_eq!(
        f.tree.consistency_proof(&org, 4, 3).await,
        Err(TreeReadError::Invalid(TreeError::SizesOutOfOrder {
            from: 4,
            to: 3
        }))
    );
    let other = fresh_org();
    assert_eq!(
        f.tree.inclusion_proof(&other, 1, 1).await,
        Err(TreeReadError::BeyondLog {
            size: 1,
            tree_size: 0
        })
    );
}

/// Each org has a tree of its own.
pub async fn orgs_have_independent_trees(f: AuditTreeFixture) {
    let (a, b) = (fresh_org(), fresh_org());
    append_n(&f.log, &a, 3).await;
    append_n(&f.log, &b, 2).await;
    append_n(&f.log, &a, 1).await;
    for (org, size) in [(&a, 4), (&b, 2)] {
        let leaves = leaves(&f.log, org).await;
        assert_eq!(
            head(&f.tree, org).await,
            TreeHead {
                size,
                root: naive_root(&leaves),
            }
        );
    }
}

/// Appends racing from two handles (and grouped into batches, of two orgs) keep one
/// tree per org that is the RFC root of its one gap-free chain.
pub async fn concurrent_appends_from_two_handles_keep_the_tree_consistent(f: AuditTreeFixture) {
    // Two orgs, so that batches also mix orgs.
    let (org, other) = (fresh_org(), fresh_org());
    let appends = (0..60i64).map(|n| {
        let log = if n % 2 == 0 {
            f.log.clone()
        } else {
            f.second_log.clone()
        };
        let to = if n % 3 == 0 { &other } else { &org };
        let event = NewAuditEvent::new(to.clone(), AuditKind::RequestAllowed, t0());
        tokio::spawn(async move { log.append(event).await.expect("append") })
    });
    for joined in join_all(appends).await {
        joined.expect("task");
    }
    for (org, size) in [(&org, 40), (&other, 20)] {
        let leaves = leaves(&f.log, org).await;
        assert_eq!(leaves.len(), size);
        let expected = TreeHead {
            size: size as u64,
            root: naive_root(&leaves),
        };
        assert_eq!(head(&f.tree, org).await, expected);
        assert_eq!(head(&f.second_tree, org).await, expected);
        let proof = f.second_tree.consistency_proof(org, 13, size as u64).await;
        proof
            .expect("consistency proof")
            .verify(&naive_root(&leaves[..13]), &expected.root)
            .expect("consistent");
    }
}

/// A refused append (its id is taken) leaves the tree as it was.
pub async fn a_refused_append_leaves_the_tree_unchanged(f: AuditTreeFixture) {
    let org = fresh_org();
    let stored = append_n(&f.log, &org, 3).await;
    let before = head(&f.tree, &org).await;
    let mut again = NewAuditEvent::new(org.clone(), AuditKind::RequestAllowed, t0());
    again.id = stored[1].id;
    let refused = f.log.append(again).await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "{refused:?}"
    );
    assert_eq!(head(&f.tree, &org).await, before);
    let read = f.tree.read_nodes(&org, &[NodeId::leaf(3)]).await;
    assert_eq!(read, Ok(vec![None]));
}

/// A checkpoint reads back exactly, by size and as the latest.
pub async fn a_checkpoint_reads_back_exactly(f: AuditTreeFixture) {
    let org = fresh_org();
    append_n(&f.log, &org, 3).await;
    let head = head(&f.tree, &org).await;
    let saved = checkpoint(&org, head.size, head.root, 1);
    f.tree.save_checkpoint(&saved).await.expect("save");
    assert_eq!(
        f.tree.latest_checkpoint(&org).await,
        Ok(Some(saved.clone()))
    );
    assert_eq!(f.tree.checkpoint_at(&org, 3).await, Ok(Some(saved.clone())));
    assert_eq!(f.tree.checkpoint_at(&org, 2).await, Ok(None));
    assert_eq!(f.second_tree.latest_checkpoint(&org).await, Ok(Some(saved)));
    assert_eq!(f.tree.latest_checkpoint(&fresh_org()).await, Ok(None));
}

/// The latest checkpoint is the one of the largest size, whatever the saving order.
pub async fn the_latest_checkpoint_is_the_largest(f: AuditTreeFixture) {
    let org = fresh_org();
    append_n(&f.log, &org, 6).await;
    let leaves = leaves(&f.log, &org).await;
    let at =
        |size: u64, minute| checkpoint(&org, size, naive_root(&leaves[..size as usize]), minute);
    for saved in [at(4, 1), at(6, 2), at(2, 3)] {
        f.tree.save_checkpoint(&saved).await.expect("save");
    }
    assert_eq!(f.tree.latest_checkpoint(&org).await, Ok(Some(at(6, 2))));
    assert_eq!(f.tree.checkpoint_at(&org, 2).await, Ok(Some(at(2, 3))));
}

/// A second checkpoint of one size conflicts and changes nothing.
pub async fn a_second_checkpoint_of_one_size_conflicts(f: AuditTreeFixture) {
    let org = fresh_org();
    append_n(&f.log, &org, 2).await;
    let head = head(&f.tree, &org).await;
    let first = checkpoint(&org, 2, head.root, 1);
    f.tree.save_checkpoint(&first).await.expect("save");
    let second = f
        .second_tree
        .save_checkpoint(&checkpoint(&org, 2, head.root, 5))
        .await;
    assert!(matches!(second, Err(StoreError::Conflict(_))), "{second:?}");
    assert_eq!(f.tree.checkpoint_at(&org, 2).await, Ok(Some(first)));
}

/// `grown_logs` lists the orgs grown beyond a latest checkpoint made by the bound, and
/// only those.
pub async fn grown_logs_lists_orgs_beyond_their_latest_checkpoint(f: AuditTreeFixture) {
    let (never, caught_up, grew) = (fresh_org(), fresh_org(), fresh_org());
    for org in [&never, &caught_up, &grew] {
        append_n(&f.log, org, 2).await;
    }
    for org in [&caught_up, &grew] {
        let head = head(&f.tree, org).await;
        f.tree
            .save_checkpoint(&checkpoint(org, 2, head.root, 1))
            .await
            .expect("save");
    }
    append_n(&f.log, &grew, 1).await;
    let made_at = checkpoint(&grew, 2, EMPTY_ROOT, 1).made_at;
    let too_recent = f
        .tree
        .grown_logs(made_at - Duration::microseconds(1), 10_000)
        .await;
    let orgs: Vec<OrgId> = too_recent
        .expect("grown logs")
        .into_iter()
        .map(|l| l.org)
        .collect();
    assert_eq!(
        orgs,
        std::slice::from_ref(&never),
        "a checkpoint after the bound keeps the org out"
    );
    let listed = f
        .second_tree
        .grown_logs(made_at, 10_000)
        .await
        .expect("grown logs");
    let find = |org: &OrgId| listed.iter().find(|log| &log.org == org).cloned();
    let never_log = find(&never).expect("an org without checkpoint is listed");
    assert_eq!(never_log.head, head(&f.tree, &never).await);
    assert_eq!(never_log.last_checkpoint, None);
    let grew_log = find(&grew).expect("a grown org is listed");
    assert_eq!(grew_log.head, head(&f.tree, &grew).await);
    assert_eq!(grew_log.last_checkpoint, Some((2, made_at)));
    assert_eq!(
        find(&caught_up),
        None,
        "a log at its checkpoint is not listed"
    );
    let mut orgs: Vec<&OrgId> = listed.iter().map(|log| &log.org).collect();
    let sorted = {
        let mut sorted = orgs.clone();
        sorted.sort();
        sorted
    };
    assert_eq!(orgs, sorted, "by org");
    orgs.truncate(1);
    let limited = f.tree.grown_logs(made_at, 1).await.expect("grown logs");
    assert_eq!(limited.iter().map(|log| &log.org).collect::<Vec<_>>(), orgs);
}
