//! What a checkpoint the customer saved, plus the proofs the store serves, detect when
//! someone with write access to the database changes the log behind the store's back
//! (issue 14's acceptance, at the store level; run on SQLite and on PostgreSQL).
//!
//! Every case: 10 events, a signed checkpoint of them saved by the customer, 2 more
//! events, then one attack in raw SQL, then the customer's check ([`findings`]).

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use support_access_core::AuditLog;
use support_access_core::audit::{AuditEvent, AuditKind, NewAuditEvent};
use support_access_core::ids::OrgId;
use support_access_core::tlog::{
    AuditTree, Checkpoint, Checkpointer, CheckpointerError, HashReader, MemoryTree, NodeId,
    NoteSigner, TreeError, TreeReadError, audit_key_name, audit_origin, event_leaf,
    stored_node_count,
};
use support_access_memory::ManualClock;
use support_access_seaorm::{Backend, SeaOrmStore};

use super::cases::Exec;

const ISSUER: &str = "support-gateway";
/// The checkpoint the customer saved is of this many events.
const SAVED: u64 = 10;
/// Events in the log when the attack starts.
const TOTAL: u64 = 12;

/// A store, raw SQL on its database, and an org whose log is ready to attack.
pub struct Attack {
    pub store: SeaOrmStore,
    pub exec: Exec,
    org: OrgId,
    saved: String,
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 2, 10, 0, 0)
        .single()
        .expect("an instant")
}

fn signer() -> NoteSigner {
    NoteSigner::from_seed(&audit_key_name(ISSUER), &[9; 32]).expect("a key")
}

fn checkpointer(store: &SeaOrmStore) -> Checkpointer {
    Checkpointer::new(
        Arc::new(store.clone()),
        Arc::new(ManualClock::new(t0())),
        Arc::new(signer()),
        ISSUER,
        Duration::seconds(60),
    )
}

async fn append(store: &SeaOrmStore, org: &OrgId, count: u64) {
    for n in 0..count {
        let mut event = NewAuditEvent::new(org.clone(), AuditKind::RequestAllowed, t0());
        event.path = Some(format!("/crm/v8/Leads/{n}"));
        store.append(event).await.expect("append");
    }
}

impl Attack {
    /// [`SAVED`] events, the customer's checkpoint of them, then up to [`TOTAL`].
    pub async fn prepare(store: SeaOrmStore, exec: Exec) -> Self {
        let org = OrgId::from("org-attacked");
        append(&store, &org, SAVED).await;
        let saved = checkpointer(&store)
            .current(&org)
            .await
            .expect("checkpoint")
            .note;
        append(&store, &org, TOTAL - SAVED).await;
        Self {
            store,
            exec,
            org,
            saved,
        }
    }

    async fn events(&self) -> Vec<AuditEvent> {
        self.store.scan(&self.org, 0, 10_000).await.expect("scan")
    }

    async fn sql(&self, statements: Vec<String>) {
        (self.exec)(statements.join(";\n")).await;
    }

    /// A bytes literal.
    fn blob(&self, bytes: &[u8]) -> String {
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        match self.store.backend() {
            Backend::Sqlite => format!("X'{hex}'"),
            Backend::Postgres => format!("'\\x{hex}'::bytea"),
        }
    }

    /// Rewrites the stored events from `from_seq` on with a new path, re-hashing the
    /// chain from there; the head's chain hash follows.
    async fn rehash_chain(&self, from_seq: u64) -> Vec<AuditEvent> {
        let mut events = self.events().await;
        let mut statements = Vec::new();
        for i in (from_seq as usize - 1)..events.len() {
            let prev = events[i].prev_hash;
            let prev = if i == 0 { prev } else { events[i - 1].hash };
            let mut data = events[i].data.clone();
            data.path = Some(format!("/crm/v8/Contacts/{i}"));
            events[i] = data.seal(events[i].seq, prev);
            let e = &events[i];
            statements.push(format!(
                "UPDATE audit_events SET path = '{}', prev_hash = '{}', hash = '{}' \
                 WHERE org = '{}' AND seq = {}",
                e.path.as_deref().unwrap_or_default(),
                e.prev_hash.to_hex(),
                e.hash.to_hex(),
                self.org,
                e.seq
            ));
        }
        let last = events.last().expect("events");
        statements.push(format!(
            "UPDATE audit_heads SET hash = '{}' WHERE org = '{}'",
            last.hash.to_hex(),
            self.org
        ));
        self.sql(statements).await;
        events
    }

