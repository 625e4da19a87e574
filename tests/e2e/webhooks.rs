//! Webhooks (SPEC §9) end to end: the real gateway posts to a local receiver on a real
//! socket that checks every Standard Webhooks signature itself (HMAC-SHA256 written
//! here from SHA-256, not the gateway's code). The delivery worker's rounds are driven
//! by the test (`deliver_due`, the poll interval set to an hour) and time moves by the
//! ManualClock, so retries are due exactly when the test says; the restart case uses
//! the real background worker of the new instance.

use std::collections::{BTreeSet, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use chrono::DurationRound;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support_access_core::Clock;
use support_access_e2e::client::{Answer, HttpClient};
use support_access_e2e::harness::{Harness, Options, config_dir, config_text};
use support_access_e2e::stub::Stub;
use support_access_e2e::tokens;
use support_access_memory::{ManualClock, SystemClock};
use support_access_pgtest::{in_schema, server_addr, url_via};
use support_access_seaorm::SeaOrmStore;
use support_gateway::config::Config;
use support_gateway::wiring::Overrides;
use support_gateway::{Binds, Running};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

pub(crate) const ORG: &str = "org-acme";
pub(crate) const WEBHOOKS: &str = "/support-access/v1/webhooks";
const SEND_MAIL: &str = "/crm/v8/Leads/4150868000000225013/actions/send_mail";
const MAIL: &str =
    r#"{"data":[{"to":[{"email":"qa@acme.example"}],"subject":"Test","content":"T-1"}]}"#;
/// Local receivers, and the worker driven by the test.
pub(crate) const NOTIFY: &str =
    "[notifications]\nallow_insecure_targets = true\npoll_interval = \"1h\"\n";

/// One request the receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub id: String,
    pub timestamp: i64,
    /// The signature verified against the secret the test registered.
    pub verified: bool,
    pub body: Value,
    /// What the receiver answered.
    pub answered: u16,
}

impl Received {
    pub fn event_type(&self) -> &str {
        self.body["type"].as_str().unwrap_or_default()
    }
}

/// HMAC-SHA256 (RFC 2104).
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|k| k ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

