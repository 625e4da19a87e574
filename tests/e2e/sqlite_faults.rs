//! Faults of the embedded SQLite store, made for real: the database on a small tmpfs
//! that fills up, and the database files made immutable (what "read-only" means for a
//! process that runs as root). The gateway is wired from `[storage] url = "sqlite://…"`
//! exactly as `serve` wires it (SeaOrmStore, grant cache, audit writer).
//!
//! What must hold under each: no support request reaches the CRM without its durable
//! `request.allowed` (the stub's record against the audit log, read afterwards by a
//! store of its own, as another process would); a revoke is answered `204` only when it
//! is durable, and `503` changes nothing; support traffic recovers once the disk is
//! writable again, without a restart. These tests need root (mount, chattr) and fail
//! loudly without it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::DurationRound;
use http::StatusCode;
use support_access_core::audit::{AuditEvent, AuditKind, ChainVerifier};
use support_access_core::ids::{OrgId, StaffId};
use support_access_core::service::{GrantEnd, GrantRequest};
use support_access_core::{AuditLog, Clock, GrantStore};
use support_access_e2e::client::{Answer, HttpClient};
use support_access_e2e::fault_fs::{Immutable, Tmpfs};
use support_access_e2e::harness::{config_dir, config_text};
use support_access_e2e::stub::Stub;
use support_access_e2e::tokens;
use support_access_memory::{ManualClock, SystemClock};
use support_access_seaorm::SeaOrmStore;
use support_gateway::Running;
use support_gateway::config::{Config, Storage};
use support_gateway::wiring::Overrides;

const ORG: &str = "org-disk";
const ALLOWED: &str = "/crm/v8/Leads/4150868000000225013";
const DENIED: &str = "/crm/v8/Leads/4150868000000225013/actions/send_mail";
/// How long support traffic may take to come back once the disk takes writes again.
const RECOVER_WITHIN: Duration = Duration::from_secs(5);

/// The real gateway on an SQLite file in `dir`, wired from its config.
struct Embedded {
    gateway: Running,
    stub: Stub,
    clock: ManualClock,
    http: HttpClient,
    ops: HttpClient,
    file: PathBuf,
    _keys: tempfile::TempDir,
}

impl Embedded {
    async fn start(dir: &Path) -> Self {
        let stub = Stub::start().await;
        let keys = tempfile::tempdir().expect("temp dir");
        let text = config_text(&stub.addr.to_string(), keys.path(), "");
        let mut config = Config::from_toml(&text, &config_dir()).expect("test config");
        let file = dir.join("gateway.db");
        config.storage = Storage::Sqlite(format!("sqlite://{}?mode=rwc", file.display()));
        let now = SystemClock
            .now()
            .duration_trunc(chrono::Duration::seconds(1))
            .expect("a whole second");
        let clock = ManualClock::new(now);
        let overrides = Overrides {
            clock: Some(Arc::new(clock.clone())),
            store: None,
            keys: None,
            changes: None,
            webhooks: None,
        };
        let binds = support_gateway::Binds {
            proxy: "127.0.0.1:0".parse().expect("addr"),
            ops: "127.0.0.1:0".parse().expect("addr"),
        };
        let gateway = support_gateway::build_with(config, binds, overrides)
            .await
            .expect("the gateway starts on SQLite");
        Self {
            http: HttpClient::new(gateway.proxy),
            ops: HttpClient::new(gateway.ops),
            gateway,
            stub,
            clock,
            file,
            _keys: keys,
        }
    }

    async fn grant_and_token(&self, staff: &str) -> String {
        let access = self.gateway.app().access();
        let org = OrgId::from(ORG);
        let request = GrantRequest {
            end: GrantEnd::Days(2),
            reason: Some("disk test".into()),
            ticket: None,
        };
        access.grant(&org, "admin-1", request).await.expect("grant");
        let staff = StaffId::from(staff);
        let grant = access.claim_seat(&org, &staff).await.expect("claim");
        let signer = self.gateway.app().signer();
        signer
            .issue(&grant, &staff, self.clock.now())
            .expect("issue")
            .0
    }

    /// The database file and its write-ahead log, for making them immutable. Not the
    /// `-shm` index: it is memory-mapped, and a write to a mapped page of an immutable
    /// file kills the process with SIGBUS.
    fn files(&self) -> Vec<PathBuf> {
        ["", "-wal"]
            .iter()
            .map(|suffix| PathBuf::from(format!("{}{suffix}", self.file.display())))
            .collect()
    }

    fn url(&self) -> String {
        format!("sqlite://{}", self.file.display())
    }

