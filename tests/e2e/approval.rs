//! One-request approvals (SPEC §10): support asks, the admin approves exactly that
//! request, support sends it once.

use std::sync::Arc;

use chrono::DurationRound;
use serde_json::{Value, json};
use support_access_core::audit::{AuditKind, ChainVerifier};
use support_access_core::ids::{OrgId, StaffId};
use support_access_core::service::{GrantEnd, GrantRequest};
use support_access_core::{Clock, Grant};
use support_access_e2e::client::{Answer, HttpClient};
use support_access_e2e::harness::{Harness, config_dir, config_text};
use support_access_e2e::stub::Stub;
use support_access_e2e::tokens;
use support_access_memory::{ManualClock, SystemClock};
use support_access_pgtest::{in_schema, server_addr, url_via};
use support_gateway::config::{Config, Storage};
use support_gateway::wiring::Overrides;
use support_gateway::{Binds, Running};

const ORG: &str = "org-acme";
const SEND_MAIL: &str = "/crm/v8/Leads/4150868000000225013/actions/send_mail";
const MAIL: &str = r#"{"data":[{"from":{"user_name":"Ana","email":"ana@vendor.example"},"to":[{"email":"qa@acme.example"}],"subject":"Test","content":"Reproducing #T-1"}]}"#;

/// A support request, with `Support-Approval` when `approval` is given.
async fn send(
    http: &HttpClient,
    token: &str,
    (method, target, body): (&str, &str, &[u8]),
    approval: Option<&str>,
) -> Answer {
    let auth = format!("Zoho-oauthtoken {token}");
    let mut headers = vec![("authorization", auth.as_str())];
    if let Some(id) = approval {
        headers.push(("support-approval", id));
    }
    http.send(method, target, &headers, body).await
}

fn mail() -> (&'static str, &'static str, &'static [u8]) {
    ("POST", SEND_MAIL, MAIL.as_bytes())
}

/// The approval a Zoho-shaped refusal offers.
fn offered(answer: &Answer) -> Value {
    assert_eq!(answer.status, 403, "{:?}", answer.body);
    let body = answer.json();
    assert_eq!(body["code"], "NO_PERMISSION", "{body}");
    body["details"]["approval"].clone()
}

/// An admin's management call.
async fn admin_call(h: &Harness, method: &str, target: &str, body: Value) -> Answer {
    let admin = tokens::admin(ORG, "alice", h.now());
    let auth = format!("Bearer {admin}");
    let body = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    h.http
        .send(method, target, &[("authorization", &auth)], &body)
        .await
}

async fn decide(h: &Harness, id: &str, verdict: &str, note: &str) -> Answer {
    let target = format!("/support-access/v1/approvals/{id}/{verdict}");
    admin_call(h, "POST", &target, json!({"note": note})).await
}

/// Support asks for `request` and the admin approves it; returns the approval id.
async fn asked_and_approved(h: &Harness, token: &str, request: (&str, &str, &[u8])) -> String {
    let approval = offered(&send(&h.http, token, request, None).await);
    let id = approval["id"].as_str().unwrap().to_owned();
    let approved = decide(h, &id, "approve", "once").await;
    assert_eq!(approved.status, 200, "{:?}", approved.body);
    assert_eq!(approved.json()["status"], "approved");
    id
}

async fn listed(h: &Harness, status: &str) -> Vec<Value> {
    let target = format!("/support-access/v1/approvals?status={status}");
    let answer = admin_call(h, "GET", &target, Value::Null).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    answer.json()["approvals"].as_array().unwrap().clone()
}

fn approval_invalid(answer: &Answer) {
    assert_eq!(answer.status, 403, "{:?}", answer.body);
    assert_eq!(answer.json()["details"]["error"], "approval_invalid");
}

