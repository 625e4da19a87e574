//! One-request approvals (SPEC §10), and the `approval` column of audit events.
//!
//! The database decides what must hold across instances: at most one open (`pending`
//! or `approved`) approval per request fingerprint (unique partial index), and the
//! one-shot use (a conditional `UPDATE … WHERE status = 'approved'` in the adapter).
//! The `approval` column is nullable, so every event stored before keeps reading as it
//! was, with the same canonical hash.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    char_len, small_integer_null, string, text, text_null, timestamp_with_time_zone,
    timestamp_with_time_zone_null, uuid, uuid_null,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Approvals {
    Table,
    Id,
    Org,
    GrantId,
    Actor,
    SeatClaimedAt,
    Fingerprint,
    Method,
    Path,
    Query,
    BodySha256,
    BodyPreview,
    Restriction,
    Rule,
    Status,
    RequestedAt,
    ExpiresAt,
    DecidedAt,
    DecidedBy,
    Note,
    ClosedAt,
}

#[derive(DeriveIden)]
enum Grants {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Approval,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Approvals::Table)
                    .col(uuid(Approvals::Id).primary_key())
                    .col(string(Approvals::Org))
                    .col(uuid(Approvals::GrantId))
                    .col(text(Approvals::Actor))
                    .col(timestamp_with_time_zone(Approvals::SeatClaimedAt))
                    .col(char_len(Approvals::Fingerprint, 64))
                    .col(text(Approvals::Method))
                    .col(text(Approvals::Path))
                    .col(text_null(Approvals::Query))
                    .col(char_len(Approvals::BodySha256, 64))
                    .col(text_null(Approvals::BodyPreview))
                    .col(small_integer_null(Approvals::Restriction))
                    .col(text_null(Approvals::Rule))
                    .col(string(Approvals::Status))
                    .col(timestamp_with_time_zone(Approvals::RequestedAt))
                    .col(timestamp_with_time_zone(Approvals::ExpiresAt))
                    .col(timestamp_with_time_zone_null(Approvals::DecidedAt))
                    .col(text_null(Approvals::DecidedBy))
                    .col(text_null(Approvals::Note))
                    .col(timestamp_with_time_zone_null(Approvals::ClosedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("approvals_grant")
                            .from(Approvals::Table, Approvals::GrantId)
                            .to(Grants::Table, Grants::Id),
                    )
                    .check((
                        "approvals_status_is_known",
                        Expr::cust(
                            "status IN ('pending', 'approved', 'denied', 'used', 'expired', 'void')",
                        ),
                    ))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        // One open approval per request, also when two instances create one at once.
        db.execute_unprepared(
            "CREATE UNIQUE INDEX approvals_one_open_per_request ON approvals (fingerprint) \
             WHERE status IN ('pending', 'approved')",
        )
        .await?;
        // Voiding a grant's open approvals.
        db.execute_unprepared(
            "CREATE INDEX approvals_open_by_grant ON approvals (grant_id) \
             WHERE status IN ('pending', 'approved')",
        )
        .await?;
        // The admin page's listing, newest first.
        manager
            .create_index(
                Index::create()
                    .name("approvals_by_org_requested")
                    .table(Approvals::Table)
                    .col(Approvals::Org)
                    .col(Approvals::RequestedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvents::Table)
                    .add_column(uuid_null(AuditEvents::Approval))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvents::Table)
                    .drop_column(AuditEvents::Approval)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(Approvals::Table).to_owned())
            .await
    }
}
