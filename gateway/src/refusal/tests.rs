use std::sync::Arc;

use http::StatusCode;
use http::header::CONTENT_TYPE;
use serde_json::json;
use support_access_core::service::{
    ClaimError, GrantError, Refusal as AccessRefusal, ReleaseError,
};
use support_access_core::{EndDateError, StoreError};

use super::{Refusal, Shape};
use crate::live::Ended;
use crate::upstream::UpstreamFailure;

fn denied() -> Refusal {
    Refusal::Denied {
        code: "restricted",
        message: Arc::from("Support may not send e-mail."),
        rule: Some(Arc::from("send-mail")),
        restriction: Some(5),
    }
}

#[test]
fn the_generic_shape_names_code_rule_restriction_and_request_id() {
    let body = denied().body(Shape::Generic, "req-1");
    assert_eq!(
        body,
        json!({"error": "restricted", "message": "Support may not send e-mail.",
               "restriction": 5, "rule": "send-mail", "request_id": "req-1"})
    );
}

#[test]
fn the_zoho_shape_uses_zoho_codes_and_keeps_ours_in_details() {
    let body = denied().body(Shape::Zoho, "req-2");
    assert_eq!(body["code"], "NO_PERMISSION");
    assert_eq!(body["status"], "error");
    assert_eq!(body["details"]["error"], "restricted");
    assert_eq!(body["details"]["restriction"], 5);
    let revoked = Refusal::from(AccessRefusal::Revoked);
    assert_eq!(revoked.body(Shape::Zoho, "r")["code"], "INVALID_TOKEN");
    assert_eq!(
        revoked.body(Shape::Zoho, "r")["details"]["error"],
        "support_access_revoked"
    );
}

#[test]
fn a_rendered_refusal_is_json_with_its_status() {
    let response = Refusal::from(UpstreamFailure::Unreachable).render(Shape::Generic, "r");
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
    assert_eq!(response.headers()["x-request-id"], "r");
    let timeout = Refusal::from(UpstreamFailure::Timeout);
    assert_eq!(
        (timeout.status(), timeout.code()),
        (StatusCode::GATEWAY_TIMEOUT, "upstream_timeout")
    );
}

#[test]
fn a_store_that_cannot_say_is_a_503_whatever_the_operation() {
    let unavailable = || StoreError::Unavailable("down".into());
    let refusals = [
        Refusal::from(unavailable()),
        Refusal::from(AccessRefusal::Store(unavailable())),
        Refusal::from(GrantError::Store(StoreError::Conflict("raced".into()))),
        Refusal::from(ReleaseError::Store(StoreError::NotFound)),
        Refusal::Access(AccessRefusal::Store(unavailable())),
    ];
    for refusal in refusals {
        assert_eq!(
            refusal.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "{refusal:?}"
        );
        assert_eq!(refusal.code(), "store_unavailable");
        let body = refusal.body(Shape::Generic, "r");
        assert!(!body.to_string().contains("down"), "detail leaked: {body}");
    }
}

#[test]
fn lifecycle_errors_map_to_their_statuses_by_variant() {
    let cases = [
        (
            Refusal::from(GrantError::EndDate(EndDateError::InPast)),
            422,
            "end_date_in_past",
        ),
        (
            Refusal::from(GrantError::AlreadyActive),
            409,
            "grant_already_active",
        ),
        (
            Refusal::from(ClaimError::SeatTaken),
            409,
            "support_seat_taken",
        ),
        (
            Refusal::from(ClaimError::NoActiveGrant),
            404,
            "no_active_grant",
        ),
        (
            Refusal::from(ReleaseError::NotSeatHolder),
            409,
            "not_seat_holder",
        ),
    ];
    for (refusal, status, code) in cases {
        assert_eq!((refusal.status().as_u16(), refusal.code()), (status, code));
    }
}

