//! Request ids and the access log (SPEC §7): one id per request in the `X-Request-Id`
//! response header (200s, refusals, 502s), in the upstream request, in the audit events
//! (lifecycle ones too) and in the log lines; a client's own valid id kept, a bad one
//! replaced; one `access` line per request with the fields SPEC §7 lists.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use support_access_core::audit::AuditKind;
use support_access_e2e::harness::Harness;
use support_access_e2e::tokens;

const ORG: &str = "org-ids";
const V1: &str = "/support-access/v1";

fn header<'a>(headers: &'a http::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn an_ordinary_200_carries_the_request_id_the_upstream_saw() {
    let h = Harness::start().await;
    let answer = h.http.send("GET", "/crm/v8/Leads?page=2", &[], b"").await;
    assert_eq!(answer.status, 200);
    let id = header(&answer.headers, "x-request-id").to_owned();
    let seen = h.stub.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(header(&seen[0].headers, "x-request-id"), id);

    let again = h.http.send("GET", "/crm/v8/Leads", &[], b"").await;
    assert_ne!(
        header(&again.headers, "x-request-id"),
        id,
        "ids are per request"
    );
}

#[tokio::test]
async fn a_clients_own_request_id_is_kept_and_a_bad_one_is_replaced() {
    let h = Harness::start().await;
    let own = "trace-7f3a:span/01";
    let answer = h
        .http
        .send("GET", "/crm/v8/Leads", &[("x-request-id", own)], b"")
        .await;
    assert_eq!(header(&answer.headers, "x-request-id"), own);
    assert_eq!(header(&h.stub.seen()[0].headers, "x-request-id"), own);

    let too_long = "a".repeat(129);
    for bad in [too_long.as_str(), "two words"] {
        h.stub.clear();
        let answer = h
            .http
            .send("GET", "/crm/v8/Leads", &[("x-request-id", bad)], b"")
            .await;
        let id = header(&answer.headers, "x-request-id");
        assert_ne!(id, bad);
        assert!(id.len() <= 128 && !id.contains(' '), "{id}");
        // The upstream sees the gateway's id, never the refused one.
        assert_eq!(header(&h.stub.seen()[0].headers, "x-request-id"), id);
    }
}

#[tokio::test]
async fn a_502_carries_the_request_id_in_its_header_and_body() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let h = Harness::start_with_upstream(closed, "2s").await;
    let answer = h
        .http
        .send("GET", "/crm/v8/Leads", &[("x-request-id", "mine-502")], b"")
        .await;
    assert_eq!(answer.status, 502);
    assert_eq!(header(&answer.headers, "x-request-id"), "mine-502");
    assert_eq!(answer.json()["details"]["request_id"], "mine-502");
}

#[tokio::test]
async fn a_forwarded_support_request_has_one_id_in_the_response_upstream_and_audit_events() {
    let h = Harness::start().await;
    let (_, token) = h.grant_and_token(ORG, "staff-ana", 2).await;
    let answer = h.http.get("/crm/v8/Leads/7", &token).await;
    assert_eq!(answer.status, 200);
    let id = header(&answer.headers, "x-request-id").to_owned();
    assert_eq!(header(&h.stub.seen()[0].headers, "x-request-id"), id);
    let events = h.events(ORG).await;
    let of_request: Vec<_> = events
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                AuditKind::RequestAllowed | AuditKind::RequestCompleted
            )
        })
        .collect();
    assert_eq!(of_request.len(), 2);
    for event in of_request {
        assert_eq!(event.request_id.as_deref(), Some(id.as_str()));
    }
}

#[tokio::test]
async fn lifecycle_events_carry_the_request_id_of_the_management_call() {
    let h = Harness::start().await;
    let admin = tokens::admin(ORG, "admin-1", h.now());
    let auth = format!("Bearer {admin}");
    let granted = h
        .http
        .send(
            "POST",
            &format!("{V1}/grant"),
            &[("authorization", &auth), ("x-request-id", "grant-call-1")],
            br#"{"days": 2, "reason": "ids"}"#,
        )
        .await;
    assert_eq!(granted.status, 201);
    assert_eq!(header(&granted.headers, "x-request-id"), "grant-call-1");
    let staff = tokens::staff("staff-ana", h.now());
    let exchanged = h
        .http
        .send(
            "POST",
            &format!("{V1}/token"),
            &[("authorization", &format!("Bearer {staff}"))],
            format!(r#"{{"org": "{ORG}"}}"#).as_bytes(),
        )
        .await;
    assert_eq!(exchanged.status, 200);
    let exchange_id = header(&exchanged.headers, "x-request-id").to_owned();
    let revoked = h
        .http
        .send(
            "DELETE",
            &format!("{V1}/grant"),
            &[("authorization", &auth)],
            b"",
        )
        .await;
    assert_eq!(revoked.status, 204);
    let revoke_id = header(&revoked.headers, "x-request-id").to_owned();

    let events = h.events(ORG).await;
    let ids: Vec<(AuditKind, Option<&str>)> = events
        .iter()
        .map(|e| (e.kind, e.request_id.as_deref()))
        .collect();
    assert_eq!(
        ids,
        vec![
            (AuditKind::GrantCreated, Some("grant-call-1")),
            (AuditKind::TokenIssued, Some(exchange_id.as_str())),
            (AuditKind::GrantRevoked, Some(revoke_id.as_str())),
        ]
    );
}

/// Log lines written while the guard lives (this test's runtime is on one thread, so the
/// gateway's tasks log here), as JSON objects.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn start() -> (Self, tracing::subscriber::DefaultGuard) {
        let captured = Self::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_env_filter("info")
            .with_writer(move || writer.clone())
            .finish();
        (captured, tracing::subscriber::set_default(subscriber))
    }

    fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    fn access(&self) -> Vec<Value> {
        self.lines()
            .into_iter()
            .filter(|line| line["target"] == "access")
            .collect()
    }
}

