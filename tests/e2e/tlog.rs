//! The verifiable audit log over the real gateway (SPEC §6.1): the signed checkpoint
//! verifies with the served verifier key, inclusion and consistency proofs verify
//! against checkpoint roots, sizes beyond the log are `422`, support tokens are refused,
//! and a truncated log no longer matches a checkpoint the customer kept.

use support_access_core::ids::OrgId;
use support_access_core::tlog::{
    Checkpoint, ConsistencyProof, InclusionProof, NoteVerifier, TreeHash, audit_origin, event_leaf,
};
use support_access_e2e::client::Answer;
use support_access_e2e::harness::Harness;
use support_access_e2e::tokens;

const V1: &str = "/support-access/v1";
const ORG: &str = "org-tlog";

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

async fn checkpoint(h: &Harness, verifier: &NoteVerifier) -> Checkpoint {
    let answer = admin_get(h, "/audit/checkpoint").await;
    assert_eq!(answer.status, 200, "{}", text(&answer));
    let origin = audit_origin("support-gateway", &OrgId::from(ORG));
    Checkpoint::open(&text(&answer), &origin, std::slice::from_ref(verifier))
        .expect("the checkpoint verifies with the served key")
}

async fn verifier(h: &Harness) -> NoteVerifier {
    let answer = h
        .http
        .send("GET", &format!("{V1}/audit/verifier-key"), &[], b"")
        .await;
    assert_eq!(answer.status, 200);
    text(&answer).trim().parse().expect("a note verifier key")
}

async fn some_support_requests(h: &Harness, token: &str, n: usize) {
    for _ in 0..n {
        assert_eq!(h.http.get("/crm/v8/Leads", token).await.status, 200);
    }
    // Their `request.completed` events, which the answers did not wait for.
    h.settled().await;
}

#[tokio::test]
async fn checkpoints_and_proofs_verify_and_sizes_beyond_the_log_are_refused() {
    let h = Harness::start().await;
    let key = verifier(&h).await;
    assert_eq!(key.name(), "support-gateway/audit");
    let (_, token) = h.grant_and_token(ORG, "staff-1", 1).await;
    some_support_requests(&h, &token, 2).await;
    let first = checkpoint(&h, &key).await;
    assert_eq!(first.size(), h.events(ORG).await.len() as u64);

    some_support_requests(&h, &token, 3).await;
    let second = checkpoint(&h, &key).await;
    let events = h.events(ORG).await;
    assert_eq!(second.size(), events.len() as u64);
    assert!(second.size() > first.size());

    let event = &events[1];
    let path = format!(
        "/audit/proof/inclusion?seq={}&size={}",
        event.seq,
        second.size()
    );
    let answer = admin_get(&h, &path).await;
    assert_eq!(answer.status, 200, "{}", text(&answer));
    let body = answer.json();
    assert_eq!(body["leaf_index"], event.seq - 1);
    let proof = InclusionProof {
        index: event.seq - 1,
        size: second.size(),
        hashes: hashes(&body),
    };
    proof
        .verify(&event_leaf(&event.hash), second.root())
        .expect("the event is in the checkpointed tree");

    let path = format!(
        "/audit/proof/consistency?from={}&to={}",
        first.size(),
        second.size()
    );
    let answer = admin_get(&h, &path).await;
    assert_eq!(answer.status, 200, "{}", text(&answer));
    let proof = ConsistencyProof {
        from: first.size(),
        to: second.size(),
        hashes: hashes(&answer.json()),
    };
    proof
        .verify(first.root(), second.root())
        .expect("the newer checkpoint extends the older");

    let beyond = second.size() + 10;
    for path in [
        format!("/audit/proof/inclusion?seq=1&size={beyond}"),
        format!("/audit/proof/consistency?from=1&to={beyond}"),
    ] {
        let answer = admin_get(&h, &path).await;
        assert_eq!(answer.status, 422, "{path}");
        assert_eq!(answer.json()["error"], "beyond_log");
    }
    let bad = admin_get(&h, "/audit/proof/inclusion?seq=x&size=1").await;
    assert_eq!(
        (bad.status.as_u16(), bad.json()["error"].clone()),
        (400, "invalid_query".into())
    );

    for path in ["/audit/checkpoint", "/audit/proof/inclusion?seq=1&size=1"] {
        let refused = h.http.get(&format!("{V1}{path}"), &token).await;
        assert_eq!(refused.status, 403, "{path}");
        assert!(refused.is_json());
    }
}

