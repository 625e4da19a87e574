//! Support traffic: what passes, with which headers and body, and what is audited.

use support_access_core::audit::{AuditKind, ChainVerifier};
use support_access_core::ids::OrgId;
use support_access_e2e::harness::Harness;

const ORG: &str = "org-acme";

#[tokio::test]
async fn record_crud_passes_with_the_identity_headers() {
    let h = Harness::start().await;
    let (grant, token) = h.grant_and_token(ORG, "staff-ana", 2).await;
    let auth = format!("Zoho-oauthtoken {token}");
    let calls = [
        ("GET", "/crm/v8/Leads?fields=Last_Name", ""),
        ("GET", "/crm/v8/Leads/4150868000000225013", ""),
        (
            "PUT",
            "/crm/v8/Leads/4150868000000225013",
            r#"{"data":[{"Last_Name":"B"}]}"#,
        ),
        ("DELETE", "/crm/v8/Leads/4150868000000225013", ""),
        (
            "POST",
            "/crm/v8/coql",
            r#"{"select_query":"select Last_Name from Leads"}"#,
        ),
        ("GET", "/crm/v8/settings/fields?module=Leads", ""),
        ("GET", "/crm/v8/users?type=CurrentUser", ""),
    ];
    for (method, target, body) in calls {
        let answer = h
            .http
            .send(
                method,
                target,
                &[
                    ("authorization", &auth),
                    ("x-support-access-user", "forged"),
                ],
                body.as_bytes(),
            )
            .await;
        assert_eq!(answer.status, 200, "{method} {target}: {:?}", answer.body);
    }
    // A record write is read just before and just after (SPEC §11), with the same
    // identity as the write itself.
    let expected: Vec<(&str, &str)> = calls
        .iter()
        .flat_map(|&(method, target, _)| match method {
            "PUT" | "DELETE" => vec![("GET", target), (method, target), ("GET", target)],
            _ => vec![(method, target)],
        })
        .collect();
    let seen = h.stub.seen();
    assert_eq!(seen.len(), expected.len());
    for (got, (method, target)) in seen.iter().zip(expected) {
        assert_eq!((got.method.as_str(), got.target.as_str()), (method, target));
        assert_eq!(
            got.headers["x-support-access-grant"],
            grant.id.to_string().as_str()
        );
        assert_eq!(
            got.headers["x-support-access-user"],
            grant.support_user.to_string().as_str()
        );
        assert_eq!(got.headers["x-support-access-actor"], "staff-ana");
        assert_eq!(got.headers["authorization"], auth.as_str());
    }
}

