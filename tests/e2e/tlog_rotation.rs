//! Verifying checkpoints across an audit-key rotation (SPEC §6.1, docs/tlog.md): after
//! `keys rotate --audit` checkpoints are signed by the old and the new key until
//! `audit.key_overlap` after the new key took over, so a customer holding only the old
//! verifier key verifies them (`audit verify --checkpoint FILE --key VKEY`, the real
//! binary) and learns the new key from the verifier-key endpoint, which lists both. A
//! key that signed nothing is WRONG KEY, naming the keys found and trusted; after the
//! overlap the old key signs no more, and a checkpoint of the old key is still extended
//! by one of the new key. On SQLite and on PostgreSQL.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound, Utc};
use support_access_core::audit::{AuditKind, NewAuditEvent};
use support_access_core::ids::OrgId;
use support_access_core::keys::SigningKeyStore;
use support_access_core::tlog::{
    Checkpoint, ConsistencyProof, NoteSigner, NoteVerifier, TreeHash, audit_key_name, audit_origin,
    parse_note,
};
use support_access_core::{AuditLog, Clock};
use support_access_e2e::client::HttpClient;
use support_access_e2e::harness::{config_dir, config_text};
use support_access_e2e::stub::Stub;
use support_access_e2e::tokens;
use support_access_memory::{ManualClock, SystemClock};
use support_access_pgtest::{in_schema, server_addr, url_via};
use support_access_seaorm::SeaOrmStore;
use support_gateway::config::Config;
use support_gateway::tokens::audit_keys::stored_audit_key;
use support_gateway::tokens::keyring;
use support_gateway::wiring::Overrides;
use support_gateway::{Binds, Running};

use crate::child;

const ORG: &str = "org-rotate";
const V1: &str = "/support-access/v1";

/// The gateway in process on the database `url` (its clock manual), and the config a
/// customer's `audit verify` runs with on the same database.
struct Setup {
    gateway: Running,
    http: HttpClient,
    store: SeaOrmStore,
    clock: ManualClock,
    cli_config: String,
    dir: tempfile::TempDir,
}

impl Setup {
    async fn start(url: &str, upstream: &Stub) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let text = config_text(&upstream.addr.to_string(), dir.path(), "");
        let config = Config::from_toml(&text, &config_dir()).unwrap();
        let store = SeaOrmStore::connect(url).await.unwrap();
        store.migrate().await.unwrap();
        let start = SystemClock
            .now()
            .duration_trunc(Duration::seconds(1))
            .unwrap();
        let clock = ManualClock::new(start);
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
        let cli_dir = dir.path().join("customer");
        std::fs::create_dir(&cli_dir).unwrap();
        let cli_config = child::config(&cli_dir, url, upstream.addr, "");
        Self {
            http: HttpClient::new(gateway.proxy),
            gateway,
            store,
            clock,
            cli_config: cli_config.to_str().unwrap().to_owned(),
            dir,
        }
    }

    /// One more event in the org's log (so that the next checkpoint is a new one).
    async fn grow(&self) {
        let event = NewAuditEvent::new(OrgId::from(ORG), AuditKind::RequestAllowed, self.now());
        AuditLog::append(&self.store, event).await.unwrap();
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The verifier-key endpoint's keys, in the order served.
    async fn verifier_keys(&self) -> Vec<String> {
        let answer = self
            .http
            .send("GET", &format!("{V1}/audit/verifier-key"), &[], b"")
            .await;
        assert_eq!(answer.status, 200);
        let body = String::from_utf8(answer.body.to_vec()).unwrap();
        assert!(body.ends_with('\n'), "{body:?}");
        body.lines().map(str::to_owned).collect()
    }

    /// The org's current checkpoint, saved to `name` in the customer's directory.
    async fn save_checkpoint(&self, name: &str) -> (String, String) {
        let admin = tokens::admin(ORG, "admin-1", self.now());
        let answer = self
            .http
            .get(&format!("{V1}/audit/checkpoint"), &admin)
            .await;
        assert_eq!(answer.status, 200);
        let note = String::from_utf8(answer.body.to_vec()).unwrap();
        let file = self.dir.path().join(name);
        std::fs::write(&file, &note).unwrap();
        (file.to_str().unwrap().to_owned(), note)
    }

    /// `audit verify --checkpoint FILE --key K…` on the shared database.
    fn verify(&self, file: &str, keys: &[&str]) -> (i32, String, String) {
        let mut args = vec![
            "audit",
            "verify",
            "--config",
            &self.cli_config,
            "--checkpoint",
            file,
        ];
        for key in keys {
            args.extend(["--key", key]);
        }
        child::run(&args)
    }

    /// `keys rotate --audit` as the store sees it: a new audit key, published now,
    /// signing after `publish_ahead`; the gateway re-reads the keys.
    async fn rotate(&self, publish_ahead: Duration) -> String {
        let now = self.now();
        let document = keyring::generate().unwrap();
        let key = stored_audit_key(&document, "support-gateway", now, now + publish_ahead).unwrap();
        SigningKeyStore::add(&self.store, &key).await.unwrap();
        self.gateway.refresh_keys().await.unwrap();
        NoteSigner::from_pkcs8(&audit_key_name("support-gateway"), &document)
            .unwrap()
            .verifier()
            .to_string()
    }
}