#[tokio::test]
async fn an_org_without_events_has_no_checkpoint() {
    let h = Harness::start().await;
    let answer = admin_get(&h, "/audit/checkpoint").await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.json()["error"], "empty_log");
}

/// Deletes org's events after `keep` and everything of the tree and checkpoints that
/// names them, and rolls the heads back to the checkpoint of size `keep`: the most a
/// writer to the database can do to hide the newest events.
async fn truncate_behind_the_gateways_back(h: &Harness, keep: u64) {
    let pool = sqlx::SqlitePool::connect(&h.database_url()).await.unwrap();
    let keep = i64::try_from(keep).unwrap();
    let nodes = i64::try_from(support_access_core::tlog::stored_node_count(keep as u64)).unwrap();
    let statements = [
        ("DELETE FROM audit_events WHERE org = ?1 AND seq > ?2", keep),
        (
            "DELETE FROM audit_tree_nodes WHERE org = ?1 AND node >= ?2",
            nodes,
        ),
        (
            "DELETE FROM audit_checkpoints WHERE org = ?1 AND size > ?2",
            keep,
        ),
        (
            "UPDATE audit_heads SET seq = ?2, tree_size = ?2, \
             hash = (SELECT hash FROM audit_events WHERE org = ?1 AND seq = ?2), \
             tree_root = (SELECT root FROM audit_checkpoints WHERE org = ?1 AND size = ?2) \
             WHERE org = ?1",
            keep,
        ),
    ];
    for (sql, value) in statements {
        sqlx::query(sql)
            .bind(ORG)
            .bind(value)
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
}

#[tokio::test]
async fn a_saved_checkpoint_exposes_the_deletion_of_the_newest_events() {
    let h = Harness::start().await;
    let key = verifier(&h).await;
    let (_, token) = h.grant_and_token(ORG, "staff-1", 1).await;
    some_support_requests(&h, &token, 1).await;
    let older = checkpoint(&h, &key).await;
    some_support_requests(&h, &token, 3).await;
    let saved = checkpoint(&h, &key).await;
    assert!(saved.size() > older.size());

    truncate_behind_the_gateways_back(&h, older.size()).await;

    // The log the gateway now serves is smaller than the checkpoint the customer kept:
    // no consistency proof to it exists, and the newest kept event is beyond the log.
    let now = checkpoint(&h, &key).await;
    assert_eq!(now.size(), older.size());
    assert!(
        now.size() < saved.size(),
        "the served log shrank below the saved checkpoint"
    );
    for path in [
        format!(
            "/audit/proof/consistency?from={}&to={}",
            older.size(),
            saved.size()
        ),
        format!("/audit/proof/inclusion?seq={0}&size={0}", saved.size()),
    ] {
        let answer = admin_get(&h, &path).await;
        assert_eq!(answer.status, 422, "{path}");
        assert_eq!(answer.json()["error"], "beyond_log");
    }
}

#[tokio::test]
async fn the_checkpointer_signs_grown_logs_and_the_endpoint_serves_the_stored_one() {
    let h = Harness::start().await;
    let (_, token) = h.grant_and_token(ORG, "staff-1", 1).await;
    some_support_requests(&h, &token, 2).await;
    // The task's first run at start may have checkpointed part of the log already: an
    // interval later, and with the log grown since, the log is due whatever it did.
    h.clock.advance(chrono::Duration::seconds(61));
    some_support_requests(&h, &token, 1).await;
    let run = h.gateway.app().audit_log().checkpoint_due().await.unwrap();
    assert!(run.failed.is_empty(), "{:?}", run.failed);
    let made: Vec<_> = run.made.iter().filter(|c| c.org.as_str() == ORG).collect();
    assert_eq!(made.len(), 1);
    assert_eq!(made[0].size, h.events(ORG).await.len() as u64);
    let served = admin_get(&h, "/audit/checkpoint").await;
    assert_eq!(
        text(&served),
        made[0].note,
        "the stored checkpoint, not a new one"
    );
    let again = h.gateway.app().audit_log().checkpoint_due().await.unwrap();
    assert!(
        again.made.is_empty(),
        "a log that did not grow gets no new checkpoint"
    );
}