    async fn revoke(&self) -> Answer {
        let admin = tokens::admin(ORG, "alice", self.clock.now());
        let auth = format!("Bearer {admin}");
        self.http
            .send(
                "DELETE",
                "/support-access/v1/grant",
                &[("authorization", &auth)],
                b"",
            )
            .await
    }

    async fn grant_status(&self) -> String {
        let admin = tokens::admin(ORG, "alice", self.clock.now());
        let auth = format!("Bearer {admin}");
        let answer = self
            .http
            .send(
                "GET",
                "/support-access/v1/grant",
                &[("authorization", &auth)],
                b"",
            )
            .await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        answer.json()["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    async fn readyz(&self) -> (StatusCode, serde_json::Value) {
        let answer = self.ops.send("GET", "/readyz", &[], b"").await;
        (answer.status, answer.json())
    }
}

/// What another process reads from the file: the org's events, after the chain is
/// checked.
async fn durable_events(url: &str) -> Vec<AuditEvent> {
    let store = SeaOrmStore::connect(url).await.expect("open the database");
    let events = store
        .scan(&OrgId::from(ORG), 0, 100_000)
        .await
        .expect("scan");
    let grant = store
        .open_for_org(&OrgId::from(ORG))
        .await
        .expect("the open grant");
    store.close().await;
    let mut verifier = ChainVerifier::new(OrgId::from(ORG));
    for event in &events {
        verifier.check(event).expect("the audit chain verifies");
    }
    let _ = grant;
    events
}

/// Support requests sent by a test, each with its own `User-Agent` (2 KiB long, so
/// that every event takes room on the disk).
#[derive(Default)]
struct Ledger {
    sent: Vec<(String, StatusCode)>,
}

impl Ledger {
    async fn send(&mut self, http: &HttpClient, token: &str, denied: bool) -> Answer {
        let agent = format!("disk-test/{}/{}", self.sent.len(), "x".repeat(2048));
        let auth = format!("Bearer {token}");
        let headers = [
            ("authorization", auth.as_str()),
            ("user-agent", agent.as_str()),
        ];
        let (method, target, body): (&str, &str, &[u8]) = if denied {
            ("POST", DENIED, b"{}")
        } else {
            ("GET", ALLOWED, b"")
        };
        let answer = tokio::time::timeout(
            Duration::from_secs(15),
            http.send(method, target, &headers, body),
        )
        .await
        .expect("every support request is answered in bounded time");
        let status = answer.status;
        assert!(
            [200, 403, 503].contains(&status.as_u16()),
            "{method} {target}: {status} {:?}",
            String::from_utf8_lossy(&answer.body)
        );
        if status == 503 {
            assert!(answer.is_json(), "a 503 is a JSON refusal");
        }
        self.sent.push((agent, status));
        answer
    }

    fn count(&self, status: u16) -> usize {
        self.sent
            .iter()
            .filter(|(_, s)| s.as_u16() == status)
            .count()
    }
}

/// Nothing reached the CRM without its durable `request.allowed`; nothing answered
/// `503` left a decision; whatever was answered otherwise was audited exactly once.
fn assert_no_forward_without_a_durable_event(ledger: &Ledger, stub: &Stub, log: &[AuditEvent]) {
    let decisions = |agent: &str| {
        log.iter()
            .filter(|e| {
                e.user_agent.as_deref() == Some(agent)
                    && matches!(
                        e.kind,
                        AuditKind::RequestAllowed | AuditKind::RequestBlocked
                    )
            })
            .count()
    };
    for seen in stub.seen() {
        let agent = seen.headers["user-agent"]
            .to_str()
            .expect("agent")
            .to_owned();
        let allowed = log
            .iter()
            .filter(|e| {
                e.kind == AuditKind::RequestAllowed && e.user_agent.as_deref() == Some(&agent)
            })
            .count();
        assert_eq!(
            allowed, 1,
            "a request reached the CRM without a durable request.allowed"
        );
    }
    for (agent, status) in &ledger.sent {
        let expected = usize::from(*status != StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            decisions(agent),
            expected,
            "answered {status}: decisions in the log"
        );
    }
}

/// Sends support requests (alternately allowed and denied) until five in a row are
/// refused with 503 — the store takes no more writes — or fails the test.
async fn until_writes_fail(e: &Embedded, ledger: &mut Ledger, token: &str) {
    let mut refused_in_a_row = 0;
    for i in 0..400 {
        let answer = ledger.send(&e.http, token, i % 2 == 1).await;
        if answer.status == 503 {
            refused_in_a_row += 1;
            if refused_in_a_row == 5 {
                return;
            }
        } else {
            refused_in_a_row = 0;
        }
    }
    panic!("the store kept taking writes");
}

async fn until_support_recovers(e: &Embedded, ledger: &mut Ledger, token: &str) {
    let deadline = Instant::now() + RECOVER_WITHIN;
    loop {
        if ledger.send(&e.http, token, false).await.status == 200 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "support traffic did not recover within {RECOVER_WITHIN:?} (no restart)"
        );
        tokio::time::sleep(Duration::from_millis(50)).await; // polling interval
    }
}

