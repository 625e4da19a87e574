//! Issue 14's acceptance over the real gateway, on SQLite and on PostgreSQL: a
//! checkpoint a customer saved from `GET /audit/checkpoint`, plus what the API serves
//! (the current checkpoint, the events' hashes, inclusion and consistency proofs),
//! detect (a) deleting the newest events, (b) editing any event, (c) editing and
//! re-hashing the whole chain in the database — also when the attacker rewrites the
//! stored tree, head and checkpoints to match.
//!
//! Every case: a few support requests, the customer's checkpoint, two more requests,
//! one attack in raw SQL behind the gateway's back, then the customer's check
//! ([`findings`]), which uses only the API and the checkpoint they kept.

use std::collections::BTreeSet;

use support_access_core::audit::{AuditEvent, ChainHash};
use support_access_core::ids::OrgId;
use support_access_core::tlog::{
    Checkpoint, ConsistencyProof, HashReader, InclusionProof, MemoryTree, NodeId, NoteVerifier,
    TreeHash, audit_origin, event_leaf, stored_node_count,
};
use support_access_e2e::client::Answer;
use support_access_e2e::harness::{Harness, Options};
use support_access_e2e::tokens;
use support_access_pgtest::{in_schema, server_addr, url_via};
use support_access_seaorm::Backend;

const V1: &str = "/support-access/v1";
const ORG: &str = "org-tamper";

/// What the customer's check finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Finding {
    /// The log the gateway serves is smaller than the saved checkpoint.
    Truncated,
    /// The served consistency proof from the saved checkpoint to the current one does
    /// not verify: the history up to the saved size was changed.
    Rewritten,
    /// The served event of this `seq` is not proven in the saved checkpoint: its
    /// inclusion proof (at the saved size) does not verify against the saved root. The
    /// event was edited, or the tree the proofs come from was (then no event proves).
    NotProven(u64),
    /// The gateway refuses to sign a checkpoint of its log (it no longer extends the
    /// gateway's own last checkpoint).
    CheckpointRefused,
}

use Finding::{CheckpointRefused, NotProven, Rewritten, Truncated};

/// A gateway on SQLite (`None`) or on the PostgreSQL URL given.
async fn start(postgres: Option<String>) -> Harness {
    Harness::start_opts(Options {
        checkpoint_interval: Some("1h".into()),
        postgres,
        ..Options::default()
    })
    .await
}

async fn admin_get(h: &Harness, path: &str) -> Answer {
    // The support requests answered so far have their `request.completed` stored.
    h.settled().await;
    let admin = tokens::admin(ORG, "admin-1", h.now());
    h.http.get(&format!("{V1}{path}"), &admin).await
}

fn text(answer: &Answer) -> String {
    String::from_utf8(answer.body.to_vec()).unwrap()
}

