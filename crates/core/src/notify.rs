//! Notifications (SPEC §9): signed webhooks with at-least-once delivery.
//!
//! - [`Endpoint`]: an org's registered receiver — its URL, the [`EventType`]s it wants
//!   and its signing [`Secret`] (`whsec_` + base64 of 32 random bytes, shown once).
//! - [`Message`]: one notification, its body rendered once (`{"type", "timestamp",
//!   "org", "data"}`) so that every retry sends the same bytes under the same
//!   [`MessageId`]; [`message`] builds them from audit events.
//! - [`signature`]: the Standard Webhooks wire format (`webhook-id`,
//!   `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`).
//! - [`retry`]: the delivery state machine — backoff with jitter (about 5 s, 30 s,
//!   2 min, 10 min, 1 h, then every 6 h), `failed` after `max_age`, `410` disables the
//!   endpoint.
//! - [`target`]: the SSRF check of an endpoint URL and the addresses it resolved to.
//! - [`WebhookOutbox`](port::WebhookOutbox): the port, a durable outbox whose
//!   deliveries are leased to one worker at a time.
//! - [`Notifications`](service::Notifications): the service the gateway calls — the
//!   endpoints API and the delivery worker's claim / finish steps.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::audit::AuditKind;
use crate::ids::OrgId;

mod delivery;
pub mod message;
pub mod port;
pub mod retry;
pub mod service;
pub mod signature;
pub mod target;

#[cfg(test)]
mod tests;

pub use delivery::{Delivery, DeliveryStatus, UnknownStatus};
pub use message::{Message, MessageId, grant_data};
pub use port::{Claimed, DeliveryFilter, Fanout, QueueStats, WebhookOutbox};
pub use retry::{Attempt, AttemptResult, Outcome, RetryPolicy};
pub use signature::{SignatureError, Signed, sign, verify};
pub use target::{Target, TargetError, check_addresses, check_url, forbidden_reason};

/// The notifications an endpoint can ask for (SPEC §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventType {
    /// A grant was created.
    #[serde(rename = "grant.created")]
    GrantCreated,
    /// A grant's end date was changed.
    #[serde(rename = "grant.changed")]
    GrantChanged,
    /// A grant was revoked.
    #[serde(rename = "grant.revoked")]
    GrantRevoked,
    /// A grant reached its end.
    #[serde(rename = "grant.expired")]
    GrantExpired,
    /// A grant ends within `notifications.expiry_warning` (once per grant).
    #[serde(rename = "grant.expiring")]
    GrantExpiring,
    /// A support token was issued.
    #[serde(rename = "support.signed_in")]
    SupportSignedIn,
    /// A support request was refused.
    #[serde(rename = "request.blocked")]
    RequestBlocked,
    /// A one-request approval waits for the admin (SPEC §10).
    #[serde(rename = "approval.requested")]
    ApprovalRequested,
    /// A signed checkpoint of the audit log was made (SPEC §6.1).
    #[serde(rename = "audit.checkpoint")]
    AuditCheckpoint,
    /// An admin asked for a test delivery.
    #[serde(rename = "webhook.test")]
    WebhookTest,
}

impl EventType {
    /// Every event type, in the order of SPEC §9.
    pub const ALL: [EventType; 10] = [
        Self::GrantCreated,
        Self::GrantChanged,
        Self::GrantRevoked,
        Self::GrantExpired,
        Self::GrantExpiring,
        Self::SupportSignedIn,
        Self::RequestBlocked,
        Self::ApprovalRequested,
        Self::AuditCheckpoint,
        Self::WebhookTest,
    ];

    /// The wire name (`grant.created`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GrantCreated => "grant.created",
            Self::GrantChanged => "grant.changed",
            Self::GrantRevoked => "grant.revoked",
            Self::GrantExpired => "grant.expired",
            Self::GrantExpiring => "grant.expiring",
            Self::SupportSignedIn => "support.signed_in",
            Self::RequestBlocked => "request.blocked",
            Self::ApprovalRequested => "approval.requested",
            Self::AuditCheckpoint => "audit.checkpoint",
            Self::WebhookTest => "webhook.test",
        }
    }

    /// The notification an audit event of `kind` is reported by, if any. The other
    /// types (`grant.expiring`, `audit.checkpoint`, `webhook.test`) have no audit event
    /// and are queued directly.
    pub fn of_audit(kind: AuditKind) -> Option<Self> {
        match kind {
            AuditKind::GrantCreated => Some(Self::GrantCreated),
            AuditKind::GrantChanged => Some(Self::GrantChanged),
            AuditKind::GrantRevoked => Some(Self::GrantRevoked),
            AuditKind::GrantExpired => Some(Self::GrantExpired),
            AuditKind::TokenIssued => Some(Self::SupportSignedIn),
            AuditKind::RequestBlocked => Some(Self::RequestBlocked),
            AuditKind::ApprovalRequested => Some(Self::ApprovalRequested),
            _ => None,
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Not one of SPEC §9's event types.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event type {0:?}")]
pub struct UnknownEventType(pub String);

impl FromStr for EventType {
    type Err = UnknownEventType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownEventType(s.to_owned()))
    }
}

