//! `/grant`: an org's admin grants, reads, changes and revokes support access.

use axum::extract::State;
use axum::response::IntoResponse;
use http::StatusCode;
use support_access_core::service::{GrantEnd, GrantRequest};
use support_access_core::{EndDateError, GrantBounds, GrantStatus};

use super::Mgmt;
use super::api::{ErrorBody, GrantBody, GrantChange, GrantCreate};
use super::extract::{Admin, JsonBody, RequestId};
use super::reply::{Reply, bounded_text, invalid, json, parse_time};
use crate::live::Ended;
use crate::metrics::StoreOp;
use crate::refusal::Refusal;

/// Grant support access to the caller's org.
#[utoipa::path(post, path = "/support-access/v1/grant", request_body = GrantCreate,
    security(("customer_admin" = [])),
    responses((status = 201, body = GrantBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn post_grant(
    State(m): State<Mgmt>,
    RequestId(request_id): RequestId,
    admin: Admin,
    JsonBody(body): JsonBody<GrantCreate>,
) -> Reply {
    let request = grant_request(body, m.access.bounds())?;
    let access = m.access.for_request(&request_id);
    let granted = access.grant(&admin.org, &admin.sub, request);
    let grant = m.call(StoreOp::lifecycle, granted).await?;
    m.refresh_support_users().await;
    Ok(json(
        StatusCode::CREATED,
        &GrantBody::new(&grant, GrantStatus::Active),
    ))
}

fn grant_request(body: GrantCreate, bounds: GrantBounds) -> Result<GrantRequest, Refusal> {
    Ok(GrantRequest {
        end: grant_end(body.expires_at, body.days, bounds)?,
        reason: bounded_text("reason", body.reason, 1000)?,
        ticket: bounded_text("ticket", body.ticket, 200)?,
    })
}

/// Exactly one of `expires_at` and `days`. Any whole number of days is well-formed, so
/// a count out of range is refused as a length (`422`), not as a body (`400`).
fn grant_end(
    expires_at: Option<String>,
    days: Option<i64>,
    bounds: GrantBounds,
) -> Result<GrantEnd, Refusal> {
    match (expires_at, days) {
        (Some(at), None) => Ok(GrantEnd::At(parse_time("expires_at", &at)?)),
        (None, Some(days)) if days < 0 => Err(EndDateError::InPast.into()),
        (None, Some(days)) => u32::try_from(days).map(GrantEnd::Days).map_err(|_| {
            EndDateError::TooLong {
                max_seconds: bounds.max.num_seconds(),
            }
            .into()
        }),
        _ => Err(invalid(
            "invalid_body",
            "Give exactly one of `expires_at` and `days`.",
        )),
    }
}

/// The current grant: the active one, or the latest revoked or expired one.
#[utoipa::path(get, path = "/support-access/v1/grant",
    security(("customer_admin" = [])),
    responses((status = 200, body = GrantBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn get_grant(State(m): State<Mgmt>, admin: Admin) -> Reply {
    let view = m
        .call(StoreOp::lifecycle, m.access.status(&admin.org))
        .await?
        .ok_or(Refusal::NoGrant)?;
    Ok(json(
        StatusCode::OK,
        &GrantBody::new(&view.grant, view.status),
    ))
}

/// Change the end date of the active grant (bounds counted from now).
#[utoipa::path(patch, path = "/support-access/v1/grant", request_body = GrantChange,
    security(("customer_admin" = [])),
    responses((status = 200, body = GrantBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(super) async fn patch_grant(
    State(m): State<Mgmt>,
    RequestId(request_id): RequestId,
    admin: Admin,
    JsonBody(body): JsonBody<GrantChange>,
) -> Reply {
    let end = grant_end(body.expires_at, body.days, m.access.bounds())?;
    let access = m.access.for_request(&request_id);
    let changed = access.change_end_to(&admin.org, &admin.sub, end);
    let grant = m.call(StoreOp::lifecycle, changed).await?;
    Ok(json(
        StatusCode::OK,
        &GrantBody::new(&grant, GrantStatus::Active),
    ))
}

/// Revoke the active grant now; the very next support request is refused.
#[utoipa::path(delete, path = "/support-access/v1/grant",
    security(("customer_admin" = [])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn delete_grant(
    State(m): State<Mgmt>,
    RequestId(request_id): RequestId,
    admin: Admin,
) -> Reply {
    // Answered 204 only once the revoke and its event are durable; a 503 (a store that
    // failed or did not answer in time) changed nothing, unless the commit was already
    // under way when the time was up.
    let access = m.access.for_request(&request_id);
    let revoke = access.revoke(&admin.org, &admin.sub);
    let revoked = m.call(StoreOp::lifecycle, revoke).await?;
    m.live.end(revoked.id, Ended::Revoked);
    crate::seat::void_approvals(&m.approvals, &m.metrics, m.store_timeout, revoked.id).await;
    m.refresh_support_users().await;
    Ok(StatusCode::NO_CONTENT.into_response())
}