    /// Replaces the org's stored tree and head with the tree of `events`, as an
    /// attacker who knows the layout would.
    async fn rewrite_tree(&self, events: &[AuditEvent]) {
        let mut tree = MemoryTree::new();
        let leaves: Vec<_> = events.iter().map(|e| event_leaf(&e.hash)).collect();
        tree.append(&leaves).expect("tree");
        let ids: Vec<NodeId> = (0..stored_node_count(tree.size()))
            .map(NodeId::from_packed)
            .collect();
        let hashes = tree.read_hashes(&ids).expect("nodes");
        let rows: Vec<String> = ids
            .iter()
            .zip(&hashes)
            .map(|(id, hash)| format!("('{}', {}, {})", self.org, id.packed(), self.blob(&hash.0)))
            .collect();
        let frontier: Vec<u8> = tree
            .frontier()
            .nodes()
            .iter()
            .flat_map(|n| n.hash.0)
            .collect();
        let last = events.last().expect("events");
        self.sql(vec![
            format!("DELETE FROM audit_tree_nodes WHERE org = '{}'", self.org),
            format!(
                "INSERT INTO audit_tree_nodes (org, node, hash) VALUES {}",
                rows.join(", ")
            ),
            format!(
                "UPDATE audit_heads SET seq = {size}, hash = '{}', tree_size = {size}, \
                 tree_root = {}, tree_frontier = {} WHERE org = '{}'",
                last.hash.to_hex(),
                self.blob(&tree.root().0),
                self.blob(&frontier),
                self.org,
                size = tree.size(),
            ),
        ])
        .await;
    }

    async fn delete_events_after(&self, seq: u64) {
        self.sql(vec![format!(
            "DELETE FROM audit_events WHERE org = '{}' AND seq > {seq}",
            self.org
        )])
        .await;
    }

    /// The customer's check of the log against the saved checkpoint.
    pub async fn findings(&self) -> BTreeSet<Finding> {
        findings(&self.store, &self.org, &self.saved).await
    }
}

/// What the customer's check finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Finding {
    /// The log is shorter than the checkpoint.
    Truncated,
    /// The store's tree does not extend the checkpoint's (consistency proof fails).
    Rewritten,
    /// This event is not the one the checkpoint holds (inclusion proof fails).
    EventEdited(u64),
    /// The store's tree head is not the tree of its events.
    TreeDoesNotMatchEvents,
}

/// The customer's check: the checkpoint opens with the published key; the store's
/// consistency proof from it to the current head verifies; every event up to its size
/// is, recomputed from its content, in it (inclusion proofs); the head is the tree of
/// the events. (The CLI's `audit verify --checkpoint` does the same through the API.)
pub async fn findings(store: &SeaOrmStore, org: &OrgId, saved: &str) -> BTreeSet<Finding> {
    let saved = Checkpoint::open(saved, &audit_origin(ISSUER, org), &[signer().verifier()])
        .expect("the saved checkpoint opens");
    let (size, root) = (saved.size(), *saved.root());
    let mut found = BTreeSet::new();
    let head = store.tree_head(org).await.expect("tree head");
    if head.size < size {
        found.insert(Finding::Truncated);
    } else {
        let proof = store.consistency_proof(org, size, head.size).await;
        if proof
            .expect("consistency proof")
            .verify(&root, &head.root)
            .is_err()
        {
            found.insert(Finding::Rewritten);
        }
    }
    let events = store.scan(org, 0, 10_000).await.expect("scan");
    if (events.len() as u64) < size {
        found.insert(Finding::Truncated);
    }
    for event in events.iter().filter(|e| e.seq <= size) {
        let leaf = event_leaf(&event.expected_hash());
        match store.inclusion_proof(org, event.seq, size).await {
            Ok(proof) if proof.verify(&leaf, &root).is_ok() => {}
            Ok(_) => {
                found.insert(Finding::EventEdited(event.seq));
            }
            Err(TreeReadError::BeyondLog { .. }) => {
                found.insert(Finding::Truncated);
            }
            Err(error) => panic!("inclusion proof: {error}"),
        }
    }
    let mut tree = MemoryTree::new();
    let leaves: Vec<_> = events.iter().map(|e| event_leaf(&e.hash)).collect();
    tree.append(&leaves).expect("tree");
    if (tree.size(), tree.root()) != (head.size, head.root) {
        found.insert(Finding::TreeDoesNotMatchEvents);
    }
    found
}

fn edited(seqs: std::ops::RangeInclusive<u64>) -> impl Iterator<Item = Finding> {
    seqs.map(Finding::EventEdited)
}

/// The untouched log passes, also after it grew.
pub async fn an_untouched_log_passes(attack: Attack) {
    assert_eq!(attack.findings().await, BTreeSet::new());
    append(&attack.store, &attack.org, 5).await;
    assert_eq!(attack.findings().await, BTreeSet::new());
}