#[tokio::test]
async fn an_approved_request_is_forwarded_once_exactly_as_sent_and_audited() {
    let h = Harness::start().await;
    let (grant, token) = h.grant_and_token(ORG, "staff-ana", 2).await;

    // Refused as today, plus a pending approval; sending it again returns the same one.
    let answer = send(&h.http, &token, mail(), None).await;
    let approval = offered(&answer);
    let details = &answer.json()["details"];
    assert_eq!(details["error"], "route_denied");
    assert_eq!(details["restriction"], 5);
    assert_eq!(details["rule"], "r5-send-mail");
    assert_eq!(approval["status"], "pending");
    let id = approval["id"].as_str().unwrap().to_owned();
    let again = offered(&send(&h.http, &token, mail(), None).await);
    assert_eq!(again["id"], id.as_str());
    assert!(h.stub.seen().is_empty(), "nothing forwarded while pending");

    // Pending: not usable yet. The admin sees what was asked.
    approval_invalid(&send(&h.http, &token, mail(), Some(&id)).await);
    let pending = listed(&h, "pending").await;
    assert_eq!(pending.len(), 1, "{pending:?}");
    let listed = &pending[0];
    assert_eq!(listed["id"], id.as_str());
    assert_eq!(listed["method"], "POST");
    assert_eq!(listed["path"], SEND_MAIL);
    assert_eq!(listed["body_preview"], MAIL);
    assert_eq!(listed["restriction"], 5);
    assert_eq!(listed["rule"], "r5-send-mail");
    assert_eq!(listed["actor"], "staff-ana");

    let approved = decide(&h, &id, "approve", "one test mail").await;
    assert_eq!(approved.status, 200, "{:?}", approved.body);
    let approved = approved.json();
    assert_eq!(approved["status"], "approved");
    assert_eq!(approved["decided_by"], "alice");
    assert_eq!(approved["note"], "one test mail");
    assert_eq!(
        decide(&h, &id, "deny", "").await.status,
        409,
        "decided once"
    );

    // Used once: forwarded exactly as sent, without the header.
    let used = send(&h.http, &token, mail(), Some(&id)).await;
    assert_eq!(used.status, 200, "{:?}", used.body);
    let seen = h.stub.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].method.as_str(), seen[0].target.as_str()),
        ("POST", SEND_MAIL)
    );
    assert_eq!(&seen[0].body[..], MAIL.as_bytes());
    assert!(seen[0].headers.get("support-approval").is_none());
    assert_eq!(
        seen[0].headers["x-support-access-grant"],
        grant.id.to_string().as_str()
    );

    // Used up.
    approval_invalid(&send(&h.http, &token, mail(), Some(&id)).await);
    assert_eq!(h.stub.seen().len(), 1, "a reuse reaches nothing");
    assert_eq!(listed_status(&h, &id).await, "used");

    let events = h.events(ORG).await;
    let of = |kind: AuditKind| {
        events
            .iter()
            .filter(|e| e.kind == kind && e.approval.map(|a| a.to_string()) == Some(id.clone()))
            .count()
    };
    assert_eq!(of(AuditKind::ApprovalRequested), 1);
    assert_eq!(of(AuditKind::ApprovalApproved), 1);
    assert_eq!(of(AuditKind::ApprovalUsed), 1);
    assert_eq!(
        of(AuditKind::RequestAllowed),
        1,
        "request.allowed names the approval"
    );
    let used_at = events
        .iter()
        .position(|e| e.kind == AuditKind::ApprovalUsed);
    let allowed_at = events
        .iter()
        .position(|e| e.kind == AuditKind::RequestAllowed);
    assert!(used_at < allowed_at, "used before it is forwarded");
    let mut verifier = ChainVerifier::new(OrgId::from(ORG));
    for event in &events {
        verifier.check(event).unwrap();
    }
}

