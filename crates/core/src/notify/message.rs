//! Messages: the body every attempt of a notification sends, rendered once, and the
//! `webhook-id` receivers de-duplicate by.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::EventType;
use crate::audit::AuditEvent;
use crate::change::report::api_time;
use crate::grant::Grant;
use crate::ids::{GrantId, OrgId};
use crate::time::to_micros;

/// A message's id: `msg_` and 32 hex digits, the same on every retry and on every
/// endpoint it goes to. Ids derived from what the message reports (an audit event, a
/// grant's expiry warning, a checkpoint) make queueing it twice detectable.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(String);

impl MessageId {
    /// A fresh random id (`webhook.test`).
    pub fn random() -> Self {
        Self::of_uuid(Uuid::new_v4())
    }

    /// The message reporting the audit event `event_id`.
    pub fn for_audit_event(event_id: Uuid) -> Self {
        Self::of_uuid(event_id)
    }

    /// The one `grant.expiring` message of a grant.
    pub fn for_expiry_warning(grant: GrantId) -> Self {
        Self::derived(&["grant.expiring", &grant.to_string()])
    }

    /// The `audit.checkpoint` message of an org's checkpoint of `size`.
    pub fn for_checkpoint(org: &OrgId, size: u64) -> Self {
        Self::derived(&["audit.checkpoint", org.as_str(), &size.to_string()])
    }

    /// Wraps a stored id.
    pub fn from_stored(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id as sent in `webhook-id`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn of_uuid(uuid: Uuid) -> Self {
        Self(format!("msg_{}", uuid.simple()))
    }

    fn derived(parts: &[&str]) -> Self {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update(part.len().to_string().as_bytes());
            hasher.update(b":");
            hasher.update(part.as_bytes());
        }
        let digest = hasher.finalize();
        Self(format!("msg_{}", hex::encode(&digest[..16])))
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One notification of an org, its body fixed when it is queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The `webhook-id`.
    pub id: MessageId,
    /// Whose it is.
    pub org: OrgId,
    /// What it reports.
    pub event_type: EventType,
    /// When it happened (the body's `timestamp`), microseconds.
    pub created_at: DateTime<Utc>,
    /// The JSON body sent, byte for byte, on every attempt.
    pub body: String,
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    event_type: &'a str,
    timestamp: String,
    org: &'a str,
    data: &'a Value,
}

impl Message {
    /// A message with its body `{"type", "timestamp", "org", "data"}`.
    pub fn new(
        id: MessageId,
        org: OrgId,
        event_type: EventType,
        at: DateTime<Utc>,
        data: &Value,
    ) -> Self {
        let created_at = to_micros(at);
        let body = Body {
            event_type: event_type.as_str(),
            timestamp: api_time(created_at),
            org: org.as_str(),
            data,
        };
        let body = serde_json::to_string(&body).unwrap_or_else(|_| String::from("{}"));
        Self {
            id,
            org,
            event_type,
            created_at,
            body,
        }
    }

    /// The message reporting an audit event, if its kind is one that notifies
    /// ([`EventType::of_audit`]). Queued with the event, in its transaction.
    ///
    /// `data` is what the event records: for grant events the grant's id, hidden
    /// support user, the admin (`actor`), reason and ticket; for `support.signed_in`
    /// the staff member; for `request.blocked` method, path, restriction, rule, actor,
    /// request id and refusal code; for `approval.requested` the approval and its
    /// request.
    pub fn for_audit_event(event: &AuditEvent) -> Option<Self> {
        Self::for_audit_event_about(event, None)
    }

    /// As [`Message::for_audit_event`], and when the store knows the grant the event
    /// records a change of (the grant as the change left it), the `data` of a grant
    /// event is that grant as SPEC §5 shows it ([`grant_data`]), its status at the
    /// event, and the `audit_seq`.
    pub fn for_audit_event_about(event: &AuditEvent, grant: Option<&Grant>) -> Option<Self> {
        let event_type = EventType::of_audit(event.kind)?;
        let grant = grant.filter(|g| Some(g.id) == event.grant);
        let data = match (event_type, grant) {
            (
                EventType::GrantCreated
                | EventType::GrantChanged
                | EventType::GrantRevoked
                | EventType::GrantExpired,
                Some(grant),
            ) => {
                let mut data = grant_data(grant, event.at);
                if let Value::Object(fields) = &mut data {
                    fields.insert("audit_seq".into(), json!(event.seq));
                }
                data
            }
            _ => audit_data(event, event_type),
        };
        Some(Self::new(
            MessageId::for_audit_event(event.id),
            event.org.clone(),
            event_type,
            event.at,
            &data,
        ))
    }

