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