/// Whether `header` carries a `v1` signature of `id.timestamp.body` under `whsec`.
fn signature_ok(whsec: &str, id: &str, timestamp: &str, body: &[u8], header: &str) -> bool {
    let Some(key) = whsec
        .strip_prefix("whsec_")
        .and_then(|b64| STANDARD.decode(b64).ok())
    else {
        return false;
    };
    let mut signed = format!("{id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    let expected = STANDARD.encode(hmac_sha256(&key, &signed));
    header
        .split(' ')
        .filter_map(|part| part.strip_prefix("v1,"))
        .any(|signature| signature == expected)
}

#[derive(Debug, Default)]
struct Script {
    /// Statuses to answer next, then `200`.
    answers: VecDeque<u16>,
    /// `Location` of a redirect answer.
    location: Option<String>,
    secret: Option<String>,
}

/// A webhook receiver on `127.0.0.1`.
#[derive(Debug)]
pub(crate) struct Receiver {
    pub addr: SocketAddr,
    script: Arc<Mutex<Script>>,
    received: tokio::sync::Mutex<mpsc::UnboundedReceiver<Received>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start() -> Self {
        Self::on("127.0.0.1:0".parse().unwrap()).await
    }

    /// A receiver on `addr` (a port a stopped receiver had).
    pub async fn on(addr: SocketAddr) -> Self {
        let listener = TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let script = Arc::new(Mutex::new(Script::default()));
        let (sender, received) = mpsc::unbounded_channel();
        let shared = script.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (script, sender) = (shared.clone(), sender.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let (script, sender) = (script.clone(), sender.clone());
                        async move { answer(request, &script, &sender).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            script,
            received: tokio::sync::Mutex::new(received),
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hooks", self.addr)
    }

    pub fn set_secret(&self, whsec: &str) {
        self.script.lock().unwrap().secret = Some(whsec.to_owned());
    }

    /// Answers these statuses to the next requests, then `200`.
    pub fn answer_next(&self, statuses: &[u16]) {
        self.script.lock().unwrap().answers.extend(statuses);
    }

    /// The next request; fails the test when none comes within 10 s.
    pub async fn next(&self) -> Received {
        self.next_within(Duration::from_secs(10)).await
    }

    /// The next request; fails the test when none comes within `limit`.
    pub async fn next_within(&self, limit: Duration) -> Received {
        let mut received = self.received.lock().await;
        tokio::time::timeout(limit, received.recv())
            .await
            .unwrap_or_else(|_| panic!("a webhook within {limit:?}"))
            .expect("the receiver runs")
    }

    /// Every request received so far.
    pub async fn drain(&self) -> Vec<Received> {
        let mut received = self.received.lock().await;
        let mut all = Vec::new();
        while let Ok(one) = received.try_recv() {
            all.push(one);
        }
        all
    }

    /// Stops listening (connections are refused); returns the address to reuse.
    pub fn stop(self) -> SocketAddr {
        self.task.abort();
        self.addr
    }
}

async fn answer(
    request: Request<Incoming>,
    script: &Mutex<Script>,
    sender: &mpsc::UnboundedSender<Received>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (id, timestamp, signature) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    );
    let json_type = header("content-type") == "application/json";
    let body = request.into_body().collect().await.unwrap().to_bytes();
    let (status, location, secret) = {
        let mut script = script.lock().unwrap();
        let status = script.answers.pop_front().unwrap_or(200);
        (status, script.location.clone(), script.secret.clone())
    };
    let verified = json_type
        && secret.is_some_and(|whsec| signature_ok(&whsec, &id, &timestamp, &body, &signature));
    let _ = sender.send(Received {
        id,
        timestamp: timestamp.parse().unwrap_or_default(),
        verified,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        answered: status,
    });
    let mut response = Response::builder().status(status);
    if let Some(location) = location.filter(|_| (300..400).contains(&status)) {
        response = response.header("location", location);
    }
    Ok(response.body(Full::new(Bytes::new())).unwrap())
}

/// An admin's management call on `http`.
pub(crate) async fn admin_on(
    http: &HttpClient,
    now: chrono::DateTime<chrono::Utc>,
    method: &str,
    target: &str,
    body: Value,
) -> Answer {
    let auth = format!("Bearer {}", tokens::admin(ORG, "alice", now));
    let body = match body.is_null() {
        true => Vec::new(),
        false => body.to_string().into_bytes(),
    };
    http.send(method, target, &[("authorization", &auth)], &body)
        .await
}

pub(crate) async fn admin(h: &Harness, method: &str, target: &str, body: Value) -> Answer {
    admin_on(&h.http, h.now(), method, target, body).await
}

/// Registers `receiver` for `events`; gives it the secret; returns the endpoint id.
pub(crate) async fn register_on(
    http: &HttpClient,
    now: chrono::DateTime<chrono::Utc>,
    receiver: &Receiver,
    events: &[&str],
) -> String {
    let body = json!({"url": receiver.url(), "events": events, "description": "e2e"});
    let answer = admin_on(http, now, "POST", WEBHOOKS, body).await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    let created = answer.json();
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{created}");
    assert_eq!(STANDARD.decode(&secret[6..]).unwrap().len(), 32);
    receiver.set_secret(secret);
    created["id"].as_str().unwrap().to_owned()
}

pub(crate) async fn register(h: &Harness, receiver: &Receiver, events: &[&str]) -> String {
    register_on(&h.http, h.now(), receiver, events).await
}

pub(crate) async fn deliveries(h: &Harness, endpoint: &str) -> Vec<Value> {
    let target = format!("{WEBHOOKS}/{endpoint}/deliveries");
    let answer = admin(h, "GET", &target, Value::Null).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    answer.json()["deliveries"].as_array().unwrap().clone()
}

/// Runs worker rounds until one finds nothing due; returns the attempts made.
pub(crate) async fn deliver_all(gateway: &Running) -> usize {
    let mut made = 0;
    loop {
        match gateway.app().webhooks().deliver_due().await {
            0 => return made,
            n => made += n,
        }
    }
}

pub(crate) async fn start() -> Harness {
    Harness::start_opts(Options {
        extra: NOTIFY.to_owned(),
        ..Options::default()
    })
    .await
}

async fn support_token(h: &Harness) -> String {
    let staff = tokens::staff("staff-ana", h.now());
    let auth = format!("Bearer {staff}");
    let body = json!({"org": ORG}).to_string();
    let answer = h
        .http
        .send(
            "POST",
            "/support-access/v1/token",
            &[("authorization", &auth)],
            body.as_bytes(),
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    answer.json()["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn every_event_type_reaches_a_subscribed_receiver_signed() {
    let h = start().await;
    let receiver = Receiver::start().await;
    let endpoint = register(&h, &receiver, &["*"]).await;

    let created = admin(&h, "POST", "/support-access/v1/grant", json!({"days": 3})).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let grant_id = created.json()["id"].as_str().unwrap().to_owned();
    let changed = admin(&h, "PATCH", "/support-access/v1/grant", json!({"days": 2})).await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);
    let token = support_token(&h).await;
    let auth = format!("Zoho-oauthtoken {token}");
    // Restriction 1: the webhooks are the settings, never support's.
    let blocked = h
        .http
        .send("GET", WEBHOOKS, &[("authorization", &auth)], b"")
        .await;
    assert_eq!(blocked.status, 403, "{:?}", blocked.body);
    let mail = h
        .http
        .send(
            "POST",
            SEND_MAIL,
            &[("authorization", &auth)],
            MAIL.as_bytes(),
        )
        .await;
    assert_eq!(mail.status, 403, "{:?}", mail.body);
    h.gateway.app().audit_log().checkpoint_due().await.unwrap();
    // Within a day of the end: one grant.expiring, however often the sweep runs.
    h.clock.advance(chrono::Duration::hours(25));
    h.gateway.app().sweep().await;
    h.gateway.app().sweep().await;
    let revoked = admin(&h, "DELETE", "/support-access/v1/grant", Value::Null).await;
    assert_eq!(revoked.status, 204, "{:?}", revoked.body);
    let again = admin(&h, "POST", "/support-access/v1/grant", json!({"days": 1})).await;
    assert_eq!(again.status, 201, "{:?}", again.body);
    h.clock.advance(chrono::Duration::hours(1));
    h.gateway.app().sweep().await; // within a day of its end
    h.clock
        .advance(chrono::Duration::hours(23) + chrono::Duration::seconds(1));
    h.gateway.app().sweep().await;
    let test = admin(
        &h,
        "POST",
        &format!("{WEBHOOKS}/{endpoint}/test"),
        Value::Null,
    )
    .await;
    assert_eq!(test.status, 202, "{:?}", test.body);
    assert_eq!(test.json()["event_type"], "webhook.test");

    let made = deliver_all(&h.gateway).await;
    let received = receiver.drain().await;
    assert_eq!(received.len(), made, "one request per attempt");
    assert!(received.iter().all(|r| r.verified), "{received:?}");
    let types: BTreeSet<&str> = received.iter().map(Received::event_type).collect();
    let all: BTreeSet<&str> = [
        "grant.created",
        "grant.changed",
        "grant.revoked",
        "grant.expired",
        "grant.expiring",
        "support.signed_in",
        "request.blocked",
        "approval.requested",
        "audit.checkpoint",
        "webhook.test",
    ]
    .into();
    assert_eq!(types, all, "{received:#?}");
    let of = |t: &str| received.iter().filter(|r| r.event_type() == t).count();
    let expiring: Vec<&Received> = received
        .iter()
        .filter(|r| r.event_type() == "grant.expiring")
        .collect();
    assert_eq!(
        of("grant.expiring"),
        2,
        "once for each of the two grants: {expiring:#?}"
    );
    for r in &received {
        assert_eq!(r.body["org"], ORG, "{:?}", r.body);
        assert!(r.body["timestamp"].is_string() && r.body["data"].is_object());
        assert_eq!(r.timestamp, h.now().timestamp(), "signed at the attempt");
    }
    let first = received
        .iter()
        .find(|r| r.event_type() == "grant.created")
        .unwrap();
    assert_eq!(first.body["data"]["id"], grant_id.as_str());
    let ids: BTreeSet<&str> = received.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), received.len(), "one message id per notification");
    let listed = deliveries(&h, &endpoint).await;
    assert_eq!(listed.len(), received.len());
    assert!(
        listed.iter().all(|d| d["status"] == "delivered"),
        "{listed:?}"
    );
}

#[tokio::test]
async fn a_receiver_failing_twice_then_succeeding_gets_the_same_webhook_id_three_times() {
    let h = start().await;
    let receiver = Receiver::start().await;
    let endpoint = register(&h, &receiver, &["webhook.test"]).await;
    receiver.answer_next(&[500, 503]);
    let test = admin(
        &h,
        "POST",
        &format!("{WEBHOOKS}/{endpoint}/test"),
        Value::Null,
    )
    .await;
    assert_eq!(test.status, 202, "{:?}", test.body);

    assert_eq!(deliver_all(&h.gateway).await, 1);
    let first = receiver.next().await;
    assert_eq!(first.answered, 500);
    let listed = deliveries(&h, &endpoint).await;
    assert_eq!(listed[0]["status"], "pending");
    assert_eq!(listed[0]["attempts"], 1);
    assert_eq!(listed[0]["last_status_code"], 500);
    assert!(listed[0]["next_attempt_at"].is_string());
    assert_eq!(
        deliver_all(&h.gateway).await,
        0,
        "not due before the backoff"
    );

    h.clock.advance(chrono::Duration::seconds(7)); // 5 s ± 20 %
    assert_eq!(deliver_all(&h.gateway).await, 1);
    let second = receiver.next().await;
    assert_eq!(second.answered, 503);
    h.clock.advance(chrono::Duration::seconds(40)); // 30 s ± 20 %
    assert_eq!(deliver_all(&h.gateway).await, 1);
    let third = receiver.next().await;
    assert_eq!(third.answered, 200);

    assert!(first.verified && second.verified && third.verified);
    assert_eq!(first.id, second.id);
    assert_eq!(second.id, third.id);
    assert_eq!(first.body, third.body, "the same bytes on every attempt");
    assert!(
        third.timestamp > first.timestamp,
        "each attempt signed anew"
    );
    let listed = deliveries(&h, &endpoint).await;
    assert_eq!(listed[0]["status"], "delivered");
    assert_eq!(listed[0]["attempts"], 3);
    h.clock.advance(chrono::Duration::hours(1));
    assert_eq!(deliver_all(&h.gateway).await, 0, "delivered is done");

    let metrics = reqwest_metrics(&h).await;
    assert!(
        metrics.contains("support_gateway_webhook_deliveries_total{kind=\"retry\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("support_gateway_webhook_deliveries_total{kind=\"delivered\"} 1"));
    assert!(metrics.contains("support_gateway_webhook_queue_depth 0"));
}

/// The ops listener's `/metrics`.
pub(crate) async fn reqwest_metrics(h: &Harness) -> String {
    let ops = HttpClient::new(h.gateway.ops);
    let answer = ops.send("GET", "/metrics", &[], b"").await;
    assert_eq!(answer.status, 200);
    String::from_utf8(answer.body.to_vec()).unwrap()
}

#[tokio::test]
async fn a_receiver_down_during_the_event_gets_it_later() {
    let h = start().await;
    let receiver = Receiver::start().await;
    let endpoint = register(&h, &receiver, &["grant.created"]).await;
    let secret = receiver.script.lock().unwrap().secret.clone().unwrap();
    let addr = receiver.stop();

    let created = admin(&h, "POST", "/support-access/v1/grant", json!({"days": 3})).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(deliver_all(&h.gateway).await, 1);
    let listed = deliveries(&h, &endpoint).await;
    assert_eq!(listed[0]["status"], "pending", "{listed:?}");
    assert!(listed[0]["last_status_code"].is_null());
    assert!(listed[0]["last_error"].is_string(), "{listed:?}");
    let metrics = reqwest_metrics(&h).await;
    assert!(
        metrics.contains("support_gateway_webhook_queue_depth 1"),
        "{metrics}"
    );

    let receiver = Receiver::on(addr).await;
    receiver.set_secret(&secret);
    h.clock.advance(chrono::Duration::seconds(7));
    assert_eq!(deliver_all(&h.gateway).await, 1);
    let got = receiver.next().await;
    assert!(got.verified);
    assert_eq!(got.event_type(), "grant.created");
    assert_eq!(got.body["data"]["id"], created.json()["id"]);
    assert_eq!(deliveries(&h, &endpoint).await[0]["status"], "delivered");
}

#[tokio::test]
async fn a_redirect_is_an_answer_and_is_never_followed() {
    let h = start().await;
    let receiver = Receiver::start().await;
    let elsewhere = Receiver::start().await;
    let endpoint = register(&h, &receiver, &["webhook.test"]).await;
    receiver.script.lock().unwrap().location = Some(elsewhere.url());
    receiver.answer_next(&[307]);
    let test = admin(
        &h,
        "POST",
        &format!("{WEBHOOKS}/{endpoint}/test"),
        Value::Null,
    )
    .await;
    assert_eq!(test.status, 202);
    assert_eq!(deliver_all(&h.gateway).await, 1);
    assert_eq!(receiver.next().await.answered, 307);
    let listed = deliveries(&h, &endpoint).await;
    assert_eq!(listed[0]["status"], "pending");
    assert_eq!(listed[0]["last_status_code"], 307);
    assert!(
        elsewhere.drain().await.is_empty(),
        "the redirect was not followed"
    );
}

#[tokio::test]
async fn targets_that_reach_inside_are_refused_at_registration() {
    let h = Harness::start().await;
    let refused = [
        "http://hooks.example.com/x",
        "https://127.0.0.1/x",
        "https://10.1.2.3/x",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/x",
        "https://localhost/x",
        "https://user:pw@hooks.example.com/x",
    ];
    for url in refused {
        let body = json!({"url": url, "events": ["*"]});
        let answer = admin(&h, "POST", WEBHOOKS, body).await;
        assert_eq!(answer.status, 422, "{url}: {:?}", answer.body);
        let code = answer.json()["error"].as_str().unwrap().to_owned();
        assert!(code.starts_with("webhook_"), "{url}: {code}");
    }
    let unknown = json!({"url": "https://hooks.example.com/x", "events": ["grant.nope"]});
    let answer = admin(&h, "POST", WEBHOOKS, unknown).await;
    assert_eq!(answer.status, 422);
    assert_eq!(answer.json()["error"], "webhook_events_invalid");
    let listed = admin(&h, "GET", WEBHOOKS, Value::Null).await;
    assert_eq!(listed.json()["webhooks"], json!([]));
}

#[tokio::test]
async fn endpoints_are_listed_without_secrets_per_org_and_deleted() {
    let h = start().await;
    let receiver = Receiver::start().await;
    let endpoint = register(&h, &receiver, &["grant.created", "grant.revoked"]).await;
    let listed = admin(&h, "GET", WEBHOOKS, Value::Null).await;
    assert_eq!(listed.status, 200);
    let webhooks = listed.json()["webhooks"].clone();
    assert_eq!(webhooks.as_array().unwrap().len(), 1, "{webhooks}");
    assert_eq!(webhooks[0]["id"], endpoint.as_str());
    assert_eq!(
        webhooks[0]["events"],
        json!(["grant.created", "grant.revoked"])
    );
    assert!(webhooks[0].get("secret").is_none(), "{webhooks}");

    let other_token = tokens::admin("org-other", "bob", h.now());
    let other = format!("Bearer {other_token}");
    let theirs = h.http.get(WEBHOOKS, &other_token).await;
    assert_eq!(theirs.json()["webhooks"], json!([]));
    let target = format!("{WEBHOOKS}/{endpoint}");
    let stolen = h
        .http
        .send("DELETE", &target, &[("authorization", &other)], b"")
        .await;
    assert_eq!(stolen.status, 404, "{:?}", stolen.body);
    let customer = tokens::customer(ORG, "carol", &["user"], h.now());
    let not_admin = h.http.get(WEBHOOKS, &customer).await;
    assert_eq!(not_admin.status, 403);

    let deleted = admin(&h, "DELETE", &target, Value::Null).await;
    assert_eq!(deleted.status, 204, "{:?}", deleted.body);
    let again = admin(&h, "DELETE", &target, Value::Null).await;
    assert_eq!(again.status, 404);
    assert_eq!(again.json()["error"], "webhook_not_found");
    let created = admin(&h, "POST", "/support-access/v1/grant", json!({"days": 3})).await;
    assert_eq!(created.status, 201);
    assert_eq!(
        deliver_all(&h.gateway).await,
        0,
        "a deleted endpoint gets nothing"
    );
}

/// A gateway on the database `url` (SQLite or PostgreSQL).
async fn instance(url: &str, stub: &Stub, clock: &ManualClock, dir: &std::path::Path) -> Running {
    let text = config_text(&stub.addr.to_string(), dir, NOTIFY);
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
        keys: None,
        changes: Some(Arc::new(store.clone())),
        webhooks: Some(Arc::new(store.clone())),
    };
    let binds = Binds {
        proxy: "127.0.0.1:0".parse().unwrap(),
        ops: "127.0.0.1:0".parse().unwrap(),
    };
    support_gateway::build_with(config, binds, overrides)
        .await
        .unwrap()
}

fn manual_clock() -> ManualClock {
    let now = SystemClock
        .now()
        .duration_trunc(chrono::Duration::seconds(1))
        .unwrap();
    ManualClock::new(now)
}

#[tokio::test]
async fn a_gateway_restarted_with_a_delivery_pending_delivers_it_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/gateway.db?mode=rwc", dir.path().display());
    let (stub, clock) = (Stub::start().await, manual_clock());
    let receiver = Receiver::start().await;
    let first = instance(&url, &stub, &clock, dir.path()).await;
    let http = HttpClient::new(first.proxy);
    let endpoint = register_on(&http, clock.now(), &receiver, &["grant.created"]).await;
    let created = admin_on(
        &http,
        clock.now(),
        "POST",
        "/support-access/v1/grant",
        json!({"days": 3}),
    )
    .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    first.shutdown().await;
    assert!(
        receiver.drain().await.is_empty(),
        "nothing was delivered before the restart"
    );

    // The new instance's own worker finds the pending delivery at start.
    let second = instance(&url, &stub, &clock, dir.path()).await;
    let got = receiver.next().await;
    assert!(got.verified);
    assert_eq!(got.event_type(), "grant.created");
    assert_eq!(got.body["data"]["id"], created.json()["id"]);
    // The worker records the answer just after the receiver sent it.
    let http = HttpClient::new(second.proxy);
    let target = format!("{WEBHOOKS}/{endpoint}/deliveries");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let listed = admin_on(&http, clock.now(), "GET", &target, Value::Null).await;
        let delivery = listed.json()["deliveries"][0].clone();
        if delivery["status"] == "delivered" {
            assert_eq!(delivery["attempts"], 1, "{delivery}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never recorded: {delivery}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(receiver.drain().await.is_empty(), "delivered once");
    second.shutdown().await;
}

#[tokio::test]
async fn two_instances_on_one_postgresql_deliver_each_message_once() {
    in_schema(|schema| async move {
        let url = url_via(server_addr().await, &schema);
        let (stub, clock) = (Stub::start().await, manual_clock());
        let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let a = instance(&url, &stub, &clock, dir_a.path()).await;
        let b = instance(&url, &stub, &clock, dir_b.path()).await;
        let (http_a, http_b) = (HttpClient::new(a.proxy), HttpClient::new(b.proxy));
        let receiver = Receiver::start().await;
        let endpoint = register_on(&http_a, clock.now(), &receiver, &["webhook.test"]).await;
        let test = format!("{WEBHOOKS}/{endpoint}/test");
        for round in 0..12 {
            let http = if round % 2 == 0 { &http_a } else { &http_b };
            let queued = admin_on(http, clock.now(), "POST", &test, Value::Null).await;
            assert_eq!(queued.status, 202, "{:?}", queued.body);
        }
        // Rounds until the receiver has all twelve. Each instance's background worker
        // makes a round at start too, which on a busy machine may come after the
        // messages were queued: what it delivers counts as much as the test's rounds.
        // One more round after that must find nothing left to deliver twice.
        let (mut by_a, mut by_b) = (0, 0);
        let mut received = Vec::new();
        for _ in 0..200 {
            let (one, other) = tokio::join!(
                a.app().webhooks().deliver_due(),
                b.app().webhooks().deliver_due()
            );
            (by_a, by_b) = (by_a + one, by_b + other);
            received.extend(receiver.drain().await);
            if received.len() >= 12 {
                break;
            }
        }
        let (one, other) = tokio::join!(
            a.app().webhooks().deliver_due(),
            b.app().webhooks().deliver_due()
        );
        assert_eq!(one + other, 0, "nothing is left to deliver again");
        received.extend(receiver.drain().await);
        assert!(
            by_a + by_b <= 12,
            "the test's rounds delivered {by_a} + {by_b}"
        );
        assert_eq!(received.len(), 12, "{received:#?}");
        let ids: BTreeSet<&str> = received.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids.len(), 12, "no message was posted twice");
        assert!(received.iter().all(|r| r.verified));
        a.shutdown().await;
        b.shutdown().await;
    })
    .await;
}