#[tokio::test]
async fn each_request_writes_one_access_line_with_its_fields() {
    let (log, _guard) = Captured::start();
    let h = Harness::start().await;
    let (grant, token) = h.grant_and_token(ORG, "staff-ana", 2).await;
    // Other tests of this binary hit the same callsites with no subscriber of theirs:
    // make sure none is cached as disabled for this one.
    tracing::callsite::rebuild_interest_cache();

    let ordinary = h
        .http
        .send("GET", "/crm/v8/Leads?email=secret@example.com", &[], b"")
        .await;
    let support = h.http.get("/crm/v8/Leads/7", &token).await;
    let refused = h
        .http
        .send(
            "POST",
            "/crm/v8/Leads/1/actions/send_mail",
            &[("authorization", &format!("Bearer {token}"))],
            b"{}",
        )
        .await;
    assert_eq!(refused.status, 403);
    let admin = tokens::admin(ORG, "admin-1", h.now());
    let revoked = h
        .http
        .send(
            "DELETE",
            &format!("{V1}/grant"),
            &[("authorization", &format!("Bearer {admin}"))],
            b"",
        )
        .await;
    assert_eq!(revoked.status, 204);

    let lines = log.access();
    assert_eq!(lines.len(), 4, "{:#?}", log.lines());
    let id = |answer: &support_access_e2e::client::Answer| {
        header(&answer.headers, "x-request-id").to_owned()
    };
    let (o, s, r, m) = (&lines[0], &lines[1], &lines[2], &lines[3]);

    assert_eq!(o["request_id"], id(&ordinary));
    assert_eq!(o["method"], "GET");
    assert_eq!(o["path"], "/crm/v8/Leads", "no query values");
    assert_eq!(o["status"], 200);
    assert_eq!(o["traffic"], "ordinary");
    assert_eq!(o["bytes"], ordinary.body.len() as u64);
    assert!(o["latency_ms"].as_f64().is_some());
    assert!(o.get("org").is_none(), "{o}");
    assert!(
        !log.lines()
            .iter()
            .any(|l| l.to_string().contains("secret@example.com"))
    );

    assert_eq!(s["request_id"], id(&support));
    assert_eq!(s["traffic"], "support");
    assert_eq!(s["status"], 200);
    assert_eq!(s["org"], ORG);
    assert_eq!(s["grant"], grant.id.to_string());
    assert_eq!(s["actor"], "staff-ana");
    assert_eq!(s["bytes"], support.body.len() as u64);

    assert_eq!(r["request_id"], id(&refused));
    assert_eq!(r["status"], 403);
    assert_eq!(r["traffic"], "support");
    assert_eq!(r["org"], ORG);

    assert_eq!(m["request_id"], id(&revoked));
    assert_eq!(m["traffic"], "management");
    assert_eq!(m["action"], "revoke");
    assert_eq!(m["org"], ORG);
    assert_eq!(m["actor"], "admin-1");
    assert_eq!(m["status"], 204);

    // The other log lines of the refused request name its id through the span.
    let refused_id = id(&refused);
    let in_span = log
        .lines()
        .into_iter()
        .filter(|l| l["target"] != "access")
        .filter(|l| l["span"]["request_id"] == refused_id.as_str())
        .count();
    assert!(in_span >= 1, "{:#?}", log.lines());
}

#[tokio::test]
async fn log_access_false_turns_the_access_lines_off() {
    let (log, _guard) = Captured::start();
    let h = Harness::start_with("[log]\naccess = false").await;
    tracing::callsite::rebuild_interest_cache();
    let answer = h.http.send("GET", "/crm/v8/Leads", &[], b"").await;
    assert_eq!(answer.status, 200);
    assert!(log.access().is_empty(), "{:#?}", log.access());
}
