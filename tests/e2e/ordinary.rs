//! Ordinary traffic: forwarded unchanged, bar the two guards.

use support_access_e2e::harness::Harness;
use support_access_e2e::stub::Stub;

#[tokio::test]
async fn ordinary_traffic_arrives_byte_identical() {
    let h = Harness::start().await;
    let body: Vec<u8> = (0u8..=255)
        .chain(b"{\"data\":[1]}".iter().copied())
        .collect();
    let answer = h
        .http
        .send(
            "POST",
            "/crm/v8/Leads/upsert?fields=A%2CB&x=%7E",
            &[
                ("authorization", "Zoho-oauthtoken 1000.abc.def"),
                ("x-custom", "Value With  Spaces"),
                ("content-type", "application/octet-stream"),
            ],
            &body,
        )
        .await;
    assert_eq!(answer.status, 200);
    let seen = h.stub.seen();
    assert_eq!(seen.len(), 1);
    let got = &seen[0];
    assert_eq!(got.method, "POST");
    assert_eq!(got.target, "/crm/v8/Leads/upsert?fields=A%2CB&x=%7E");
    assert_eq!(got.body.as_ref(), body.as_slice());
    assert_eq!(got.headers["authorization"], "Zoho-oauthtoken 1000.abc.def");
    assert_eq!(got.headers["x-custom"], "Value With  Spaces");
    assert_eq!(got.headers["content-type"], "application/octet-stream");
    assert_eq!(got.headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(got.headers["x-forwarded-proto"], "http");
}

#[tokio::test]
async fn incoming_support_access_headers_are_stripped_from_ordinary_traffic() {
    let h = Harness::start().await;
    h.http
        .send(
            "GET",
            "/crm/v8/Leads",
            &[
                ("x-support-access-user", "4150868000000225013"),
                ("X-Support-Access-Grant", "forged"),
                ("x-support-access-anything", "1"),
            ],
            b"",
        )
        .await;
    let seen = h.stub.seen();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0]
            .headers
            .keys()
            .all(|k| !k.as_str().starts_with("x-support-access-")),
        "{:?}",
        seen[0].headers
    );
}

#[tokio::test]
async fn ordinary_traffic_may_not_assign_records_to_the_support_user() {
    let h = Harness::start().await;
    let (grant, _) = h.grant_and_token("org-acme", "staff-ana", 2).await;
    let owner = grant.support_user.get();
    let body = format!(r#"{{"data":[{{"Last_Name":"Doe","Owner":{{"id":{owner}}}}}]}}"#);
    let refused = h
        .http
        .send(
            "POST",
            "/crm/v8/Leads",
            &[("authorization", "Zoho-oauthtoken 1000.a.b")],
            body.as_bytes(),
        )
        .await;
    assert_eq!(refused.status, 403);
    let json = refused.json();
    assert_eq!(json["code"], "NO_PERMISSION");
    assert_eq!(json["details"]["restriction"], 17);
    let as_string = format!(r#"{{"owner":{{"id":"{owner}"}}}}"#);
    let refused = h
        .http
        .send(
            "POST",
            "/crm/v8/Leads/actions/mass_change_owner",
            &[],
            as_string.as_bytes(),
        )
        .await;
    assert_eq!(refused.status, 403);
    assert!(h.stub.seen().is_empty(), "nothing reached the CRM");
    let other = r#"{"data":[{"Last_Name":"Doe","Owner":{"id":"111"}}]}"#;
    let passed = h
        .http
        .send("POST", "/crm/v8/Leads", &[], other.as_bytes())
        .await;
    assert_eq!(passed.status, 200);
    assert_eq!(h.stub.seen()[0].body.as_ref(), other.as_bytes());
}

#[tokio::test]
async fn an_unreachable_upstream_gives_a_502_json_refusal() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let h = Harness::start_with_upstream(closed, "2s").await;
    let answer = h.http.send("GET", "/crm/v8/Leads", &[], b"").await;
    assert_eq!(answer.status, 502);
    assert!(answer.is_json());
    assert_eq!(answer.json()["details"]["error"], "upstream_unreachable");
}

#[tokio::test]
async fn a_slow_upstream_gives_a_504_json_refusal() {
    let stub = Stub::start().await;
    let h = Harness::start_with_upstream(stub.addr, "200ms").await;
    let answer = h.http.send("GET", "/crm/v8/__slow", &[], b"").await;
    assert_eq!(answer.status, 504);
    assert!(answer.is_json());
    assert_eq!(answer.json()["details"]["error"], "upstream_timeout");
}

#[tokio::test]
async fn a_request_with_two_distinct_tokens_is_refused() {
    let h = Harness::start().await;
    let (_, token) = h.grant_and_token("org-acme", "staff-ana", 2).await;
    let answer = h
        .http
        .send(
            "GET",
            &format!("/crm/v8/Leads?access_token={token}"),
            &[("authorization", "Zoho-oauthtoken 1000.customer.token")],
            b"",
        )
        .await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json()["details"]["error"], "several_tokens");
    assert!(h.stub.seen().is_empty());
}

#[tokio::test]
async fn an_oversized_request_head_is_refused_and_never_forwarded() {
    let h = Harness::start().await;
    let huge = "a".repeat(80 * 1024);
    let request = format!(
        "GET /crm/v8/Leads HTTP/1.1\r\nHost: crm\r\nX-Big: {huge}\r\nConnection: close\r\n\r\n"
    );
    let answer = support_access_e2e::client::raw(h.gateway.proxy, request.as_bytes()).await;
    let status_line = answer.lines().next().unwrap_or_default();
    assert!(
        status_line.starts_with("HTTP/1.1 431") || status_line.starts_with("HTTP/1.1 400"),
        "{status_line}"
    );
    assert!(h.stub.seen().is_empty());
}

#[tokio::test]
async fn cleartext_http2_is_served_with_prior_knowledge() {
    let h = Harness::start().await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let request = http::Request::get(format!("http://{}/crm/v8/Leads?page=2", h.gateway.proxy))
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), http::Version::HTTP_2);
    let seen = h.stub.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].target, "/crm/v8/Leads?page=2");
}

#[tokio::test]
async fn a_fresh_gateway_is_ready_at_once() {
    // Regression: /readyz answered 503 audit_unavailable for the first 30 s of every
    // process, before any audit append had been tried.
    let h = Harness::start().await;
    let ops = support_access_e2e::client::HttpClient::new(h.gateway.ops);
    let ready = ops.send("GET", "/readyz", &[], b"").await;
    assert_eq!(ready.status, 200, "{:?}", ready.body);
    assert_eq!(ready.json()["status"], "ready");
}