#[tokio::test]
async fn records_created_by_support_are_owned_by_the_support_user() {
    let h = Harness::start().await;
    let (grant, token) = h.grant_and_token(ORG, "staff-ana", 2).await;
    let body =
        r#"{"data":[{"Last_Name":"Doe","Owner":{"id":"111"}},{"Last_Name":"Roe"}],"trigger":[]}"#;
    let answer = h
        .http
        .send(
            "POST",
            "/crm/v8/Leads",
            &[("authorization", &format!("Bearer {token}"))],
            body.as_bytes(),
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let seen = h.stub.seen();
    let forwarded: serde_json::Value = serde_json::from_slice(&seen[0].body).unwrap();
    let owner = grant.support_user.to_string();
    for record in forwarded["data"].as_array().unwrap() {
        assert_eq!(record["Owner"]["id"], owner.as_str(), "{forwarded}");
    }
    assert_eq!(
        seen[0].headers["content-length"],
        seen[0].body.len().to_string().as_str()
    );
}

#[tokio::test]
async fn every_support_request_leaves_its_audit_events_and_the_chain_verifies() {
    let h = Harness::start().await;
    let (grant, token) = h.grant_and_token(ORG, "staff-ana", 2).await;
    let allowed = h.http.get("/crm/v8/Leads", &token).await;
    assert_eq!(allowed.status, 200);
    // Its `request.completed` is stored off the request path: wait for it, so that the
    // order below is the order of the requests.
    h.settled().await;
    let blocked = h
        .http
        .send(
            "POST",
            "/crm/v8/Leads/1/actions/send_mail",
            &[("authorization", &format!("Bearer {token}"))],
            b"{}",
        )
        .await;
    assert_eq!(blocked.status, 403);
    let events = h.events(ORG).await;
    let kinds: Vec<AuditKind> = events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![
            AuditKind::GrantCreated,
            AuditKind::TokenIssued,
            AuditKind::RequestAllowed,
            AuditKind::RequestCompleted,
            AuditKind::ApprovalRequested,
            AuditKind::RequestBlocked,
        ]
    );
    let completed = &events[3];
    assert_eq!(completed.status, Some(200));
    assert!(completed.latency_ms.is_some());
    assert_eq!(completed.path.as_deref(), Some("/crm/v8/Leads"));
    // send_mail is approvable (SPEC §10): the refusal offered an approval, named by
    // both events.
    let offered = blocked.json()["details"]["approval"]["id"].clone();
    assert_eq!(
        events[4].approval.map(|a| a.to_string()),
        offered.as_str().map(str::to_owned)
    );
    let refused = &events[5];
    assert_eq!(refused.approval, events[4].approval);
    assert_eq!(refused.restriction, Some(5));
    assert_eq!(refused.status, Some(403));
    assert_eq!(refused.method.as_deref(), Some("POST"));
    assert_eq!(refused.actor.as_deref(), Some("staff-ana"));
    assert_eq!(refused.support_user, Some(grant.support_user));
    assert_eq!(refused.ticket.as_deref(), Some("T-1"));
    let request_id = blocked.json()["details"]["request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(refused.request_id.as_deref(), Some(request_id.as_str()));
    assert_eq!(blocked.headers["x-request-id"], request_id.as_str());
    let mut verifier = ChainVerifier::new(OrgId::from(ORG));
    for event in &events {
        verifier.check(event).unwrap();
    }
}

#[tokio::test]
async fn refusals_of_each_kind_have_the_right_status_and_json_body() {
    let h = Harness::start().await;
    let (_, token) = h.grant_and_token(ORG, "staff-ana", 2).await;
    let bearer = format!("Bearer {token}");

    let flip = token.len() - 10;
    let replacement = if &token[flip..=flip] == "A" { "B" } else { "A" };
    let forged = format!("{}{replacement}{}", &token[..flip], &token[flip + 1..]);
    let bad_token = h.http.get("/crm/v8/Leads", &forged).await;
    assert_eq!(bad_token.status, 401);
    assert_eq!(bad_token.json()["code"], "INVALID_TOKEN");
    assert_eq!(
        bad_token.json()["details"]["error"],
        "token_signature_invalid"
    );

    let denied = h
        .http
        .send(
            "POST",
            "/crm/bulk/v8/read",
            &[("authorization", &bearer)],
            b"{}",
        )
        .await;
    assert_eq!(denied.status, 403);
    assert_eq!(denied.json()["code"], "NO_PERMISSION");
    assert_eq!(denied.json()["details"]["restriction"], 7);

    let encoded = h
        .http
        .get("/crm/v8/Leads/1%2Factions%2Fsend_mail", &token)
        .await;
    assert_eq!(encoded.status, 400);
    assert!(encoded.is_json());

    let huge = vec![b' '; 70_000];
    let too_large = h
        .http
        .send(
            "POST",
            "/crm/v8/Leads",
            &[("authorization", &bearer)],
            &huge,
        )
        .await;
    assert_eq!(too_large.status, 413);
    assert!(too_large.is_json());

    let management = h.http.get("/support-access/v1/grant", &token).await;
    assert_eq!(management.status, 403);
    assert_eq!(management.json()["restriction"], 1);

    for answer in [&bad_token, &denied, &encoded, &too_large, &management] {
        assert_eq!(answer.headers["content-type"], "application/json");
    }
    assert!(
        h.stub.seen().is_empty(),
        "nothing reached the CRM: {:?}",
        h.stub.seen()
    );
    let blocked = h
        .events(ORG)
        .await
        .into_iter()
        .filter(|e| e.kind == AuditKind::RequestBlocked)
        .count();
    assert_eq!(blocked, 4, "every refusal after verification is audited");
}

#[tokio::test]
async fn with_the_audit_store_down_support_gets_503_and_ordinary_traffic_still_flows() {
    let h = Harness::start_with_separate_audit_store().await;
    let (_, token) = h.grant_and_token(ORG, "staff-ana", 2).await;
    h.audit.close().await;
    let support = h.http.get("/crm/v8/Leads", &token).await;
    assert_eq!(support.status, 503);
    assert_eq!(support.json()["details"]["error"], "audit_unavailable");
    let blocked = h
        .http
        .send(
            "POST",
            "/crm/v8/Leads/1/actions/send_mail",
            &[("authorization", &format!("Bearer {token}"))],
            b"{}",
        )
        .await;
    assert_eq!(blocked.status, 503);
    assert!(h.stub.seen().is_empty(), "support traffic reached the CRM");
    let ordinary = h
        .http
        .send(
            "GET",
            "/crm/v8/Leads",
            &[("authorization", "Zoho-oauthtoken 1000.a.b")],
            b"",
        )
        .await;
    assert_eq!(ordinary.status, 200);
    assert_eq!(h.stub.seen().len(), 1);
}
