//! Issue 10's attack families over real sockets (raw HTTP/1.1 bytes and h2c), in front
//! of the recording stub: every item is refused — or, for side effects, rewritten —
//! with nothing of the restricted action reaching the CRM. The policy crate's
//! `tests/attacks.rs` generates the body shapes in depth; here each family runs a
//! spread of its variants end to end.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support_access_core::audit::AuditKind;
use support_access_core::ids::OrgId;
use support_access_e2e::client::{self, RawResponse};
use support_access_e2e::harness::Harness;
use support_access_e2e::tokens;

const ORG: &str = "org-acme";
const ADMIN_USER: u64 = 4_150_868_000_000_000_001;

/// A raw HTTP/1.1 request with `Connection: close` and a `Content-Length`.
fn raw(method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {target} HTTP/1.1\r\nHost: crm.example\r\n").into_bytes();
    for (name, value) in headers {
        out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(body);
    out
}

/// Sends raw bytes and parses the one answer.
async fn send(h: &Harness, bytes: &[u8]) -> RawResponse {
    let read = client::raw_bytes(h.gateway.proxy, bytes).await;
    client::parse_responses(&read, &[false])
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no answer to {:?}", String::from_utf8_lossy(bytes)))
}

/// The JSON refusal's code (Zoho shape on CRM routes).
fn code(answer: &RawResponse) -> String {
    let json = answer
        .json()
        .unwrap_or_else(|| panic!("not JSON: {answer:?}"));
    json["details"]["error"]
        .as_str()
        .or(json["error"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// A string spelling of `id` in the digit set starting at `zero`, `\u`-escaped or raw.
fn digits_in(id: u64, zero: u32, escaped: bool) -> String {
    id.to_string()
        .bytes()
        .map(|b| {
            let c = char::from_u32(zero + u32::from(b - b'0')).unwrap();
            if escaped && !c.is_ascii() {
                format!("\\u{:04x}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Lenient spellings of a support user's id (as JSON string literals or numbers).
fn spellings(id: u64) -> Vec<String> {
    let mut out = Vec::new();
    for zero in [0xFF10, 0x0660, 0x06F0, 0x0966, 0x09E6, 0x0E50] {
        for escaped in [false, true] {
            out.push(format!("\"{}\"", digits_in(id, zero, escaped)));
        }
    }
    let text = id.to_string();
    let grouped: Vec<String> = text
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    out.push(format!("\"{}\"", grouped.join("_")));
    out.push(format!("\" +00{text}\\u3000\""));
    out.push(format!("\"{text}.0\""));
    out.push(format!(
        "\"{}.{}e{}\"",
        &text[..1],
        &text[1..],
        text.len() - 1
    ));
    out.push(format!("{text}.0"));
    out.push(format!("{}.{}E{}", &text[..1], &text[1..], text.len() - 1));
    out
}

// ---------------------------------------------------------------------------------
// 1. Another user's details behind a case-variant key (restriction 2).
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn a_users_update_naming_another_user_under_a_case_variant_key_never_reaches_the_crm() {
    let h = Harness::start().await;
    let (grant, token) = h.grant_and_token(ORG, "staff-ana", 2).await;
    let support = grant.support_user.get();
    let bearer = format!("Bearer {token}");
    let users = |a: &str, b: &str| {
        format!(
            r#"{{"users":[{{"{a}":"{support}","{b}":"{ADMIN_USER}","email":"x@evil.example"}}]}}"#
        )
    };
    let mut cases = Vec::new();
    for (a, b) in [
        ("ID", "id"),
        ("id", "ID"),
        ("Id", "id"),
        ("id", "\\u0131d"),
        ("iD", "Id"),
    ] {
        cases.push(("PUT", "/crm/v8/users".to_owned(), users(a, b)));
        cases.push(("PUT", format!("/crm/v8/users/{support}"), users(a, b)));
        cases.push((
            "POST",
            "/crm/v8/__composite_requests".to_owned(),
            format!(
                r#"{{"__composite_requests":[{{"method":"PUT","uri":"/crm/v8/users","body":{}}}]}}"#,
                users(a, b)
            ),
        ));
    }
    for (method, target, body) in &cases {
        let answer = send(
            &h,
            &raw(
                method,
                target,
                &[("Authorization", &bearer)],
                body.as_bytes(),
            ),
        )
        .await;
        assert_eq!(answer.status, 400, "{method} {target} {body}: {answer:?}");
        assert_eq!(code(&answer), "ambiguous_body", "{body}");
    }
    let lone = format!(r#"{{"users":[{{"ID":"{ADMIN_USER}","email":"x@evil.example"}}]}}"#);
    let answer = send(
        &h,
        &raw(
            "PUT",
            "/crm/v8/users",
            &[("Authorization", &bearer)],
            lone.as_bytes(),
        ),
    )
    .await;
    assert_eq!((answer.status, code(&answer).as_str()), (403, "self_only"));
    assert!(h.stub.seen().is_empty(), "the CRM saw {:?}", h.stub.seen());
    let blocked: Vec<_> = h
        .events(ORG)
        .await
        .into_iter()
        .filter(|e| e.kind == AuditKind::RequestBlocked)
        .collect();
    assert_eq!(blocked.len(), cases.len() + 1);
    assert!(
        blocked
            .iter()
            .any(|e| e.error.as_deref() == Some("ambiguous_body"))
    );
    assert!(
        blocked
            .iter()
            .any(|e| e.error.as_deref() == Some("self_only"))
    );
}

// ---------------------------------------------------------------------------------
// 2. A support token where the gateway did not look.
// ---------------------------------------------------------------------------------

/// Every place and spelling a support token hides in, on a denied route (send_mail).
fn hidden_token_requests(token: &str) -> Vec<(String, Vec<u8>)> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let send_mail = "/crm/v8/Leads/4150868000000225013/actions/send_mail";
    let mut out = Vec::new();
    for query in [
        format!("x=1;access_token={token}"),
        format!("access%5Ftoken={token}"),
        format!("x=1&ACCESS%5fTOKEN={token}"),
        format!("access.token={token}"),
        format!("access+token={token}"),
        format!("access_token%5B%5D={token}"),
        format!("jwt={token}"),
    ] {
        out.push((
            format!("query {query:.30}"),
            raw("POST", &format!("{send_mail}?{query}"), &[], b"{}"),
        ));
    }
    for value in [
        format!("Bearer \"{token}\""),
        format!("bEaReR {token}"),
        format!("Basic {}", b64.encode(format!("apikey:{token}"))),
        format!("Basic {}", b64.encode(format!("{token}:"))),
        format!("Zoho-oauthtoken 1000.x.y, Bearer {token}"),
    ] {
        out.push((
            format!("authorization {value:.30}"),
            raw("POST", send_mail, &[("Authorization", &value)], b"{}"),
        ));
    }
    let form = format!("to=a%40b.example&access_token={token}");
    out.push((
        "form body".to_owned(),
        raw(
            "POST",
            send_mail,
            &[(
                "Content-Type",
                "application/x-www-form-urlencoded; charset=UTF-8",
            )],
            form.as_bytes(),
        ),
    ));
    out.push((
        "other header".to_owned(),
        raw("POST", send_mail, &[("X-Access-Token", token)], b"{}"),
    ));
    out.push((
        "unconfigured cookie".to_owned(),
        raw(
            "POST",
            send_mail,
            &[("Cookie", &format!("session={token}"))],
            b"{}",
        ),
    ));
    out
}

#[tokio::test]
async fn a_support_token_hidden_anywhere_makes_a_support_request_that_is_refused() {
    let h = Harness::start().await;
    let (_, token) = h.grant_and_token(ORG, "staff-ana", 2).await;
    for (name, bytes) in hidden_token_requests(&token) {
        let answer = send(&h, &bytes).await;
        assert!(
            answer.status == 403 || answer.status == 400,
            "{name}: {answer:?}"
        );
        assert!(answer.is_json(false), "{name}");
        assert!(
            h.stub.seen().is_empty(),
            "{name}: the CRM saw {:?}",
            h.stub.seen()
        );
    }
    // Each was identified as support and audited (the folded header is two tokens: 400).
    let blocked = h
        .events(ORG)
        .await
        .into_iter()
        .filter(|e| e.kind == AuditKind::RequestBlocked)
        .count();
    assert_eq!(blocked, hidden_token_requests(&token).len() - 1);
}

#[tokio::test]
async fn a_hidden_support_token_after_a_revoke_is_refused_401_over_http1_and_h2c() {
    let h = Harness::start().await;
    let (_, token) = h.grant_and_token(ORG, "staff-ana", 2).await;
    h.gateway
        .app()
        .access()
        .revoke(&OrgId::from(ORG), "admin-1")
        .await
        .unwrap();
    for (name, bytes) in hidden_token_requests(&token) {
        let answer = send(&h, &bytes).await;
        if name.starts_with("authorization Zoho") {
            assert_eq!(answer.status, 400, "{name}");
            continue;
        }
        assert_eq!(answer.status, 401, "{name}: {answer:?}");
        assert_eq!(code(&answer), "support_access_revoked", "{name}");
    }
    let h2 = h2c();
    for target in [
        format!("/crm/v8/Leads/1/actions/send_mail?x=1;access_token={token}"),
        format!("/crm/v8/Leads?access%5Ftoken={token}"),
    ] {
        let (status, _, body) = h2_send(&h2, &h, "POST", &target, &[], b"{}").await;
        assert_eq!(status, 401, "{target}");
        assert_eq!(body["details"]["error"], "support_access_revoked");
    }
    assert!(h.stub.seen().is_empty(), "the CRM saw {:?}", h.stub.seen());
}

// ---------------------------------------------------------------------------------
// 3. Restriction 17: other spellings of the support user's id (any caller).
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn change_owner_to_any_spelling_of_the_support_user_never_reaches_the_crm() {
    let h = Harness::start().await;
    let (grant, token) = h.grant_and_token(ORG, "staff-ana", 2).await;
    let support = grant.support_user.get();
    let bearer = format!("Bearer {token}");
    let customer = "Zoho-oauthtoken 1000.customer.token";
    let mut count = 0;
    for id in spellings(support) {
        for path in [
            "/crm/v8/Leads/42/actions/change_owner",
            "/crm/v8/Deals/actions/change_owner",
        ] {
            let body = format!(r#"{{"owner":{{"id":{id}}},"notify":true}}"#);
            for auth in [customer, bearer.as_str()] {
                let answer = send(
                    &h,
                    &raw("POST", path, &[("Authorization", auth)], body.as_bytes()),
                )
                .await;
                assert_eq!(answer.status, 403, "{path} {body}: {answer:?}");
                assert_eq!(code(&answer), "assignment_to_support_user", "{body}");
                count += 1;
            }
        }
        let record = format!(r#"{{"data":[{{"Last_Name":"A","Owner":{{"id":{id}}}}}]}}"#);
        let answer = send(
            &h,
            &raw(
                "PUT",
                "/crm/v8/Leads/42",
                &[("Authorization", customer)],
                record.as_bytes(),
            ),
        )
        .await;
        assert_eq!(answer.status, 403, "{record}");
        let lar = format!(r#"{{"data":[{{"Last_Name":"A"}}],"lar_id":{id}}}"#);
        let answer = send(
            &h,
            &raw(
                "POST",
                "/crm/v8/Leads",
                &[("Authorization", customer)],
                lar.as_bytes(),
            ),
        )
        .await;
        assert_eq!(answer.status, 403, "{lar}");
    }
    eprintln!("change_owner spellings: {count} cases");
    assert!(h.stub.seen().is_empty(), "the CRM saw {:?}", h.stub.seen());
}

// ---------------------------------------------------------------------------------
// 4. Bulk write field mappings.
// ---------------------------------------------------------------------------------

fn bulk_job(mapping: &str) -> String {
    format!(
        r#"{{"operation":"insert","resource":[{{"type":"data","module":{{"api_name":"Leads"}},"file_id":"111","field_mappings":[{{"api_name":"Last_Name","index":0}},{mapping}]}}]}}"#
    )
}

#[tokio::test]
async fn a_bulk_write_mapping_the_owner_to_the_support_user_or_for_support_to_anyone_else_is_refused()
 {
    let h = Harness::start().await;
    let (grant, token) = h.grant_and_token(ORG, "staff-ana", 2).await;
    let support = grant.support_user.get();
    let customer = "Zoho-oauthtoken 1000.customer.token";
    for default in [
        format!(r#"{{"value":"{support}"}}"#),
        format!(r#"{{"value":{support}}}"#),
        format!(r#""{}""#, digits_in(support, 0xFF10, false)),
        format!(r#"{{"value":"{}"}}"#, digits_in(support, 0x0966, true)),
    ] {
        let body = bulk_job(&format!(
            r#"{{"api_name":"Owner","default_value":{default}}}"#
        ));
        let answer = send(
            &h,
            &raw(
                "POST",
                "/crm/bulk/v8/write",
                &[("Authorization", customer)],
                body.as_bytes(),
            ),
        )
        .await;
        assert_eq!(
            (answer.status, code(&answer).as_str()),
            (403, "assignment_to_support_user"),
            "{body}"
        );
    }
    let bearer = format!("Bearer {token}");
    for mapping in [
        format!(r#"{{"api_name":"Owner","default_value":{{"value":"{ADMIN_USER}"}}}}"#),
        r#"{"api_name":"Owner","index":3}"#.to_owned(),
    ] {
        let body = bulk_job(&mapping);
        let answer = send(
            &h,
            &raw(
                "POST",
                "/crm/bulk/v8/write",
                &[("Authorization", &bearer)],
                body.as_bytes(),
            ),
        )
        .await;
        assert_eq!(
            (answer.status, code(&answer).as_str()),
            (403, "bulk_owner_mapping"),
            "{body}"
        );
    }
    assert!(h.stub.seen().is_empty(), "the CRM saw {:?}", h.stub.seen());
    let own = bulk_job(&format!(
        r#"{{"api_name":"Owner","default_value":{{"value":"{support}"}}}}"#
    ));
    let answer = send(
        &h,
        &raw(
            "POST",
            "/crm/bulk/v8/write",
            &[("Authorization", &bearer)],
            own.as_bytes(),
        ),
    )
    .await;
    assert_eq!(
        answer.status, 200,
        "a support import owned by itself passes"
    );
    assert_eq!(h.stub.seen().len(), 1);
}

// ---------------------------------------------------------------------------------
// 6. Method overrides on ordinary traffic.
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn an_ordinary_get_overridden_to_post_has_its_body_guarded() {
    let h = Harness::start().await;
    let (grant, _) = h.grant_and_token(ORG, "staff-ana", 2).await;
    let body = format!(r#"{{"owner":{{"id":"{}"}}}}"#, grant.support_user);
    let path = "/crm/v8/Leads/42/actions/change_owner";
    for (extra, target) in [
        (("X-HTTP-Method-Override", "POST"), path.to_owned()),
        (("X-HTTP-Method", "post"), path.to_owned()),
        (("X-Method-Override", "POST"), path.to_owned()),
        (("X_HTTP_Method_Override", "POST"), path.to_owned()),
        (("X-Other", "1"), format!("{path}?_method=POST")),
        (("X-Other", "1"), format!("{path}?x=1;%5Fmethod=post")),
    ] {
        let answer = send(&h, &raw("GET", &target, &[extra], body.as_bytes())).await;
        assert_eq!(answer.status, 403, "{extra:?} {target}: {answer:?}");
    }
    let form = format!("_method=POST&owner={}", grant.support_user);
    let answer = send(
        &h,
        &raw(
            "GET",
            path,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            form.as_bytes(),
        ),
    )
    .await;
    assert_eq!(
        answer.status, 400,
        "a form body on an assignment route is no JSON: {answer:?}"
    );
    assert!(h.stub.seen().is_empty(), "the CRM saw {:?}", h.stub.seen());
}

// ---------------------------------------------------------------------------------
// 7. HTTP/2 support traffic.
// ---------------------------------------------------------------------------------

type H2 = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    Full<Bytes>,
>;

fn h2c() -> H2 {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http()
}

async fn h2_send(
    client: &H2,
    h: &Harness,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, http::HeaderMap, Value) {
    let mut request = http::Request::builder()
        .method(method)
        .uri(format!("http://{}{target}", h.gateway.proxy));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = client
        .request(
            request
                .body(Full::new(Bytes::copy_from_slice(body)))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.version(), http::Version::HTTP_2);
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn support_traffic_over_h2c_is_decided_like_http1() {
    let h = Harness::start().await;
    let (grant, token) = h.grant_and_token(ORG, "staff-ana", 2).await;
    let bearer = format!("Bearer {token}");
    let client = h2c();
    let (status, _, _) = h2_send(
        &client,
        &h,
        "GET",
        "/crm/v8/Leads?page=2",
        &[("authorization", &bearer)],
        b"",
    )
    .await;
    assert_eq!(status, 200);
    let seen = h.stub.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].target, "/crm/v8/Leads?page=2");
    assert_eq!(
        seen[0].headers["x-support-access-user"],
        grant.support_user.to_string().as_str()
    );
    let (status, _, body) = h2_send(
        &client,
        &h,
        "POST",
        "/crm/v8/Leads/1/actions/send_mail",
        &[("authorization", &bearer)],
        b"{}",
    )
    .await;
    assert_eq!(
        (status, body["details"]["restriction"].as_u64()),
        (403, Some(5))
    );
    let (status, _, _) = h2_send(
        &client,
        &h,
        "POST",
        "/crm/v8/Leads",
        &[("authorization", &bearer)],
        br#"{"data":[{"Last_Name":"A"}]}"#,
    )
    .await;
    assert_eq!(status, 200);
    let forwarded: Value = serde_json::from_slice(&h.stub.seen()[1].body).unwrap();
    assert_eq!(forwarded["trigger"], json!(["approval", "blueprint"]));
    assert_eq!(
        h.stub.seen().len(),
        2,
        "the denied request never reached the CRM"
    );
    // HTTP/1.1 absolute form stays refused.
    let answer = send(
        &h,
        &raw(
            "GET",
            "http://crm.example/crm/v8/Leads",
            &[("Authorization", &bearer)],
            b"",
        ),
    )
    .await;
    assert_eq!(
        (answer.status, code(&answer).as_str()),
        (400, "absolute_form_target")
    );
}

// ---------------------------------------------------------------------------------
// 8. Reads by POST stay allowed.
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn the_data_sharing_reads_by_post_reach_the_crm_and_its_writes_do_not() {
    let h = Harness::start().await;
    let (_, token) = h.grant_and_token(ORG, "staff-ana", 2).await;
    let bearer = format!("Bearer {token}");
    for path in [
        "/crm/v8/settings/data_sharing/rules/search",
        "/crm/v8/settings/data_sharing/rules/actions/summary",
    ] {
        let answer = send(&h, &raw("POST", path, &[("Authorization", &bearer)], b"{}")).await;
        assert_eq!(answer.status, 200, "{path}: {answer:?}");
    }
    let answer = send(
        &h,
        &raw(
            "POST",
            "/crm/v8/settings/data_sharing/rules",
            &[("Authorization", &bearer)],
            b"{}",
        ),
    )
    .await;
    assert_eq!(answer.status, 403);
    assert_eq!(h.stub.seen().len(), 2);
}

// ---------------------------------------------------------------------------------
// 9. Side effects: rewritten and listed on the audit event.
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn support_record_writes_never_fire_workflows_or_mail_and_each_rewrite_is_audited() {
    let h = Harness::start().await;
    let (_, token) = h.grant_and_token(ORG, "staff-ana", 2).await;
    let bearer = format!("Bearer {token}");
    let cases = [
        (
            "POST",
            "/crm/v8/Leads",
            r#"{"data":[{"Last_Name":"A"}]}"#,
            vec!["trigger:default", "wf_trigger:false"],
        ),
        (
            "PUT",
            "/crm/v8/Leads/42",
            r#"{"data":[{"Last_Name":"B"}],"trigger":["workflow","approval"]}"#,
            vec!["trigger:-workflow", "wf_trigger:false"],
        ),
        (
            "POST",
            "/crm/v8/Leads/upsert",
            r#"{"data":[{"Last_Name":"C"}],"trigger":["Workflow"],"wf_trigger":true}"#,
            vec!["trigger:-workflow", "wf_trigger:false"],
        ),
        (
            "POST",
            "/crm/v8/Leads/42/actions/change_owner",
            r#"{"owner":{"id":"111"},"notify":true}"#,
            vec!["notify:false"],
        ),
        (
            "POST",
            "/crm/v8/Leads/42/actions/convert",
            r#"{"data":[{"overwrite":true,"notify_lead_owner":true,"notify_new_entity_owner":true}]}"#,
            vec!["notify_lead_owner:false", "notify_new_entity_owner:false"],
        ),
        (
            "POST",
            "/crm/v8/__composite_requests",
            r#"{"__composite_requests":[{"method":"PUT","uri":"/crm/v8/Leads/1","body":{"data":[{"Last_Name":"D"}],"trigger":["workflow"]}}]}"#,
            vec![
                "sub_request[0]:trigger:-workflow",
                "sub_request[0]:wf_trigger:false",
            ],
        ),
    ];
    for (method, path, body, _) in &cases {
        let answer = send(
            &h,
            &raw(method, path, &[("Authorization", &bearer)], body.as_bytes()),
        )
        .await;
        assert_eq!(answer.status, 200, "{method} {path}: {answer:?}");
    }
    // The record writes' before- and after-reads (SPEC §11) are GETs without a body.
    let seen: Vec<_> = h
        .stub
        .seen()
        .into_iter()
        .filter(|r| r.method != "GET")
        .collect();
    assert_eq!(seen.len(), cases.len());
    for recorded in &seen {
        let text = String::from_utf8_lossy(&recorded.body).to_ascii_lowercase();
        assert!(
            !text.contains("\"workflow\""),
            "{}: {text}",
            recorded.target
        );
        for flag in [
            "notify",
            "notify_lead_owner",
            "notify_new_entity_owner",
            "wf_trigger",
        ] {
            let on = format!("\"{flag}\":true");
            assert!(!text.contains(&on), "{}: {text}", recorded.target);
        }
    }
    let allowed: Vec<_> = h
        .events(ORG)
        .await
        .into_iter()
        .filter(|e| e.kind == AuditKind::RequestAllowed)
        .collect();
    assert_eq!(allowed.len(), cases.len());
    for ((_, path, _, rewrites), (event, recorded)) in cases.iter().zip(allowed.iter().zip(&seen)) {
        assert_eq!(&event.rewrites, rewrites, "{path}");
        assert_eq!(
            event.body_sha256.as_deref(),
            Some(hex::encode(Sha256::digest(&recorded.body)).as_str()),
            "{path}: the hash is of what was forwarded"
        );
    }
    let lar = send(
        &h,
        &raw(
            "POST",
            "/crm/v8/Leads",
            &[("Authorization", &bearer)],
            br#"{"data":[{"Last_Name":"A"}],"lar_id":"1"}"#,
        ),
    )
    .await;
    assert_eq!(
        (lar.status, code(&lar).as_str()),
        (403, "forbidden_body_key")
    );
    let writes = h.stub.seen().into_iter().filter(|r| r.method != "GET");
    assert_eq!(writes.count(), cases.len());
}

#[tokio::test]
async fn identity_headers_in_any_folded_spelling_are_stripped_from_ordinary_traffic() {
    let h = Harness::start().await;
    let customer = tokens::customer(ORG, "user-1", &["standard"], h.now());
    let answer = send(
        &h,
        &raw(
            "GET",
            "/crm/v8/Leads",
            &[
                ("Authorization", &format!("Bearer {customer}")),
                ("X_Support_Access_User", "4150868000000225013"),
                ("x_support-access_grant", "forged"),
                ("X.Support.Access.Actor", "forged"),
            ],
            b"",
        ),
    )
    .await;
    assert_eq!(answer.status, 200);
    let seen = h.stub.seen();
    assert_eq!(seen.len(), 1);
    for name in seen[0].headers.keys() {
        let folded: String = name
            .as_str()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        assert!(
            !folded.starts_with("x-support-access-"),
            "{name} reached the CRM"
        );
    }
}

#[tokio::test]
async fn a_support_request_with_an_override_in_any_spelling_or_a_form_body_is_refused() {
    let h = Harness::start().await;
    let (_, token) = h.grant_and_token(ORG, "staff-ana", 2).await;
    let bearer = format!("Bearer {token}");
    for headers in [
        vec![
            ("Authorization", bearer.as_str()),
            ("X_HTTP_Method_Override", "GET"),
        ],
        vec![("Authorization", bearer.as_str()), ("x.http.method", "GET")],
        vec![
            ("Authorization", bearer.as_str()),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
    ] {
        let answer = send(
            &h,
            &raw("POST", "/crm/v8/Leads", &headers, b"_method=GET&x=1"),
        )
        .await;
        assert_eq!(
            (answer.status, code(&answer).as_str()),
            (400, "method_override"),
            "{headers:?}"
        );
    }
    assert!(h.stub.seen().is_empty(), "the CRM saw {:?}", h.stub.seen());
}