/// (a) Deleting the newest events (back below the checkpoint), tree left alone.
pub async fn deleting_the_newest_events_is_detected(attack: Attack) {
    attack.delete_events_after(7).await;
    let expected = BTreeSet::from([Finding::Truncated, Finding::TreeDoesNotMatchEvents]);
    assert_eq!(attack.findings().await, expected);
}

/// (a) Deleting the newest events and rolling the tree and head back with them; then
/// new events in their place.
pub async fn deleting_the_newest_events_and_their_tree_is_detected(attack: Attack) {
    let kept: Vec<AuditEvent> = attack.events().await.into_iter().take(7).collect();
    attack.delete_events_after(7).await;
    attack.rewrite_tree(&kept).await;
    assert_eq!(
        attack.findings().await,
        BTreeSet::from([Finding::Truncated])
    );
    append(&attack.store, &attack.org, 5).await;
    // The new events' subtrees are in every audit path: no proof leads to the saved root.
    let mut expected = BTreeSet::from([Finding::Rewritten]);
    expected.extend(edited(1..=SAVED));
    assert_eq!(attack.findings().await, expected);
}

/// (b) Editing any one event (its content, not its hash).
pub async fn editing_an_event_is_detected(attack: Attack) {
    for seq in [1, 4, SAVED] {
        attack
            .sql(vec![format!(
                "UPDATE audit_events SET path = '/crm/v8/Deals/{seq}' \
                 WHERE org = '{}' AND seq = {seq}",
                attack.org
            )])
            .await;
        assert_eq!(
            attack.findings().await,
            BTreeSet::from([Finding::EventEdited(seq)]),
            "edited event {seq}"
        );
        attack
            .sql(vec![format!(
                "UPDATE audit_events SET path = '/crm/v8/Leads/{}' \
                 WHERE org = '{}' AND seq = {seq}",
                seq - 1,
                attack.org
            )])
            .await;
    }
    assert_eq!(attack.findings().await, BTreeSet::new(), "restored");
}

/// (c) Editing an event and re-hashing the whole chain after it, tree left alone.
pub async fn rehashing_the_chain_is_detected(attack: Attack) {
    attack.rehash_chain(3).await;
    let mut expected = BTreeSet::from([Finding::TreeDoesNotMatchEvents]);
    expected.extend(edited(3..=SAVED));
    assert_eq!(attack.findings().await, expected);
}

/// (c) Editing and re-hashing the chain, and rewriting the stored tree and head to
/// match: the consistency proof against the saved checkpoint fails, and the gateway
/// refuses to sign the rewritten log.
pub async fn rehashing_the_chain_and_the_tree_is_detected(attack: Attack) {
    let events = attack.rehash_chain(3).await;
    attack.rewrite_tree(&events).await;
    // The rewritten subtrees are in every audit path: no proof leads to the saved root.
    let mut expected = BTreeSet::from([Finding::Rewritten]);
    expected.extend(edited(1..=SAVED));
    assert_eq!(attack.findings().await, expected);
    let refused = checkpointer(&attack.store).current(&attack.org).await;
    assert!(
        matches!(
            refused,
            Err(CheckpointerError::NotAnExtension { size: SAVED, .. })
        ),
        "{refused:?}"
    );
}

/// A node the tree must have but the database lost is refused as `Inconsistent`, never
/// answered with a made-up proof or root; the checkpointer signs nothing then.
pub async fn a_missing_node_is_refused_not_made_up(attack: Attack) {
    // Leaf 0 (proofs for events 1 and 2, the root at size 1) and the subtree of events
    // 1..=8 (every root from size 8 on).
    attack
        .sql(vec![format!(
            "DELETE FROM audit_tree_nodes WHERE org = '{}' AND node IN (0, {})",
            attack.org,
            NodeId::new(3, 0).packed()
        )])
        .await;
    let missing = TreeReadError::Inconsistent(TreeError::MissingNode(NodeId::leaf(0)));
    let proof = attack.store.inclusion_proof(&attack.org, 2, 2).await;
    assert_eq!(proof.err(), Some(missing.clone()));
    assert_eq!(
        attack.store.root_at(&attack.org, 1).await.err(),
        Some(missing.clone())
    );
    assert_eq!(missing.code(), "tree_store_inconsistent");
    append(&attack.store, &attack.org, 1).await;
    let refused = checkpointer(&attack.store).current(&attack.org).await;
    assert!(
        matches!(refused, Err(CheckpointerError::Tree(_))),
        "{refused:?}"
    );
}
