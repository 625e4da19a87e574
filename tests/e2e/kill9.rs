//! Lifecycle changes reported as done are durable: the real `support-gateway serve`
//! process on SQLite, killed with SIGKILL right after it answered, and started again on
//! the same database.

use serde_json::json;
use support_access_core::AuditLog;
use support_access_core::Clock;
use support_access_core::audit::AuditKind;
use support_access_core::ids::OrgId;
use support_access_e2e::client::{Answer, HttpClient};
use support_access_e2e::fault_fs::Tmpfs;
use support_access_e2e::stub::Stub;
use support_access_e2e::tokens;
use support_access_memory::SystemClock;
use support_access_seaorm::SeaOrmStore;

use crate::child::{Gateway, config};

const ORG: &str = "org-kill";

async fn call(
    gateway: &Gateway,
    method: &str,
    path: &str,
    token: &str,
    body: Option<serde_json::Value>,
) -> Answer {
    let auth = format!("Bearer {token}");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    HttpClient::new(gateway.proxy)
        .send(
            method,
            &format!("/support-access/v1{path}"),
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            body.as_bytes(),
        )
        .await
}

async fn status(gateway: &Gateway, admin: &str) -> serde_json::Value {
    let shown = call(gateway, "GET", "/grant", admin, None).await;
    assert_eq!(shown.status, 200, "{:?}", shown.body);
    shown.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoke_answered_204_survives_kill_9_and_one_answered_503_changed_nothing() {
    let disk = Tmpfs::mount(4096);
    let keys = tempfile::tempdir().expect("temp dir");
    let stub = Stub::start().await;
    let url = format!("sqlite://{}/gateway.db?mode=rwc", disk.path().display());
    let file = config(keys.path(), &url, stub.addr, "");
    let now = SystemClock.now();
    let admin = tokens::admin(ORG, "alice", now);
    let staff = tokens::staff("staff-ana", now);

    // A revoke answered 204, then SIGKILL at once: it holds after the restart.
    let gateway = Gateway::serve(&file);
    let granted = call(&gateway, "POST", "/grant", &admin, Some(json!({"days": 2}))).await;
    assert_eq!(granted.status, 201, "{:?}", granted.body);
    let first = granted.json()["id"].as_str().unwrap().to_owned();
    let revoked = call(&gateway, "DELETE", "/grant", &admin, None).await;
    assert_eq!(revoked.status, 204);
    gateway.kill_9();
    let gateway = Gateway::serve(&file);
    let shown = status(&gateway, &admin).await;
    assert_eq!(
        (shown["id"].as_str(), shown["status"].as_str()),
        (Some(first.as_str()), Some("revoked"))
    );

    // A revoke the full disk refuses answers 503; after SIGKILL and a restart on a disk
    // with room again, the grant is still active and no grant.revoked was stored.
    let granted = call(&gateway, "POST", "/grant", &admin, Some(json!({"days": 2}))).await;
    assert_eq!(granted.status, 201, "{:?}", granted.body);
    let second = granted.json()["id"].as_str().unwrap().to_owned();
    disk.fill();
    // Use up what room the write-ahead log still has: token exchanges write events.
    let mut refused = false;
    for _ in 0..500 {
        let exchange = call(
            &gateway,
            "POST",
            "/token",
            &staff,
            Some(json!({"org": ORG})),
        )
        .await;
        if exchange.status == 503 {
            refused = true;
            break;
        }
        assert_eq!(exchange.status, 200, "{:?}", exchange.body);
    }
    assert!(refused, "the full disk kept taking writes");
    let revoke = call(&gateway, "DELETE", "/grant", &admin, None).await;
    assert_eq!(revoke.status, 503, "{:?}", revoke.body);
    gateway.kill_9();
    disk.free();
    let gateway = Gateway::serve(&file);
    let shown = status(&gateway, &admin).await;
    assert_eq!(
        (shown["id"].as_str(), shown["status"].as_str()),
        (Some(second.as_str()), Some("active"))
    );
    gateway.kill_9();

    let store = SeaOrmStore::connect(&url).await.expect("open the database");
    let events = store
        .scan(&OrgId::from(ORG), 0, 10_000)
        .await
        .expect("scan");
    store.close().await;
    let kinds = |kind: AuditKind| events.iter().filter(|e| e.kind == kind).count();
    assert_eq!(kinds(AuditKind::GrantCreated), 2);
    assert_eq!(
        kinds(AuditKind::GrantRevoked),
        1,
        "only the revoke answered 204"
    );
    let revoked = events
        .iter()
        .find(|e| e.kind == AuditKind::GrantRevoked)
        .unwrap();
    assert_eq!(revoked.grant.map(|g| g.to_string()), Some(first));
}