fn hashes(body: &serde_json::Value) -> Vec<TreeHash> {
    body["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| TreeHash::from_base64(h.as_str().unwrap()).unwrap())
        .collect()
}

async fn verifier(h: &Harness) -> NoteVerifier {
    let answer = h
        .http
        .send("GET", &format!("{V1}/audit/verifier-key"), &[], b"")
        .await;
    assert_eq!(answer.status, 200);
    text(&answer).trim().parse().unwrap()
}

/// The current checkpoint, opened with the verifier key; `None` when refused (`500`).
async fn current_checkpoint(h: &Harness, key: &NoteVerifier) -> Option<Checkpoint> {
    let answer = admin_get(h, "/audit/checkpoint").await;
    if answer.status == 500 {
        return None;
    }
    assert_eq!(answer.status, 200, "{}", text(&answer));
    let origin = audit_origin("support-gateway", &OrgId::from(ORG));
    Some(Checkpoint::open(&text(&answer), &origin, std::slice::from_ref(key)).unwrap())
}

async fn requests(h: &Harness, token: &str, n: usize) {
    for _ in 0..n {
        assert_eq!(h.http.get("/crm/v8/Leads", token).await.status, 200);
    }
}

/// The customer's check of the served log against `saved`, through the API only.
async fn findings(h: &Harness, key: &NoteVerifier, saved: &Checkpoint) -> BTreeSet<Finding> {
    let mut found = BTreeSet::new();
    match current_checkpoint(h, key).await {
        None => {
            found.insert(CheckpointRefused);
        }
        Some(now) if now.size() < saved.size() => {
            // No proof reaches the saved size: the truncation is the finding.
            found.insert(Truncated);
            return found;
        }
        Some(now) => {
            let path = format!(
                "/audit/proof/consistency?from={}&to={}",
                saved.size(),
                now.size()
            );
            let answer = admin_get(h, &path).await;
            assert_eq!(answer.status, 200, "{}", text(&answer));
            let proof = ConsistencyProof {
                from: saved.size(),
                to: now.size(),
                hashes: hashes(&answer.json()),
            };
            if proof.verify(saved.root(), now.root()).is_err() {
                found.insert(Rewritten);
            }
        }
    }
    let listing = admin_get(h, "/audit?limit=1000").await;
    assert_eq!(listing.status, 200, "{}", text(&listing));
    for event in listing.json()["events"].as_array().unwrap() {
        let seq = event["seq"].as_u64().unwrap();
        if seq > saved.size() {
            continue;
        }
        let hash: ChainHash = serde_json::from_value(event["hash"].clone()).unwrap();
        let answer = admin_get(
            h,
            &format!("/audit/proof/inclusion?seq={seq}&size={}", saved.size()),
        )
        .await;
        let proof = (answer.status == 200).then(|| InclusionProof {
            index: seq - 1,
            size: saved.size(),
            hashes: hashes(&answer.json()),
        });
        let included =
            proof.is_some_and(|proof| proof.verify(&event_leaf(&hash), saved.root()).is_ok());
        if !included {
            found.insert(NotProven(seq));
        }
    }
    found
}

/// Every event of `saved` unproven, and `more`.
fn none_proven(saved: &Checkpoint, more: &[Finding]) -> BTreeSet<Finding> {
    (1..=saved.size())
        .map(NotProven)
        .chain(more.iter().copied())
        .collect()
}

/// The customer's checkpoint after some requests, then two more requests.
async fn prepare(h: &Harness) -> (NoteVerifier, Checkpoint, String) {
    let key = verifier(h).await;
    let (_, token) = h.grant_and_token(ORG, "staff-1", 1).await;
    requests(h, &token, 4).await;
    let saved = current_checkpoint(h, &key).await.unwrap();
    assert_eq!(saved.size(), h.events(ORG).await.len() as u64);
    requests(h, &token, 2).await;
    assert!(
        findings(h, &key, &saved).await.is_empty(),
        "an untouched log passes"
    );
    (key, saved, token)
}

/// Raw SQL on the gateway's database, as someone with write access would run it.
async fn sql(h: &Harness, statements: &[String]) {
    let url = h.database_url();
    let script = statements.join(";\n");
    let script = sqlx::AssertSqlSafe(script);
    match h.store.backend() {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
            sqlx::raw_sql(script).execute(&pool).await.unwrap();
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            sqlx::raw_sql(script).execute(&pool).await.unwrap();
            pool.close().await;
        }
    }
}

fn blob(h: &Harness, bytes: &[u8]) -> String {
    let hex = hex::encode(bytes);
    match h.store.backend() {
        Backend::Sqlite => format!("X'{hex}'"),
        Backend::Postgres => format!("'\\x{hex}'::bytea"),
    }
}

/// Rewrites `event` (its path) and re-seals it on `prev`; answers the SQL.
fn edit(event: &AuditEvent, prev: ChainHash, n: u64) -> (AuditEvent, String) {
    let mut data = event.data.clone();
    data.path = Some(format!("/crm/v8/Contacts/{n}"));
    let edited = data.seal(event.seq, prev);
    let statement = format!(
        "UPDATE audit_events SET path = '{}', prev_hash = '{}', hash = '{}' \
         WHERE org = '{ORG}' AND seq = {}",
        edited.path.as_deref().unwrap_or_default(),
        edited.prev_hash.to_hex(),
        edited.hash.to_hex(),
        edited.seq
    );
    (edited, statement)
}

/// Replaces the org's stored tree, head and checkpoints with the tree of `events`:
/// the attacker who knows the layout and covers their tracks.
async fn rewrite_tree(h: &Harness, events: &[AuditEvent]) {
    let mut tree = MemoryTree::new();
    let leaves: Vec<_> = events.iter().map(|e| event_leaf(&e.hash)).collect();
    tree.append(&leaves).unwrap();
    let ids: Vec<NodeId> = (0..stored_node_count(tree.size()))
        .map(NodeId::from_packed)
        .collect();
    let nodes = tree.read_hashes(&ids).unwrap();
    let rows: Vec<String> = ids
        .iter()
        .zip(&nodes)
        .map(|(id, hash)| format!("('{ORG}', {}, {})", id.packed(), blob(h, &hash.0)))
        .collect();
    let frontier: Vec<u8> = tree
        .frontier()
        .nodes()
        .iter()
        .flat_map(|n| n.hash.0)
        .collect();
    let last = events.last().unwrap();
    sql(
        h,
        &[
            format!("DELETE FROM audit_checkpoints WHERE org = '{ORG}'"),
            format!("DELETE FROM audit_tree_nodes WHERE org = '{ORG}'"),
            format!(
                "INSERT INTO audit_tree_nodes (org, node, hash) VALUES {}",
                rows.join(", ")
            ),
            format!(
                "UPDATE audit_heads SET seq = {size}, hash = '{}', tree_size = {size}, \
                 tree_root = {}, tree_frontier = {} WHERE org = '{ORG}'",
                last.hash.to_hex(),
                blob(h, &tree.root().0),
                blob(h, &frontier),
                size = tree.size(),
            ),
        ],
    )
    .await;
}

