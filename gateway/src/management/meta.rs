//! The documents about the API: the support tokens' JWK Set, the OpenAPI document and
//! the configured grant bounds.

use axum::extract::State;
use axum::response::Response;
use http::StatusCode;

use super::Mgmt;
use super::api::{ErrorBody, SettingsBody};
use super::extract::Admin;
use super::reply::{Reply, json};

/// The public keys of support tokens (JWK Set), for the upstream CRM.
#[utoipa::path(get, path = "/support-access/v1/jwks.json", responses((status = 200, description = "JWK Set")))]
pub(super) async fn get_jwks(State(m): State<Mgmt>) -> Response {
    json(StatusCode::OK, &m.signer.jwks())
}

/// This document.
#[utoipa::path(get, path = "/support-access/v1/openapi.json", responses((status = 200, description = "OpenAPI 3.1")))]
pub(super) async fn get_openapi(State(m): State<Mgmt>) -> Response {
    json(StatusCode::OK, m.openapi.as_ref())
}

/// The configured grant bounds (for the admin page's date picker).
#[utoipa::path(get, path = "/support-access/v1/settings",
    security(("customer_admin" = [])),
    responses((status = 200, body = SettingsBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn get_settings(State(m): State<Mgmt>, _admin: Admin) -> Reply {
    let bounds = m.access.bounds();
    let body = SettingsBody {
        min_duration_seconds: bounds.min.num_seconds().max(0) as u64,
        max_duration_seconds: bounds.max.num_seconds().max(0) as u64,
    };
    Ok(json(StatusCode::OK, &body))
}
