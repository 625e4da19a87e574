//! `/audit/checkpoint`, `/audit/verifier-key`, `/audit/proof/*`: the verifiable audit
//! log (SPEC §6.1, `docs/tlog.md`). The checkpoint is the org's current one: the stored
//! checkpoint when the log did not grow since, else one signed and stored now; an org
//! without events gets `404 empty_log` (there is nothing to sign).

use axum::extract::{RawQuery, State};
use axum::response::Response;
use http::StatusCode;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use serde::{Deserialize, Serialize};
use support_access_core::tlog::TreeHash;
use utoipa::ToSchema;

use super::Mgmt;
use super::api::ErrorBody;
use super::extract::Admin;
use super::reply::{Reply, invalid};
use crate::metrics::StoreOp;
use crate::refusal::Refusal;

/// An inclusion proof (RFC 9162 §2.1.3) of event `seq` in the tree of `tree_size`.
#[derive(Debug, Serialize, ToSchema)]
pub struct InclusionBody {
    /// The event's `seq`.
    pub seq: u64,
    /// The tree size the proof is for.
    pub tree_size: u64,
    /// The leaf index: `seq - 1`.
    pub leaf_index: u64,
    /// The audit path, base64, the leaf's sibling first.
    pub hashes: Vec<String>,
}

/// A consistency proof (RFC 9162 §2.1.4) between the trees of `from` and `to` events.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsistencyBody {
    /// The older tree's size.
    pub from: u64,
    /// The newer tree's size.
    pub to: u64,
    /// The consistency path, base64.
    pub hashes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct InclusionParams {
    seq: Option<String>,
    size: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConsistencyParams {
    from: Option<String>,
    to: Option<String>,
}

fn params<T: serde::de::DeserializeOwned>(raw: Option<String>) -> Result<T, Refusal> {
    serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|e| invalid("invalid_query", format!("The query is not valid: {e}.")))
}

fn number(field: &'static str, value: Option<String>) -> Result<u64, Refusal> {
    value
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| invalid("invalid_query", format!("`{field}` must be a number.")))
}

fn base64(hashes: &[TreeHash]) -> Vec<String> {
    hashes.iter().map(TreeHash::to_base64).collect()
}

fn text(body: String) -> Response {
    let mut response = Response::new(axum::body::Body::from(body));
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The org's current signed checkpoint (C2SP tlog-checkpoint signed note).
#[utoipa::path(get, path = "/support-access/v1/audit/checkpoint",
    security(("customer_admin" = [])),
    responses((status = 200, content_type = "text/plain", body = String,
               headers(("Last-Modified" = String, description = "when the checkpoint was signed"))), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody, description = "empty_log: the org has no events")))]
pub(super) async fn get_checkpoint(State(m): State<Mgmt>, admin: Admin) -> Reply {
    let current = m.audit_log.current_checkpoint(&admin.org);
    let stored = m.call(StoreOp::audit_read, current).await?;
    let signed_at = stored
        .made_at
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    let mut response = text(stored.note);
    if let Ok(value) = HeaderValue::from_str(&signed_at) {
        response
            .headers_mut()
            .insert(http::header::LAST_MODIFIED, value);
    }
    Ok(response)
}

/// The note verifier keys of the audit keys signing now, one a line
/// (`<name>+<hex key id>+<base64(0x01 ‖ key)>`), the key that signs first at the top;
/// two lines during a key changeover (`keys rotate --audit`): the old and the new key.
#[utoipa::path(get, path = "/support-access/v1/audit/verifier-key",
    responses((status = 200, content_type = "text/plain", body = String,
               description = "one verifier key a line, the current key first")))]
pub(super) async fn get_verifier_key(State(m): State<Mgmt>) -> Response {
    let keys: String = m
        .audit_log
        .verifiers()
        .iter()
        .map(|key| format!("{key}\n"))
        .collect();
    text(keys)
}

/// The inclusion proof of event `seq` in the org's tree of `size` events.
#[utoipa::path(get, path = "/support-access/v1/audit/proof/inclusion",
    params(("seq" = u64, Query), ("size" = u64, Query)),
    security(("customer_admin" = [])),
    responses((status = 200, body = InclusionBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 422, body = ErrorBody, description = "beyond_log")))]
pub(super) async fn get_inclusion_proof(
    State(m): State<Mgmt>,
    admin: Admin,
    RawQuery(raw): RawQuery,
) -> Reply {
    let params: InclusionParams = params(raw)?;
    let (seq, size) = (number("seq", params.seq)?, number("size", params.size)?);
    let proof = m.audit_log.inclusion_proof(&admin.org, seq, size);
    let proof = m.call(StoreOp::audit_read, proof).await?;
    let body = InclusionBody {
        seq,
        tree_size: proof.size,
        leaf_index: proof.index,
        hashes: base64(&proof.hashes),
    };
    Ok(super::reply::json(StatusCode::OK, &body))
}

/// The consistency proof from the org's tree of `from` events to the one of `to`.
#[utoipa::path(get, path = "/support-access/v1/audit/proof/consistency",
    params(("from" = u64, Query), ("to" = u64, Query)),
    security(("customer_admin" = [])),
    responses((status = 200, body = ConsistencyBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 422, body = ErrorBody, description = "beyond_log")))]
pub(super) async fn get_consistency_proof(
    State(m): State<Mgmt>,
    admin: Admin,
    RawQuery(raw): RawQuery,
) -> Reply {
    let params: ConsistencyParams = params(raw)?;
    let (from, to) = (number("from", params.from)?, number("to", params.to)?);
    let proof = m.audit_log.consistency_proof(&admin.org, from, to);
    let proof = m.call(StoreOp::audit_read, proof).await?;
    let body = ConsistencyBody {
        from: proof.from,
        to: proof.to,
        hashes: base64(&proof.hashes),
    };
    Ok(super::reply::json(StatusCode::OK, &body))
}
