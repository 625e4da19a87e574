//! Grants with their support seat and closure.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, string, string_null, text, text_null, timestamp_with_time_zone,
    timestamp_with_time_zone_null, uuid,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Grants {
    Table,
    Id,
    Org,
    SupportUser,
    CreatedAt,
    CreatedBy,
    ExpiresAt,
    ClosedAs,
    ClosedAt,
    ClosedBy,
    Reason,
    Ticket,
    SeatHolder,
    SeatClaimedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Grants::Table)
                    .col(uuid(Grants::Id).primary_key())
                    .col(string(Grants::Org))
                    .col(big_integer(Grants::SupportUser))
                    .col(timestamp_with_time_zone(Grants::CreatedAt))
                    .col(text(Grants::CreatedBy))
                    .col(timestamp_with_time_zone(Grants::ExpiresAt))
                    // NULL while the grant is open; `revoked` or `expired` once closed.
                    .col(string_null(Grants::ClosedAs))
                    .col(timestamp_with_time_zone_null(Grants::ClosedAt))
                    .col(text_null(Grants::ClosedBy))
                    .col(text_null(Grants::Reason))
                    .col(text_null(Grants::Ticket))
                    .col(text_null(Grants::SeatHolder))
                    .col(timestamp_with_time_zone_null(Grants::SeatClaimedAt))
                    .check((
                        "grants_closure_is_complete",
                        Expr::cust(
                            "(closed_as IS NULL AND closed_at IS NULL) OR \
                             (closed_as IN ('revoked', 'expired') AND closed_at IS NOT NULL)",
                        ),
                    ))
                    .check((
                        "grants_seat_is_complete",
                        Expr::cust("(seat_holder IS NULL) = (seat_claimed_at IS NULL)"),
                    ))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        // At most one open grant per org, also when two instances insert at once.
        db.execute_unprepared(
            "CREATE UNIQUE INDEX grants_one_open_per_org ON grants (org) \
             WHERE closed_at IS NULL",
        )
        .await?;
        // The expiry sweeper's scan.
        db.execute_unprepared(
            "CREATE INDEX grants_open_by_end ON grants (expires_at) WHERE closed_at IS NULL",
        )
        .await?;
        manager
            .create_index(
                Index::create()
                    .name("grants_by_org_created")
                    .table(Grants::Table)
                    .col(Grants::Org)
                    .col(Grants::CreatedAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Grants::Table).to_owned())
            .await
    }
}
