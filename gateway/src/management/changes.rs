//! `/changes`: what support changed (SPEC §11). An org's admin lists the change
//! entries, takes a grant's whole report (JSON with the audit checkpoint current when
//! it was made, or CSV a row per field change), and puts an update back with one `PUT`
//! sent with the admin's own token and no support identity headers.

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE, HeaderMap};
use http::{HeaderValue, Method, Request, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use support_access_core::change::report::{entry_json, report_csv, report_json};
use support_access_core::change::{ChangeCursor, ChangeId, ChangeQuery, MAX_PAGE};
use support_access_core::ids::{GrantId, OrgId};
use support_access_core::tlog::CheckpointerError;
use support_access_policy::changes::{ReadOutcome, RecordWrites};
use utoipa::ToSchema;

use super::Mgmt;
use super::api::ErrorBody;
use super::extract::{Admin, RequestId};
use super::reply::{Reply, invalid as bad, json, page_cursor, page_limit};
use crate::body::Body;
use crate::metrics::StoreOp;
use crate::refusal::Refusal;

/// A page of change entries, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangePageBody {
    /// `{"id", "at", "grant", "actor", "request_id", "audit_seq", "module", "record",
    /// "operation", "fields": [{"name", "before", "after"}]}`, `reverts` /
    /// `reverted_by` where set.
    #[schema(value_type = Vec<Object>)]
    pub changes: Vec<Value>,
    /// The cursor of the next page, if there is one.
    pub next_cursor: Option<String>,
}

/// The body of a revert.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevertBody {
    /// Put the values back even over fields someone changed since support did.
    #[serde(default)]
    pub force: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeParams {
    grant: Option<String>,
    module: Option<String>,
    record: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
    format: Option<String>,
}

fn params(raw: Option<&str>) -> Result<ChangeParams, Refusal> {
    serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| bad("invalid_query", format!("The query is not valid: {e}.")))
}

fn grant_id(text: Option<String>) -> Result<Option<GrantId>, Refusal> {
    text.filter(|s| !s.trim().is_empty())
        .map(|g| g.parse::<GrantId>())
        .transpose()
        .map_err(|_| bad("invalid_grant", "`grant` must be a grant id (UUID)."))
}

fn query_of(org: OrgId, params: ChangeParams) -> Result<ChangeQuery, Refusal> {
    let some = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    let mut query = ChangeQuery::new(org);
    query.grant = grant_id(params.grant)?;
    query.module = some(params.module);
    query.record = some(params.record);
    query.cursor = page_cursor(params.cursor, ChangeCursor::decode)?;
    if let Some(limit) = page_limit(params.limit, MAX_PAGE)? {
        query.limit = limit;
    }
    Ok(query)
}

