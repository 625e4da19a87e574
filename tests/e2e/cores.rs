//! A runtime per core: on a multi-thread runtime the proxy is served by one thread per
//! worker (`proxy-<port>-<n>`), each with its own `SO_REUSEPORT` listener and upstream
//! pool; connections are spread over them, and they are gone once the gateway shut down.
//! Support traffic and the management API run on the main runtime, so no store
//! connection depends on a serving thread: nothing is lost when they end first.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sqlx::{Connection, Executor, PgConnection, SqliteConnection};
use support_access_core::AuditLog;
use support_access_core::audit::{AuditEvent, AuditKind};
use support_access_core::ids::OrgId;
use support_access_e2e::client::HttpClient;
use support_access_e2e::harness::{Harness, Options};
use support_access_pgtest::{in_schema, server_addr, url_via};
use tokio::task::JoinSet;

/// The threads of this process serving the proxy on `port`.
fn proxy_threads(port: u16) -> usize {
    let prefix = format!("proxy-{port}-");
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(Result::ok)
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|name| name.trim_end().starts_with(&prefix))
        })
        .count()
}

/// One request on a connection of its own; the status code.
fn get_on_a_new_connection(port: u16) -> u16 {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .write_all(
            b"GET /crm/v8/Leads/1 HTTP/1.1\r\nHost: crm.example\r\n\
              Authorization: Zoho-oauthtoken 1000.abc.def\r\nConnection: close\r\n\r\n",
        )
        .expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_thread_runtime_serves_the_proxy_on_a_thread_per_worker() {
    let h = Harness::start_opts(Options {
        extra: "[listen]\nruntime_per_core = true\n".into(),
        ..Options::default()
    })
    .await;
    let port = h.gateway.proxy.port();
    assert_eq!(proxy_threads(port), 2, "one serving thread per worker");
    let statuses = tokio::task::spawn_blocking(move || {
        (0..16)
            .map(|_| get_on_a_new_connection(port))
            .collect::<Vec<_>>()
    })
    .await
    .expect("client");
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(h.stub.seen().len(), 16);
    assert!(
        h.stub
            .seen()
            .iter()
            .all(|seen| seen.headers["x-forwarded-for"] == "127.0.0.1")
    );
    h.gateway.shutdown().await;
    assert_eq!(
        proxy_threads(port),
        0,
        "the serving threads end with the gateway"
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing listens after the shutdown"
    );
}

const ORG: &str = "org-cores";
/// Support requests answered before the shutdown, each on a connection of its own.
const BEFORE: usize = 12;
/// Support requests held at the CRM when the shutdown begins.
const IN_FLIGHT: usize = 8;

/// One support request on a connection of its own (so the kernel may give it to any
/// serving thread); its status.
async fn support_request(addr: SocketAddr, token: &str, target: &str, agent: &str) -> u16 {
    let auth = format!("Bearer {token}");
    HttpClient::new(addr)
        .send(
            "GET",
            target,
            &[("authorization", &auth), ("user-agent", agent)],
            b"",
        )
        .await
        .status
        .as_u16()
}

/// How many events of `kind` the log holds for `agent`.
fn of(events: &[AuditEvent], kind: AuditKind, agent: &str) -> usize {
    events
        .iter()
        .filter(|e| e.kind == kind && e.user_agent.as_deref() == Some(agent))
        .count()
}

/// With a runtime per core on a multi-thread runtime: support requests spread over the
/// serving threads (a concurrent burst, so that the store's pools open connections
/// while support requests run), a management call, then requests in flight at the CRM
/// when a graceful shutdown begins. Once the gateway is down and its serving threads
/// are gone, every `request.allowed` and `request.completed` is in the audit log, and
/// the store — every connection its pool holds — still answers.
async fn support_on_serving_threads_loses_nothing_at_shutdown(h: Harness) {
    let (_, token) = h.grant_and_token(ORG, "staff-ana", 2).await;
    let (addr, port) = (h.gateway.proxy, h.gateway.proxy.port());
    assert_eq!(proxy_threads(port), 2, "one serving thread per worker");

    let burst: Vec<_> = (0..BEFORE)
        .map(|i| {
            let token = token.clone();
            let (target, agent) = (format!("/crm/v8/Leads/{i}"), format!("before/{i}"));
            tokio::spawn(async move { support_request(addr, &token, &target, &agent).await })
        })
        .collect();
    for (i, answer) in burst.into_iter().enumerate() {
        assert_eq!(answer.await.expect("client"), 200, "before/{i}");
    }
    let admin = support_access_e2e::tokens::admin(ORG, "alice", h.now());
    let status = HttpClient::new(addr)
        .send(
            "GET",
            "/support-access/v1/grant",
            &[("authorization", &format!("Bearer {admin}"))],
            b"",
        )
        .await;
    assert_eq!(
        status.status, 200,
        "the management API answers: {:?}",
        status.body
    );

    let held: Vec<_> = (0..IN_FLIGHT)
        .map(|i| {
            let token = token.clone();
            let agent = format!("in-flight/{i}");
            let target = format!("/crm/v8/Leads/__delay/{}", 300 + 25 * i);
            tokio::spawn(async move { support_request(addr, &token, &target, &agent).await })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while h.stub.seen().len() < BEFORE + IN_FLIGHT {
        assert!(Instant::now() < deadline, "the held requests reach the CRM");
        tokio::time::sleep(Duration::from_millis(5)).await; // polling interval
    }
    // Their `request.completed` appends wait for this lock until the serving threads
    // have ended: nothing of them may depend on those threads' runtimes.
    h.settled().await;
    let lock = WriteLock::take(&h.database_url()).await;
    let app = h.gateway.app().clone();
    let Harness { gateway, store, .. } = h;
    let shutdown = tokio::spawn(gateway.shutdown());
    for (i, answer) in held.into_iter().enumerate() {
        assert_eq!(answer.await.expect("client"), 200, "in-flight/{i} drained");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while proxy_threads(port) > 0 {
        assert!(
            Instant::now() < deadline,
            "the serving threads end once drained"
        );
        tokio::time::sleep(Duration::from_millis(5)).await; // polling interval
    }
    assert!(
        !shutdown.is_finished(),
        "the shutdown waits for the appends"
    );
    lock.release().await;
    shutdown.await.expect("the shutdown");

    // The pool's connections, all at once: each must still work.
    let org = OrgId::from(ORG);
    let mut scans = JoinSet::new();
    for _ in 0..10 {
        let (store, org) = (store.clone(), org.clone());
        scans.spawn(async move { store.scan(&org, 0, 10_000).await });
    }
    let mut logs = Vec::new();
    while let Some(scanned) = scans.join_next().await {
        logs.push(
            scanned
                .expect("scan task")
                .expect("the store answers after the shutdown"),
        );
    }
    let events = logs.pop().expect("a scan");
    assert!(logs.iter().all(|log| log.len() == events.len()));
    let agents = (0..BEFORE)
        .map(|i| format!("before/{i}"))
        .chain((0..IN_FLIGHT).map(|i| format!("in-flight/{i}")));
    for agent in agents {
        assert_eq!(of(&events, AuditKind::RequestAllowed, &agent), 1, "{agent}");
        assert_eq!(
            of(&events, AuditKind::RequestCompleted, &agent),
            1,
            "{agent}"
        );
    }
    let report = app
        .access()
        .verify_audit(&org)
        .await
        .expect("the chain verifies");
    assert_eq!(report.events, events.len() as u64);
}

/// The audit log's write lock, held from a connection of the test's own.
enum WriteLock {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

impl WriteLock {
    async fn take(url: &str) -> Self {
        if url.starts_with("sqlite:") {
            let mut db = SqliteConnection::connect(url).await.expect("sqlite");
            db.execute("BEGIN IMMEDIATE").await.expect("the write lock");
            Self::Sqlite(db)
        } else {
            let mut db = PgConnection::connect(url).await.expect("postgres");
            db.execute("BEGIN").await.expect("begin");
            let lock = "LOCK TABLE audit_events IN EXCLUSIVE MODE";
            db.execute(lock).await.expect("the table lock");
            Self::Postgres(db)
        }
    }

    async fn release(self) {
        match self {
            Self::Sqlite(mut db) => db.execute("ROLLBACK").await.map(drop),
            Self::Postgres(mut db) => db.execute("ROLLBACK").await.map(drop),
        }
        .expect("release the lock");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn support_on_serving_threads_with_sqlite_loses_no_audit_event_at_shutdown() {
    let h = Harness::start_opts(Options {
        extra: "[listen]\nruntime_per_core = true\n".into(),
        ..Options::default()
    })
    .await;
    support_on_serving_threads_loses_nothing_at_shutdown(h).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn support_on_serving_threads_with_postgres_loses_no_audit_event_at_shutdown() {
    in_schema(|schema| async move {
        let h = Harness::start_opts(Options {
            extra: "[listen]\nruntime_per_core = true\n".into(),
            postgres: Some(url_via(server_addr().await, &schema)),
            ..Options::default()
        })
        .await;
        support_on_serving_threads_loses_nothing_at_shutdown(h).await;
    })
    .await;
}