#[test]
fn the_seat_taken_by_another_is_401_on_a_support_request_and_409_at_exchange() {
    let request = Refusal::from(AccessRefusal::SeatTaken);
    let exchange = Refusal::from(ClaimError::SeatTaken);
    assert_eq!(request.code(), exchange.code());
    assert_eq!(request.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(exchange.status(), StatusCode::CONFLICT);
}

#[test]
fn access_that_ended_in_flight_is_refused_as_the_next_request_would_be() {
    let ended = Refusal::from(Ended::SeatReleased);
    assert_eq!(ended.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(ended.code(), "support_seat_released");
}

#[test]
fn the_settings_refusal_names_its_rule_and_restriction_1() {
    let body = Refusal::Settings.body(Shape::Generic, "r");
    assert_eq!(body["rule"], "support-access-settings");
    assert_eq!(body["restriction"], 1);
    assert_eq!(Refusal::Settings.status(), StatusCode::FORBIDDEN);
}

#[test]
fn messages_are_sentences() {
    assert_eq!(
        Refusal::BodyTooLarge { limit: 10 }.message(),
        "This request's body must be read by the gateway and may be at most 10 bytes."
    );
    assert_eq!(
        Refusal::Internal.status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
}

#[test]
fn an_offered_approval_keeps_the_refusal_and_adds_the_approval_in_both_shapes() {
    use chrono::TimeZone;
    use support_access_core::approval::{ApprovalId, ApprovalStatus};
    let id = ApprovalId::random();
    let expires_at = chrono::Utc.with_ymd_and_hms(2026, 12, 2, 9, 0, 0).unwrap();
    let offered = Refusal::Offered {
        refusal: Box::new(denied()),
        approval: super::Offer {
            id,
            status: ApprovalStatus::Pending,
            expires_at,
        },
    };
    assert_eq!(offered.status(), StatusCode::FORBIDDEN);
    assert_eq!(offered.code(), "restricted");
    let approval =
        json!({"id": id.to_string(), "status": "pending", "expires_at": "2026-12-02T09:00:00Z"});
    assert_eq!(
        offered.body(Shape::Generic, "req-1"),
        json!({"error": "restricted", "message": "Support may not send e-mail.",
               "restriction": 5, "rule": "send-mail", "request_id": "req-1",
               "approval": approval})
    );
    let zoho = offered.body(Shape::Zoho, "req-2");
    assert_eq!(zoho["code"], "NO_PERMISSION");
    assert_eq!(zoho["details"]["error"], "restricted");
    assert_eq!(zoho["details"]["approval"], approval);
    assert!(denied().body(Shape::Zoho, "r").get("approval").is_none());
}

#[test]
fn change_refusals_have_their_statuses_and_changed_since_names_the_fields() {
    use support_access_core::change::{Operation, RevertError, SupportChangeError};
    let capture = Refusal::ChangeCaptureFailed;
    assert_eq!(
        (capture.status(), capture.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "change_capture_failed")
    );
    let cases = [
        (
            SupportChangeError::NotFound,
            StatusCode::NOT_FOUND,
            "change_not_found",
        ),
        (
            SupportChangeError::Revert(RevertError::NotRevertible(Operation::Create)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "change_not_revertible",
        ),
        (
            SupportChangeError::RevertedMeanwhile,
            StatusCode::CONFLICT,
            "change_already_reverted",
        ),
    ];
    for (error, status, code) in cases {
        let refusal = Refusal::from(error);
        assert_eq!((refusal.status(), refusal.code()), (status, code));
        assert!(refusal.body(Shape::Generic, "r").get("fields").is_none());
    }
    let since = Refusal::from(SupportChangeError::Revert(RevertError::ChangedSince(vec![
        "City".into(),
        "Phone".into(),
    ])));
    assert_eq!(since.status(), StatusCode::CONFLICT);
    let body = since.body(Shape::Generic, "r");
    assert_eq!(body["error"], "changed_since");
    assert_eq!(body["fields"], json!(["City", "Phone"]));
    let store = Refusal::from(SupportChangeError::Store(StoreError::Unavailable(
        "x".into(),
    )));
    assert_eq!(store.code(), "store_unavailable");
}
