//! The management API (SPEC §5) at `/support-access/v1`, on the proxy listener, plus the
//! admin page's assets at `/support-access/ui/`.
//!
//! Admins are recognised by the customer token's roles, staff by the staff token's role;
//! the org always comes from the caller's token, never from the body or path (except
//! the token exchange, where a staff member names the org to act in). Support tokens
//! never get here: the support pipeline refuses them as restriction 1 and audits it.

use std::sync::Arc;
use std::time::Instant;

use axum::Extension;
use axum::extract::{RawQuery, Request as AxumRequest, State};
use axum::response::{IntoResponse, Response as AxumResponse};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use http::header::{
    AUTHORIZATION, CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE, HeaderMap, HeaderValue,
};
use http::{Request, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use support_access_core::SupportAccess;
use support_access_core::audit::{AuditCursor, AuditKind, AuditQuery, Decision, MAX_PAGE};
use support_access_core::ids::{GrantId, OrgId, StaffId, SupportUserId};
use support_access_core::service::{GrantEnd, GrantRequest};
use tower::ServiceExt;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::body::Body;
use crate::config;
use crate::live::Ended;
use crate::metrics::{Class, Metrics, Outcome, StoreOp};
use crate::refusal::{Refusal, Shape};
use crate::store_call::{StoreFailure, bounded};
use crate::support_users::SupportUsers;
use crate::tokens::{SupportSigner, Verifier};

pub mod api;
mod ui;

use api::{
    AuditPageBody, ErrorBody, EventBody, GrantBody, GrantChange, GrantCreate, SettingsBody,
    TokenAnswer, TokenRequest,
};

/// The API's path prefix.
pub const PREFIX: &str = "/support-access/v1";
/// The largest management request body.
const MAX_BODY: usize = 16 * 1024;

/// The request id, passed from the proxy to the handlers.
#[derive(Debug, Clone)]
pub(crate) struct RequestId(pub String);

/// What the handlers need.
#[derive(Debug, Clone)]
pub(crate) struct Mgmt {
    pub access: SupportAccess,
    pub signer: SupportSigner,
    pub customer: Verifier,
    pub staff: Verifier,
    pub auth: config::Auth,
    pub support_users: Arc<SupportUsers>,
    pub live: Arc<crate::live::LiveGrants>,
    pub openapi: Arc<Value>,
    pub metrics: Arc<Metrics>,
    /// Bounds every store call (`limits.store_timeout`): `503` after it.
    pub store_timeout: std::time::Duration,
}

/// A refusal with the request id, rendered as JSON.
#[derive(Debug)]
pub(crate) struct ApiError(Refusal, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> AxumResponse {
        let (refusal, request_id) = (self.0, self.1);
        if let Refusal::Store(e) = &refusal {
            tracing::error!(request_id, error = %e, "store failure in the management API");
        }
        let mut response = json_axum(refusal.status(), &refusal.body(Shape::Generic, &request_id));
        if let Ok(id) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert("x-request-id", id);
        }
        response
    }
}

type Reply = Result<AxumResponse, ApiError>;

