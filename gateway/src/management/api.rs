//! The management API's bodies (SPEC §5). API types, not domain types: the domain never
//! derives HTTP or OpenAPI traits.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use support_access_core::audit::AuditEvent;
use support_access_core::grant::{Grant, GrantStatus};
use utoipa::ToSchema;

mod approval;
mod webhook;

pub use approval::{ApprovalBody, ApprovalDecision, ApprovalList};
pub use webhook::{
    DeliveryBody, DeliveryList, WebhookBody, WebhookCreate, WebhookCreated, WebhookList,
};

/// RFC 3339 in UTC, as every time in the API.
pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A grant of support access.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GrantBody {
    /// Grant id.
    pub id: String,
    /// The org.
    pub org: String,
    /// The hidden support user: a 64-bit decimal string that fits CRM owner fields.
    pub support_user: String,
    /// `active`, `revoked` or `expired`.
    pub status: String,
    /// RFC 3339.
    pub created_at: String,
    /// The admin's `sub`.
    pub created_by: String,
    /// RFC 3339: access ends at this instant.
    pub expires_at: String,
    /// RFC 3339, when revoked.
    pub revoked_at: Option<String>,
    /// The revoking admin's `sub`.
    pub revoked_by: Option<String>,
    /// Why access was granted.
    pub reason: Option<String>,
    /// The support ticket.
    pub ticket: Option<String>,
    /// Who holds the support seat; `null` unless the grant is active.
    pub seat: Option<SeatBody>,
}

/// The support seat.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SeatBody {
    /// The staff id holding it.
    pub holder: String,
    /// RFC 3339.
    pub claimed_at: String,
}

impl GrantBody {
    /// The body of `grant` with its status now.
    pub fn new(grant: &Grant, status: GrantStatus) -> Self {
        Self {
            id: grant.id.to_string(),
            org: grant.org.to_string(),
            support_user: grant.support_user.to_string(),
            status: status.as_str().to_owned(),
            created_at: time(grant.created_at),
            created_by: grant.created_by.clone(),
            expires_at: time(grant.expires_at),
            revoked_at: grant.revoked_at().map(time),
            revoked_by: grant.revoked_by().map(str::to_owned),
            reason: grant.reason.clone(),
            ticket: grant.ticket.clone(),
            // Only an active grant has a seat holder: a revoked or expired grant's last
            // holder holds nothing any more (SPEC §8).
            seat: grant
                .seat
                .as_ref()
                .filter(|_| status == GrantStatus::Active)
                .map(|seat| SeatBody {
                    holder: seat.holder.to_string(),
                    claimed_at: time(seat.claimed_at),
                }),
        }
    }
}

/// `POST /grant`: either `expires_at` or `days`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantCreate {
    /// RFC 3339 end of access.
    pub expires_at: Option<String>,
    /// Or: whole days from now, within the configured bounds.
    pub days: Option<i64>,
    /// Why (at most 1000 characters).
    pub reason: Option<String>,
    /// The support ticket (at most 200 characters).
    pub ticket: Option<String>,
}

/// `PATCH /grant`: either `expires_at` or `days`, as for `POST`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantChange {
    /// The new RFC 3339 end of access, bounds counted from now.
    pub expires_at: Option<String>,
    /// Or: whole days from now.
    pub days: Option<i64>,
}

/// `POST /token` and (with a staff token) `DELETE /token`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// The org to act in.
    pub org: String,
}

/// A support token.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenAnswer {
    /// The support token (JWT, EdDSA).
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// RFC 3339: never after the grant's end.
    pub expires_at: String,
    /// The hidden support user.
    pub support_user: String,
    /// The grant id.
    pub grant: String,
}

/// One audit event.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventBody {
    /// Event id.
    pub id: String,
    /// The org.
    pub org: String,
    /// Gap-free position in the org's stream.
    pub seq: u64,
    /// RFC 3339 with microseconds.
    pub at: String,
    /// `grant.created`, …, `request.completed`.
    pub kind: String,
    /// `allowed` or `blocked` for request decisions.
    pub decision: Option<String>,
    /// Grant id.
    pub grant: Option<String>,
    /// Hidden support user.
    pub support_user: Option<String>,
    /// Staff id (support events) or admin `sub` (lifecycle events).
    pub actor: Option<String>,
    /// HTTP method.
    pub method: Option<String>,
    /// Normalised path.
    pub path: Option<String>,
    /// HTTP status answered.
    pub status: Option<u16>,
    /// Policy rule.
    pub rule: Option<String>,
    /// Restriction number (1–32).
    pub restriction: Option<u8>,
    /// Milliseconds.
    pub latency_ms: Option<u64>,
    /// Request id.
    pub request_id: Option<String>,
    /// Client address.
    pub client_ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// SHA-256 of the body read.
    pub body_sha256: Option<String>,
    /// The grant's reason.
    pub reason: Option<String>,
    /// The grant's ticket.
    pub ticket: Option<String>,
    /// On a refusal, its code (`restricted`, `support_access_revoked`, …).
    pub error: Option<String>,
    /// Side-effect rewrites made to the forwarded body (`trigger:-workflow`, …).
    pub rewrites: Vec<String>,
    /// The one-request approval the event concerns (SPEC §10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<String>,
    /// Previous event's hash (hex).
    pub prev_hash: String,
    /// This event's hash (hex).
    pub hash: String,
}

impl From<&AuditEvent> for EventBody {
    fn from(e: &AuditEvent) -> Self {
        Self {
            id: e.id.to_string(),
            org: e.org.to_string(),
            seq: e.seq,
            at: e.at.to_rfc3339_opts(SecondsFormat::Micros, true),
            kind: e.kind.as_str().to_owned(),
            decision: e.decision().map(|d| d.as_str().to_owned()),
            grant: e.grant.map(|g| g.to_string()),
            support_user: e.support_user.map(|u| u.to_string()),
            actor: e.actor.clone(),
            method: e.method.clone(),
            path: e.path.clone(),
            status: e.status,
            rule: e.rule.clone(),
            restriction: e.restriction,
            latency_ms: e.latency_ms,
            request_id: e.request_id.clone(),
            client_ip: e.client_ip.clone(),
            user_agent: e.user_agent.clone(),
            body_sha256: e.body_sha256.clone(),
            reason: e.reason.clone(),
            ticket: e.ticket.clone(),
            error: e.error.clone(),
            rewrites: e.rewrites.clone(),
            approval: e.approval.map(|a| a.to_string()),
            prev_hash: e.prev_hash.to_hex(),
            hash: e.hash.to_hex(),
        }
    }
}

/// A page of audit events.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditPageBody {
    /// Newest first.
    pub events: Vec<EventBody>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// Grant bounds, for the admin page's date picker.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SettingsBody {
    /// The shortest grant, in seconds.
    pub min_duration_seconds: u64,
    /// The longest grant, in seconds.
    pub max_duration_seconds: u64,
}

/// Every refusal.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable code.
    pub error: String,
    /// Human sentence.
    pub message: String,
    /// Restriction number, where one refused.
    pub restriction: Option<u8>,
    /// Policy rule, where one refused.
    pub rule: Option<String>,
    /// The request id, also in logs and the audit log.
    pub request_id: String,
}
