//! Revoke, expiry and the seat take effect on the very next request.

use chrono::Duration;
use support_access_core::ids::{OrgId, StaffId};
use support_access_e2e::harness::Harness;

const ORG: &str = "org-acme";

#[tokio::test]
async fn a_revoke_refuses_the_very_next_request() {
    let h = Harness::start().await;
    let (_, token) = h.grant_and_token(ORG, "staff-ana", 2).await;
    assert_eq!(h.http.get("/crm/v8/Leads", &token).await.status, 200);
    h.gateway
        .app()
        .access()
        .revoke(&OrgId::from(ORG), "admin-2")
        .await
        .unwrap();
    let refused = h.http.get("/crm/v8/Leads", &token).await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.json()["details"]["error"], "support_access_revoked");
    assert_eq!(h.stub.seen().len(), 1);
}

#[tokio::test]
async fn expiry_refuses_the_very_next_request() {
    let h = Harness::start().await;
    let (grant, _) = h.grant_and_token(ORG, "staff-ana", 1).await;
    h.clock.set(grant.expires_at - Duration::minutes(10));
    let (token, _) = h
        .gateway
        .app()
        .signer()
        .issue(&grant, &StaffId::from("staff-ana"), h.now())
        .unwrap();
    h.clock.set(grant.expires_at - Duration::microseconds(1));
    assert_eq!(h.http.get("/crm/v8/Leads", &token).await.status, 200);
    h.clock.set(grant.expires_at);
    let refused = h.http.get("/crm/v8/Leads", &token).await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.json()["details"]["error"], "support_access_expired");
    assert_eq!(h.stub.seen().len(), 1);
}

#[tokio::test]
async fn a_released_seat_refuses_the_next_request_and_another_engineer_can_take_it() {
    let h = Harness::start().await;
    let (_, token) = h.grant_and_token(ORG, "staff-ana", 2).await;
    let access = h.gateway.app().access();
    access
        .release_seat(&OrgId::from(ORG), &StaffId::from("staff-ana"))
        .await
        .unwrap();
    let refused = h.http.get("/crm/v8/Leads", &token).await;
    assert_eq!(refused.status, 401);
    assert_eq!(refused.json()["details"]["error"], "support_seat_released");
    let bob = access
        .claim_seat(&OrgId::from(ORG), &StaffId::from("staff-bob"))
        .await
        .unwrap();
    let (bob_token, _) = h
        .gateway
        .app()
        .signer()
        .issue(&bob, &StaffId::from("staff-bob"), h.now())
        .unwrap();
    assert_eq!(h.http.get("/crm/v8/Leads", &bob_token).await.status, 200);
    let ana_again = h.http.get("/crm/v8/Leads", &token).await;
    assert_eq!(ana_again.json()["details"]["error"], "support_seat_taken");
}

/// Reads a streamed support response until it ends; returns the chunks read and whether
/// it ended with an error.
async fn read_stream(
    mut body: hyper::body::Incoming,
    revoke_after: usize,
    revoke: impl AsyncFnOnce(),
) -> (usize, bool) {
    use http_body_util::BodyExt;
    let mut revoke = Some(revoke);
    let mut chunks = 0;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .expect("the stream must end within 5 s of the revoke");
        match frame {
            None => return (chunks, false),
            Some(Err(_)) => return (chunks, true),
            Some(Ok(frame)) if frame.is_data() => {
                chunks += 1;
                if chunks == revoke_after
                    && let Some(revoke) = revoke.take()
                {
                    revoke().await;
                }
            }
            Some(Ok(_)) => {}
        }
    }
}

fn stream_request(h: &Harness, token: &str) -> http::Request<http_body_util::Empty<bytes::Bytes>> {
    http::Request::get(format!("http://{}/crm/v8/Leads/__stream", h.gateway.proxy))
        .header("authorization", format!("Bearer {token}"))
        .body(http_body_util::Empty::new())
        .unwrap()
}

#[tokio::test]
async fn a_revoke_through_the_api_closes_a_support_download_in_flight() {
    let h = Harness::start().await;
    let (_, token) = h.grant_and_token(ORG, "staff-ana", 2).await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let response = client.request(stream_request(&h, &token)).await.unwrap();
    assert_eq!(response.status(), 200);
    let admin = support_access_e2e::tokens::admin(ORG, "alice", h.now());
    let (chunks, cut) = read_stream(response.into_body(), 3, async || {
        let revoked = h
            .http
            .send(
                "DELETE",
                "/support-access/v1/grant",
                &[("authorization", &format!("Bearer {admin}"))],
                b"",
            )
            .await;
        assert_eq!(revoked.status, 204);
    })
    .await;
    assert!(cut, "the download ended with an error, not by completing");
    assert!(
        chunks < 100,
        "the download went on after the revoke ({chunks} chunks)"
    );
}

#[tokio::test]
async fn a_revoke_made_elsewhere_closes_a_support_download_at_the_next_check() {
    let h = Harness::start().await;
    let (_, token) = h.grant_and_token(ORG, "staff-ana", 2).await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let response = client.request(stream_request(&h, &token)).await.unwrap();
    let (chunks, cut) = read_stream(response.into_body(), 2, async || {
        // As another instance would: straight through the service, then the periodic
        // check (run here at once instead of waiting for the sweep interval).
        h.gateway
            .app()
            .access()
            .revoke(&OrgId::from(ORG), "admin-2")
            .await
            .unwrap();
        h.gateway.app().recheck_live().await;
    })
    .await;
    assert!(cut && chunks < 100, "chunks {chunks}, cut {cut}");
}
