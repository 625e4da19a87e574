//! Key rotation (SPEC §2): two gateway instances share one database and so one set of
//! support signing keys. A rotation is published by both at once, signs new tokens only
//! after `publish_ahead`, and is invisible to callers: a token signed before it stays
//! valid on both instances until it expires; the old key is retired once every token
//! it signed has expired. The audit key rotates the same way (`keys rotate --audit`).
//! On SQLite and on PostgreSQL.

use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde_json::Value;
use support_access_core::Clock;
use support_access_core::ids::{OrgId, StaffId};
use support_access_core::keys::SigningKeyStore;
use support_access_core::service::{GrantEnd, GrantRequest};
use support_access_core::tlog::{Checkpoint, NoteVerifier, audit_origin};
use support_access_e2e::client::HttpClient;
use support_access_e2e::harness::{config_dir, config_text};
use support_access_e2e::stub::Stub;
use support_access_memory::{ManualClock, SystemClock};
use support_access_pgtest::{in_schema, server_addr, url_via};
use support_access_seaorm::SeaOrmStore;
use support_gateway::config::Config;
use support_gateway::tokens::audit_keys::stored_audit_key;
use support_gateway::tokens::keyring;
use support_gateway::wiring::Overrides;
use support_gateway::{Binds, Running};

const ORG: &str = "org-acme";
const ALLOWED: &str = "/crm/v8/Leads";
const JWKS: &str = "/support-access/v1/jwks.json";

/// One gateway instance on the shared database `url`, with a key file of its own
/// (in `dir`) that the shared keys make irrelevant once the store holds a key.
struct Instance {
    gateway: Running,
    http: HttpClient,
    store: SeaOrmStore,
    _dir: tempfile::TempDir,
}