fn json_axum(status: StatusCode, value: &impl serde::Serialize) -> AxumResponse {
    let mut response = AxumResponse::new(axum::body::Body::from(
        serde_json::to_vec(value).unwrap_or_default(),
    ));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A JSON response for the proxy's own answers (ops listener).
pub(crate) fn json(status: StatusCode, value: &Value) -> Response<Body> {
    json_axum(status, value).map(Body::Api)
}

/// An admin: a customer token with an admin role.
struct Admin {
    sub: String,
    org: OrgId,
}

/// A support-staff member: a staff token with the required role.
struct Staff {
    sub: StaffId,
}

fn claim_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn has_role(value: Option<&Value>, role: &str) -> bool {
    match value {
        Some(Value::Array(roles)) => roles.iter().any(|r| r.as_str() == Some(role)),
        Some(Value::String(roles)) => roles.split([' ', ',']).any(|r| r == role),
        _ => false,
    }
}

impl Mgmt {
    fn bearer<'a>(&self, headers: &'a HeaderMap) -> Result<&'a str, Refusal> {
        let mut values = headers.get_all(AUTHORIZATION).iter();
        let value = values.next().ok_or(Refusal::TokenMissing)?;
        if values.next().is_some() {
            return Err(Refusal::SeveralAuthorizationHeaders);
        }
        let text = value
            .to_str()
            .map_err(|_| Refusal::TokenMalformed("The Authorization header is not text."))?;
        let (scheme, token) = text.trim().split_once(' ').ok_or(Refusal::TokenMalformed(
            "Use `Authorization: Bearer <token>`.",
        ))?;
        if !self
            .auth
            .header_schemes
            .iter()
            .any(|s| s.eq_ignore_ascii_case(scheme))
        {
            return Err(Refusal::TokenSchemeRefused(scheme.to_owned()));
        }
        Ok(token.trim())
    }

    fn admin(&self, headers: &HeaderMap) -> Result<Admin, Refusal> {
        let token = self.bearer(headers)?;
        let now = self.access.now();
        match self.customer.verify(token, now) {
            Ok(claims) => {
                let customer = &self.auth.customer;
                let sub = claim_text(claims.get("sub"))
                    .ok_or_else(|| Refusal::ClaimMissing("sub".into()))?;
                let org = claim_text(claims.get(&customer.org_claim))
                    .ok_or_else(|| Refusal::ClaimMissing(customer.org_claim.clone()))?;
                let roles = claims.get(&customer.roles_claim);
                if !customer
                    .admin_roles
                    .iter()
                    .any(|role| has_role(roles, role))
                {
                    return Err(Refusal::NotAnAdmin);
                }
                Ok(Admin {
                    sub,
                    org: OrgId::new(org),
                })
            }
            Err(customer_error) => match self.staff.verify(token, now) {
                Ok(_) => Err(Refusal::WrongTokenKind(
                    "Support staff tokens cannot manage an org's access.",
                )),
                Err(_) => Err(customer_error.into()),
            },
        }
    }

    fn staff(&self, headers: &HeaderMap) -> Result<Staff, Refusal> {
        let token = self.bearer(headers)?;
        let now = self.access.now();
        match self.staff.verify(token, now) {
            Ok(claims) => {
                let sub = claim_text(claims.get("sub"))
                    .ok_or_else(|| Refusal::ClaimMissing("sub".into()))?;
                let staff = &self.auth.staff;
                if !has_role(claims.get(&staff.roles_claim), &staff.required_role) {
                    return Err(Refusal::NotSupportStaff(staff.required_role.clone()));
                }
                Ok(Staff {
                    sub: StaffId::new(sub),
                })
            }
            Err(staff_error) => match self.customer.verify(token, now) {
                Ok(_) => Err(Refusal::WrongTokenKind(
                    "Customer tokens cannot request support tokens.",
                )),
                Err(_) => Err(staff_error.into()),
            },
        }
    }

    /// A store call of a handler, bounded and counted.
    async fn call<T, E: StoreFailure>(
        &self,
        op: StoreOp,
        call: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        bounded(&self.metrics, self.store_timeout, op, call).await
    }

    async fn refresh_support_users(&self) {
        let (access, metrics) = (&self.access, &self.metrics);
        self.support_users
            .refresh(access, metrics, self.store_timeout)
            .await;
    }
}

async fn body_json<T: DeserializeOwned>(request: AxumRequest) -> Result<T, Refusal> {
    let bytes = axum::body::to_bytes(request.into_body(), MAX_BODY)
        .await
        .map_err(|_| Refusal::BodyTooLarge { limit: MAX_BODY })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            Refusal::MalformedJson(e.to_string())
        } else {
            invalid("invalid_body", format!("The body is not valid: {e}."))
        }
    })
}

