//! `approvals`: one row per one-request approval.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "approvals")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub org: String,
    pub grant_id: Uuid,
    pub actor: String,
    pub seat_claimed_at: DateTimeUtc,
    pub fingerprint: String,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub body_sha256: String,
    pub body_preview: Option<String>,
    pub restriction: Option<i16>,
    pub rule: Option<String>,
    pub status: String,
    pub requested_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub decided_at: Option<DateTimeUtc>,
    pub decided_by: Option<String>,
    pub note: Option<String>,
    pub closed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
