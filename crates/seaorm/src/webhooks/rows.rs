//! Rows of the webhook tables to domain values and back.

use sea_orm::ActiveValue;
use support_access_core::StoreError;
use support_access_core::ids::OrgId;
use support_access_core::notify::{
    Delivery, DeliveryId, Endpoint, EndpointId, Message, MessageId, Secret, Subscription,
};

use crate::entity::{webhook_delivery, webhook_endpoint, webhook_message};
use crate::error::corrupt;
use crate::instant::stored;

pub(super) fn endpoint_row(e: &Endpoint) -> Result<webhook_endpoint::ActiveModel, StoreError> {
    let events = serde_json::to_string(&e.events.names())
        .map_err(|error| StoreError::Backend(error.to_string()))?;
    Ok(webhook_endpoint::ActiveModel {
        id: ActiveValue::Set(e.id.as_uuid()),
        org: ActiveValue::Set(e.org.as_str().to_owned()),
        url: ActiveValue::Set(e.url.clone()),
        events: ActiveValue::Set(events),
        description: ActiveValue::Set(e.description.clone()),
        secret: ActiveValue::Set(e.secret.expose()),
        created_at: ActiveValue::Set(stored(e.created_at)?),
        disabled_at: ActiveValue::Set(e.disabled_at.map(stored).transpose()?),
    })
}

pub(super) fn endpoint_of(row: webhook_endpoint::Model) -> Result<Endpoint, StoreError> {
    let field = |what: &str| corrupt(format!("{what} of webhook endpoint {}", row.id));
    let names: Vec<String> = serde_json::from_str(&row.events).map_err(|_| field("events"))?;
    Ok(Endpoint {
        id: EndpointId::from_uuid(row.id),
        org: OrgId::new(row.org.clone()),
        url: row.url.clone(),
        events: Subscription::parse(&names).map_err(|_| field("events"))?,
        description: row.description.clone(),
        secret: Secret::parse(row.secret.trim()).map_err(|_| field("secret"))?,
        created_at: row.created_at,
        disabled_at: row.disabled_at,
    })
}

pub(super) fn message_of(row: webhook_message::Model) -> Result<Message, StoreError> {
    Ok(Message {
        event_type: row
            .event_type
            .trim()
            .parse()
            .map_err(|_| corrupt(format!("event type of webhook message {}", row.id)))?,
        id: MessageId::from_stored(row.id),
        org: OrgId::new(row.org),
        created_at: row.created_at,
        body: row.body,
    })
}

pub(super) fn delivery_of(row: webhook_delivery::Model) -> Result<Delivery, StoreError> {
    let field = |what: &str| corrupt(format!("{what} of webhook delivery {}", row.id));
    Ok(Delivery {
        id: DeliveryId::from_uuid(row.id),
        org: OrgId::new(row.org.clone()),
        endpoint: EndpointId::from_uuid(row.endpoint_id),
        message: MessageId::from_stored(row.message_id.clone()),
        event_type: row
            .event_type
            .trim()
            .parse()
            .map_err(|_| field("event type"))?,
        status: row.status.trim().parse().map_err(|_| field("status"))?,
        attempts: u32::try_from(row.attempts).map_err(|_| field("attempts"))?,
        last_status_code: row
            .last_status_code
            .map(u16::try_from)
            .transpose()
            .map_err(|_| field("last status code"))?,
        last_error: row.last_error.clone(),
        next_attempt_at: row.next_attempt_at,
        created_at: row.created_at,
    })
}
