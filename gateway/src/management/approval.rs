//! `/approvals`: an org's admin lists the one-request approvals support asked for, and
//! approves or denies a pending one with a note (SPEC §10). Admin tokens only; support
//! tokens never get here (the pipeline refuses them as restriction 1).

use axum::extract::{Path, RawQuery, State};
use http::StatusCode;
use support_access_core::approval::service::Approvals;
use support_access_core::approval::service::MAX_LIST;
use support_access_core::approval::{ApprovalId, ApprovalStatus};

use super::Mgmt;
use super::api::{ApprovalBody, ApprovalDecision, ApprovalList, ErrorBody};
use super::extract::{Admin, JsonBody, RequestId};
use super::reply::{Reply, bounded_text, invalid, json, page_limit};
use crate::metrics::StoreOp;
use crate::refusal::Refusal;

/// Filters of the listing.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    status: Option<String>,
    limit: Option<String>,
}

/// The org's approvals with the given status now (every one without), newest first.
#[utoipa::path(get, path = "/support-access/v1/approvals",
    params(("status" = Option<String>, Query, description = "pending | approved | denied | used | expired | void"),
           ("limit" = Option<u32>, Query, description = "1 to 1000, default 100")),
    responses((status = 200, body = ApprovalList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn get_approvals(
    State(m): State<Mgmt>,
    admin: Admin,
    RawQuery(raw): RawQuery,
) -> Reply {
    let params: ListParams = serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|e| invalid("invalid_query", format!("The query is not valid: {e}.")))?;
    let some = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
    let status = some(params.status)
        .map(|s| s.parse::<ApprovalStatus>())
        .transpose()
        .map_err(|_| {
            invalid(
                "invalid_status",
                "`status` must be pending, approved, denied, used, expired or void.",
            )
        })?;
    let limit = page_limit(params.limit, MAX_LIST)?.unwrap_or(100);
    let listed = m.approvals.list(&admin.org, status, limit);
    let views = m.call(StoreOp::approval, listed).await?;
    let body = ApprovalList {
        approvals: views.iter().map(ApprovalBody::from).collect(),
    };
    Ok(json(StatusCode::OK, &body))
}

/// One approval of the org.
#[utoipa::path(get, path = "/support-access/v1/approvals/{id}",
    params(("id" = String, Path, description = "the approval id")),
    responses((status = 200, body = ApprovalBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn get_approval(
    State(m): State<Mgmt>,
    admin: Admin,
    Path(id): Path<String>,
) -> Reply {
    let view = m.call(
        StoreOp::approval,
        m.approvals.get(&admin.org, approval_id(&id)?),
    );
    Ok(json(StatusCode::OK, &ApprovalBody::from(&view.await?)))
}

/// Approve a pending approval: support may then send that exact request once, within
/// `approvals.ttl`.
#[utoipa::path(post, path = "/support-access/v1/approvals/{id}/approve", request_body = ApprovalDecision,
    params(("id" = String, Path, description = "the approval id")),
    responses((status = 200, body = ApprovalBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn post_approve(
    State(m): State<Mgmt>,
    RequestId(request_id): RequestId,
    admin: Admin,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ApprovalDecision>,
) -> Reply {
    let approvals = m.approvals.for_request(&request_id);
    decide(m, approvals, admin, &id, body, true).await
}

/// Deny a pending approval.
#[utoipa::path(post, path = "/support-access/v1/approvals/{id}/deny", request_body = ApprovalDecision,
    params(("id" = String, Path, description = "the approval id")),
    responses((status = 200, body = ApprovalBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub(super) async fn post_deny(
    State(m): State<Mgmt>,
    RequestId(request_id): RequestId,
    admin: Admin,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ApprovalDecision>,
) -> Reply {
    let approvals = m.approvals.for_request(&request_id);
    decide(m, approvals, admin, &id, body, false).await
}

async fn decide(
    m: Mgmt,
    approvals: Approvals,
    admin: Admin,
    id: &str,
    body: ApprovalDecision,
    approve: bool,
) -> Reply {
    let id = approval_id(id)?;
    let note = bounded_text("note", body.note, 1000)?;
    let (org, sub) = (&admin.org, admin.sub.as_str());
    let decided = match approve {
        true => {
            m.call(StoreOp::approval, approvals.approve(org, id, sub, note))
                .await?
        }
        false => {
            m.call(StoreOp::approval, approvals.deny(org, id, sub, note))
                .await?
        }
    };
    let view = m.call(StoreOp::approval, m.approvals.get(org, decided.id));
    Ok(json(StatusCode::OK, &ApprovalBody::from(&view.await?)))
}

/// An approval id in a path; one that is no UUID names no approval (`404`).
fn approval_id(text: &str) -> Result<ApprovalId, Refusal> {
    text.parse().map_err(|_| Refusal::ApprovalNotFound)
}