fn signature_count(note: &str) -> usize {
    parse_note(note).unwrap().signatures.len()
}

fn open(note: &str, key: &str) -> Checkpoint {
    let origin = audit_origin("support-gateway", &OrgId::from(ORG));
    let key: NoteVerifier = key.parse().unwrap();
    Checkpoint::open(note, &origin, &[key]).expect("the checkpoint opens with the key")
}

fn label(key: &str) -> String {
    key.parse::<NoteVerifier>().unwrap().label()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let file = dir.join(name);
    std::fs::write(&file, text).unwrap();
    file.to_str().unwrap().to_owned()
}

async fn checkpoints_verify_across_an_audit_key_rotation(url: String) {
    let stub = Stub::start().await;
    let s = Setup::start(&url, &stub).await;
    for _ in 0..3 {
        s.grow().await;
    }
    // Before the rotation: one key, one signature; the customer saves both.
    let served = s.verifier_keys().await;
    assert_eq!(served.len(), 1, "{served:?}");
    let old = served[0].clone();
    let (before_file, before) = s.save_checkpoint("before.txt").await;
    assert_eq!(signature_count(&before), 1);
    let (code, stdout, stderr) = s.verify(&before_file, &[&old]);
    assert_eq!(code, 0, "{stdout}{stderr}");

    // Rotated: the new key is served beside the old one (the old one still signs first)
    // and a checkpoint made now carries both signatures.
    let publish_ahead = Duration::minutes(5);
    let new = s.rotate(publish_ahead).await;
    assert_eq!(s.verifier_keys().await, [old.clone(), new.clone()]);
    s.grow().await;
    let (during_file, during) = s.save_checkpoint("during.txt").await;
    assert_eq!(signature_count(&during), 2, "{during}");
    assert_eq!(open(&during, &old), open(&during, &new));
    let (code, stdout, stderr) = s.verify(&during_file, &[&old]);
    assert_eq!(code, 0, "the old saved key verifies it: {stdout}{stderr}");
    assert!(
        stdout.contains(&format!("signed by {}", label(&old)))
            && stdout.contains(&format!("also signed by {}", label(&new))),
        "{stdout}"
    );
    let (code, stdout, stderr) = s.verify(&during_file, &[&new]);
    assert_eq!(code, 0, "the new key verifies it: {stdout}{stderr}");

    // A key that signed nothing: WRONG KEY, naming the keys found and the one trusted.
    let unrelated = NoteSigner::from_seed(&audit_key_name("support-gateway"), &[7; 32])
        .unwrap()
        .verifier()
        .to_string();
    let (code, stdout, stderr) = s.verify(&during_file, &[&unrelated]);
    assert_eq!(code, 3, "{stdout}{stderr}");
    assert!(stdout.contains("WRONG KEY"), "{stdout}");
    for key in [&old, &new, &unrelated] {
        assert!(stdout.contains(&label(key)), "{} in {stdout}", label(key));
    }

    // The new key took over: it is served first and signs first; the old one co-signs.
    s.clock.advance(publish_ahead);
    s.gateway.refresh_keys().await.unwrap();
    assert_eq!(s.verifier_keys().await, [new.clone(), old.clone()]);
    s.grow().await;
    let (_, taken_over) = s.save_checkpoint("taken-over.txt").await;
    let signers = parse_note(&taken_over).unwrap().signatures;
    assert_eq!(signers.len(), 2);
    assert_eq!(
        signers[0].label(),
        label(&new),
        "the current key signs first"
    );
    open(&taken_over, &old);

    // After the overlap (`audit.key_overlap`, 7 days) the old key signs no more.
    s.clock.advance(Duration::days(7));
    s.gateway.refresh_keys().await.unwrap();
    assert_eq!(s.verifier_keys().await, vec![new.clone()]);
    s.grow().await;
    let (after_file, after) = s.save_checkpoint("after.txt").await;
    assert_eq!(signature_count(&after), 1, "{after}");
    let (code, stdout, _) = s.verify(&after_file, &[&old]);
    assert_eq!(code, 3, "{stdout}");
    assert!(
        stdout.contains("WRONG KEY") && stdout.contains(&label(&new)),
        "{stdout}"
    );
    // The customer's key file (both keys, as the endpoint served them during the
    // changeover) verifies it; so does the new key alone.
    let keys = write(
        s.dir.path(),
        "keys.txt",
        &format!("# saved\n{old}\n{new}\n"),
    );
    let (code, stdout, stderr) = s.verify(&after_file, &[&keys]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let (code, stdout, stderr) = s.verify(&after_file, &[&new]);
    assert_eq!(code, 0, "{stdout}{stderr}");

    // The checkpoint of the old key is extended by the one of the new key: the served
    // consistency proof verifies between them, and the CLI checks the log extends it.
    let (first, last) = (open(&before, &old), open(&after, &new));
    let admin = tokens::admin(ORG, "admin-1", s.now());
    let path = format!(
        "{V1}/audit/proof/consistency?from={}&to={}",
        first.size(),
        last.size()
    );
    let answer = s.http.get(&path, &admin).await;
    assert_eq!(answer.status, 200);
    let body: serde_json::Value = answer.json();
    let proof = ConsistencyProof {
        from: first.size(),
        to: last.size(),
        hashes: body["hashes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| TreeHash::from_base64(h.as_str().unwrap()).unwrap())
            .collect(),
    };
    proof
        .verify(first.root(), last.root())
        .expect("the new key's checkpoint extends the old key's");
    let (code, stdout, stderr) = s.verify(&before_file, &[&old]);
    assert_eq!(code, 0, "{stdout}{stderr}");

    // A --key that is neither a key nor a file is a usage error naming it.
    let (code, _, stderr) = s.verify(&after_file, &["not-a-key"]);
    assert_eq!(code, 64, "{stderr}");
    assert!(stderr.contains("--key not-a-key"), "{stderr}");
    s.gateway.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_verify_across_an_audit_key_rotation_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/shared.db?mode=rwc", dir.path().display());
    checkpoints_verify_across_an_audit_key_rotation(url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_verify_across_an_audit_key_rotation_on_postgres() {
    in_schema(|schema| async move {
        let url = url_via(server_addr().await, &schema);
        checkpoints_verify_across_an_audit_key_rotation(url).await;
    })
    .await;
}