    /// The `webhook.test` message of an org.
    pub fn test(org: OrgId, at: DateTime<Utc>) -> Self {
        Self::new(
            MessageId::random(),
            org,
            EventType::WebhookTest,
            at,
            &json!({"test": true}),
        )
    }

    /// The `audit.checkpoint` message of a signed checkpoint (its note text).
    pub fn checkpoint(org: OrgId, size: u64, note: &str, at: DateTime<Utc>) -> Self {
        Self::new(
            MessageId::for_checkpoint(&org, size),
            org,
            EventType::AuditCheckpoint,
            at,
            &json!({"tree_size": size, "checkpoint": note}),
        )
    }

    /// The one `grant.expiring` message of a grant; `data` is its API body
    /// ([`grant_data`]).
    pub fn expiry_warning(org: OrgId, grant: GrantId, data: &Value, at: DateTime<Utc>) -> Self {
        Self::new(
            MessageId::for_expiry_warning(grant),
            org,
            EventType::GrantExpiring,
            at,
            data,
        )
    }
}

/// A grant as the management API shows it (SPEC §5): `id`, `org`, `support_user`,
/// `status` (at `at`), `created_at`, `created_by`, `expires_at`, `revoked_at`,
/// `revoked_by`, `reason`, `ticket`, `seat` (`{"holder", "claimed_at"}` or `null`).
pub fn grant_data(grant: &Grant, at: DateTime<Utc>) -> Value {
    json!({
        "id": grant.id.to_string(),
        "org": grant.org.as_str(),
        "support_user": grant.support_user.to_string(),
        "status": grant.status_at(at).as_str(),
        "created_at": api_time(grant.created_at),
        "created_by": grant.created_by,
        "expires_at": api_time(grant.expires_at),
        "revoked_at": grant.revoked_at().map(api_time),
        "revoked_by": grant.revoked_by(),
        "reason": grant.reason,
        "ticket": grant.ticket,
        "seat": grant.seat.as_ref().map(|seat| json!({
            "holder": seat.holder.as_str(),
            "claimed_at": api_time(seat.claimed_at),
        })),
    })
}

fn audit_data(event: &AuditEvent, event_type: EventType) -> Value {
    let mut data = Map::new();
    let mut put = |name: &str, value: Value| {
        if !value.is_null() {
            data.insert(name.to_owned(), value);
        }
    };
    let grant = event.grant.map(|g| g.to_string());
    let support_user = event.support_user.map(|u| u.to_string());
    match event_type {
        EventType::GrantCreated
        | EventType::GrantChanged
        | EventType::GrantRevoked
        | EventType::GrantExpired => {
            put("id", json!(grant));
            put("org", json!(event.org.as_str()));
            put("support_user", json!(support_user));
            put("actor", json!(event.actor));
            put("reason", json!(event.reason));
            put("ticket", json!(event.ticket));
        }
        EventType::SupportSignedIn => {
            put("actor", json!(event.actor));
            put("grant", json!(grant));
            put("support_user", json!(support_user));
            put("request_id", json!(event.request_id));
        }
        EventType::RequestBlocked => {
            put("method", json!(event.method));
            put("path", json!(event.path));
            put("restriction", json!(event.restriction));
            put("rule", json!(event.rule));
            put("actor", json!(event.actor));
            put("request_id", json!(event.request_id));
            put("error", json!(event.error));
            put("grant", json!(grant));
        }
        EventType::ApprovalRequested => {
            put("approval", json!(event.approval.map(|a| a.to_string())));
            put("method", json!(event.method));
            put("path", json!(event.path));
            put("body_sha256", json!(event.body_sha256));
            put("restriction", json!(event.restriction));
            put("rule", json!(event.rule));
            put("actor", json!(event.actor));
            put("request_id", json!(event.request_id));
            put("grant", json!(grant));
        }
        EventType::GrantExpiring | EventType::AuditCheckpoint | EventType::WebhookTest => {}
    }
    put("audit_seq", json!(event.seq));
    Value::Object(data)
}
