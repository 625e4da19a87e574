//! The gateway's own keys for support tokens.

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
    /// The JWS `alg`, e.g. `EdDSA`; pinned per key.
    Algorithm,
    /// The private key, PKCS#8 PEM.
    PrivateKeyPem,
    /// The public key as a JWK (JSON text), as published in the JWK Set.
    PublicJwk,
    CreatedAt,
    /// When the key stopped signing; it stays published until its last token expires.
    RetiredAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
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

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SigningKeys::Table).to_owned())
            .await
    }
}