/// (a) The newest events deleted, the tree, head and checkpoints rolled back with them;
/// then the gateway carries on and new events take the deleted ones' places.
async fn deleting_the_newest_events(h: Harness) {
    let (key, saved, token) = prepare(&h).await;
    let keep = saved.size() - 2;
    sql(
        &h,
        &[format!(
            "DELETE FROM audit_events WHERE org = '{ORG}' AND seq > {keep}"
        )],
    )
    .await;
    rewrite_tree(&h, &h.events(ORG).await).await;
    assert_eq!(
        findings(&h, &key, &saved).await,
        BTreeSet::from([Truncated])
    );

    requests(&h, &token, 3).await;
    assert!(h.events(ORG).await.len() as u64 > saved.size());
    assert_eq!(
        findings(&h, &key, &saved).await,
        none_proven(&saved, &[Rewritten]),
        "refilled, the log is longer again but not the one the customer saw"
    );
}

/// (b) Any event edited (content and its own hash), the first and the newest saved
/// one; the tree left alone or rewritten to match.
async fn editing_any_event(h: Harness) {
    let (key, saved, _) = prepare(&h).await;
    let events = h.events(ORG).await;
    let last = saved.size() as usize - 1;
    let (_, first) = edit(&events[0], events[0].prev_hash, 0);
    let (_, newest) = edit(&events[last], events[last].prev_hash, 1);
    sql(&h, &[first, newest]).await;
    let edited = BTreeSet::from([NotProven(1), NotProven(saved.size())]);
    assert_eq!(findings(&h, &key, &saved).await, edited);

    rewrite_tree(&h, &h.events(ORG).await).await;
    assert_eq!(
        findings(&h, &key, &saved).await,
        none_proven(&saved, &[Rewritten]),
        "with the tree rewritten to match, no proof reaches the saved root"
    );
}

/// (c) One event edited and the whole chain re-hashed after it (a valid chain again):
/// first with the tree left alone, then with tree, head and checkpoints rewritten.
async fn editing_and_rehashing_the_whole_chain(h: Harness) {
    let (key, saved, _) = prepare(&h).await;
    let events = h.events(ORG).await;
    let mut prev = events[0].prev_hash;
    let mut statements = Vec::new();
    let mut rehashed = Vec::new();
    for (n, event) in events.iter().enumerate() {
        let (edited, statement) = edit(event, prev, n as u64);
        prev = edited.hash;
        statements.push(statement);
        rehashed.push(edited);
    }
    statements.push(format!(
        "UPDATE audit_heads SET hash = '{}' WHERE org = '{ORG}'",
        prev.to_hex()
    ));
    sql(&h, &statements).await;
    let access = h.gateway.app().access();
    access
        .verify_audit(&OrgId::from(ORG))
        .await
        .expect("the re-hashed chain alone verifies");
    assert_eq!(findings(&h, &key, &saved).await, none_proven(&saved, &[]));

    rewrite_tree(&h, &rehashed).await;
    assert_eq!(
        findings(&h, &key, &saved).await,
        none_proven(&saved, &[Rewritten])
    );
}

async fn on_postgres<F, Fut>(case: F)
where
    F: FnOnce(Harness) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    in_schema(|schema| async move {
        let url = url_via(server_addr().await, &schema);
        case(start(Some(url)).await).await;
    })
    .await;
}

#[tokio::test]
async fn sqlite_a_saved_checkpoint_detects_deleting_the_newest_events() {
    deleting_the_newest_events(start(None).await).await;
}

#[tokio::test]
async fn postgres_a_saved_checkpoint_detects_deleting_the_newest_events() {
    on_postgres(deleting_the_newest_events).await;
}

#[tokio::test]
async fn sqlite_a_saved_checkpoint_detects_editing_any_event() {
    editing_any_event(start(None).await).await;
}

#[tokio::test]
async fn postgres_a_saved_checkpoint_detects_editing_any_event() {
    on_postgres(editing_any_event).await;
}

#[tokio::test]
async fn sqlite_a_saved_checkpoint_detects_editing_and_rehashing_the_whole_chain() {
    editing_and_rehashing_the_whole_chain(start(None).await).await;
}

#[tokio::test]
async fn postgres_a_saved_checkpoint_detects_editing_and_rehashing_the_whole_chain() {
    on_postgres(editing_and_rehashing_the_whole_chain).await;
}
