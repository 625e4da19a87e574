//! The audit log: one chained stream per org, and the head of each stream.
//!
//! `decision` is not stored: it follows from `kind` (`request.allowed` is allowed,
//! `request.blocked` is blocked).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, char_len, integer_null, small_integer_null, string, text_null,
    timestamp_with_time_zone, uuid, uuid_null,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Org,
    Seq,
    Id,
    At,
    Kind,
    GrantId,
    SupportUser,
    Actor,
    Method,
    Path,
    Status,
    Rule,
    Restriction,
    LatencyMs,
    RequestId,
    ClientIp,
    UserAgent,
    BodySha256,
    Reason,
    Ticket,
    PrevHash,
    Hash,
}

/// The last event of each org's stream: appends lock this row, so that `seq` stays
/// gap-free and the chain linear across instances.
#[derive(DeriveIden)]
enum AuditHeads {
    Table,
    Org,
    Seq,
    Hash,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(string(AuditEvents::Org))
                    .col(big_integer(AuditEvents::Seq))
                    .col(uuid(AuditEvents::Id).unique_key())
                    .col(timestamp_with_time_zone(AuditEvents::At))
                    .col(string(AuditEvents::Kind))
                    .col(uuid_null(AuditEvents::GrantId))
                    .col(big_integer_null(AuditEvents::SupportUser))
                    .col(text_null(AuditEvents::Actor))
                    .col(text_null(AuditEvents::Method))
                    .col(text_null(AuditEvents::Path))
                    .col(integer_null(AuditEvents::Status))
                    .col(text_null(AuditEvents::Rule))
                    .col(small_integer_null(AuditEvents::Restriction))
                    .col(big_integer_null(AuditEvents::LatencyMs))
                    .col(text_null(AuditEvents::RequestId))
                    .col(text_null(AuditEvents::ClientIp))
                    .col(text_null(AuditEvents::UserAgent))
                    .col(text_null(AuditEvents::BodySha256))
                    .col(text_null(AuditEvents::Reason))
                    .col(text_null(AuditEvents::Ticket))
                    .col(char_len(AuditEvents::PrevHash, 64))
                    .col(char_len(AuditEvents::Hash, 64))
                    .primary_key(
                        Index::create()
                            .name("audit_events_org_seq")
                            .col(AuditEvents::Org)
                            .col(AuditEvents::Seq),
                    )
                    .check(("audit_events_seq_positive", Expr::cust("seq >= 1")))
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("audit_events_by_actor", AuditEvents::Actor),
            ("audit_events_by_support_user", AuditEvents::SupportUser),
            ("audit_events_by_grant", AuditEvents::GrantId),
            ("audit_events_by_kind", AuditEvents::Kind),
            ("audit_events_by_at", AuditEvents::At),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(AuditEvents::Table)
                        .col(AuditEvents::Org)
                        .col(column)
                        .col(AuditEvents::Seq)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(AuditHeads::Table)
                    .col(string(AuditHeads::Org).primary_key())
                    .col(big_integer(AuditHeads::Seq))
                    .col(char_len(AuditHeads::Hash, 64))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditHeads::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(AuditEvents::Table).to_owned())
            .await
    }
}