fn parse_time(field: &'static str, text: &str) -> Result<DateTime<Utc>, Refusal> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .map_err(|_| {
            invalid(
                "invalid_date",
                format!("`{field}` must be an RFC 3339 date-time like 2026-12-01T00:00:00Z."),
            )
        })
}

fn bounded_text(
    field: &'static str,
    value: Option<String>,
    max: usize,
) -> Result<Option<String>, Refusal> {
    match value {
        Some(text) if text.chars().count() > max => Err(invalid(
            "invalid_body",
            format!("`{field}` may be at most {max} characters."),
        )),
        Some(text) if text.trim().is_empty() => Ok(None),
        other => Ok(other),
    }
}

/// A management request that does not validate (`400`).
fn invalid(code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal::Invalid {
        code,
        message: message.into(),
    }
}

/// Grant support access to the caller's org.
#[utoipa::path(post, path = "/support-access/v1/grant", request_body = GrantCreate,
    responses((status = 201, body = GrantBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn post_grant(
    State(m): State<Mgmt>,
    Extension(rid): Extension<RequestId>,
    request: AxumRequest,
) -> Reply {
    let fail = |r| ApiError(r, rid.0.clone());
    let admin = m.admin(request.headers()).map_err(fail)?;
    let body: GrantCreate = body_json(request).await.map_err(fail)?;
    let end = match (body.expires_at, body.days) {
        (Some(at), None) => GrantEnd::At(parse_time("expires_at", &at).map_err(fail)?),
        (None, Some(days)) => GrantEnd::Days(days),
        _ => {
            return Err(fail(invalid(
                "invalid_body",
                "Give exactly one of `expires_at` and `days`.",
            )));
        }
    };
    let request = GrantRequest {
        end,
        reason: bounded_text("reason", body.reason, 1000).map_err(fail)?,
        ticket: bounded_text("ticket", body.ticket, 200).map_err(fail)?,
    };
    let granted = m.access.grant(&admin.org, &admin.sub, request);
    let grant = m
        .call(StoreOp::lifecycle, granted)
        .await
        .map_err(|e| fail(e.into()))?;
    m.refresh_support_users().await;
    Ok(json_axum(
        StatusCode::CREATED,
        &GrantBody::new(&grant, support_access_core::GrantStatus::Active),
    ))
}

/// The current grant: the active one, or the latest revoked or expired one.
#[utoipa::path(get, path = "/support-access/v1/grant",
    responses((status = 200, body = GrantBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_grant(
    State(m): State<Mgmt>,
    Extension(rid): Extension<RequestId>,
    headers: HeaderMap,
) -> Reply {
    let fail = |r| ApiError(r, rid.0.clone());
    let admin = m.admin(&headers).map_err(fail)?;
    match m
        .call(StoreOp::lifecycle, m.access.status(&admin.org))
        .await
    {
        Ok(Some(view)) => Ok(json_axum(
            StatusCode::OK,
            &GrantBody::new(&view.grant, view.status),
        )),
        Ok(None) => Err(fail(Refusal::NoGrant)),
        Err(e) => Err(fail(e.into())),
    }
}

/// Change the end date of the active grant (bounds counted from now).
#[utoipa::path(patch, path = "/support-access/v1/grant", request_body = GrantChange,
    responses((status = 200, body = GrantBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn patch_grant(
    State(m): State<Mgmt>,
    Extension(rid): Extension<RequestId>,
    request: AxumRequest,
) -> Reply {
    let fail = |r| ApiError(r, rid.0.clone());
    let admin = m.admin(request.headers()).map_err(fail)?;
    let body: GrantChange = body_json(request).await.map_err(fail)?;
    let end = parse_time("expires_at", &body.expires_at).map_err(fail)?;
    let changed = m.access.change_end(&admin.org, &admin.sub, end);
    let grant = m
        .call(StoreOp::lifecycle, changed)
        .await
        .map_err(|e| fail(e.into()))?;
    Ok(json_axum(
        StatusCode::OK,
        &GrantBody::new(&grant, support_access_core::GrantStatus::Active),
    ))
}

/// Revoke the active grant now; the very next support request is refused.
#[utoipa::path(delete, path = "/support-access/v1/grant",
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_grant(
    State(m): State<Mgmt>,
    Extension(rid): Extension<RequestId>,
    headers: HeaderMap,
) -> Reply {
    let fail = |r| ApiError(r, rid.0.clone());
    let admin = m.admin(&headers).map_err(fail)?;
    // Answered 204 only once the revoke and its event are durable; a 503 (a store that
    // failed or did not answer in time) changed nothing, unless the commit was already
    // under way when the time was up.
    let revoke = m.access.revoke(&admin.org, &admin.sub);
    let revoked = m
        .call(StoreOp::lifecycle, revoke)
        .await
        .map_err(|e| fail(e.into()))?;
    m.live.end(revoked.id, Ended::Revoked);
    m.refresh_support_users().await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Exchange a staff token for a support token (claims the support seat).
#[utoipa::path(post, path = "/support-access/v1/token", request_body = TokenRequest,
    responses((status = 200, body = TokenAnswer), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn post_token(
    State(m): State<Mgmt>,
    Extension(rid): Extension<RequestId>,
    request: AxumRequest,
) -> Reply {
    let fail = |r| ApiError(r, rid.0.clone());
    let staff = m.staff(request.headers()).map_err(fail)?;
    let body: TokenRequest = body_json(request).await.map_err(fail)?;
    let org = OrgId::new(body.org);
    let claimed = m.access.claim_seat(&org, &staff.sub);
    let grant = m
        .call(StoreOp::lifecycle, claimed)
        .await
        .map_err(|e| fail(e.into()))?;
    let (token, expires_at) = m
        .signer
        .issue(&grant, &staff.sub, m.access.now())
        .map_err(|_| fail(Refusal::TokenIssueFailed))?;
    Ok(json_axum(
        StatusCode::OK,
        &TokenAnswer {
            access_token: token,
            token_type: "Bearer".into(),
            expires_at: api::time(expires_at),
            support_user: grant.support_user.to_string(),
            grant: grant.id.to_string(),
        },
    ))
}

/// Release the support seat. With a support token (the usual case) the seat of its
/// grant is released; a staff token names the org in the body.
#[utoipa::path(delete, path = "/support-access/v1/token", request_body = Option<TokenRequest>,
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn delete_token(
    State(m): State<Mgmt>,
    Extension(rid): Extension<RequestId>,
    request: AxumRequest,
) -> Reply {
    let fail = |r| ApiError(r, rid.0.clone());
    let staff = m.staff(request.headers()).map_err(fail)?;
    let body: TokenRequest = body_json(request).await.map_err(fail)?;
    let org = OrgId::new(body.org);
    let (access, live, metrics) = (&m.access, &m.live, &m.metrics);
    crate::seat::release(access, live, metrics, m.store_timeout, &org, &staff.sub)
        .await
        .map_err(fail)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Filters of the audit listing and export.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditParams {
    actor: Option<String>,
    support_user: Option<String>,
    grant: Option<String>,
    kind: Option<String>,
    decision: Option<String>,
    from: Option<String>,
    to: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
    format: Option<String>,
}

fn bad(code: &'static str, message: impl Into<String>) -> Refusal {
    invalid(code, message)
}

fn audit_query(org: OrgId, raw: Option<&str>) -> Result<(AuditQuery, Option<String>), Refusal> {
    let params: AuditParams = serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| bad("invalid_query", format!("The query is not valid: {e}.")))?;
    let some = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    let mut query = AuditQuery::new(org);
    query.actor = some(params.actor);
    query.support_user = some(params.support_user)
        .map(|u| u.parse::<SupportUserId>())
        .transpose()
        .map_err(|_| {
            bad(
                "invalid_support_user",
                "`support_user` must be a decimal id.",
            )
        })?;
    query.grant = some(params.grant)
        .map(|g| g.parse::<GrantId>())
        .transpose()
        .map_err(|_| bad("invalid_grant", "`grant` must be a grant id (UUID)."))?;
    query.kind = some(params.kind)
        .map(|k| k.parse::<AuditKind>())
        .transpose()
        .map_err(|e| bad("invalid_kind", format!("`kind`: {e}.")))?;
    query.decision = some(params.decision)
        .map(|d| d.parse::<Decision>())
        .transpose()
        .map_err(|_| {
            bad(
                "invalid_decision",
                "`decision` must be `allowed` or `blocked`.",
            )
        })?;
    query.from = some(params.from)
        .map(|t| parse_time("from", &t))
        .transpose()?;
    query.to = some(params.to).map(|t| parse_time("to", &t)).transpose()?;
    query.cursor = some(params.cursor)
        .map(|c| AuditCursor::decode(&c))
        .transpose()
        .map_err(|_| {
            bad(
                "invalid_cursor",
                "`cursor` is not a cursor this API returned.",
            )
        })?;
    if let Some(limit) = some(params.limit) {
        query.limit = limit
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=MAX_PAGE).contains(l))
            .ok_or_else(|| {
                bad(
                    "invalid_limit",
                    format!("`limit` must be a number from 1 to {MAX_PAGE}."),
                )
            })?;
    }
    Ok((query, some(params.format)))
}

/// Audit events of the caller's org, newest first, cursor-paged.
#[utoipa::path(get, path = "/support-access/v1/audit",
    params(("actor" = Option<String>, Query, description = "staff id (act.sub) or admin sub"),
           ("support_user" = Option<String>, Query), ("grant" = Option<String>, Query), ("kind" = Option<String>, Query),
           ("decision" = Option<String>, Query, description = "allowed | blocked"),
           ("from" = Option<String>, Query, description = "RFC 3339, inclusive"), ("to" = Option<String>, Query, description = "RFC 3339, exclusive"),
           ("cursor" = Option<String>, Query), ("limit" = Option<u32>, Query, description = "1 to 1000, default 100")),
    responses((status = 200, body = AuditPageBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn get_audit(
    State(m): State<Mgmt>,
    Extension(rid): Extension<RequestId>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Reply {
    let fail = |r| ApiError(r, rid.0.clone());
    let admin = m.admin(&headers).map_err(fail)?;
    let (query, format) = audit_query(admin.org, raw.as_deref()).map_err(fail)?;
    if format.is_some() {
        return Err(fail(bad(
            "invalid_query",
            "`format` belongs to /audit/export.",
        )));
    }
    let page = m
        .call(StoreOp::audit_read, m.access.audit_page(&query))
        .await
        .map_err(|e| fail(e.into()))?;
    Ok(json_axum(
        StatusCode::OK,
        &AuditPageBody {
            events: page.events.iter().map(EventBody::from).collect(),
            next_cursor: page.next_cursor.map(|c| c.encode()),
        },
    ))
}

/// The export's columns; `error` and `rewrites` (a JSON array) came later and are last,
/// so that readers of the earlier columns by position are unaffected.
const CSV_COLUMNS: [&str; 25] = [
    "id",
    "org",
    "seq",
    "at",
    "kind",
    "decision",
    "grant",
    "support_user",
    "actor",
    "method",
    "path",
    "status",
    "rule",
    "restriction",
    "latency_ms",
    "request_id",
    "client_ip",
    "user_agent",
    "body_sha256",
    "reason",
    "ticket",
    "prev_hash",
    "hash",
    "error",
    "rewrites",
];

/// One CSV cell: quoted when needed, and defused against spreadsheet formula injection.
fn csv_cell(out: &mut String, value: &str) {
    let defused =
        if value.starts_with(['=', '+', '-', '@', '\t', '\r']) && value.parse::<f64>().is_err() {
            format!("'{value}")
        } else {
            value.to_owned()
        };
    if defused.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&defused.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(&defused);
    }
}

fn csv_row(event: &EventBody) -> String {
    let value = serde_json::to_value(event).unwrap_or_default();
    let mut line = String::with_capacity(512);
    for (i, column) in CSV_COLUMNS.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        match value.get(*column) {
            Some(Value::String(s)) => csv_cell(&mut line, s),
            Some(Value::Null) | None => {}
            Some(Value::Array(items)) if items.is_empty() => {}
            Some(other) => csv_cell(&mut line, &other.to_string()),
        }
    }
    line.push_str("\r\n");
    line
}

/// The caller's org's audit events as CSV or JSON Lines, streamed page by page from the
/// store (memory stays flat whatever the size), newest first, with the same filters.
#[utoipa::path(get, path = "/support-access/v1/audit/export",
    params(("format" = String, Query, description = "csv | jsonl"), ("actor" = Option<String>, Query), ("kind" = Option<String>, Query),
           ("decision" = Option<String>, Query), ("from" = Option<String>, Query), ("to" = Option<String>, Query)),
    responses((status = 200, description = "text/csv or application/x-ndjson"), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn get_audit_export(
    State(m): State<Mgmt>,
    Extension(rid): Extension<RequestId>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Reply {
    let fail = |r| ApiError(r, rid.0.clone());
    let admin = m.admin(&headers).map_err(fail)?;
    let org = admin.org.clone();
    let (mut query, format) = audit_query(admin.org, raw.as_deref()).map_err(fail)?;
    let csv = match format.as_deref() {
        Some("csv") => true,
        Some("jsonl") => false,
        _ => {
            return Err(fail(bad(
                "invalid_format",
                "`format` must be `csv` or `jsonl`.",
            )));
        }
    };
    query.limit = MAX_PAGE;
    let access = m.access.clone();
    let header = if csv {
        Some(format!("{}\r\n", CSV_COLUMNS.join(",")))
    } else {
        None
    };
    let pages = futures::stream::unfold(Some(query), move |state| {
        let access = access.clone();
        async move {
            let query = state?;
            match access.audit_page(&query).await {
                Ok(page) => {
                    let mut chunk = String::with_capacity(page.events.len() * 400);
                    for event in &page.events {
                        let body = EventBody::from(event);
                        if csv {
                            chunk.push_str(&csv_row(&body));
                        } else {
                            chunk.push_str(&serde_json::to_string(&body).unwrap_or_default());
                            chunk.push('\n');
                        }
                    }
                    let next = page.next_cursor.map(|cursor| AuditQuery {
                        cursor: Some(cursor),
                        ..query
                    });
                    Some((Ok::<_, std::io::Error>(bytes::Bytes::from(chunk)), next))
                }
                Err(e) => {
                    tracing::error!(error = %e, "audit export interrupted");
                    Some((Err(std::io::Error::other(e.to_string())), None))
                }
            }
        }
    });
    let stream = futures::stream::iter(header.map(|h| Ok(bytes::Bytes::from(h)))).chain(pages);
    let mut response = AxumResponse::new(axum::body::Body::from_stream(stream));
    let (content_type, extension) = if csv {
        ("text/csv; charset=utf-8", "csv")
    } else {
        ("application/x-ndjson", "jsonl")
    };
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let safe_org: String = org
        .as_str()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    if let Ok(value) = HeaderValue::from_str(&format!(
        "attachment; filename=\"audit-{safe_org}.{extension}\""
    )) {
        headers.insert(CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// The public keys of support tokens (JWK Set), for the upstream CRM.
#[utoipa::path(get, path = "/support-access/v1/jwks.json", responses((status = 200, description = "JWK Set")))]
async fn get_jwks(State(m): State<Mgmt>) -> AxumResponse {
    json_axum(StatusCode::OK, &m.signer.jwks())
}

/// This document.
#[utoipa::path(get, path = "/support-access/v1/openapi.json", responses((status = 200, description = "OpenAPI 3.1")))]
async fn get_openapi(State(m): State<Mgmt>) -> AxumResponse {
    json_axum(StatusCode::OK, m.openapi.as_ref())
}

/// The configured grant bounds (for the admin page's date picker).
#[utoipa::path(get, path = "/support-access/v1/settings",
    responses((status = 200, body = SettingsBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn get_settings(
    State(m): State<Mgmt>,
    Extension(rid): Extension<RequestId>,
    headers: HeaderMap,
) -> Reply {
    m.admin(&headers).map_err(|r| ApiError(r, rid.0.clone()))?;
    let bounds = m.access.bounds();
    Ok(json_axum(
        StatusCode::OK,
        &SettingsBody {
            min_duration_seconds: bounds.min.num_seconds().max(0) as u64,
            max_duration_seconds: bounds.max.num_seconds().max(0) as u64,
        },
    ))
}

#[derive(OpenApi)]
#[openapi(info(
    title = "Support Access management API",
    version = "1",
    description = "Grant, change and revoke the vendor's support access; exchange staff tokens for support tokens; read and export the audit log."
))]
struct ApiDoc;

/// The router and its OpenAPI document, built from the same handler list so neither can
/// miss a route.
pub(crate) fn router() -> (axum::Router<Mgmt>, utoipa::openapi::OpenApi) {
    OpenApiRouter::<Mgmt>::with_openapi(ApiDoc::openapi())
        .routes(routes!(post_grant, get_grant, patch_grant, delete_grant))
        .routes(routes!(post_token, delete_token))
        .routes(routes!(get_audit))
        .routes(routes!(get_audit_export))
        .routes(routes!(get_jwks))
        .routes(routes!(get_openapi))
        .routes(routes!(get_settings))
        .split_for_parts()
}

/// The management routes, ready to serve.
#[derive(Debug, Clone)]
pub(crate) struct Management {
    router: axum::Router,
}

impl Management {
    pub(crate) fn new(state: Mgmt) -> Self {
        let router = router().0;
        Self {
            router: router.with_state(state),
        }
    }
}

/// The OpenAPI document as JSON.
pub fn openapi_json() -> Value {
    serde_json::to_value(router().1).unwrap_or_default()
}

/// Answers a request under `/support-access/` that carries no support token.
pub(crate) async fn handle(
    management: &Management,
    metrics: &Metrics,
    request: Request<Body>,
    request_id: &str,
    started: Instant,
) -> Response<Body> {
    let path = request.uri().path();
    if let Some(asset) = path.strip_prefix("/support-access/ui") {
        let response = ui::serve(asset);
        metrics.request(Class::management, Outcome::answered, started.elapsed());
        return response;
    }
    let mut request = request.map(axum::body::Body::new);
    request
        .extensions_mut()
        .insert(RequestId(request_id.to_owned()));
    let response = match management.router.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let response = if response.status() == StatusCode::NOT_FOUND
        && response.headers().get(CONTENT_TYPE).is_none()
    {
        Refusal::NotFound("No such management route.").render(Shape::Generic, request_id)
    } else if response.status() == StatusCode::METHOD_NOT_ALLOWED
        && response.headers().get(CONTENT_TYPE).is_none()
    {
        Refusal::MethodNotAllowed.render(Shape::Generic, request_id)
    } else {
        response.map(Body::Api)
    };
    let outcome = if response.status().is_success() {
        Outcome::answered
    } else {
        Outcome::refused
    };
    metrics.request(Class::management, outcome, started.elapsed());
    response
}
