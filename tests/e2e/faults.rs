//! Faults of the production storage: the real gateway on PostgreSQL (pool, grant cache,
//! LISTEN/NOTIFY, group-committed audit log), reached through a TCP relay this test
//! can cut and restore, so that PostgreSQL "goes away and comes back" for this
//! gateway only while the shared server keeps serving every other test.
//!
//! Each test works in a schema of its own, dropped afterwards even when it fails.
//! `DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/test`) names the server;
//! it must be reachable over TCP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::DurationRound;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use support_access_core::audit::{AuditEvent, AuditKind};
use support_access_core::ids::{OrgId, StaffId};
use support_access_core::service::{GrantEnd, GrantRequest};
use support_access_core::{Clock, Grant};
use support_access_e2e::client::{Answer, HttpClient, RawConnection};
use support_access_e2e::harness::{config_dir, config_text};
use support_access_e2e::stub::Stub;
use support_access_memory::{ManualClock, SystemClock};
use support_access_pgtest::{in_schema, server_addr, url_via};
use support_gateway::config::{Config, Storage};
use support_gateway::wiring::Overrides;
use support_gateway::{Binds, Running};
use tempfile::TempDir;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

const ORG: &str = "org-faults";
/// The longest any single request may take to be answered, even with the database
/// away or hung: beyond it the gateway hangs instead of failing closed. (A store waits
/// up to 5 s for a connection, and gives up on an audit write after 15 s.)
const ANSWER_WITHIN: Duration = Duration::from_secs(30);
/// How long support traffic may take to recover once the database is back.
const RECOVER_WITHIN: Duration = Duration::from_secs(30);

// ----------------------------------------------------------------------------------
// PostgreSQL: the server and per-test schemas (support-access-pgtest), and a relay
// that can be cut.
// ----------------------------------------------------------------------------------

/// What the relay does with PostgreSQL traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Relays.
    On,
    /// PostgreSQL went away: every relayed connection is closed and new ones are
    /// accepted and closed at once, as a stopped server's host would.
    Cut,
    /// PostgreSQL stops answering (a hung server, a network partition): connections
    /// stay open but nothing more is relayed, new ones are accepted and never served.
    Frozen,
}

/// A TCP relay `127.0.0.1:<port>` ↔ PostgreSQL that the test can cut or freeze, and
/// restore; restoring closes frozen connections (as TCP would give up on them
/// eventually) and relays again.
#[derive(Debug)]
struct Relay {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
    live: watch::Sender<usize>,
    task: JoinHandle<()>,
}

/// Counts one relayed connection while it lives.
struct Live(watch::Sender<usize>);

impl Drop for Live {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

impl Relay {
    async fn start(server: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let addr = listener.local_addr().expect("relay address");
        let (mode, modes) = watch::channel(Mode::On);
        let (live, _) = watch::channel(0usize);
        let counter = live.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                let now = *modes.borrow();
                if now == Mode::Cut {
                    drop(client);
                    continue;
                }
                counter.send_modify(|n| *n += 1);
                let live = Live(counter.clone());
                let mut modes = modes.clone();
                tokio::spawn(async move {
                    let _live = live;
                    if now == Mode::Frozen {
                        let _ = modes.wait_for(|m| *m != Mode::Frozen).await;
                        return;
                    }
                    let Ok(mut server) = TcpStream::connect(server).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => return,
                        _ = modes.wait_for(|m| *m != Mode::On) => {}
                    }
                    // Frozen: hold both ends, relay nothing, until restored or cut.
                    let _ = modes.wait_for(|m| *m != Mode::Frozen).await;
                });
            }
        });
        Self {
            addr,
            mode,
            live,
            task,
        }
    }

    /// PostgreSQL goes away: returns once every relayed connection is closed.
    async fn cut(&self) {
        self.mode.send_replace(Mode::Cut);
        let mut live = self.live.subscribe();
        tokio::time::timeout(Duration::from_secs(5), live.wait_for(|n| *n == 0))
            .await
            .expect("the relay closes its connections")
            .expect("relay counter");
    }

    /// PostgreSQL stops answering; connections stay open.
    fn freeze(&self) {
        self.mode.send_replace(Mode::Frozen);
    }

    /// PostgreSQL is back.
    fn restore(&self) {
        self.mode.send_replace(Mode::On);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.mode.send_replace(Mode::Cut);
        self.task.abort();
    }
}