async fn listed_status(h: &Harness, id: &str) -> String {
    let target = format!("/support-access/v1/approvals/{id}");
    let answer = admin_call(h, "GET", &target, Value::Null).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    answer.json()["status"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn every_changed_part_of_the_request_is_refused_and_leaves_the_approval_usable() {
    let h = Harness::start().await;
    let (_, token) = h.grant_and_token(ORG, "staff-ana", 2).await;
    let id = asked_and_approved(&h, &token, mail()).await;
    let mut one_byte = MAIL.as_bytes().to_vec();
    let last_letter = one_byte
        .iter()
        .rposition(|b| b.is_ascii_lowercase())
        .unwrap();
    one_byte[last_letter] = one_byte[last_letter].to_ascii_uppercase();
    let with_query = format!("{SEND_MAIL}?x=1");
    let other_path = SEND_MAIL.replace("4150868000000225013", "4150868000000225014");
    let changed: [(&str, &str, &[u8]); 4] = [
        ("POST", SEND_MAIL, &one_byte),
        ("POST", &with_query, MAIL.as_bytes()),
        ("POST", &other_path, MAIL.as_bytes()),
        ("PUT", SEND_MAIL, MAIL.as_bytes()),
    ];
    for request in changed {
        let answer = send(&h.http, &token, request, Some(&id)).await;
        approval_invalid(&answer);
    }
    assert!(
        h.stub.seen().is_empty(),
        "no changed request reached the CRM"
    );
    assert_eq!(listed_status(&h, &id).await, "approved");

    // The actor: another staff member (a new seat claim) cannot use it.
    let support = format!("Bearer {token}");
    let released = h
        .http
        .send(
            "DELETE",
            "/support-access/v1/token",
            &[("authorization", &support)],
            b"",
        )
        .await;
    assert_eq!(released.status, 204, "{:?}", released.body);
    let access = h.gateway.app().access();
    let bob = StaffId::from("staff-bob");
    let grant = access.claim_seat(&OrgId::from(ORG), &bob).await.unwrap();
    let (bob_token, _) = h
        .gateway
        .app()
        .signer()
        .issue(&grant, &bob, h.now())
        .unwrap();
    approval_invalid(&send(&h.http, &bob_token, mail(), Some(&id)).await);
    assert!(h.stub.seen().is_empty());
    assert_eq!(
        listed_status(&h, &id).await,
        "void",
        "a seat release voids it"
    );
}

#[tokio::test]
async fn the_unchanged_request_still_passes_after_the_refused_variants() {
    let h = Harness::start().await;
    let (_, token) = h.grant_and_token(ORG, "staff-ana", 2).await;
    let id = asked_and_approved(&h, &token, mail()).await;
    let with_query = format!("{SEND_MAIL}?x=1");
    approval_invalid(
        &send(
            &h.http,
            &token,
            ("POST", &with_query, MAIL.as_bytes()),
            Some(&id),
        )
        .await,
    );
    let unknown = support_access_core::ApprovalId::random().to_string();
    approval_invalid(&send(&h.http, &token, mail(), Some(&unknown)).await);
    approval_invalid(&send(&h.http, &token, mail(), Some("not-an-id")).await);
    let used = send(&h.http, &token, mail(), Some(&id)).await;
    assert_eq!(used.status, 200, "{:?}", used.body);
    assert_eq!(h.stub.seen().len(), 1);
}

#[tokio::test]
async fn a_denied_approval_is_never_forwarded() {
    let h = Harness::start().await;
    let (_, token) = h.grant_and_token(ORG, "staff-ana", 2).await;
    let approval = offered(&send(&h.http, &token, mail(), None).await);
    let id = approval["id"].as_str().unwrap();
    let denied = decide(&h, id, "deny", "not this one").await;
    assert_eq!(denied.status, 200, "{:?}", denied.body);
    assert_eq!(denied.json()["status"], "denied");
    assert_eq!(denied.json()["note"], "not this one");
    approval_invalid(&send(&h.http, &token, mail(), Some(id)).await);
    let late = decide(&h, id, "approve", "").await;
    assert_eq!(late.status, 409, "{:?}", late.body);
    assert_eq!(late.json()["error"], "approval_not_pending");
    assert!(h.stub.seen().is_empty());
    assert_eq!(listed(&h, "denied").await.len(), 1);
    // Asking again after a denial opens a new approval.
    let again = offered(&send(&h.http, &token, mail(), None).await);
    assert_ne!(again["id"], id);
    let unknown = support_access_core::ApprovalId::random().to_string();
    assert_eq!(decide(&h, &unknown, "approve", "").await.status, 404);
}

#[tokio::test]
async fn approvals_expire_pending_and_approved_after_their_configured_ttls() {
    let h = Harness::start_with("[approvals]\npending_ttl = \"10m\"\nttl = \"1m\"").await;
    let (_, token) = h.grant_and_token(ORG, "staff-ana", 2).await;
    let approval = offered(&send(&h.http, &token, mail(), None).await);
    let pending_id = approval["id"].as_str().unwrap().to_owned();
    let expires: chrono::DateTime<chrono::Utc> =
        approval["expires_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(expires, h.now() + chrono::Duration::minutes(10));
    h.clock.advance(chrono::Duration::minutes(10));
    assert_eq!(decide(&h, &pending_id, "approve", "").await.status, 409);
    assert_eq!(listed(&h, "expired").await.len(), 1);

    // A new request is offered; approved, it must be used within a minute.
    let id = asked_and_approved(&h, &token, mail()).await;
    assert_ne!(id, pending_id);
    h.clock.advance(chrono::Duration::seconds(60));
    approval_invalid(&send(&h.http, &token, mail(), Some(&id)).await);
    assert!(h.stub.seen().is_empty());
    assert_eq!(listed_status(&h, &id).await, "expired");
}

#[tokio::test]
async fn a_revoke_voids_every_approval_of_the_grant() {
    let h = Harness::start().await;
    let (_, token) = h.grant_and_token(ORG, "staff-ana", 2).await;
    let id = asked_and_approved(&h, &token, mail()).await;
    let pending = offered(&send(&h.http, &token, ("POST", SEND_MAIL, b"{}"), None).await);
    let revoked = admin_call(&h, "DELETE", "/support-access/v1/grant", Value::Null).await;
    assert_eq!(revoked.status, 204, "{:?}", revoked.body);
    assert_eq!(listed_status(&h, &id).await, "void");
    assert_eq!(
        listed_status(&h, pending["id"].as_str().unwrap()).await,
        "void"
    );
    assert_eq!(listed(&h, "void").await.len(), 2);
    // A new grant for the same staff member does not bring it back.
    let (_, token) = h.grant_and_token(ORG, "staff-ana", 2).await;
    approval_invalid(&send(&h.http, &token, mail(), Some(&id)).await);
    assert!(h.stub.seen().is_empty());
}

#[tokio::test]
async fn a_composite_call_needs_one_approval_for_the_whole_call() {
    let h = Harness::start().await;
    let (_, token) = h.grant_and_token(ORG, "staff-ana", 2).await;
    let composite = json!({"__composite_requests": [
        {"sub_request_id": "1", "method": "GET", "uri": "/crm/v8/Leads"},
        {"sub_request_id": "2", "method": "POST", "uri": SEND_MAIL, "body": {"data": []}},
    ]})
    .to_string();
    let call = ("POST", "/crm/v8/__composite_requests", composite.as_bytes());
    let answer = send(&h.http, &token, call, None).await;
    let approval = offered(&answer);
    assert_eq!(
        answer.json()["details"]["error"],
        "composite_sub_request_denied"
    );
    assert_eq!(answer.json()["details"]["restriction"], 5);
    let id = approval["id"].as_str().unwrap();
    assert_eq!(decide(&h, id, "approve", "").await.status, 200);
    let used = send(&h.http, &token, call, Some(id)).await;
    assert_eq!(used.status, 200, "{:?}", used.body);
    assert_eq!(h.stub.seen().len(), 1, "the whole call, once");
    approval_invalid(&send(&h.http, &token, call, Some(id)).await);

    // A call mixing a never-approvable sub-request is offered nothing.
    let mixed = json!({"__composite_requests": [
        {"sub_request_id": "1", "method": "POST", "uri": SEND_MAIL, "body": {"data": []}},
        {"sub_request_id": "2", "method": "GET", "uri": "/crm/v8/settings/audit_log_export"},
    ]})
    .to_string();
    let mixed = ("POST", "/crm/v8/__composite_requests", mixed.as_bytes());
    let answer = send(&h.http, &token, mixed, None).await;
    assert_eq!(answer.status, 403);
    assert!(
        answer.json()["details"].get("approval").is_none(),
        "{:?}",
        answer.body
    );
    // So is a request too large to fingerprint: refused as the policy says.
    let large = format!("{{\"data\":[{{\"content\":\"{}\"}}]}}", "x".repeat(70_000));
    let answer = send(&h.http, &token, ("POST", SEND_MAIL, large.as_bytes()), None).await;
    assert_eq!(answer.status, 403, "{:?}", answer.body);
    assert_eq!(answer.json()["details"]["error"], "route_denied");
    assert!(answer.json()["details"].get("approval").is_none());
    // So is a plain never-approvable denial.
    let export = ("GET", "/crm/v8/settings/audit_log_export", &b""[..]);
    let answer = send(&h.http, &token, export, None).await;
    assert_eq!(answer.status, 403);
    assert!(answer.json()["details"].get("approval").is_none());
    assert_eq!(h.stub.seen().len(), 1);
}

#[tokio::test]
async fn only_admins_reach_the_approvals_and_they_are_in_the_openapi_document() {
    let h = Harness::start().await;
    let (_, token) = h.grant_and_token(ORG, "staff-ana", 2).await;
    let id = offered(&send(&h.http, &token, mail(), None).await)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let approve = format!("/support-access/v1/approvals/{id}/approve");
    let support = format!("Bearer {token}");
    let answer = h
        .http
        .send("POST", &approve, &[("authorization", &support)], b"{}")
        .await;
    assert_eq!(answer.status, 403, "{:?}", answer.body);
    assert_eq!(answer.json()["restriction"], 1);
    let staff = format!("Bearer {}", tokens::staff("staff-ana", h.now()));
    let answer = h
        .http
        .send(
            "GET",
            "/support-access/v1/approvals",
            &[("authorization", &staff)],
            b"",
        )
        .await;
    assert_eq!(answer.status, 403, "{:?}", answer.body);
    let other = tokens::admin("org-other", "mallory", h.now());
    let answer = h
        .http
        .send(
            "POST",
            &approve,
            &[("authorization", &format!("Bearer {other}"))],
            b"{}",
        )
        .await;
    assert_eq!(answer.status, 404, "another org's admin finds nothing");
    assert_eq!(listed_status(&h, &id).await, "pending");

    let openapi = h
        .http
        .get("/support-access/v1/openapi.json", "")
        .await
        .json();
    for path in [
        "/support-access/v1/approvals",
        "/support-access/v1/approvals/{id}",
        "/support-access/v1/approvals/{id}/approve",
        "/support-access/v1/approvals/{id}/deny",
    ] {
        assert!(
            openapi["paths"].get(path).is_some(),
            "{path} in the OpenAPI document"
        );
    }
}

// ----------------------------------------------------------------------------------
// Two instances on one PostgreSQL store.
// ----------------------------------------------------------------------------------

struct Instance {
    gateway: Running,
    stub: Stub,
    http: HttpClient,
    _dir: tempfile::TempDir,
}

/// A gateway on `database` with its own stub; `keys` is the folder of the first
/// instance's signing keys (instances sharing storage share them).
async fn instance(database: &str, clock: &ManualClock, keys: Option<&std::path::Path>) -> Instance {
    let stub = Stub::start().await;
    let dir = tempfile::tempdir().unwrap();
    let text = config_text(&stub.addr.to_string(), keys.unwrap_or(dir.path()), "");
    let mut config = Config::from_toml(&text, &config_dir()).unwrap();
    config.storage = Storage::Postgres(database.to_owned());
    let overrides = Overrides {
        clock: Some(Arc::new(clock.clone())),
        ..Overrides::default()
    };
    let binds = Binds {
        proxy: "127.0.0.1:0".parse().unwrap(),
        ops: "127.0.0.1:0".parse().unwrap(),
    };
    let gateway = support_gateway::build_with(config, binds, overrides)
        .await
        .expect("the gateway starts on PostgreSQL");
    Instance {
        http: HttpClient::new(gateway.proxy),
        gateway,
        stub,
        _dir: dir,
    }
}

async fn pg_grant_and_token(a: &Instance, clock: &ManualClock) -> (Grant, String) {
    let access = a.gateway.app().access();
    let org = OrgId::from(ORG);
    let request = GrantRequest {
        end: GrantEnd::Days(2),
        reason: Some("approval race".into()),
        ticket: Some("T-16".into()),
    };
    access.grant(&org, "admin-1", request).await.unwrap();
    let staff = StaffId::from("staff-ana");
    let grant = access.claim_seat(&org, &staff).await.unwrap();
    let (token, _) = a
        .gateway
        .app()
        .signer()
        .issue(&grant, &staff, clock.now())
        .unwrap();
    (grant, token)
}

#[tokio::test]
async fn two_instances_racing_to_use_one_approval_forward_it_once() {
    in_schema(|schema| async move {
        let database = url_via(server_addr().await, &schema);
        let now = SystemClock
            .now()
            .duration_trunc(chrono::Duration::seconds(1))
            .unwrap();
        let clock = ManualClock::new(now);
        let a = instance(&database, &clock, None).await;
        let b = instance(&database, &clock, Some(a._dir.path())).await;
        let (_, token) = pg_grant_and_token(&a, &clock).await;
        let admin = format!("Bearer {}", tokens::admin(ORG, "alice", clock.now()));
        for round in 0..3 {
            let body = MAIL.replace("Test", &format!("Test {round}"));
            let request = ("POST", SEND_MAIL, body.as_bytes());
            let approval = offered(&send(&a.http, &token, request, None).await);
            let id = approval["id"].as_str().unwrap().to_owned();
            // The same request on the other instance finds the same approval.
            let same = offered(&send(&b.http, &token, request, None).await);
            assert_eq!(same["id"], id.as_str());
            let approve = format!("/support-access/v1/approvals/{id}/approve");
            let approved = b
                .http
                .send("POST", &approve, &[("authorization", &admin)], b"{}")
                .await;
            assert_eq!(approved.status, 200, "{:?}", approved.body);

            let (first, second) = tokio::join!(
                send(&a.http, &token, request, Some(&id)),
                send(&b.http, &token, request, Some(&id)),
            );
            let mut statuses = [first.status.as_u16(), second.status.as_u16()];
            statuses.sort();
            assert_eq!(statuses, [200, 403], "round {round}: exactly one use wins");
            let forwarded = a.stub.seen().len() + b.stub.seen().len();
            assert_eq!(forwarded, round + 1, "round {round}: forwarded once");
        }
        a.gateway.shutdown().await;
        b.gateway.shutdown().await;
    })
    .await;
}

/// The approval as the store holds it (not as the service derives it).
async fn stored(h: &Harness, id: &str) -> support_access_core::ApprovalStatus {
    use support_access_core::approval::port::ApprovalStore;
    let approval = ApprovalStore::get(&h.store, id.parse().unwrap())
        .await
        .unwrap();
    approval.status
}

#[tokio::test]
async fn revoke_expiry_and_seat_release_store_the_voiding() {
    use support_access_core::ApprovalStatus;
    let h = Harness::start().await;

    // Revoke.
    let (_, token) = h.grant_and_token(ORG, "staff-ana", 2).await;
    let revoked_id = asked_and_approved(&h, &token, mail()).await;
    let revoked = admin_call(&h, "DELETE", "/support-access/v1/grant", Value::Null).await;
    assert_eq!(revoked.status, 204);
    assert_eq!(stored(&h, &revoked_id).await, ApprovalStatus::Void);

    // Seat release.
    let (_, token) = h.grant_and_token(ORG, "staff-ana", 2).await;
    let released_id = asked_and_approved(&h, &token, mail()).await;
    assert_eq!(stored(&h, &released_id).await, ApprovalStatus::Approved);
    let support = format!("Bearer {token}");
    let released = h
        .http
        .send(
            "DELETE",
            "/support-access/v1/token",
            &[("authorization", &support)],
            b"",
        )
        .await;
    assert_eq!(released.status, 204);
    assert_eq!(stored(&h, &released_id).await, ApprovalStatus::Void);

    // Expiry, by the sweeper.
    let staff = StaffId::from("staff-ana");
    let access = h.gateway.app().access();
    let grant = access.claim_seat(&OrgId::from(ORG), &staff).await.unwrap();
    let (token, _) = h
        .gateway
        .app()
        .signer()
        .issue(&grant, &staff, h.now())
        .unwrap();
    let pending = offered(&send(&h.http, &token, mail(), None).await);
    let pending_id = pending["id"].as_str().unwrap();
    assert_eq!(stored(&h, pending_id).await, ApprovalStatus::Pending);
    h.clock.set(grant.expires_at);
    h.gateway.app().sweep().await;
    assert_eq!(stored(&h, pending_id).await, ApprovalStatus::Void);
    assert!(h.stub.seen().is_empty());
}
