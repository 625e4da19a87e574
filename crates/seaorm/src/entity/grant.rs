//! `grants`: one row per grant, with its seat and closure.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "grants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub org: String,
    pub support_user: i64,
    pub created_at: DateTimeUtc,
    pub created_by: String,
    pub expires_at: DateTimeUtc,
    pub closed_as: Option<String>,
    pub closed_at: Option<DateTimeUtc>,
    pub closed_by: Option<String>,
    pub reason: Option<String>,
    pub ticket: Option<String>,
    pub seat_holder: Option<String>,
    pub seat_claimed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
