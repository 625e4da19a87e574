//! The pipeline's steps, each without a socket.

use std::time::Duration;

use bytes::Bytes;
use chrono::{TimeZone, Utc};
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use support_access_core::ids::{OrgId, StaffId};
use support_access_core::{Grant, RequestLine, RequestRecord};
use support_access_policy::{Decision, Policy, SupportContext, Target, normalise_target};

use super::approval::Gate;
use super::check::{normalise, releases_own_seat, verify};
use super::inspect::guard;
use super::send::identity_headers;
use crate::refusal::Refusal;
use crate::tokens::SupportSigner;

fn policy() -> Policy {
    Policy::from_toml_str(include_str!("../../../config/policy/zoho-crm-v8.toml")).unwrap()
}

fn decide(policy: &Policy, method: &Method, target: &Target) -> Result<Decision, Refusal> {
    super::approval::decide(policy, method, target, &HeaderMap::new()).map(|(d, _)| d)
}

fn decide_with(
    policy: &Policy,
    method: &Method,
    path: &str,
    approval: Option<&str>,
) -> Result<(Decision, Gate), Refusal> {
    let mut headers = HeaderMap::new();
    if let Some(id) = approval {
        headers.append("support-approval", HeaderValue::from_str(id).unwrap());
    }
    let target = normalise_target(path).unwrap();
    super::approval::decide(policy, method, &target, &headers)
}

fn signer(dir: &std::path::Path) -> SupportSigner {
    let ttl = Duration::from_secs(900);
    let leeway = Duration::from_secs(60);
    SupportSigner::load_or_create(&dir.join("k.pem"), "support-gateway", "crm", ttl, leeway)
        .unwrap()
}

fn grant() -> Grant {
    let now = Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap();
    let end = now + chrono::Duration::days(1);
    Grant::new(OrgId::from("o"), "admin", now, end, None, None)
}

fn record(grant: &Grant) -> RequestRecord {
    let facts = support_access_core::service::SupportTokenFacts {
        org: grant.org.clone(),
        grant: grant.id,
        support_user: grant.support_user,
        actor: StaffId::from("ana"),
        issued_at: grant.created_at,
    };
    let line = RequestLine {
        request_id: "r".into(),
        method: "POST".into(),
        path: "/crm/v8/Leads".into(),
        client_ip: None,
        user_agent: None,
    };
    RequestRecord::new(facts, line)
}

fn context(grant: &Grant) -> SupportContext {
    SupportContext {
        support_user: grant.support_user,
        now: grant.created_at,
    }
}

#[test]
fn verify_gives_the_facts_of_a_token_the_gateway_issued_and_refuses_others() {
    let dir = tempfile::tempdir().unwrap();
    let signer = signer(dir.path());
    let grant = grant();
    let (token, _) = signer
        .issue(&grant, &StaffId::from("ana"), grant.created_at)
        .unwrap();
    let facts = verify(&signer, &token, grant.created_at).unwrap();
    assert_eq!((facts.grant, facts.org), (grant.id, grant.org.clone()));
    assert_eq!(facts.actor, StaffId::from("ana"));
    let later = grant.created_at + chrono::Duration::hours(2);
    let expired = verify(&signer, &token, later).unwrap_err();
    assert_eq!(
        (expired.status(), expired.code()),
        (StatusCode::UNAUTHORIZED, "token_expired")
    );
    let forged = verify(&signer, "a.b.c", grant.created_at).unwrap_err();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn normalise_refuses_overrides_and_returns_the_checked_target() {
    let plain = Request::get("/crm//v8/Leads/").body(()).unwrap();
    assert_eq!(normalise(&plain, None).unwrap().path(), "/crm/v8/Leads");
    let header = Request::post("/crm/v8/Leads")
        .header("x-http-method-override", "DELETE")
        .body(())
        .unwrap();
    assert_eq!(
        normalise(&header, None).unwrap_err().code(),
        "method_override"
    );
    let form = Request::post("/crm/v8/Leads").body(()).unwrap();
    let refused = normalise(&form, Some(b"_method=DELETE")).unwrap_err();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let slash = Request::get("/crm/v8/Leads%2F1").body(()).unwrap();
    assert_eq!(normalise(&slash, None).unwrap_err().code(), "encoded_slash");
    let absolute = Request::get("http://crm.example/crm/v8/Leads")
        .body(())
        .unwrap();
    assert!(matches!(
        normalise(&absolute, None),
        Err(Refusal::AbsoluteForm)
    ));
}

#[test]
fn decide_keeps_the_settings_from_support_and_follows_the_policy() {
    let policy = policy();
    let settings = normalise_target("/support-access/v1/grant").unwrap();
    let refused = decide(&policy, &Method::DELETE, &settings).unwrap_err();
    assert_eq!(refused.restriction(), Some(1));
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let leads = normalise_target("/crm/v8/Leads").unwrap();
    assert!(decide(&policy, &Method::GET, &leads).unwrap().is_allowed());
    let users = normalise_target("/crm/v8/users").unwrap();
    let denied = decide(&policy, &Method::POST, &users).unwrap_err();
    assert_eq!(denied.rule().as_deref(), Some("r2-create-users"));
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);
}

