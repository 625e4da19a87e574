//! The bodies of `/approvals` (SPEC §10).

use serde::{Deserialize, Serialize};
use support_access_core::approval::service::ApprovalView;
use utoipa::ToSchema;

use super::time;

/// One one-request approval.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApprovalBody {
    /// The approval id, sent back by support in `Support-Approval`.
    pub id: String,
    /// `pending`, `approved`, `denied`, `used`, `expired` or `void`, now.
    pub status: String,
    /// The grant the request was made under.
    pub grant: String,
    /// The HTTP method as sent.
    pub method: String,
    /// The normalised path.
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// SHA-256 (hex) of the body as sent.
    pub body_sha256: String,
    /// The first 4 KiB of the body, as text.
    pub body_preview: Option<String>,
    /// The restriction that refused the request.
    pub restriction: Option<u8>,
    /// The policy rule that refused it.
    pub rule: Option<String>,
    /// The staff member who sent it.
    pub actor: String,
    /// RFC 3339.
    pub requested_at: String,
    /// RFC 3339, once decided.
    pub decided_at: Option<String>,
    /// The deciding admin's `sub`.
    pub decided_by: Option<String>,
    /// The admin's note.
    pub note: Option<String>,
    /// RFC 3339: the end of the current state (of waiting, or of usability once
    /// approved).
    pub expires_at: String,
}

impl From<&ApprovalView> for ApprovalBody {
    fn from(view: &ApprovalView) -> Self {
        let a = &view.approval;
        Self {
            id: a.id.to_string(),
            status: view.status.as_str().to_owned(),
            grant: a.grant.to_string(),
            method: a.method.clone(),
            path: a.path.clone(),
            query: a.query.clone(),
            body_sha256: a.body_sha256.clone(),
            body_preview: a.body_preview.clone(),
            restriction: a.restriction,
            rule: a.rule.clone(),
            actor: a.actor.to_string(),
            requested_at: time(a.requested_at),
            decided_at: a.decided_at.map(time),
            decided_by: a.decided_by.clone(),
            note: a.note.clone(),
            expires_at: time(a.expires_at),
        }
    }
}

/// A listing of approvals, newest request first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApprovalList {
    /// The approvals.
    pub approvals: Vec<ApprovalBody>,
}

/// `POST /approvals/{id}/approve` and `…/deny`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalDecision {
    /// The admin's note (at most 1000 characters).
    pub note: Option<String>,
}
