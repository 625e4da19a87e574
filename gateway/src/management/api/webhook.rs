//! The bodies of `/webhooks` (SPEC §9).

use serde::{Deserialize, Serialize};
use support_access_core::notify::{Delivery, Endpoint};
use utoipa::ToSchema;

use super::time;

/// A new endpoint.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookCreate {
    /// `https://…` (any scheme and address with `notifications.allow_insecure_targets`).
    pub url: String,
    /// Event types (`grant.created`, …), or `["*"]` for all.
    pub events: Vec<String>,
    /// What the endpoint is for.
    pub description: Option<String>,
}

/// A registered endpoint, without its secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookBody {
    /// The endpoint id.
    pub id: String,
    /// Where deliveries are posted.
    pub url: String,
    /// The event types it receives (`["*"]`: all).
    pub events: Vec<String>,
    /// What the endpoint is for.
    pub description: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339: when a `410 Gone` disabled it.
    pub disabled_at: Option<String>,
}

impl From<&Endpoint> for WebhookBody {
    fn from(endpoint: &Endpoint) -> Self {
        Self {
            id: endpoint.id.to_string(),
            url: endpoint.url.clone(),
            events: endpoint.events.names(),
            description: endpoint.description.clone(),
            created_at: time(endpoint.created_at),
            disabled_at: endpoint.disabled_at.map(time),
        }
    }
}

/// A registered endpoint with its signing secret, shown only here.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookCreated {
    /// The endpoint.
    #[serde(flatten)]
    pub webhook: WebhookBody,
    /// `whsec_` + base64 of 32 random bytes: the Standard Webhooks signing secret.
    pub secret: String,
}

/// The org's endpoints, oldest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookList {
    /// The endpoints, without secrets.
    pub webhooks: Vec<WebhookBody>,
}

/// One delivery of a message to an endpoint.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryBody {
    /// The delivery id.
    pub id: String,
    /// The message id: `webhook-id`, the same on every attempt.
    pub message_id: String,
    /// The event type.
    pub event_type: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts made.
    pub attempts: u32,
    /// The status of the latest answer.
    pub last_status_code: Option<u16>,
    /// What went wrong without an answer (timeout, refused connection).
    pub last_error: Option<String>,
    /// RFC 3339: when it is next attempted (pending only).
    pub next_attempt_at: Option<String>,
    /// RFC 3339: when it was queued.
    pub created_at: String,
}

impl From<&Delivery> for DeliveryBody {
    fn from(delivery: &Delivery) -> Self {
        Self {
            id: delivery.id.to_string(),
            message_id: delivery.message.to_string(),
            event_type: delivery.event_type.as_str().to_owned(),
            status: delivery.status.as_str().to_owned(),
            attempts: delivery.attempts,
            last_status_code: delivery.last_status_code,
            last_error: delivery.last_error.clone(),
            next_attempt_at: delivery.next_attempt_at.map(time),
            created_at: time(delivery.created_at),
        }
    }
}

/// An endpoint's recent deliveries, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryList {
    /// The deliveries.
    pub deliveries: Vec<DeliveryBody>,
}