// ----------------------------------------------------------------------------------
// The gateway on production PostgreSQL storage.
// ----------------------------------------------------------------------------------

/// The real gateway wired by `[storage] url = "postgres://…"` (SeaOrmStore, grant
/// cache, LISTEN/NOTIFY), in front of a recording stub.
struct Pg {
    gateway: Running,
    stub: Stub,
    clock: ManualClock,
    http: HttpClient,
    _dir: TempDir,
}

impl Pg {
    async fn start(database: &str) -> Self {
        Self::start_keyed(database, None).await
    }

    /// Another instance on the same database, with the same support signing key (as
    /// instances sharing storage must have).
    async fn start_beside(database: &str, other: &Pg) -> Self {
        Self::start_keyed(database, Some(other._dir.path())).await
    }

    async fn start_keyed(database: &str, keys: Option<&std::path::Path>) -> Self {
        let stub = Stub::start().await;
        let dir = tempfile::tempdir().expect("temp dir");
        let keys = keys.unwrap_or(dir.path());
        let text = config_text(&stub.addr.to_string(), keys, "");
        let mut config = Config::from_toml(&text, &config_dir()).expect("test config");
        config.storage = Storage::Postgres(database.to_owned());
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
        let binds = Binds {
            proxy: "127.0.0.1:0".parse().expect("addr"),
            ops: "127.0.0.1:0".parse().expect("addr"),
        };
        let gateway = support_gateway::build_with(config, binds, overrides)
            .await
            .expect("the gateway starts on PostgreSQL");
        Self {
            http: HttpClient::new(gateway.proxy),
            gateway,
            stub,
            clock,
            _dir: dir,
        }
    }

    /// `DELETE /support-access/v1/grant` as an admin of the org, on a new connection.
    async fn revoke(&self) -> Answer {
        let admin = support_access_e2e::tokens::admin(ORG, "alice", self.clock.now());
        let auth = format!("Bearer {admin}");
        HttpClient::new(self.gateway.proxy)
            .send(
                "DELETE",
                "/support-access/v1/grant",
                &[("authorization", &auth)],
                b"",
            )
            .await
    }

    async fn grant_and_token(&self, staff: &str) -> (Grant, String) {
        let access = self.gateway.app().access();
        let org = OrgId::from(ORG);
        access
            .grant(
                &org,
                "admin-1",
                GrantRequest {
                    end: GrantEnd::Days(2),
                    reason: Some("fault test".into()),
                    ticket: Some("T-4".into()),
                },
            )
            .await
            .expect("grant");
        let staff = StaffId::from(staff);
        let grant = access.claim_seat(&org, &staff).await.expect("claim");
        let (token, _) = self
            .gateway
            .app()
            .signer()
            .issue(&grant, &staff, self.clock.now())
            .expect("issue");
        (grant, token)
    }
}

/// Every audit event of the org, oldest first, read through the gateway's own store.
async fn events(gateway: &Running) -> Vec<AuditEvent> {
    gateway.app().audit_settled().await;
    gateway
        .app()
        .access()
        .audit()
        .scan(&OrgId::from(ORG), 0, 100_000)
        .await
        .expect("scan the audit log")
}

