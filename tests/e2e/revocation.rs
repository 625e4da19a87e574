//! Revocation in flight (SPEC §3, §7): a revoke, an expiry or a seat release also ends
//! what began before it — a request waiting for the CRM's response head, an upload
//! still streaming to the CRM, a body the gateway reads, and the holder's idle
//! keep-alive connections. Every wait below polls an observable condition against a
//! deadline; none sleeps to synchronise.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::channel::Channel;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use support_access_core::audit::AuditKind;
use support_access_e2e::client::RawConnection;
use support_access_e2e::harness::Harness;
use support_access_e2e::stub::Hanging;
use support_access_e2e::tokens;

const ORG: &str = "org-inflight";
/// SPEC §7: a revoke is in force everywhere within one second.
const WITHIN: Duration = Duration::from_secs(1);

/// Polls `condition` every 5 ms until it holds; fails naming `what` after `limit`.
async fn until(what: &str, limit: Duration, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(5)).await; // polling interval
    }
}

async fn revoke(h: &Harness) -> Instant {
    let admin = tokens::admin(ORG, "alice", h.now());
    let revoked = h
        .http
        .send(
            "DELETE",
            "/support-access/v1/grant",
            &[("authorization", &format!("Bearer {admin}"))],
            b"",
        )
        .await;
    assert_eq!(revoked.status, 204, "{:?}", revoked.body);
    Instant::now()
}

/// The `details.error` (Zoho shape) or `error` of a JSON refusal.
fn code(json: &serde_json::Value) -> String {
    json["details"]["error"]
        .as_str()
        .or_else(|| json["error"].as_str())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_revoke_cuts_a_request_waiting_for_the_crms_response_head_and_drops_it_upstream() {
    let upstream = Hanging::start().await;
    let h = Harness::start_with_upstream(upstream.addr, "30s").await;
    let (_, token) = h.grant_and_token(ORG, "staff-ana", 2).await;
    let waiting = {
        let http = h.http.clone();
        tokio::spawn(async move { http.get("/crm/v8/Leads/42", &token).await })
    };
    until(
        "the request reached the CRM",
        Duration::from_secs(5),
        || upstream.heads() == 1,
    )
    .await;
    let revoked_at = revoke(&h).await;
    let answer = tokio::time::timeout(WITHIN, waiting)
        .await
        .expect("the waiting request is answered within a second of the revoke")
        .expect("task");
    assert_eq!(answer.status, 401);
    assert!(answer.is_json());
    assert_eq!(code(&answer.json()), "support_access_revoked");
    until("the upstream request was dropped", WITHIN, || {
        upstream.dropped() == 1
    })
    .await;
    eprintln!("cut {:?} after the revoke", revoked_at.elapsed());
    let completed: Vec<_> = h
        .events(ORG)
        .await
        .into_iter()
        .filter(|e| e.kind == AuditKind::RequestCompleted)
        .collect();
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0].status, Some(401), "the outcome the client got");
}

#[tokio::test]
async fn a_revoke_closes_the_support_users_idle_keep_alive_connections_and_no_others() {
    let h = Harness::start().await;
    let (_, token) = h.grant_and_token(ORG, "staff-ana", 2).await;
    let support_request =
        format!("GET /crm/v8/Leads HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {token}\r\n\r\n");
    let ordinary_request =
        "GET /crm/v8/Leads HTTP/1.1\r\nHost: gw\r\nAuthorization: Zoho-oauthtoken 1000.a.b\r\n\r\n";
    let mut idle = Vec::new();
    for _ in 0..2 {
        let mut connection = RawConnection::open(h.gateway.proxy).await;
        let answer = connection.exchange(support_request.as_bytes()).await;
        assert_eq!(answer.map(|a| a.status), Some(200));
        idle.push(connection);
    }
    let mut ordinary = RawConnection::open(h.gateway.proxy).await;
    let answer = ordinary.exchange(ordinary_request.as_bytes()).await;
    assert_eq!(answer.map(|a| a.status), Some(200));

    let revoked_at = revoke(&h).await;
    for connection in &mut idle {
        assert!(
            connection.closed_within(WITHIN).await,
            "an idle connection of the revoked support user is still open"
        );
    }
    eprintln!("closed {:?} after the revoke", revoked_at.elapsed());
    let answer = ordinary.exchange(ordinary_request.as_bytes()).await;
    assert_eq!(
        answer.map(|a| a.status),
        Some(200),
        "an ordinary keep-alive connection stays open"
    );
}

