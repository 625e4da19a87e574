//! `/audit`: an org's admin reads its audit events, filtered and cursor-paged. The
//! query parser is shared with the export ([`super::export`]).

use axum::extract::{RawQuery, State};
use http::StatusCode;
use support_access_core::audit::{AuditCursor, AuditKind, AuditQuery, Decision, MAX_PAGE};
use support_access_core::ids::{GrantId, OrgId, SupportUserId};

use super::Mgmt;
use super::api::{AuditPageBody, ErrorBody, EventBody};
use super::extract::Admin;
use super::reply::{Reply, invalid as bad, json, page_cursor, page_limit, parse_time};
use crate::metrics::StoreOp;
use crate::refusal::Refusal;

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

/// The filters of a raw query string, and its `format` (the export's).
pub(super) fn audit_query(
    org: OrgId,
    raw: Option<&str>,
) -> Result<(AuditQuery, Option<String>), Refusal> {
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
    query.cursor = page_cursor(params.cursor, AuditCursor::decode)?;
    if let Some(limit) = page_limit(params.limit, MAX_PAGE)? {
        query.limit = limit;
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
    security(("customer_admin" = [])),
    responses((status = 200, body = AuditPageBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn get_audit(
    State(m): State<Mgmt>,
    admin: Admin,
    RawQuery(raw): RawQuery,
) -> Reply {
    let (query, format) = audit_query(admin.org, raw.as_deref())?;
    if format.is_some() {
        return Err(bad("invalid_query", "`format` belongs to /audit/export."));
    }
    let page = m
        .call(StoreOp::audit_read, m.access.audit_page(&query))
        .await?;
    let body = AuditPageBody {
        events: page.events.iter().map(EventBody::from).collect(),
        next_cursor: page.next_cursor.map(|c| c.encode()),
    };
    Ok(json(StatusCode::OK, &body))
}