impl Instance {
    async fn start(url: &str, upstream: &Stub, clock: &ManualClock) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let text = config_text(&upstream.addr.to_string(), dir.path(), "");
        let config = Config::from_toml(&text, &config_dir()).unwrap();
        let store = SeaOrmStore::connect(url).await.unwrap();
        store.migrate().await.unwrap();
        let overrides = Overrides {
            clock: Some(Arc::new(clock.clone())),
            store: Some((
                Arc::new(store.clone()),
                Arc::new(store.clone()),
                Arc::new(store.clone()),
                Arc::new(store.clone()),
            )),
            keys: Some(Arc::new(store.clone())),
            changes: Some(Arc::new(store.clone())),
            webhooks: Some(Arc::new(store.clone())),
        };
        let binds = Binds {
            proxy: "127.0.0.1:0".parse().unwrap(),
            ops: "127.0.0.1:0".parse().unwrap(),
        };
        let gateway = support_gateway::build_with(config, binds, overrides)
            .await
            .unwrap();
        Self {
            http: HttpClient::new(gateway.proxy),
            gateway,
            store,
            _dir: dir,
        }
    }

    /// Re-reads the shared keys now (the background refresh does so every few seconds).
    async fn refresh(&self, now: DateTime<Utc>) {
        self.gateway.app().signer().refresh(now).await.unwrap();
    }

    async fn jwks_kids(&self) -> Vec<String> {
        let answer = self.http.send("GET", JWKS, &[], b"").await;
        assert_eq!(answer.status, 200);
        let doc: Value = answer.json();
        doc["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|key| key["kid"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The verifier key that signs first (the endpoint's first line).
    async fn verifier_key(&self) -> NoteVerifier {
        let answer = self
            .http
            .send("GET", "/support-access/v1/audit/verifier-key", &[], b"")
            .await;
        assert_eq!(answer.status, 200);
        String::from_utf8(answer.body.to_vec())
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    }

    /// The org's current checkpoint note, as an admin fetches it.
    async fn checkpoint_note(&self, now: DateTime<Utc>) -> String {
        let admin = support_access_e2e::tokens::admin(ORG, "admin-1", now);
        let answer = self
            .http
            .get("/support-access/v1/audit/checkpoint", &admin)
            .await;
        assert_eq!(answer.status, 200);
        String::from_utf8(answer.body.to_vec()).unwrap()
    }

    async fn token(&self, staff: &str, now: DateTime<Utc>) -> String {
        let access = self.gateway.app().access();
        let grant = access
            .claim_seat(&OrgId::from(ORG), &StaffId::from(staff))
            .await
            .unwrap();
        self.gateway
            .app()
            .signer()
            .issue(&grant, &StaffId::from(staff), now)
            .unwrap()
            .0
    }

    async fn status_with(&self, token: &str) -> u16 {
        self.http.get(ALLOWED, token).await.status.as_u16()
    }
}

/// The `kid` in a token's header.
fn kid_of(token: &str) -> String {
    support_gateway::tokens::peek(token)
        .and_then(|peeked| peeked.kid)
        .unwrap()
}

async fn rotation_is_invisible_to_callers(url: String) {
    let stub = Stub::start().await;
    let start = SystemClock
        .now()
        .duration_trunc(Duration::seconds(1))
        .unwrap();
    let clock = ManualClock::new(start);
    let a = Instance::start(&url, &stub, &clock).await;
    let b = Instance::start(&url, &stub, &clock).await;
    a.gateway
        .app()
        .access()
        .grant(
            &OrgId::from(ORG),
            "admin-1",
            GrantRequest {
                end: GrantEnd::Days(3),
                reason: Some("rotation".into()),
                ticket: None,
            },
        )
        .await
        .unwrap();

    // Both instances sign with the one key the store holds (the first instance's key
    // file became it), and each accepts the other's tokens.
    let first = a.jwks_kids().await;
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(b.jwks_kids().await, first, "both publish the same key");
    let old_token = a.token("staff-ana", clock.now()).await;
    assert_eq!(kid_of(&old_token), first[0]);
    assert_eq!(b.status_with(&old_token).await, 200);

    // `keys rotate`: a new key, published at once, signing after publish_ahead (5m).
    let publish_ahead = Duration::minutes(5);
    let now = clock.now();
    let new = keyring::stored_key(&keyring::generate().unwrap(), now, now + publish_ahead).unwrap();
    SigningKeyStore::add(&a.store, &new).await.unwrap();
    a.refresh(now).await;
    b.refresh(now).await;
    for instance in [&a, &b] {
        let kids = instance.jwks_kids().await;
        assert_eq!(kids.len(), 2, "published at once: {kids:?}");
        assert!(
            kids.contains(&new.kid) && kids.contains(&first[0]),
            "{kids:?}"
        );
    }
    let still_old = b.token("staff-ana", clock.now()).await;
    assert_eq!(
        kid_of(&still_old),
        first[0],
        "the new key waits publish_ahead"
    );

    // After publish_ahead the new key signs, on both instances; the token signed
    // before the rotation stays valid on both.
    clock.advance(publish_ahead);
    a.refresh(clock.now()).await;
    b.refresh(clock.now()).await;
    let new_token = b.token("staff-ana", clock.now()).await;
    assert_eq!(kid_of(&new_token), new.kid);
    assert_eq!(a.status_with(&new_token).await, 200);
    assert_eq!(a.status_with(&old_token).await, 200, "old token on a");
    assert_eq!(b.status_with(&old_token).await, 200, "old token on b");
    assert_eq!(
        a.jwks_kids().await.len(),
        2,
        "the old key is retiring, still published"
    );

    // The old key is retired once its last token has expired (15m ttl + 60s leeway
    // after the new key took over): unpublished, and its tokens refused.
    clock.advance(Duration::minutes(16));
    a.refresh(clock.now()).await;
    b.refresh(clock.now()).await;
    for instance in [&a, &b] {
        assert_eq!(instance.jwks_kids().await, std::slice::from_ref(&new.kid));
        assert!(!instance.gateway.app().signer().knows_kid(&first[0]));
    }
    assert_eq!(
        a.status_with(&old_token).await,
        401,
        "expired and its key retired"
    );
    let fresh = a.token("staff-ana", clock.now()).await;
    assert_eq!(b.status_with(&fresh).await, 200);
    assert_eq!(kid_of(&fresh), new.kid);
    a.gateway.shutdown().await;
    b.gateway.shutdown().await;
}

async fn grant(instance: &Instance) {
    instance
        .gateway
        .app()
        .access()
        .grant(
            &OrgId::from(ORG),
            "admin-1",
            GrantRequest {
                end: GrantEnd::Days(3),
                reason: None,
                ticket: None,
            },
        )
        .await
        .unwrap();
}

/// `keys rotate --audit`: both instances sign checkpoints with the shared audit key; a
/// rotated-in key signs only after publish_ahead, on both; checkpoints signed before
/// keep verifying with the previous verifier key.
async fn audit_key_rotation_is_shared(url: String) {
    let stub = Stub::start().await;
    let start = SystemClock
        .now()
        .duration_trunc(Duration::seconds(1))
        .unwrap();
    let clock = ManualClock::new(start);
    let a = Instance::start(&url, &stub, &clock).await;
    let b = Instance::start(&url, &stub, &clock).await;
    grant(&a).await;
    let origin = audit_origin("support-gateway", &OrgId::from(ORG));
    let old_key = a.verifier_key().await;
    assert_eq!(b.verifier_key().await.to_string(), old_key.to_string());
    let old_note = b.checkpoint_note(clock.now()).await;
    Checkpoint::open(&old_note, &origin, std::slice::from_ref(&old_key))
        .expect("b signs with the shared audit key");

    let now = clock.now();
    let publish_ahead = Duration::minutes(5);
    let document = keyring::generate().unwrap();
    let new = stored_audit_key(&document, "support-gateway", now, now + publish_ahead).unwrap();
    SigningKeyStore::add(&a.store, &new).await.unwrap();
    a.gateway.refresh_keys().await.unwrap();
    b.gateway.refresh_keys().await.unwrap();
    assert_eq!(
        a.verifier_key().await.to_string(),
        old_key.to_string(),
        "the new audit key waits publish_ahead"
    );

    clock.advance(publish_ahead);
    a.gateway.refresh_keys().await.unwrap();
    b.gateway.refresh_keys().await.unwrap();
    let new_key = a.verifier_key().await;
    assert_ne!(new_key.to_string(), old_key.to_string());
    assert_eq!(b.verifier_key().await.to_string(), new_key.to_string());
    // The log grows; its next checkpoint is signed by the new key, on either instance.
    let access = b.gateway.app().access();
    access
        .claim_seat(&OrgId::from(ORG), &StaffId::from("staff-ana"))
        .await
        .unwrap();
    let new_note = a.checkpoint_note(clock.now()).await;
    assert_ne!(new_note, old_note);
    Checkpoint::open(&new_note, &origin, std::slice::from_ref(&new_key))
        .expect("signed by the new audit key");
    Checkpoint::open(&new_note, &origin, std::slice::from_ref(&old_key))
        .expect("within audit.key_overlap the old key co-signs (tests/e2e/tlog_rotation.rs)");
    Checkpoint::open(&old_note, &origin, std::slice::from_ref(&old_key))
        .expect("an old checkpoint keeps verifying with the old verifier key");
    a.gateway.shutdown().await;
    b.gateway.shutdown().await;
}

#[tokio::test]
async fn an_audit_key_rotation_on_shared_sqlite_signs_new_checkpoints_on_both_instances() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/shared.db?mode=rwc", dir.path().display());
    audit_key_rotation_is_shared(url).await;
}

#[tokio::test]
async fn an_audit_key_rotation_on_shared_postgres_signs_new_checkpoints_on_both_instances() {
    in_schema(|schema| async move {
        let url = url_via(server_addr().await, &schema);
        audit_key_rotation_is_shared(url).await;
    })
    .await;
}

#[tokio::test]
async fn a_rotation_on_shared_sqlite_is_invisible_to_callers_of_both_instances() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/shared.db?mode=rwc", dir.path().display());
    rotation_is_invisible_to_callers(url).await;
}

#[tokio::test]
async fn a_rotation_on_shared_postgres_is_invisible_to_callers_of_both_instances() {
    in_schema(|schema| async move {
        let url = url_via(server_addr().await, &schema);
        rotation_is_invisible_to_callers(url).await;
    })
    .await;
}
