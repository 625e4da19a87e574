//! What support changed (SPEC §11): one row per change entry, tied to the audit event
//! stored with it by `(org, audit_seq)`, its place among that event's entries by
//! `ordinal`.
//!
//! `fields` is the entry's field changes as JSON text, written and read back byte for
//! byte (not `jsonb`, which would reorder keys and rewrite numbers). `reverted_by` is
//! set once, by the revert that put the entry back.
//!
//! Audit events gain `changes_sha256`, the digest of the change entries a `change.*`
//! event records. Nullable, so every event stored before reads as it was.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, integer, string, text, text_null, timestamp_with_time_zone, uuid, uuid_null,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ChangeEntries {
    Table,
    Id,
    Org,
    GrantId,
    Actor,
    RequestId,
    At,
    Module,
    Record,
    Operation,
    Fields,
    Reverts,
    RevertedBy,
    AuditSeq,
    Ordinal,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    ChangesSha256,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ChangeEntries::Table)
                    .col(uuid(ChangeEntries::Id).primary_key())
                    .col(string(ChangeEntries::Org))
                    .col(uuid(ChangeEntries::GrantId))
                    .col(text(ChangeEntries::Actor))
                    .col(text(ChangeEntries::RequestId))
                    .col(timestamp_with_time_zone(ChangeEntries::At))
                    .col(text(ChangeEntries::Module))
                    .col(text(ChangeEntries::Record))
                    .col(string(ChangeEntries::Operation))
                    .col(text(ChangeEntries::Fields))
                    .col(uuid_null(ChangeEntries::Reverts))
                    .col(uuid_null(ChangeEntries::RevertedBy))
                    .col(big_integer(ChangeEntries::AuditSeq))
                    .col(integer(ChangeEntries::Ordinal))
                    .check((
                        "change_entries_operation",
                        Expr::cust("operation IN ('create', 'update', 'delete', 'revert')"),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("change_entries_org_position")
                    .table(ChangeEntries::Table)
                    .col(ChangeEntries::Org)
                    .col(ChangeEntries::AuditSeq)
                    .col(ChangeEntries::Ordinal)
                    .unique()
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("change_entries_by_grant", ChangeEntries::GrantId),
            ("change_entries_by_record", ChangeEntries::Record),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(ChangeEntries::Table)
                        .col(ChangeEntries::Org)
                        .col(column)
                        .col(ChangeEntries::AuditSeq)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvents::Table)
                    .add_column(text_null(AuditEvents::ChangesSha256))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvents::Table)
                    .drop_column(AuditEvents::ChangesSha256)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(ChangeEntries::Table).to_owned())
            .await
    }
}
