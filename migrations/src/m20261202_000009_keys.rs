//! The gateway's signing keys, rotated (SPEC §2): each key says what it signs
//! (`purpose`: `support` tokens or `audit` checkpoints) and when it starts signing
//! (`activates_at`); its state (`next`, `active`, `retiring`, `retired`) follows from
//! those times and is never stored. Replaces the `signing_keys` table of
//! `m20261126_000003`, which nothing ever wrote (so no row is lost).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    string, text, timestamp_with_time_zone, timestamp_with_time_zone_null,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    /// The JWS `kid`.
    Kid,
    /// `support` or `audit`.
    Purpose,
    /// The JWS `alg`, e.g. `EdDSA`; pinned per key.
    Algorithm,
    /// The private key, PKCS#8 PEM.
    PrivateKeyPem,
    /// The public key as a JWK (JSON text), as published.
    PublicJwk,
    CreatedAt,
    /// When it starts signing; published from `created_at`.
    ActivatesAt,
    /// Of the old table only.
    RetiredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(SigningKeys::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SigningKeys::Table)
                    .col(string(SigningKeys::Kid).primary_key())
                    .col(string(SigningKeys::Purpose))
                    .col(string(SigningKeys::Algorithm))
                    .col(text(SigningKeys::PrivateKeyPem))
                    .col(text(SigningKeys::PublicJwk))
                    .col(timestamp_with_time_zone(SigningKeys::CreatedAt))
                    .col(timestamp_with_time_zone(SigningKeys::ActivatesAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("signing_keys_purpose")
                    .table(SigningKeys::Table)
                    .col(SigningKeys::Purpose)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SigningKeys::Table).to_owned())
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SigningKeys::Table)
                    .col(string(SigningKeys::Kid).primary_key())
                    .col(string(SigningKeys::Algorithm))
                    .col(text(SigningKeys::PrivateKeyPem))
                    .col(text(SigningKeys::PublicJwk))
                    .col(timestamp_with_time_zone(SigningKeys::CreatedAt))
                    .col(timestamp_with_time_zone_null(SigningKeys::RetiredAt))
                    .to_owned(),
            )
            .await
    }
}