/// The refusal code of a JSON refusal, generic (`error`) or Zoho-shaped
/// (`details.error`).
fn refusal_code(answer: &Answer) -> String {
    assert!(
        answer.is_json(),
        "a refusal is JSON: {} {:?}",
        answer.status,
        String::from_utf8_lossy(&answer.body)
    );
    let json = answer.json();
    json["error"]
        .as_str()
        .or_else(|| json["details"]["error"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// One support request sent by a test, identified in the audit log by its
/// `User-Agent`.
#[derive(Debug, Clone)]
struct Sent {
    user_agent: String,
    status: StatusCode,
}

/// Support requests and their answers, for the audit accounting.
#[derive(Debug, Default)]
struct Ledger {
    sent: Vec<Sent>,
}

impl Ledger {
    /// Sends a support request with a fresh `User-Agent`; fails the test if no answer
    /// comes within [`ANSWER_WITHIN`].
    async fn send(
        &mut self,
        http: &HttpClient,
        token: &str,
        method: &str,
        target: &str,
        body: &[u8],
    ) -> Answer {
        let user_agent = format!("fault-test/{}", self.sent.len() + 1);
        let auth = format!("Bearer {token}");
        let headers = [
            ("authorization", auth.as_str()),
            ("user-agent", user_agent.as_str()),
        ];
        let started = Instant::now();
        let answer = tokio::time::timeout(ANSWER_WITHIN, http.send(method, target, &headers, body))
            .await
            .unwrap_or_else(|_| {
                panic!("{method} {target}: no answer within {ANSWER_WITHIN:?}: the gateway hangs")
            });
        eprintln!(
            "{user_agent} {method} {target} -> {} in {:?}",
            answer.status,
            started.elapsed()
        );
        self.sent.push(Sent {
            user_agent,
            status: answer.status,
        });
        answer
    }
}

fn count(events: &[AuditEvent], user_agent: &str, kinds: &[AuditKind]) -> usize {
    events
        .iter()
        .filter(|e| e.user_agent.as_deref() == Some(user_agent) && kinds.contains(&e.kind))
        .count()
}

/// Every support request answered with something other than `503` has exactly one
/// `request.allowed` or `request.blocked` event (and a forwarded one its
/// `request.completed` with the status answered); one answered `503` has none.
fn assert_audited_exactly_once(events: &[AuditEvent], sent: &[Sent]) {
    let decisions = [AuditKind::RequestAllowed, AuditKind::RequestBlocked];
    for request in sent {
        let got = count(events, &request.user_agent, &decisions);
        let expected = usize::from(request.status != StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            got, expected,
            "{} answered {}: {got} allowed/blocked events, expected {expected}",
            request.user_agent, request.status
        );
        let allowed = count(events, &request.user_agent, &[AuditKind::RequestAllowed]);
        if allowed == 1 {
            let completed: Vec<_> = events
                .iter()
                .filter(|e| {
                    e.kind == AuditKind::RequestCompleted
                        && e.user_agent.as_deref() == Some(&request.user_agent)
                })
                .collect();
            assert_eq!(
                completed.len(),
                1,
                "{}: completed events",
                request.user_agent
            );
            assert_eq!(
                completed[0].status,
                Some(request.status.as_u16()),
                "{}: the completed event records the answer",
                request.user_agent
            );
        }
    }
    let answered = sent
        .iter()
        .filter(|r| r.status != StatusCode::SERVICE_UNAVAILABLE)
        .count();
    let audited = events
        .iter()
        .filter(|e| decisions.contains(&e.kind))
        .count();
    assert_eq!(
        audited, answered,
        "allowed/blocked events in the log vs. support requests answered without 503"
    );
}

async fn assert_chain_verifies(gateway: &Running, expected_events: usize) {
    let report = gateway
        .app()
        .access()
        .verify_audit(&OrgId::from(ORG))
        .await
        .expect("the audit chain verifies");
    assert_eq!(report.events, expected_events as u64, "events verified");
}

const ALLOWED: &str = "/crm/v8/Leads/4150868000000225013";
const DENIED: &str = "/crm/v8/Leads/4150868000000225013/actions/send_mail";

// ----------------------------------------------------------------------------------
// The tests.
// ----------------------------------------------------------------------------------

#[tokio::test]
async fn support_traffic_fails_closed_while_postgres_is_away_and_recovers_without_a_restart() {
    in_schema(|schema| async move {
        let relay = Relay::start(server_addr().await).await;
        let pg = Pg::start(&url_via(relay.addr, &schema)).await;
        let (_, token) = pg.grant_and_token("staff-ana").await;
        let mut ledger = Ledger::default();

        // Before: support traffic flows and is refused where the policy says so.
        let answer = ledger.send(&pg.http, &token, "GET", ALLOWED, b"").await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        let answer = ledger.send(&pg.http, &token, "POST", DENIED, b"{}").await;
        assert_eq!(answer.status, 403, "{:?}", answer.body);

        // (a) PostgreSQL goes away: support requests, allowed or denied, get 503 JSON
        // and reach nothing; ordinary traffic keeps flowing.
        relay.cut().await;
        pg.stub.clear();
        let first_cut = ledger.sent.len();
        for (method, target, body) in [
            ("GET", ALLOWED, &b""[..]),
            ("POST", DENIED, b"{}"),
            ("PUT", ALLOWED, br#"{"data":[{"Last_Name":"B"}]}"#),
            ("GET", "/crm/v8/Leads?fields=Last_Name", b""),
            ("DELETE", ALLOWED, b""),
            ("GET", "/crm/v8/settings/audit_log_export", b""),
        ] {
            let answer = ledger.send(&pg.http, &token, method, target, body).await;
            assert_eq!(
                answer.status,
                StatusCode::SERVICE_UNAVAILABLE,
                "{method} {target} with PostgreSQL away: {:?}",
                String::from_utf8_lossy(&answer.body)
            );
            let code = refusal_code(&answer);
            assert!(
                code == "audit_unavailable" || code == "store_unavailable",
                "{method} {target}: refusal code {code}"
            );
            let ordinary = pg
                .http
                .send(
                    "GET",
                    "/crm/v8/Leads?ordinary=1",
                    &[("authorization", "Zoho-oauthtoken 1000.abc.def")],
                    b"",
                )
                .await;
            assert_eq!(
                ordinary.status, 200,
                "ordinary traffic with PostgreSQL away"
            );
        }
        let seen = pg.stub.seen();
        assert_eq!(seen.len(), 6, "the stub saw the ordinary requests only");
        for got in &seen {
            assert!(
                got.headers.get("x-support-access-grant").is_none(),
                "{got:?}"
            );
            assert_eq!(got.target, "/crm/v8/Leads?ordinary=1");
        }
        let cut_agents: Vec<String> = ledger.sent[first_cut..]
            .iter()
            .map(|s| s.user_agent.clone())
            .collect();
        // A revoke PostgreSQL cannot take answers 503 and changes nothing.
        let revoke = pg.revoke().await;
        assert_eq!(
            revoke.status, 503,
            "a revoke with PostgreSQL away: {:?}",
            revoke.body
        );
        assert_eq!(refusal_code(&revoke), "store_unavailable");

        // (b) PostgreSQL is back: support traffic recovers by itself. The pool and the
        // change listener reconnect asynchronously, so poll, within a deadline.
        relay.restore();
        let deadline = Instant::now() + RECOVER_WITHIN;
        loop {
            let answer = ledger.send(&pg.http, &token, "GET", ALLOWED, b"").await;
            if answer.status == 200 {
                break;
            }
            assert_eq!(
                answer.status,
                StatusCode::SERVICE_UNAVAILABLE,
                "while recovering: {:?}",
                answer.body
            );
            assert!(
                Instant::now() < deadline,
                "support traffic did not recover within {RECOVER_WITHIN:?} of PostgreSQL's return"
            );
            tokio::time::sleep(Duration::from_millis(100)).await; // polling interval
        }
        let recovered_at = ledger.sent.len();
        let answer = ledger.send(&pg.http, &token, "POST", DENIED, b"{}").await;
        assert_eq!(answer.status, 403, "{:?}", answer.body);
        let answer = ledger.send(&pg.http, &token, "GET", ALLOWED, b"").await;
        assert_eq!(
            answer.status, 200,
            "the refused revoke left the grant active"
        );
        eprintln!(
            "recovered after {} polls",
            recovered_at - first_cut - cut_agents.len()
        );
        // Once PostgreSQL is back, a revoke holds at once.
        assert_eq!(pg.revoke().await.status, 204);
        let fresh = HttpClient::new(pg.gateway.proxy);
        let answer = ledger.send(&fresh, &token, "GET", ALLOWED, b"").await;
        assert_eq!(answer.status, 401, "{:?}", answer.body);

        // (c) The audit log: one decision per answered support request, none for a
        // 503, and the chain verifies.
        let log = events(&pg.gateway).await;
        assert_audited_exactly_once(&log, &ledger.sent);
        for agent in &cut_agents {
            assert!(
                log.iter().all(|e| e.user_agent.as_deref() != Some(agent)),
                "{agent} was answered 503 but left an audit event"
            );
        }
        assert!(
            !pg.stub.seen().iter().any(|r| r
                .headers
                .get("user-agent")
                .is_some_and(|ua| cut_agents.iter().any(|a| a.as_bytes() == ua.as_bytes()))),
            "a support request refused with 503 reached the CRM"
        );
        let revokes = log
            .iter()
            .filter(|e| e.kind == AuditKind::GrantRevoked)
            .count();
        assert_eq!(
            revokes, 1,
            "only the revoke answered 204 left a grant.revoked"
        );
        assert_chain_verifies(&pg.gateway, log.len()).await;
        tokio::time::timeout(ANSWER_WITHIN, pg.gateway.shutdown())
            .await
            .expect("the gateway shuts down");
        drop(relay);
    })
    .await;
}

/// A request sent on its own connection; `None` when the connection failed before a
/// response arrived (the listener was already closed, or the connection was idle).
async fn try_send(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, String)],
    body: &'static [u8],
) -> Option<StatusCode> {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut request = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).expect("method"))
        .uri(format!("http://{addr}{target}"));
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let request = request
        .body(Full::new(Bytes::from_static(body)))
        .expect("request");
    let response = client.request(request).await.ok()?;
    let status = response.status();
    // A response whose body was cut off is not an answer.
    response.into_body().collect().await.ok()?;
    Some(status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_under_load_answers_in_flight_requests_and_loses_no_audit_event() {
    in_schema(|schema| async move {
        let pg = Pg::start(&url_via(server_addr().await, &schema)).await;
        let (_, token) = pg.grant_and_token("staff-ana").await;
        let addr = pg.gateway.proxy;
        let auth = format!("Bearer {token}");

        // Wave 1: slow support requests, all of them in flight at the CRM when the
        // shutdown begins.
        const IN_FLIGHT: usize = 24;
        let mut wave1 = Vec::new();
        for i in 0..IN_FLIGHT {
            let headers = vec![
                ("authorization", auth.clone()),
                ("user-agent", format!("in-flight/{i}")),
            ];
            let target = format!("/crm/v8/Leads/__delay/{}", 400 + 50 * i);
            wave1.push(tokio::spawn(async move {
                let status = try_send(addr, "GET", &target, &headers, b"").await;
                (format!("in-flight/{i}"), status)
            }));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while pg.stub.seen().len() < IN_FLIGHT {
            assert!(
                Instant::now() < deadline,
                "only {} of {IN_FLIGHT} slow requests reached the CRM",
                pg.stub.seen().len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await; // polling interval
        }

        // Wave 2: streams of support traffic, allowed and denied, each request on a
        // new connection, running until the gateway refuses connections; the shutdown
        // begins while they run, so their requests are answered before it, caught in
        // flight by it, or find the listener closed.
        const STREAMS: usize = 8;
        let answered_so_far = Arc::new(AtomicU64::new(0));
        let mut wave2 = Vec::new();
        for stream in 0..STREAMS {
            let auth = auth.clone();
            let answered_so_far = answered_so_far.clone();
            wave2.push(tokio::spawn(async move {
                let mut sent = Vec::new();
                for i in 0.. {
                    let agent = format!("racing/{stream}/{i}");
                    let headers = vec![
                        ("authorization", auth.clone()),
                        ("user-agent", agent.clone()),
                    ];
                    let (method, target, body): (&str, String, &'static [u8]) = if i % 2 == 0 {
                        (
                            "GET",
                            format!("/crm/v8/Leads/__delay/{}", 10 * (i % 7)),
                            b"",
                        )
                    } else {
                        ("POST", DENIED.to_owned(), b"{}")
                    };
                    let status = try_send(addr, method, &target, &headers, body).await;
                    sent.push((agent, status));
                    match status {
                        Some(_) => answered_so_far.fetch_add(1, Ordering::Relaxed),
                        None => break,
                    };
                }
                sent
            }));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while answered_so_far.load(Ordering::Relaxed) < 2 * STREAMS as u64 {
            assert!(
                Instant::now() < deadline,
                "the racing streams make no progress"
            );
            tokio::time::sleep(Duration::from_millis(5)).await; // polling interval
        }
        let app = pg.gateway.app().clone();
        tokio::time::timeout(Duration::from_secs(30), pg.gateway.shutdown())
            .await
            .expect("the gateway drains and shuts down within its grace period");

        let mut answered = Vec::new();
        for task in wave1 {
            let (agent, status) = task.await.expect("wave 1 task");
            let status = status.unwrap_or_else(|| panic!("{agent} was in flight and was cut"));
            assert_eq!(status, 200, "{agent}: drained, answered by the CRM");
            answered.push(Sent {
                user_agent: agent,
                status,
            });
        }
        let mut unanswered = Vec::new();
        for task in wave2 {
            for (agent, status) in task.await.expect("wave 2 stream") {
                match status {
                    Some(status) => {
                        assert!(status == 200 || status == 403, "{agent}: answered {status}");
                        answered.push(Sent {
                            user_agent: agent,
                            status,
                        });
                    }
                    None => unanswered.push(agent),
                }
            }
        }
        eprintln!(
            "answered {} requests; {} found the gateway closed",
            answered.len(),
            unanswered.len()
        );

        app.audit_settled().await;
        let log = app
            .access()
            .audit()
            .scan(&OrgId::from(ORG), 0, 100_000)
            .await
            .expect("scan the audit log");
        assert_audited_exactly_once(&log, &answered);
        // A request that left a decision in the log was answered: nothing was cut
        // between its audit event and its response.
        for agent in &unanswered {
            assert!(
                log.iter().all(|e| e.user_agent.as_deref() != Some(agent)),
                "{agent} left an audit event but got no answer: it was cut, not drained"
            );
        }
        let report = app
            .access()
            .verify_audit(&OrgId::from(ORG))
            .await
            .expect("the audit chain verifies");
        assert_eq!(report.events, log.len() as u64);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn support_traffic_fails_closed_in_bounded_time_when_postgres_stops_answering() {
    in_schema(|schema| async move {
        let relay = Relay::start(server_addr().await).await;
        let pg = Pg::start(&url_via(relay.addr, &schema)).await;
        let (_, token) = pg.grant_and_token("staff-ana").await;
        let addr = pg.gateway.proxy;
        let auth = format!("Bearer {token}");

        // Load, so that the audit writer and the pool are busy when PostgreSQL stops
        // answering: requests caught mid-transaction must fail in bounded time too.
        const STREAMS: usize = 4;
        let stop = Arc::new(AtomicBool::new(false));
        let answered_so_far = Arc::new(AtomicU64::new(0));
        let mut streams = Vec::new();
        for stream in 0..STREAMS {
            let (auth, stop, answered_so_far) =
                (auth.clone(), stop.clone(), answered_so_far.clone());
            streams.push(tokio::spawn(async move {
                let mut sent = Vec::new();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let agent = format!("load/{stream}/{i}");
                    i += 1;
                    let headers = vec![
                        ("authorization", auth.clone()),
                        ("user-agent", agent.clone()),
                    ];
                    let started = Instant::now();
                    let status = tokio::time::timeout(
                        ANSWER_WITHIN,
                        try_send(addr, "GET", ALLOWED, &headers, b""),
                    )
                    .await;
                    answered_so_far.fetch_add(1, Ordering::Relaxed);
                    sent.push((agent, status, started.elapsed()));
                }
                sent
            }));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while answered_so_far.load(Ordering::Relaxed) < 40 {
            assert!(Instant::now() < deadline, "the load makes no progress");
            tokio::time::sleep(Duration::from_millis(5)).await; // polling interval
        }

        relay.freeze();
        let mut ledger = Ledger::default();
        for (method, target, body) in [
            ("GET", ALLOWED, &b""[..]),
            ("POST", DENIED, b"{}"),
            ("GET", ALLOWED, b""),
        ] {
            let answer = ledger.send(&pg.http, &token, method, target, body).await;
            assert_eq!(
                answer.status,
                StatusCode::SERVICE_UNAVAILABLE,
                "{method} {target} with PostgreSQL not answering: {:?}",
                String::from_utf8_lossy(&answer.body)
            );
            let code = refusal_code(&answer);
            assert!(
                code == "audit_unavailable" || code == "store_unavailable",
                "{method} {target}: refusal code {code}"
            );
        }
        let ordinary = pg
            .http
            .send(
                "GET",
                "/crm/v8/Leads?ordinary=1",
                &[("authorization", "Zoho-oauthtoken 1000.abc.def")],
                b"",
            )
            .await;
        assert_eq!(
            ordinary.status, 200,
            "ordinary traffic with PostgreSQL hung"
        );
        stop.store(true, Ordering::Relaxed);
        let mut load = Vec::new();
        for stream in streams {
            for (agent, status, took) in stream.await.expect("load stream") {
                let status = status.unwrap_or_else(|_| {
                    panic!("{agent}: no answer within {ANSWER_WITHIN:?}: the gateway hangs")
                });
                let status = status.unwrap_or_else(|| panic!("{agent}: connection failed"));
                assert!(
                    status == 200 || status == 503,
                    "{agent}: {status} after {took:?}"
                );
                load.push(Sent {
                    user_agent: agent,
                    status,
                });
            }
        }

        relay.restore();
        let deadline = Instant::now() + RECOVER_WITHIN;
        loop {
            let answer = ledger.send(&pg.http, &token, "GET", ALLOWED, b"").await;
            if answer.status == 200 {
                break;
            }
            assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
            assert!(
                Instant::now() < deadline,
                "support traffic did not recover within {RECOVER_WITHIN:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await; // polling interval
        }

        // Whatever was answered (not 503) was audited exactly once; whatever reached
        // the CRM has its request.allowed event. A 503 may, exceptionally, leave one
        // event: a commit whose acknowledgement was lost with the connection.
        let log = events(&pg.gateway).await;
        let decisions = [AuditKind::RequestAllowed, AuditKind::RequestBlocked];
        for request in load.iter().chain(&ledger.sent) {
            let got = count(&log, &request.user_agent, &decisions);
            if request.status == StatusCode::SERVICE_UNAVAILABLE {
                assert!(got <= 1, "{}: {got} decisions", request.user_agent);
            } else {
                assert_eq!(got, 1, "{} answered {}", request.user_agent, request.status);
            }
        }
        for seen in pg.stub.seen() {
            if seen.headers.get("x-support-access-grant").is_none() {
                continue; // ordinary traffic
            }
            let agent = seen.headers["user-agent"].to_str().unwrap().to_owned();
            assert_eq!(
                count(&log, &agent, &[AuditKind::RequestAllowed]),
                1,
                "{agent} reached the CRM without its request.allowed event"
            );
        }
        let load_503 = load.iter().filter(|r| r.status == 503).count();
        eprintln!(
            "load: {} requests, {load_503} answered 503 while PostgreSQL was hung",
            load.len()
        );
        assert_chain_verifies(&pg.gateway, log.len()).await;
        tokio::time::timeout(ANSWER_WITHIN, pg.gateway.shutdown())
            .await
            .expect("the gateway shuts down");
        drop(relay);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoke_on_one_instance_cuts_head_waits_and_idle_connections_on_every_instance() {
    in_schema(|schema| async move {
        let url = url_via(server_addr().await, &schema);
        let a = Pg::start(&url).await;
        let b = Pg::start_beside(&url, &a).await;
        let (_, token) = a.grant_and_token("staff-ana").await;
        let request = format!(
            "GET /crm/v8/Leads HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {token}\r\n\r\n"
        );
        let mut idle = Vec::new();
        let mut waiting = Vec::new();
        for instance in [&a, &b] {
            let mut connection = RawConnection::open(instance.gateway.proxy).await;
            let answer = connection.exchange(request.as_bytes()).await;
            assert_eq!(answer.as_ref().map(|a| a.status), Some(200), "{:?}", answer.map(|a| String::from_utf8_lossy(&a.body).into_owned()));
            idle.push(connection);
            let http = instance.http.clone();
            let token = token.clone();
            // The stub answers this one after 5 s: it waits for its response head.
            waiting.push(tokio::spawn(async move {
                http.get("/crm/v8/Leads/__delay/5000", &token).await
            }));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while ![&a, &b]
            .iter()
            .all(|i| i.stub.heads().iter().any(|t| t.contains("__delay")))
        {
            assert!(Instant::now() < deadline, "the slow requests reached the CRMs");
            tokio::time::sleep(Duration::from_millis(5)).await; // polling interval
        }

        let revoked = a.revoke().await;
        assert_eq!(revoked.status, 204, "{:?}", revoked.body);
        let revoked_at = Instant::now();
        for (instance, task) in ["a", "b"].into_iter().zip(waiting) {
            let answer = tokio::time::timeout(Duration::from_secs(1), task)
                .await
                .unwrap_or_else(|_| panic!("instance {instance}: the waiting request was not cut within 1 s"))
                .expect("task");
            assert_eq!(answer.status, 401, "instance {instance}");
            assert_eq!(refusal_code(&answer), "support_access_revoked");
        }
        for (instance, connection) in ["a", "b"].into_iter().zip(&mut idle) {
            let left = Duration::from_secs(1).saturating_sub(revoked_at.elapsed());
            assert!(
                connection.closed_within(left).await,
                "instance {instance}: an idle connection of the revoked user is still open 1 s later"
            );
        }
        eprintln!("both instances cut within {:?}", revoked_at.elapsed());
        for instance in [a, b] {
            tokio::time::timeout(ANSWER_WITHIN, instance.gateway.shutdown())
                .await
                .expect("the gateway shuts down");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_postgres_does_not_answer_exits_within_the_grace_period() {
    in_schema(|schema| async move {
        let relay = Relay::start(server_addr().await).await;
        let stub = Stub::start().await;
        let dir = tempfile::tempdir().expect("temp dir");
        let file = crate::child::config(
            dir.path(),
            &url_via(relay.addr, &schema),
            stub.addr,
            "shutdown_grace = \"1s\"",
        );
        let gateway = crate::child::Gateway::serve(&file);
        let now = SystemClock.now();
        let http = HttpClient::new(gateway.proxy);
        let admin = format!(
            "Bearer {}",
            support_access_e2e::tokens::admin(ORG, "alice", now)
        );
        let granted = http
            .send(
                "POST",
                "/support-access/v1/grant",
                &[("authorization", &admin)],
                br#"{"days": 2}"#,
            )
            .await;
        assert_eq!(granted.status, 201, "{:?}", granted.body);
        let staff = format!(
            "Bearer {}",
            support_access_e2e::tokens::staff("staff-ana", now)
        );
        let exchanged = http
            .send(
                "POST",
                "/support-access/v1/token",
                &[("authorization", &staff)],
                br#"{"org": "org-faults"}"#,
            )
            .await;
        assert_eq!(exchanged.status, 200, "{:?}", exchanged.body);
        let token = exchanged.json()["access_token"]
            .as_str()
            .unwrap()
            .to_owned();

        relay.freeze();
        // A support request that waits on the store, and the sweep blocked with it.
        let stuck = {
            let http = http.clone();
            tokio::spawn(async move { http.get(ALLOWED, &token).await })
        };
        // Observable proof that the store hangs: /readyz gives up on it.
        let ops = HttpClient::new(gateway.ops);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ready = ops.send("GET", "/readyz", &[], b"").await;
            if ready.status == 503 && ready.json()["error"] == "store_timeout" {
                break;
            }
            assert!(Instant::now() < deadline, "the store kept answering");
            tokio::time::sleep(Duration::from_millis(20)).await; // polling interval
        }
        let (status, took) = gateway.terminate(Duration::from_secs(5));
        eprintln!("exited {status} {took:?} after SIGTERM");
        assert!(status.success(), "{status}");
        assert!(
            took < Duration::from_millis(2500),
            "SIGTERM with a 1 s grace took {took:?}"
        );
        stuck.abort();
        relay.restore();
        drop(relay);
    })
    .await;
}