/// A support upload to a route whose body the gateway does not read, streamed in
/// chunks through `sender`; returns the task that waits for the answer.
fn start_upload(
    h: &Harness,
    token: &str,
) -> (
    http_body_util::channel::Sender<Bytes, hyper::Error>,
    tokio::task::JoinHandle<(u16, serde_json::Value)>,
) {
    let (sender, body) = Channel::<Bytes, hyper::Error>::new(1);
    let request = http::Request::post(format!(
        "http://{}/crm/v8/Leads/42/Attachments",
        h.gateway.proxy
    ))
    .header("authorization", format!("Bearer {token}"))
    .body(body)
    .unwrap();
    let client = Client::builder(TokioExecutor::new()).build_http();
    let answer = tokio::spawn(async move {
        let response = client.request(request).await.expect("an answer");
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&body).unwrap_or_default())
    });
    (sender, answer)
}

async fn upload_is_aborted_when(h: &Harness, token: &str, end: impl AsyncFnOnce(), error: &str) {
    let (mut sender, answer) = start_upload(h, token);
    sender
        .send_data(Bytes::from_static(b"first chunk of the file\n"))
        .await
        .unwrap();
    until("the upload reached the CRM", Duration::from_secs(5), || {
        !h.stub.heads().is_empty()
    })
    .await;
    end().await;
    let (status, json) = tokio::time::timeout(WITHIN, answer)
        .await
        .expect("the uploader is answered within a second")
        .expect("task");
    assert_eq!((status, code(&json).as_str()), (401, error), "{json}");
    until("the CRM saw the upload end", WITHIN, || {
        !h.stub.seen().is_empty()
    })
    .await;
    let seen = h.stub.seen();
    assert!(!seen[0].complete, "the CRM got the whole upload: {seen:?}");
    // What the client still sends goes nowhere.
    let _ = sender.send_data(Bytes::from_static(b"more\n")).await;
    assert_eq!(seen.len(), 1);
}

#[tokio::test]
async fn a_revoke_aborts_a_support_upload_still_streaming_to_the_crm() {
    let h = Harness::start().await;
    let (_, token) = h.grant_and_token(ORG, "staff-ana", 2).await;
    upload_is_aborted_when(
        &h,
        &token,
        async || {
            revoke(&h).await;
        },
        "support_access_revoked",
    )
    .await;
}

#[tokio::test]
async fn a_seat_release_aborts_the_holders_upload() {
    let h = Harness::start().await;
    let (_, token) = h.grant_and_token(ORG, "staff-ana", 2).await;
    upload_is_aborted_when(
        &h,
        &token,
        async || {
            let released = h
                .http
                .send(
                    "DELETE",
                    "/support-access/v1/token",
                    &[("authorization", &format!("Bearer {token}"))],
                    b"",
                )
                .await;
            assert_eq!(released.status, 204);
        },
        "support_seat_released",
    )
    .await;
}

#[tokio::test]
async fn an_expiry_aborts_a_support_upload_at_the_next_sweep() {
    let h = Harness::start().await;
    let (grant, token) = h.grant_and_token(ORG, "staff-ana", 1).await;
    upload_is_aborted_when(
        &h,
        &token,
        async || {
            // The clock passes the end date; the next sweep (run here at once instead
            // of waiting for the sweep interval) closes the grant and what it had in
            // flight.
            h.clock.set(grant.expires_at);
            h.gateway.app().sweep().await;
        },
        "support_access_expired",
    )
    .await;
}