/// The event types an endpoint receives: every one (`["*"]`) or those listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscription {
    /// `["*"]`: every type, also types added later.
    All,
    /// The types listed (never empty).
    Only(BTreeSet<EventType>),
}

/// Why a list of event types is not a subscription.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscriptionError {
    /// No type at all.
    #[error("events must name at least one event type or \"*\"")]
    Empty,
    /// `"*"` together with other types.
    #[error("\"*\" stands alone")]
    WildcardMixed,
    /// A name that is no event type.
    #[error(transparent)]
    Unknown(#[from] UnknownEventType),
}

impl Subscription {
    /// Reads the API's `events` list.
    pub fn parse<S: AsRef<str>>(events: &[S]) -> Result<Self, SubscriptionError> {
        if events.is_empty() {
            return Err(SubscriptionError::Empty);
        }
        if events.iter().any(|e| e.as_ref() == "*") {
            return if events.len() == 1 {
                Ok(Self::All)
            } else {
                Err(SubscriptionError::WildcardMixed)
            };
        }
        let types = events
            .iter()
            .map(|e| e.as_ref().parse())
            .collect::<Result<BTreeSet<EventType>, _>>()?;
        Ok(Self::Only(types))
    }

    /// Whether an event of `event_type` goes to the endpoint.
    pub fn wants(&self, event_type: EventType) -> bool {
        match self {
            Self::All => true,
            Self::Only(types) => types.contains(&event_type),
        }
    }

    /// The API's `events` list (`["*"]` or the names, in SPEC order).
    pub fn names(&self) -> Vec<String> {
        match self {
            Self::All => vec!["*".to_owned()],
            Self::Only(types) => types.iter().map(|t| t.as_str().to_owned()).collect(),
        }
    }
}

/// A signing secret: `whsec_` and the base64 of the key bytes. The key is what HMAC
/// uses; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

/// The prefix of every secret's text.
pub const SECRET_PREFIX: &str = "whsec_";

/// A secret's text is not `whsec_` + base64 of 24 to 64 bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a webhook secret is whsec_ followed by the base64 of 24 to 64 bytes")]
pub struct SecretError;

impl Secret {
    /// Bytes of a new secret.
    pub const LEN: usize = 32;

    /// A new secret of 32 bytes from the operating system's random source.
    pub fn generate() -> Result<Self, SecretError> {
        let mut key = vec![0u8; Self::LEN];
        aws_lc_rs::rand::fill(&mut key).map_err(|_| SecretError)?;
        Ok(Self(key))
    }

    /// A secret of the given key bytes (tests, a stored key).
    pub fn from_key(key: impl Into<Vec<u8>>) -> Result<Self, SecretError> {
        let key = key.into();
        if (24..=64).contains(&key.len()) {
            Ok(Self(key))
        } else {
            Err(SecretError)
        }
    }

    /// Reads `whsec_<base64>`.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let encoded = text.strip_prefix(SECRET_PREFIX).ok_or(SecretError)?;
        let key = STANDARD.decode(encoded).map_err(|_| SecretError)?;
        Self::from_key(key)
    }

    /// The key bytes HMAC is keyed with.
    pub fn key(&self) -> &[u8] {
        &self.0
    }

    /// The text shown once to the admin and stored: `whsec_<base64>`.
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.0))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(whsec_…)")
    }
}

/// One endpoint. Random (UUID v4), never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EndpointId(Uuid);

/// One delivery: a message to one endpoint. Random (UUID v4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeliveryId(Uuid);

macro_rules! uuid_id {
    ($name:ident) => {
        impl $name {
            /// A fresh random id.
            pub fn random() -> Self {
                Self(Uuid::new_v4())
            }

            /// Wraps a stored id.
            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The id as a UUID.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s.trim()).map(Self)
            }
        }
    };
}

uuid_id!(EndpointId);
uuid_id!(DeliveryId);

/// A registered receiver of an org's notifications.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Its id.
    pub id: EndpointId,
    /// The org whose admin registered it.
    pub org: OrgId,
    /// Where deliveries are posted; checked by [`check_url`] at registration.
    pub url: String,
    /// What it receives.
    pub events: Subscription,
    /// The admin's note.
    pub description: Option<String>,
    /// The signing secret.
    pub secret: Secret,
    /// When it was registered (microseconds).
    pub created_at: DateTime<Utc>,
    /// When a `410 Gone` disabled it; a disabled endpoint gets no more deliveries.
    pub disabled_at: Option<DateTime<Utc>>,
}

impl Endpoint {
    /// A new endpoint of `org` with a fresh id, the URL already checked.
    pub fn new(
        org: OrgId,
        target: &Target,
        events: Subscription,
        description: Option<String>,
        secret: Secret,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: EndpointId::random(),
            org,
            url: target.url.clone(),
            events,
            description,
            secret,
            created_at: crate::time::to_micros(now),
            disabled_at: None,
        }
    }

    /// Whether a message of `event_type` is queued for this endpoint when its org
    /// publishes one: enabled and subscribed (`webhook.test` only on request).
    pub fn receives(&self, event_type: EventType) -> bool {
        self.disabled_at.is_none()
            && event_type != EventType::WebhookTest
            && self.events.wants(event_type)
    }
}