/// The revoke that the full store refused changed nothing; the one made after recovery
/// holds, with exactly one `grant.revoked`.
async fn assert_revoke_refused_then_held(e: &Embedded, ledger: &mut Ledger, token: &str) {
    let answer = ledger.send(&e.http, token, false).await;
    assert_eq!(
        answer.status, 200,
        "the refused revoke left the grant active"
    );
    let revoked = e.revoke().await;
    assert_eq!(revoked.status, 204, "{:?}", revoked.body);
    // On a new connection: the revoke closes the support user's connections.
    let refused = HttpClient::new(e.gateway.proxy).get(ALLOWED, token).await;
    assert_eq!(refused.status, 401);
    assert_eq!(e.grant_status().await, "revoked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_full_disk_nothing_is_forwarded_without_a_durable_event_and_revokes_hold() {
    let disk = Tmpfs::mount(2048);
    let e = Embedded::start(disk.path()).await;
    let token = e.grant_and_token("staff-ana").await;
    let mut ledger = Ledger::default();
    assert_eq!(ledger.send(&e.http, &token, false).await.status, 200);

    disk.fill();
    until_writes_fail(&e, &mut ledger, &token).await;
    let (status, body) = e.readyz().await;
    assert_eq!(
        (status.as_u16(), &body["error"]),
        (503, &"audit_unavailable".into())
    );
    let revoke = e.revoke().await;
    assert_eq!(
        revoke.status, 503,
        "a revoke the disk cannot hold: {:?}",
        revoke.body
    );
    assert_eq!(revoke.json()["error"], "store_unavailable");
    assert_eq!(
        e.grant_status().await,
        "active",
        "the refused revoke changed nothing"
    );
    let metrics = e.ops.send("GET", "/metrics", &[], b"").await;
    let metrics = String::from_utf8_lossy(&metrics.body).into_owned();
    assert!(
        metrics.contains(
            r#"support_gateway_store_errors_total{op="audit_append",kind="unavailable"}"#
        ) && metrics
            .contains(r#"support_gateway_store_errors_total{op="lifecycle",kind="unavailable"}"#),
        "{metrics}"
    );

    disk.free();
    until_support_recovers(&e, &mut ledger, &token).await;
    assert_eq!(e.readyz().await.0, 200);
    assert_revoke_refused_then_held(&e, &mut ledger, &token).await;
    eprintln!(
        "{} support requests: {} answered 200, {} 403, {} 503",
        ledger.sent.len(),
        ledger.count(200),
        ledger.count(403),
        ledger.count(503)
    );
    assert!(ledger.count(503) >= 5);

    let url = e.url();
    e.gateway.shutdown().await;
    let log = durable_events(&url).await;
    assert_no_forward_without_a_durable_event(&ledger, &e.stub, &log);
    let revokes = log
        .iter()
        .filter(|e| e.kind == AuditKind::GrantRevoked)
        .count();
    assert_eq!(revokes, 1, "one grant.revoked: the revoke that held");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_database_files_made_immutable_support_fails_closed_and_recovers() {
    // ext4 (the temp folder's filesystem here) refuses writes to immutable files even
    // through descriptors opened before; tmpfs only checks on open.
    let dir = tempfile::tempdir().expect("temp dir");
    let e = Embedded::start(dir.path()).await;
    let token = e.grant_and_token("staff-ana").await;
    let mut ledger = Ledger::default();
    assert_eq!(ledger.send(&e.http, &token, false).await.status, 200);

    let immutable = Immutable::set(&e.files());
    until_writes_fail(&e, &mut ledger, &token).await;
    let revoke = e.revoke().await;
    assert_eq!(revoke.status, 503, "{:?}", revoke.body);
    assert_eq!(e.grant_status().await, "active");

    immutable.lift();
    until_support_recovers(&e, &mut ledger, &token).await;
    assert_revoke_refused_then_held(&e, &mut ledger, &token).await;
    assert!(ledger.count(503) >= 5);

    let url = e.url();
    e.gateway.shutdown().await;
    let log = durable_events(&url).await;
    assert_no_forward_without_a_durable_event(&ledger, &e.stub, &log);
    let revokes = log
        .iter()
        .filter(|e| e.kind == AuditKind::GrantRevoked)
        .count();
    assert_eq!(revokes, 1);
    drop(dir);
}
