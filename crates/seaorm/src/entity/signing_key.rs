//! `signing_keys`: the gateway's signing keys, one row per key (migration
//! `m20261202_000009_keys`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "signing_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub kid: String,
    pub purpose: String,
    pub algorithm: String,
    pub private_key_pem: String,
    pub public_jwk: String,
    pub created_at: DateTimeUtc,
    pub activates_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
