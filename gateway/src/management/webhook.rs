//! `/webhooks`: an org's admin registers, lists and deletes webhook endpoints, reads
//! their recent deliveries and queues a test delivery (SPEC §9). Admin tokens only;
//! support tokens never get here (the pipeline refuses them as restriction 1).

use axum::extract::{Path, RawQuery, State};
use axum::response::IntoResponse;
use http::StatusCode;
use support_access_core::notify::EndpointId;
use support_access_core::notify::service::{MAX_DELIVERIES, WebhookError};

use super::Mgmt;
use super::api::{
    DeliveryBody, DeliveryList, ErrorBody, WebhookBody, WebhookCreate, WebhookCreated, WebhookList,
};
use super::extract::{Admin, JsonBody};
use super::reply::{Reply, bounded_text, invalid, json, page_limit};
use crate::metrics::StoreOp;
use crate::refusal::Refusal;

/// Register an endpoint; its signing secret is in this answer only.
#[utoipa::path(post, path = "/support-access/v1/webhooks", request_body = WebhookCreate,
    security(("customer_admin" = [])),
    responses((status = 201, description = "the endpoint, with its secret (shown only here)", body = WebhookCreated),
              (status = 400, description = "the body is not valid", body = ErrorBody),
              (status = 401, description = "no valid admin token", body = ErrorBody),
              (status = 403, description = "not an admin of the org, or a support token", body = ErrorBody),
              (status = 422, description = "the URL or its addresses are refused, or the events are unknown", body = ErrorBody)))]
pub(super) async fn post_webhook(
    State(m): State<Mgmt>,
    admin: Admin,
    JsonBody(body): JsonBody<WebhookCreate>,
) -> Reply {
    let description = bounded_text("description", body.description, 500)?;
    if body.url.len() > 2000 {
        return Err(invalid(
            "invalid_body",
            "`url` may be at most 2000 characters.",
        ));
    }
    let registered = m
        .webhooks
        .register(&admin.org, &body.url, &body.events, description);
    let registered = m.call(StoreOp::webhook, registered).await?;
    let body = WebhookCreated {
        webhook: WebhookBody::from(&registered.endpoint),
        secret: registered.secret,
    };
    Ok(json(StatusCode::CREATED, &body))
}

/// The org's endpoints, oldest first, without their secrets.
#[utoipa::path(get, path = "/support-access/v1/webhooks",
    security(("customer_admin" = [])),
    responses((status = 200, description = "the org's endpoints", body = WebhookList),
              (status = 401, description = "no valid admin token", body = ErrorBody),
              (status = 403, description = "not an admin of the org, or a support token", body = ErrorBody)))]
pub(super) async fn get_webhooks(State(m): State<Mgmt>, admin: Admin) -> Reply {
    let endpoints = m
        .call(StoreOp::webhook, m.webhooks.list(&admin.org))
        .await?;
    let body = WebhookList {
        webhooks: endpoints.iter().map(WebhookBody::from).collect(),
    };
    Ok(json(StatusCode::OK, &body))
}

/// Remove an endpoint and its deliveries.
#[utoipa::path(delete, path = "/support-access/v1/webhooks/{id}",
    security(("customer_admin" = [])),
    params(("id" = String, Path, description = "the endpoint id")),
    responses((status = 204, description = "removed"),
              (status = 401, description = "no valid admin token", body = ErrorBody),
              (status = 403, description = "not an admin of the org, or a support token", body = ErrorBody),
              (status = 404, description = "no such endpoint in the org", body = ErrorBody)))]
pub(super) async fn delete_webhook(
    State(m): State<Mgmt>,
    admin: Admin,
    Path(id): Path<String>,
) -> Reply {
    let deleted = m.webhooks.delete(&admin.org, endpoint_id(&id)?);
    m.call(StoreOp::webhook, deleted).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Query of the deliveries listing.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveryParams {
    limit: Option<String>,
}

/// The endpoint's recent deliveries, newest first.
#[utoipa::path(get, path = "/support-access/v1/webhooks/{id}/deliveries",
    security(("customer_admin" = [])),
    params(("id" = String, Path, description = "the endpoint id"),
           ("limit" = Option<u32>, Query, description = "1 to 100, default 50")),
    responses((status = 200, description = "the deliveries, newest first", body = DeliveryList),
              (status = 400, description = "the query is not valid", body = ErrorBody),
              (status = 401, description = "no valid admin token", body = ErrorBody),
              (status = 403, description = "not an admin of the org, or a support token", body = ErrorBody),
              (status = 404, description = "no such endpoint in the org", body = ErrorBody)))]
pub(super) async fn get_webhook_deliveries(
    State(m): State<Mgmt>,
    admin: Admin,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Reply {
    let params: DeliveryParams = serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|e| invalid("invalid_query", format!("The query is not valid: {e}.")))?;
    let limit = page_limit(params.limit, MAX_DELIVERIES)?.unwrap_or(50);
    let listed = m.webhooks.deliveries(&admin.org, endpoint_id(&id)?, limit);
    let deliveries = m.call(StoreOp::webhook, listed).await?;
    let body = DeliveryList {
        deliveries: deliveries.iter().map(DeliveryBody::from).collect(),
    };
    Ok(json(StatusCode::OK, &body))
}

/// Queue a `webhook.test` delivery to the endpoint.
#[utoipa::path(post, path = "/support-access/v1/webhooks/{id}/test",
    security(("customer_admin" = [])),
    params(("id" = String, Path, description = "the endpoint id")),
    responses((status = 202, description = "the test delivery, queued", body = DeliveryBody),
              (status = 401, description = "no valid admin token", body = ErrorBody),
              (status = 403, description = "not an admin of the org, or a support token", body = ErrorBody),
              (status = 404, description = "no such endpoint in the org", body = ErrorBody),
              (status = 409, description = "the endpoint is disabled (it answered 410 Gone)", body = ErrorBody)))]
pub(super) async fn post_webhook_test(
    State(m): State<Mgmt>,
    admin: Admin,
    Path(id): Path<String>,
) -> Reply {
    let queued = m.webhooks.test(&admin.org, endpoint_id(&id)?);
    let delivery = m.call(StoreOp::webhook, queued).await?;
    Ok(json(StatusCode::ACCEPTED, &DeliveryBody::from(&delivery)))
}

/// An endpoint id in a path; one that is no UUID names no endpoint (`404`).
fn endpoint_id(text: &str) -> Result<EndpointId, Refusal> {
    text.parse()
        .map_err(|_| Refusal::Webhook(WebhookError::NotFound))
}