/// The change entries of the caller's org, newest first, cursor-paged.
#[utoipa::path(get, path = "/support-access/v1/changes",
    params(("grant" = Option<String>, Query), ("module" = Option<String>, Query), ("record" = Option<String>, Query),
           ("cursor" = Option<String>, Query), ("limit" = Option<u32>, Query, description = "1 to 1000, default 100")),
    responses((status = 200, body = ChangePageBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn get_changes(
    State(m): State<Mgmt>,
    admin: Admin,
    RawQuery(raw): RawQuery,
) -> Reply {
    let params = params(raw.as_deref())?;
    if params.format.is_some() {
        return Err(bad("invalid_query", "`format` belongs to /changes/report."));
    }
    let query = query_of(admin.org, params)?;
    let page = m.call(StoreOp::audit_read, m.changes.page(&query)).await?;
    let body = ChangePageBody {
        changes: page.entries.iter().map(entry_json).collect(),
        next_cursor: page.next_cursor.map(|c| c.encode()),
    };
    Ok(json(StatusCode::OK, &body))
}

/// Everything support changed under one grant, oldest first, with the audit
/// checkpoint current when the report was made (JSON), or a row per field change (CSV).
#[utoipa::path(get, path = "/support-access/v1/changes/report",
    params(("grant" = String, Query), ("format" = Option<String>, Query, description = "json (default) | csv")),
    responses((status = 200, description = "the report: JSON, or CSV with `format=csv`", content_type = "application/json"),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn get_changes_report(
    State(m): State<Mgmt>,
    admin: Admin,
    RawQuery(raw): RawQuery,
) -> Reply {
    let params = params(raw.as_deref())?;
    let csv = match params.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(bad("invalid_format", "`format` must be `json` or `csv`.")),
    };
    let grant = grant_id(params.grant)?.ok_or_else(|| {
        bad(
            "invalid_grant",
            "`grant` is required: the report is per grant.",
        )
    })?;
    let entries = m
        .call(StoreOp::audit_read, m.changes.of_grant(&admin.org, grant))
        .await?;
    if csv {
        let text = report_csv(&entries).map_err(|_| Refusal::Internal)?;
        let name = format!("attachment; filename=\"changes-{grant}.csv\"");
        return Ok(with_type(
            Response::new(text.into()),
            "text/csv; charset=utf-8",
            Some(name),
        ));
    }
    let current = m.audit_log.current_checkpoint(&admin.org);
    let checkpoint = match m.call(StoreOp::audit_read, current).await {
        Ok(stored) => Some(stored.note),
        Err(CheckpointerError::EmptyLog(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let report = report_json(grant, &entries, checkpoint.as_deref(), m.access.now());
    Ok(json(StatusCode::OK, &report))
}

fn with_type(mut response: Response, media: &'static str, disposition: Option<String>) -> Response {
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(media));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(value) = disposition.and_then(|d| HeaderValue::from_str(&d).ok()) {
        headers.insert(CONTENT_DISPOSITION, value);
    }
    response
}

/// Puts the `before` values of an update back with one `PUT` sent with the admin's own
/// token; `409 changed_since` names the fields someone changed after support did,
/// unless `force`.
#[utoipa::path(post, path = "/support-access/v1/changes/{id}/revert",
    params(("id" = String, Path)), request_body(content = RevertBody, description = "optional"),
    responses((status = 200, description = "the revert's own change entry (operation `revert`)"),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "changed_since (naming `fields`) or change_already_reverted"),
              (status = 422, body = ErrorBody, description = "change_not_revertible"), (status = 502, body = ErrorBody)))]
pub(super) async fn post_change_revert(
    State(m): State<Mgmt>,
    admin: Admin,
    RequestId(request_id): RequestId,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Reply {
    let id: ChangeId = id
        .parse()
        .map_err(|_| Refusal::Change(support_access_core::change::SupportChangeError::NotFound))?;
    let force = match body.iter().all(u8::is_ascii_whitespace) {
        true => false,
        false => {
            serde_json::from_slice::<RevertBody>(&body)
                .map_err(|e| bad("invalid_body", format!("The body is not valid: {e}.")))?
                .force
        }
    };
    let policy = m.policy.record_writes().ok_or(Refusal::NotFound(
        "The policy names no record writes, so there is nothing to revert.",
    ))?;
    let entry = m
        .call(StoreOp::audit_read, m.changes.get(&admin.org, id))
        .await?;
    let admin_headers = admin_headers(&headers);
    let path = policy.record_path(&entry.module, &entry.record);
    let current = read(&m, policy, &admin_headers, &path).await?;
    let planned = m
        .changes
        .plan_revert(&admin.org, id, current.as_ref(), force);
    let (entry, plan) = m.call(StoreOp::audit_read, planned).await?;
    let grant = m
        .call(
            StoreOp::audit_read,
            m.access.grant_of(&admin.org, entry.grant),
        )
        .await?;
    put(&m, &admin_headers, &path, &plan.body()).await?;
    let after = read(&m, policy, &admin_headers, &path).await?;
    let who = m.changes.capture(&grant, &admin.sub, &request_id);
    let system = policy.system_fields();
    let recorded = m.changes.record_revert(
        &grant,
        &who,
        &entry,
        current.as_ref(),
        after.as_ref(),
        system,
    );
    let recorded = m.call(StoreOp::lifecycle, recorded).await?;
    Ok(json(StatusCode::OK, &entry_json(&recorded.revert)))
}

/// The admin's own credentials, and nothing of support's.
fn admin_headers(incoming: &HeaderMap) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(value) = incoming.get(AUTHORIZATION) {
        headers.insert(AUTHORIZATION, value.clone());
    }
    headers
}

async fn read(
    m: &Mgmt,
    policy: &RecordWrites,
    headers: &HeaderMap,
    path: &str,
) -> Result<Option<support_access_core::change::Record>, Refusal> {
    match crate::record_read::read(&m.upstream, &m.limits, policy, headers, path).await {
        ReadOutcome::Found(record) => Ok(Some(record)),
        ReadOutcome::Absent => Ok(None),
        ReadOutcome::Failed(why) => {
            tracing::warn!(why, path, "a revert's read of the record failed");
            Err(Refusal::Upstream(crate::upstream::UpstreamFailure::Broken))
        }
    }
}

async fn put(m: &Mgmt, headers: &HeaderMap, path: &str, body: &Value) -> Result<(), Refusal> {
    let bytes = serde_json::to_vec(body).map_err(|_| Refusal::Internal)?;
    let mut request = Request::new(Body::bytes(bytes));
    *request.method_mut() = Method::PUT;
    *request.headers_mut() = headers.clone();
    let json = HeaderValue::from_static("application/json");
    request.headers_mut().insert(CONTENT_TYPE, json);
    let response = m.upstream.send(request, path).await?;
    match response.status().is_success() {
        true => Ok(()),
        false => Err(Refusal::RevertRejected(response.status().as_u16())),
    }
}
