//! The management API: every call's success and failure codes, bad input, org isolation,
//! token kinds, the token exchange and the seat, audit listing, export and OpenAPI.

use chrono::Duration;
use serde_json::{Value, json};
use support_access_e2e::client::Answer;
use support_access_e2e::harness::Harness;
use support_access_e2e::tokens;

const V1: &str = "/support-access/v1";

async fn call(h: &Harness, method: &str, path: &str, token: &str, body: Option<Value>) -> Answer {
    // After the `request.completed` of the support requests answered so far, as a
    // client reading the log later sees them.
    h.settled().await;
    let bytes = body.map(|b| b.to_string()).unwrap_or_default();
    h.http
        .send(
            method,
            &format!("{V1}{path}"),
            &[("authorization", &format!("Bearer {token}"))],
            bytes.as_bytes(),
        )
        .await
}

async fn raw_call(h: &Harness, method: &str, path: &str, token: &str, body: &[u8]) -> Answer {
    h.http
        .send(
            method,
            &format!("{V1}{path}"),
            &[("authorization", &format!("Bearer {token}"))],
            body,
        )
        .await
}

fn error(answer: &Answer) -> String {
    assert!(
        answer.is_json(),
        "not JSON: {:?}",
        String::from_utf8_lossy(&answer.body)
    );
    answer.json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn kinds(h: &Harness, org: &str) -> Vec<String> {
    h.events(org)
        .await
        .iter()
        .map(|e| e.kind.as_str().to_owned())
        .collect()
}

#[tokio::test]
async fn an_admin_grants_changes_and_revokes_and_each_step_is_audited() {
    let h = Harness::start().await;
    let admin = tokens::admin("org-a", "alice", h.now());
    assert_eq!(
        error(&call(&h, "GET", "/grant", &admin, None).await),
        "no_grant"
    );

    let created = call(
        &h,
        "POST",
        "/grant",
        &admin,
        Some(json!({"days": 3, "reason": "sync bug", "ticket": "T-7"})),
    )
    .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let grant = created.json();
    assert_eq!(grant["status"], "active");
    assert_eq!(grant["org"], "org-a");
    assert_eq!(grant["created_by"], "alice");
    assert_eq!(grant["reason"], "sync bug");
    assert_eq!(grant["ticket"], "T-7");
    assert_eq!(grant["seat"], Value::Null);
    let support_user = grant["support_user"].as_str().unwrap();
    assert!(support_user.parse::<u64>().is_ok(), "{support_user}");
    let expires =
        chrono::DateTime::parse_from_rfc3339(grant["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(expires.to_utc(), h.now() + Duration::days(3));

    let end = (h.now() + Duration::days(10)).to_rfc3339();
    let changed = call(
        &h,
        "PATCH",
        "/grant",
        &admin,
        Some(json!({"expires_at": end})),
    )
    .await;
    assert_eq!(changed.status, 200);
    assert_eq!(changed.json()["id"], grant["id"]);
    let shown = call(&h, "GET", "/grant", &admin, None).await;
    assert_eq!(shown.status, 200);
    assert_eq!(shown.json()["expires_at"], changed.json()["expires_at"]);

    let revoked = call(&h, "DELETE", "/grant", &admin, None).await;
    assert_eq!(revoked.status, 204);
    let after = call(&h, "GET", "/grant", &admin, None).await.json();
    assert_eq!(after["status"], "revoked");
    assert_eq!(after["revoked_by"], "alice");
    assert!(after["revoked_at"].is_string());
    assert_eq!(
        error(&call(&h, "DELETE", "/grant", &admin, None).await),
        "no_active_grant"
    );
    assert_eq!(
        kinds(&h, "org-a").await,
        ["grant.created", "grant.changed", "grant.revoked"]
    );
}

#[tokio::test]
async fn grant_bounds_and_conflicts_have_their_status_codes() {
    let h = Harness::start().await;
    let admin = tokens::admin("org-a", "alice", h.now());
    let short = (h.now() + Duration::hours(23) + Duration::minutes(59)).to_rfc3339();
    let answer = call(
        &h,
        "POST",
        "/grant",
        &admin,
        Some(json!({"expires_at": short})),
    )
    .await;
    assert_eq!(
        (answer.status.as_u16(), error(&answer).as_str()),
        (422, "grant_too_short")
    );
    let answer = call(&h, "POST", "/grant", &admin, Some(json!({"days": 366}))).await;
    assert_eq!(
        (answer.status.as_u16(), error(&answer).as_str()),
        (422, "grant_too_long")
    );
    let past = (h.now() - Duration::days(1)).to_rfc3339();
    let answer = call(
        &h,
        "POST",
        "/grant",
        &admin,
        Some(json!({"expires_at": past})),
    )
    .await;
    assert_eq!(
        (answer.status.as_u16(), error(&answer).as_str()),
        (422, "end_date_in_past")
    );
    assert_eq!(
        call(&h, "POST", "/grant", &admin, Some(json!({"days": 1})))
            .await
            .status,
        201
    );
    let again = call(&h, "POST", "/grant", &admin, Some(json!({"days": 2}))).await;
    assert_eq!(
        (again.status.as_u16(), error(&again).as_str()),
        (409, "grant_already_active")
    );
    let too_far = (h.now() + Duration::days(400)).to_rfc3339();
    let answer = call(
        &h,
        "PATCH",
        "/grant",
        &admin,
        Some(json!({"expires_at": too_far})),
    )
    .await;
    assert_eq!(answer.status, 422);
}

#[tokio::test]
async fn any_whole_number_of_days_is_well_formed_and_out_of_range_is_422() {
    let h = Harness::start().await;
    let admin = tokens::admin("org-a", "alice", h.now());
    for (days, code) in [
        (json!(-1), "end_date_in_past"),
        (json!(0), "end_date_in_past"),
        (json!(400), "grant_too_long"),
        (json!(5_000_000_000_i64), "grant_too_long"),
        (json!(4_294_967_295_u32), "grant_too_long"),
    ] {
        let answer = call(&h, "POST", "/grant", &admin, Some(json!({"days": days}))).await;
        assert_eq!(
            (answer.status.as_u16(), error(&answer).as_str()),
            (422, code),
            "days {days}"
        );
    }
    let answer = call(&h, "POST", "/grant", &admin, Some(json!({"days": 400}))).await;
    assert_eq!(
        answer.json()["message"],
        "Access may last at most 365 days from now."
    );
    assert!(h.events("org-a").await.is_empty(), "nothing granted");
}

#[tokio::test]
async fn patch_takes_days_as_post_does() {
    let h = Harness::start().await;
    let admin = tokens::admin("org-a", "alice", h.now());
    let created = call(&h, "POST", "/grant", &admin, Some(json!({"days": 2}))).await;
    assert_eq!(created.status, 201);
    let changed = call(&h, "PATCH", "/grant", &admin, Some(json!({"days": 7}))).await;
    assert_eq!(changed.status, 200);
    let expires = chrono::DateTime::parse_from_rfc3339(
        changed.json()["expires_at"].as_str().unwrap_or_default(),
    )
    .expect("an RFC 3339 end");
    assert_eq!(expires.to_utc(), h.now() + Duration::days(7));
    for (body, status, code) in [
        (json!({"days": -1}), 422, "end_date_in_past"),
        (json!({"days": 400}), 422, "grant_too_long"),
        (json!({}), 400, "invalid_body"),
        (
            json!({"days": 3, "expires_at": "2030-01-01T00:00:00Z"}),
            400,
            "invalid_body",
        ),
    ] {
        let answer = call(&h, "PATCH", "/grant", &admin, Some(body.clone())).await;
        assert_eq!(
            (answer.status.as_u16(), error(&answer).as_str()),
            (status, code),
            "{body}"
        );
    }
    assert_eq!(
        kinds(&h, "org-a").await,
        ["grant.created", "grant.changed"],
        "only the valid change is audited"
    );
}

#[tokio::test]
async fn bad_input_gets_a_clear_json_4xx_and_changes_nothing() {
    let h = Harness::start().await;
    let admin = tokens::admin("org-a", "alice", h.now());
    let cases: [(&str, &[u8], u16, &str); 8] = [
        ("POST", b"{\"days\": 2", 400, "malformed_json"),
        ("POST", b"not json at all", 400, "malformed_json"),
        ("POST", br#"{"days": "two"}"#, 400, "invalid_body"),
        (
            "POST",
            br#"{"days": 2, "org": "org-b"}"#,
            400,
            "invalid_body",
        ),
        (
            "POST",
            br#"{"expires_at": "next tuesday"}"#,
            400,
            "invalid_date",
        ),
        (
            "POST",
            br#"{"expires_at": "2030-01-01"}"#,
            400,
            "invalid_date",
        ),
        (
            "POST",
            br#"{"days": 2, "expires_at": "2030-01-01T00:00:00Z"}"#,
            400,
            "invalid_body",
        ),
        ("PATCH", br#"{"expires_at": 5}"#, 400, "invalid_body"),
    ];
    for (method, body, status, code) in cases {
        let answer = raw_call(&h, method, "/grant", &admin, body).await;
        assert_eq!(
            (answer.status.as_u16(), error(&answer).as_str()),
            (status, code),
            "{method} {}",
            String::from_utf8_lossy(body)
        );
    }
    let huge = format!(r#"{{"days": 2, "reason": "{}"}}"#, "x".repeat(40_000));
    let answer = raw_call(&h, "POST", "/grant", &admin, huge.as_bytes()).await;
    assert_eq!(
        (answer.status.as_u16(), error(&answer).as_str()),
        (413, "body_too_large")
    );
    let long_reason = json!({"days": 2, "reason": "x".repeat(1001)});
    assert_eq!(
        call(&h, "POST", "/grant", &admin, Some(long_reason))
            .await
            .status,
        400
    );
    for query in [
        "?kind=grant.deleted",
        "?decision=maybe",
        "?from=yesterday",
        "?limit=0",
        "?limit=5000",
        "?cursor=abc",
        "?support_user=x",
        "?colour=red",
    ] {
        let answer = call(&h, "GET", &format!("/audit{query}"), &admin, None).await;
        assert_eq!(answer.status, 400, "{query}");
        assert!(answer.is_json());
    }
    assert_eq!(
        error(&call(&h, "GET", "/grant", &admin, None).await),
        "no_grant"
    );
    assert!(
        h.events("org-a").await.is_empty(),
        "nothing changed, nothing audited"
    );
}

#[tokio::test]
async fn an_admin_of_one_org_can_neither_see_nor_touch_another_org() {
    let h = Harness::start().await;
    let alice = tokens::admin("org-a", "alice", h.now());
    let bob = tokens::admin("org-b", "bob", h.now());
    assert_eq!(
        call(&h, "POST", "/grant", &alice, Some(json!({"days": 2})))
            .await
            .status,
        201
    );
    assert_eq!(
        error(&call(&h, "GET", "/grant", &bob, None).await),
        "no_grant"
    );
    assert_eq!(call(&h, "DELETE", "/grant", &bob, None).await.status, 404);
    let end = (h.now() + Duration::days(5)).to_rfc3339();
    assert_eq!(
        call(
            &h,
            "PATCH",
            "/grant",
            &bob,
            Some(json!({"expires_at": end}))
        )
        .await
        .status,
        404
    );
    let listing = call(&h, "GET", "/audit", &bob, None).await.json();
    assert_eq!(listing["events"], json!([]));
    let export = call(&h, "GET", "/audit/export?format=jsonl", &bob, None).await;
    assert_eq!(export.body.len(), 0);
    assert_eq!(
        call(&h, "GET", "/grant", &alice, None).await.json()["status"],
        "active"
    );
}

#[tokio::test]
async fn callers_of_the_wrong_kind_are_refused() {
    let h = Harness::start().await;
    let now = h.now();
    let staff = tokens::staff("staff-ana", now);
    let member = tokens::customer("org-a", "carol", &["user"], now);
    let admin = tokens::admin("org-a", "alice", now);
    for token in [&staff, &member] {
        for (method, path) in [
            ("POST", "/grant"),
            ("GET", "/grant"),
            ("DELETE", "/grant"),
            ("GET", "/audit"),
            ("GET", "/audit/export?format=csv"),
        ] {
            let answer = call(&h, method, path, token, Some(json!({"days": 2}))).await;
            assert_eq!(answer.status, 403, "{method} {path}");
        }
    }
    assert_eq!(
        call(&h, "POST", "/token", &admin, Some(json!({"org": "org-a"})))
            .await
            .status,
        403
    );
    let no_role = tokens::staff_with_roles("staff-eve", &["viewer"], now);
    assert_eq!(
        call(
            &h,
            "POST",
            "/token",
            &no_role,
            Some(json!({"org": "org-a"}))
        )
        .await
        .status,
        403
    );
    let none = h.http.send("GET", &format!("{V1}/grant"), &[], b"").await;
    assert_eq!(
        (none.status.as_u16(), error(&none).as_str()),
        (401, "token_missing")
    );
    assert_eq!(call(&h, "GET", "/grant", "garbage", None).await.status, 401);
    let expired = tokens::admin("org-a", "alice", now - Duration::hours(3));
    assert_eq!(call(&h, "GET", "/grant", &expired, None).await.status, 401);
    assert!(h.events("org-a").await.is_empty());
}

#[tokio::test]
async fn a_support_token_is_refused_on_every_management_call_as_restriction_1() {
    let h = Harness::start().await;
    let (_, support) = h.grant_and_token("org-a", "staff-ana", 2).await;
    for (method, path) in [
        ("GET", "/grant"),
        ("POST", "/grant"),
        ("DELETE", "/grant"),
        ("GET", "/audit"),
        ("GET", "/audit/export?format=csv"),
        ("POST", "/token"),
    ] {
        let answer = call(&h, method, path, &support, Some(json!({"days": 2}))).await;
        assert_eq!(answer.status, 403, "{method} {path}");
        assert_eq!(answer.json()["restriction"], 1, "{method} {path}");
    }
    let blocked = h
        .events("org-a")
        .await
        .iter()
        .filter(|e| e.kind.as_str() == "request.blocked")
        .count();
    assert_eq!(blocked, 6);
    assert!(h.stub.seen().is_empty());
}

#[tokio::test]
async fn the_token_exchange_gives_one_seat_at_a_time() {
    let h = Harness::start().await;
    let now = h.now();
    let admin = tokens::admin("org-a", "alice", now);
    let ana = tokens::staff("staff-ana", now);
    let bob = tokens::staff("staff-bob", now);
    let none = call(&h, "POST", "/token", &ana, Some(json!({"org": "org-a"}))).await;
    assert_eq!(
        (none.status.as_u16(), error(&none).as_str()),
        (404, "no_active_grant")
    );
    call(&h, "POST", "/grant", &admin, Some(json!({"days": 2}))).await;
    let issued = call(&h, "POST", "/token", &ana, Some(json!({"org": "org-a"}))).await;
    assert_eq!(issued.status, 200, "{:?}", issued.body);
    let answer = issued.json();
    assert_eq!(answer["token_type"], "Bearer");
    let support = answer["access_token"].as_str().unwrap().to_owned();
    assert_eq!(h.http.get("/crm/v8/Leads", &support).await.status, 200);
    let shown = call(&h, "GET", "/grant", &admin, None).await.json();
    assert_eq!(shown["seat"]["holder"], "staff-ana");
    assert_eq!(answer["support_user"], shown["support_user"]);

    let taken = call(&h, "POST", "/token", &bob, Some(json!({"org": "org-a"}))).await;
    assert_eq!(
        (taken.status.as_u16(), error(&taken).as_str()),
        (409, "support_seat_taken")
    );
    assert_eq!(
        call(&h, "DELETE", "/token", &support, None).await.status,
        204
    );
    assert_eq!(h.http.get("/crm/v8/Leads", &support).await.status, 401);
    let bobs = call(&h, "POST", "/token", &bob, Some(json!({"org": "org-a"}))).await;
    assert_eq!(bobs.status, 200);
    assert_eq!(
        call(&h, "DELETE", "/token", &bob, Some(json!({"org": "org-a"})))
            .await
            .status,
        204
    );
    assert_eq!(
        kinds(&h, "org-a").await,
        [
            "grant.created",
            "token.issued",
            "request.allowed",
            "request.completed",
            "seat.released",
            "request.blocked",
            "token.issued",
            "seat.released"
        ]
    );
}

#[tokio::test]
async fn the_audit_log_lists_filters_pages_and_exports() {
    let h = Harness::start().await;
    let now = h.now();
    let admin = tokens::admin("org-a", "alice", now);
    call(&h, "POST", "/grant", &admin, Some(json!({"days": 2}))).await;
    let issued = call(
        &h,
        "POST",
        "/token",
        &tokens::staff("staff-ana", now),
        Some(json!({"org": "org-a"})),
    )
    .await
    .json();
    let support = issued["access_token"].as_str().unwrap().to_owned();
    h.http.get("/crm/v8/Leads", &support).await;
    h.http
        .send(
            "POST",
            "/crm/v8/Leads/1/actions/send_mail",
            &[("authorization", &format!("Bearer {support}"))],
            b"{}",
        )
        .await;

    let all = call(&h, "GET", "/audit", &admin, None).await.json();
    let seqs: Vec<u64> = all["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    // The refused send_mail is approvable: it also left `approval.requested` (seq 5).
    assert_eq!(seqs, [6, 5, 4, 3, 2, 1]);
    let blocked = call(&h, "GET", "/audit?decision=blocked", &admin, None)
        .await
        .json();
    assert_eq!(blocked["events"].as_array().unwrap().len(), 1);
    assert_eq!(blocked["events"][0]["restriction"], 5);
    assert_eq!(blocked["events"][0]["decision"], "blocked");
    let by_ana = call(&h, "GET", "/audit?actor=staff-ana", &admin, None)
        .await
        .json();
    assert_eq!(by_ana["events"].as_array().unwrap().len(), 5);
    let by_user = format!(
        "/audit?support_user={}&kind=request.completed",
        issued["support_user"].as_str().unwrap()
    );
    assert_eq!(
        call(&h, "GET", &by_user, &admin, None).await.json()["events"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let mut cursor: Option<String> = None;
    let mut paged = Vec::new();
    loop {
        let path = match &cursor {
            Some(c) => format!("/audit?limit=2&cursor={c}"),
            None => "/audit?limit=2".to_owned(),
        };
        let page = call(&h, "GET", &path, &admin, None).await.json();
        paged.extend(
            page["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["seq"].as_u64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(paged, seqs);

    let csv = call(&h, "GET", "/audit/export?format=csv", &admin, None).await;
    assert_eq!(csv.status, 200);
    assert!(
        csv.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = String::from_utf8(csv.body.to_vec()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("id,org,seq,at,kind"));
    assert_eq!(lines.len(), 7);
    let jsonl = call(
        &h,
        "GET",
        "/audit/export?format=jsonl&decision=allowed",
        &admin,
        None,
    )
    .await;
    let rows: Vec<Value> = String::from_utf8(jsonl.body.to_vec())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["kind"], "request.allowed");
    assert_eq!(
        call(&h, "GET", "/audit/export?format=xml", &admin, None)
            .await
            .status,
        400
    );
}

#[tokio::test]
async fn the_openapi_document_lists_every_route() {
    let h = Harness::start().await;
    let doc = h
        .http
        .send("GET", &format!("{V1}/openapi.json"), &[], b"")
        .await;
    assert_eq!(doc.status, 200);
    let doc = doc.json();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let routes = [
        ("post", "/grant"),
        ("get", "/grant"),
        ("patch", "/grant"),
        ("delete", "/grant"),
        ("post", "/token"),
        ("delete", "/token"),
        ("get", "/audit"),
        ("get", "/audit/export"),
        ("get", "/audit/checkpoint"),
        ("get", "/audit/verifier-key"),
        ("get", "/audit/proof/inclusion"),
        ("get", "/audit/proof/consistency"),
        ("get", "/jwks.json"),
        ("get", "/openapi.json"),
        ("get", "/settings"),
    ];
    for (method, path) in routes {
        let full = format!("{V1}{path}");
        assert!(
            doc["paths"][&full][method].is_object(),
            "{method} {full} missing from the OpenAPI document"
        );
    }
    let jwks = h
        .http
        .send("GET", &format!("{V1}/jwks.json"), &[], b"")
        .await
        .json();
    assert_eq!(jwks["keys"][0]["kty"], "OKP");
    let unknown = h.http.send("GET", &format!("{V1}/nothing"), &[], b"").await;
    assert_eq!(
        (unknown.status.as_u16(), error(&unknown).as_str()),
        (404, "not_found")
    );
}
