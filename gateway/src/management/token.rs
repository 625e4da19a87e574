//! `/token`: a support-staff member exchanges a staff token for a support token (the
//! support seat), and releases the seat.

use axum::extract::State;
use axum::response::IntoResponse;
use http::StatusCode;
use support_access_core::ids::OrgId;

use super::Mgmt;
use super::api::{self, ErrorBody, TokenAnswer, TokenRequest};
use super::extract::{JsonBody, RequestId, Staff};
use super::reply::{Reply, json};
use crate::metrics::StoreOp;
use crate::refusal::Refusal;

/// Exchange a staff token for a support token (claims the support seat).
#[utoipa::path(post, path = "/support-access/v1/token", request_body = TokenRequest,
    security(("support_staff" = [])),
    responses((status = 200, body = TokenAnswer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn post_token(
    State(m): State<Mgmt>,
    RequestId(request_id): RequestId,
    staff: Staff,
    JsonBody(body): JsonBody<TokenRequest>,
) -> Reply {
    let org = OrgId::new(body.org);
    let access = m.access.for_request(&request_id);
    let claimed = access.claim_seat(&org, &staff.sub);
    let grant = m.call(StoreOp::lifecycle, claimed).await?;
    let (token, expires_at) = m
        .signer
        .issue(&grant, &staff.sub, m.access.now())
        .map_err(|_| Refusal::TokenIssueFailed)?;
    let answer = TokenAnswer {
        access_token: token,
        token_type: "Bearer".into(),
        expires_at: api::time(expires_at),
        support_user: grant.support_user.to_string(),
        grant: grant.id.to_string(),
    };
    Ok(json(StatusCode::OK, &answer))
}

/// Release the support seat. With a support token (the usual case) the seat of its
/// grant is released; a staff token names the org in the body.
#[utoipa::path(delete, path = "/support-access/v1/token", request_body = Option<TokenRequest>,
    security(("support_staff" = []), ("support_token" = [])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn delete_token(
    State(m): State<Mgmt>,
    RequestId(request_id): RequestId,
    staff: Staff,
    JsonBody(body): JsonBody<TokenRequest>,
) -> Reply {
    let org = OrgId::new(body.org);
    let access = m.access.for_request(&request_id);
    let (access, live, metrics) = ((&access, &m.approvals), &m.live, &m.metrics);
    crate::seat::release(access, live, metrics, m.store_timeout, &org, &staff.sub).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
