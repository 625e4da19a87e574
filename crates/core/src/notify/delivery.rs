//! Deliveries: one message to one endpoint, and what its attempts did to it.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Attempt, DeliveryId, EndpointId, EventType, Message, MessageId, Outcome};
use crate::ids::OrgId;

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// A `2xx` answered it.
    Delivered,
    /// Given up: past `max_age`, or its endpoint answered `410`.
    Failed,
}

impl DeliveryStatus {
    /// The stored and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }
}

/// Not a delivery status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown delivery status {0:?}")]
pub struct UnknownStatus(pub String);

impl FromStr for DeliveryStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(Self::Pending),
            "delivered" => Ok(Self::Delivered),
            "failed" => Ok(Self::Failed),
            other => Err(UnknownStatus(other.to_owned())),
        }
    }
}

/// One message to one endpoint, and how its attempts went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Its id.
    pub id: DeliveryId,
    /// The org of the message and the endpoint.
    pub org: OrgId,
    /// The receiver.
    pub endpoint: EndpointId,
    /// What is sent: its `webhook-id`.
    pub message: MessageId,
    /// The message's type.
    pub event_type: EventType,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// The HTTP status of the last answer, if the last attempt got one.
    pub last_status_code: Option<u16>,
    /// What went wrong on the last attempt (timeout, refused connection), for logs.
    pub last_error: Option<String>,
    /// When it is due (pending), `None` once delivered or failed.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When it was queued (the message's time).
    pub created_at: DateTime<Utc>,
}

impl Delivery {
    /// A new pending delivery of `message` to `endpoint`, due at once.
    pub fn queued(message: &Message, endpoint: EndpointId) -> Self {
        Self {
            id: DeliveryId::random(),
            org: message.org.clone(),
            endpoint,
            message: message.id.clone(),
            event_type: message.event_type,
            status: DeliveryStatus::Pending,
            attempts: 0,
            last_status_code: None,
            last_error: None,
            next_attempt_at: Some(message.created_at),
            created_at: message.created_at,
        }
    }

    /// The delivery after an attempt's [`Outcome`].
    pub fn after(&self, attempt: &Attempt) -> Self {
        let mut next = self.clone();
        next.attempts = self.attempts.saturating_add(1);
        next.last_status_code = attempt.result.status_code();
        next.last_error = attempt.result.error();
        match attempt.outcome {
            Outcome::Delivered => {
                next.status = DeliveryStatus::Delivered;
                next.next_attempt_at = None;
            }
            Outcome::Retry { at } => {
                next.status = DeliveryStatus::Pending;
                next.next_attempt_at = Some(at);
            }
            Outcome::Failed | Outcome::EndpointGone => {
                next.status = DeliveryStatus::Failed;
                next.next_attempt_at = None;
            }
        }
        next
    }
}
