//! Webhook endpoints and the outbox of their deliveries (SPEC §9).
//!
//! A message is stored once (`webhook_messages`, its body byte for byte) and delivered
//! to each endpoint by one `webhook_deliveries` row. A delivery is handed to one worker
//! at a time by its lease (`leased_by`, `lease_until`); the claim takes due rows with
//! `FOR UPDATE SKIP LOCKED` on PostgreSQL. The partial index on due pending deliveries
//! keeps that claim cheap however many delivered rows accumulate.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    integer, integer_null, string, text, text_null, timestamp_with_time_zone,
    timestamp_with_time_zone_null, uuid,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WebhookEndpoints {
    Table,
    Id,
    Org,
    Url,
    Events,
    Description,
    Secret,
    CreatedAt,
    DisabledAt,
}

#[derive(DeriveIden)]
enum WebhookMessages {
    Table,
    Id,
    Org,
    EventType,
    Body,
    CreatedAt,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    Org,
    EndpointId,
    MessageId,
    EventType,
    Status,
    Attempts,
    LastStatusCode,
    LastError,
    NextAttemptAt,
    CreatedAt,
    LeasedBy,
    LeaseUntil,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebhookEndpoints::Table)
                    .col(uuid(WebhookEndpoints::Id).primary_key())
                    .col(string(WebhookEndpoints::Org))
                    .col(text(WebhookEndpoints::Url))
                    .col(text(WebhookEndpoints::Events))
                    .col(text_null(WebhookEndpoints::Description))
                    .col(text(WebhookEndpoints::Secret))
                    .col(timestamp_with_time_zone(WebhookEndpoints::CreatedAt))
                    .col(timestamp_with_time_zone_null(WebhookEndpoints::DisabledAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("webhook_endpoints_by_org")
                    .table(WebhookEndpoints::Table)
                    .col(WebhookEndpoints::Org)
                    .col(WebhookEndpoints::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookMessages::Table)
                    .col(string(WebhookMessages::Id).primary_key())
                    .col(string(WebhookMessages::Org))
                    .col(string(WebhookMessages::EventType))
                    .col(text(WebhookMessages::Body))
                    .col(timestamp_with_time_zone(WebhookMessages::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookDeliveries::Table)
                    .col(uuid(WebhookDeliveries::Id).primary_key())
                    .col(string(WebhookDeliveries::Org))
                    .col(uuid(WebhookDeliveries::EndpointId))
                    .col(string(WebhookDeliveries::MessageId))
                    .col(string(WebhookDeliveries::EventType))
                    .col(string(WebhookDeliveries::Status))
                    .col(integer(WebhookDeliveries::Attempts))
                    .col(integer_null(WebhookDeliveries::LastStatusCode))
                    .col(text_null(WebhookDeliveries::LastError))
                    .col(timestamp_with_time_zone_null(
                        WebhookDeliveries::NextAttemptAt,
                    ))
                    .col(timestamp_with_time_zone(WebhookDeliveries::CreatedAt))
                    .col(text_null(WebhookDeliveries::LeasedBy))
                    .col(timestamp_with_time_zone_null(WebhookDeliveries::LeaseUntil))
                    .foreign_key(
                        ForeignKey::create()
                            .name("webhook_deliveries_endpoint")
                            .from(WebhookDeliveries::Table, WebhookDeliveries::EndpointId)
                            .to(WebhookEndpoints::Table, WebhookEndpoints::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("webhook_deliveries_message")
                            .from(WebhookDeliveries::Table, WebhookDeliveries::MessageId)
                            .to(WebhookMessages::Table, WebhookMessages::Id),
                    )
                    .check((
                        "webhook_deliveries_status_is_known",
                        Expr::cust("status IN ('pending', 'delivered', 'failed')"),
                    ))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        // The workers' claim: due pending deliveries, earliest first.
        db.execute_unprepared(
            "CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) \
             WHERE status = 'pending'",
        )
        .await?;
        // The admin page's listing, newest first, per endpoint.
        manager
            .create_index(
                Index::create()
                    .name("webhook_deliveries_by_endpoint")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::EndpointId)
                    .col(WebhookDeliveries::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("webhook_deliveries_by_org")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::Org)
                    .col(WebhookDeliveries::CreatedAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WebhookDeliveries::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(WebhookMessages::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(WebhookEndpoints::Table).to_owned())
            .await
    }
}