/// Sends the head and the first half of a `PUT` whose body the gateway must read.
async fn half_a_guarded_body(h: &Harness, token: &str) -> (RawConnection, &'static [u8]) {
    let body: &'static [u8] = br#"{"data":[{"Last_Name":"Jones"}]}"#;
    let head = format!(
        "PUT /crm/v8/Leads/42 HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut connection = RawConnection::open(h.gateway.proxy).await;
    assert!(connection.write(head.as_bytes()).await);
    assert!(connection.write(&body[..10]).await);
    (connection, &body[10..])
}

#[tokio::test]
async fn the_grant_is_checked_again_once_a_body_the_gateway_reads_has_arrived() {
    // No sweep during the test: only the check after the read can see the expiry.
    let h = Harness::start_with("[grants]\nsweep_interval = \"1h\"").await;
    let (grant, _) = h.grant_and_token(ORG, "staff-ana", 1).await;
    // A token that lives until the grant's end (tokens last at most 15 minutes).
    h.clock.set(grant.expires_at - chrono::Duration::minutes(5));
    let (token, _) = h
        .gateway
        .app()
        .signer()
        .issue(
            &grant,
            &support_access_core::ids::StaffId::from("staff-ana"),
            h.now(),
        )
        .unwrap();
    let (mut connection, rest) = half_a_guarded_body(&h, &token).await;
    until("the gateway reads the body", Duration::from_secs(5), || {
        h.gateway.app().live_holders() > 0
    })
    .await;
    h.clock.set(grant.expires_at);
    let answer = connection.exchange(rest).await.expect("an answer");
    assert_eq!(answer.status, 401);
    assert_eq!(
        code(&answer.json().unwrap_or_default()),
        "support_access_expired"
    );
    assert!(h.stub.heads().is_empty(), "nothing reached the CRM");
}

#[tokio::test]
async fn a_revoke_while_the_gateway_reads_a_body_refuses_the_request_at_once() {
    let h = Harness::start().await;
    let (_, token) = h.grant_and_token(ORG, "staff-ana", 2).await;
    let (mut connection, _rest) = half_a_guarded_body(&h, &token).await;
    until("the gateway reads the body", Duration::from_secs(5), || {
        h.gateway.app().live_holders() > 0
    })
    .await;
    revoke(&h).await;
    let answer = tokio::time::timeout(WITHIN, connection.exchange(b""))
        .await
        .expect("answered within a second")
        .expect("an answer");
    assert_eq!(answer.status, 401);
    assert!(h.stub.heads().is_empty(), "nothing reached the CRM");
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_refused_with_408_json() {
    let h = Harness::start_with("body_read_timeout = \"300ms\"").await;
    let (_, token) = h.grant_and_token(ORG, "staff-ana", 2).await;
    let (mut connection, _rest) = half_a_guarded_body(&h, &token).await;
    let answer = connection.exchange(b"").await.expect("an answer");
    assert_eq!(answer.status, 408);
    assert!(answer.is_json(false));
    assert_eq!(
        code(&answer.json().unwrap_or_default()),
        "body_read_timeout"
    );
    assert!(h.stub.heads().is_empty(), "nothing reached the CRM");
    let blocked = h
        .events(ORG)
        .await
        .into_iter()
        .filter(|e| e.kind == AuditKind::RequestBlocked && e.status == Some(408))
        .count();
    assert_eq!(blocked, 1, "the refusal is audited");
}

#[tokio::test]
async fn a_request_blocked_after_a_revoke_carries_the_grants_reason_and_ticket() {
    let h = Harness::start().await;
    let (_, token) = h.grant_and_token(ORG, "staff-ana", 2).await;
    revoke(&h).await;
    let refused = h.http.get("/crm/v8/Leads", &token).await;
    assert_eq!(refused.status, 401, "{:?}", refused.body);
    assert_eq!(code(&refused.json()), "support_access_revoked");
    let events = h.events(ORG).await;
    let blocked = events
        .iter()
        .find(|e| e.kind == AuditKind::RequestBlocked)
        .expect("the refused request is audited");
    assert_eq!(blocked.error.as_deref(), Some("support_access_revoked"));
    // The grant that refused it, with its reason and ticket, as every event of a grant.
    assert_eq!(blocked.reason.as_deref(), Some("e2e"));
    assert_eq!(blocked.ticket.as_deref(), Some("T-1"));
    let revoked = events
        .iter()
        .find(|e| e.kind == AuditKind::GrantRevoked)
        .unwrap();
    assert_eq!(
        (&blocked.reason, &blocked.ticket),
        (&revoked.reason, &revoked.ticket)
    );
}