#[test]
fn only_delete_token_releases_the_own_seat() {
    let token = normalise_target("/support-access/v1/token").unwrap();
    assert!(releases_own_seat(&Method::DELETE, &token));
    assert!(!releases_own_seat(&Method::POST, &token));
    let grant = normalise_target("/support-access/v1/grant").unwrap();
    assert!(!releases_own_seat(&Method::DELETE, &grant));
}

#[test]
fn the_guard_rewrites_side_effects_and_the_record_names_what_is_forwarded() {
    let policy = policy();
    let grant = grant();
    let mut record = record(&grant);
    let target = normalise_target("/crm/v8/Leads").unwrap();
    let decision = decide(&policy, &Method::POST, &target).unwrap();
    let body = Bytes::from_static(br#"{"data":[{"Last_Name":"x"}]}"#);
    let guarded = guard(
        &policy,
        &decision,
        body.clone(),
        &context(&grant),
        &mut record,
    )
    .unwrap();
    assert!(guarded.rewritten);
    assert!(!record.rewrites.is_empty(), "the rewrites are recorded");
    let forwarded = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&guarded.bytes));
    assert_eq!(record.body_sha256.as_deref(), Some(forwarded.as_str()));
    assert_ne!(guarded.bytes, body);
}

#[test]
fn a_refused_body_is_recorded_by_the_hash_of_what_was_read() {
    let policy = policy();
    let grant = grant();
    let mut record = record(&grant);
    let target = normalise_target("/crm/v8/Leads").unwrap();
    let decision = decide(&policy, &Method::POST, &target).unwrap();
    let body = Bytes::from_static(br#"{"data":[{"id":1,"ID":2}]}"#);
    let refused = guard(
        &policy,
        &decision,
        body.clone(),
        &context(&grant),
        &mut record,
    )
    .unwrap_err();
    assert_eq!(refused.code(), "ambiguous_body");
    let read = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&body));
    assert_eq!(record.body_sha256.as_deref(), Some(read.as_str()));
}

#[test]
fn identity_headers_replace_forged_ones() {
    let grant = grant();
    let record = record(&grant);
    let mut headers = HeaderMap::new();
    headers.insert("x_support_access_user", HeaderValue::from_static("forged"));
    let peer = "192.0.2.1:4000".parse().unwrap();
    identity_headers(&mut headers, &grant, &record.facts, peer, false);
    assert_eq!(
        headers["x-support-access-user"],
        grant.support_user.to_string().as_str()
    );
    assert_eq!(headers["x-support-access-actor"], "ana");
    assert_eq!(
        headers["x-support-access-grant"],
        grant.id.to_string().as_str()
    );
    assert!(!headers.contains_key("x_support_access_user"));
}

#[test]
fn an_approvable_denial_is_offered_an_approval_and_keeps_its_refusal() {
    let policy = policy();
    let path = "/crm/v8/Leads/1/actions/send_mail";
    let (decision, gate) = decide_with(&policy, &Method::POST, path, None).unwrap();
    assert!(decision.is_allowed() && decision.approved, "{decision:?}");
    let Gate::Offer(refusal) = gate else {
        panic!("expected an offer, got {gate:?}");
    };
    assert_eq!(refusal.restriction(), Some(5));
    assert_eq!(refusal.status(), StatusCode::FORBIDDEN);
    assert_eq!(refusal.code(), "route_denied");
}

#[test]
fn a_never_approvable_denial_is_refused_with_or_without_an_approval() {
    let policy = policy();
    let id = support_access_core::ApprovalId::random().to_string();
    let path = "/crm/v8/settings/audit_log_export";
    let refused = decide_with(&policy, &Method::GET, path, None).unwrap_err();
    assert_eq!(refused.restriction(), Some(9));
    let refused = decide_with(&policy, &Method::GET, path, Some(&id)).unwrap_err();
    assert_eq!(refused.code(), "approval_invalid");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let settings = "/support-access/v1/grant";
    let refused = decide_with(&policy, &Method::GET, settings, Some(&id)).unwrap_err();
    assert_eq!(refused.restriction(), Some(1));
    let refused = decide_with(&policy, &Method::GET, settings, Some("junk")).unwrap_err();
    assert_eq!(
        refused.restriction(),
        Some(1),
        "the settings refusal comes first"
    );
}

#[test]
fn a_support_approval_header_is_one_approval_id() {
    let policy = policy();
    let path = "/crm/v8/Leads/1/actions/send_mail";
    let id = support_access_core::ApprovalId::random();
    let (decision, gate) =
        decide_with(&policy, &Method::POST, path, Some(&id.to_string())).unwrap();
    assert!(decision.is_allowed() && decision.approved);
    assert!(matches!(gate, Gate::Use(used) if used == id));
    for bad in ["", "not-a-uuid", "1234"] {
        let refused = decide_with(&policy, &Method::POST, path, Some(bad)).unwrap_err();
        assert_eq!(refused.code(), "approval_invalid", "{bad:?}");
    }
    let mut headers = HeaderMap::new();
    headers.append(
        "support-approval",
        HeaderValue::from_str(&id.to_string()).unwrap(),
    );
    headers.append(
        "support-approval",
        HeaderValue::from_str(&id.to_string()).unwrap(),
    );
    let target = normalise_target(path).unwrap();
    let refused = super::approval::decide(&policy, &Method::POST, &target, &headers).unwrap_err();
    assert_eq!(refused.code(), "approval_invalid");
}
