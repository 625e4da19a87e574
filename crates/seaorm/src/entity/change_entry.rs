//! `change_entries`: what support changed, one row per entry, tied to its audit event
//! by `(org, audit_seq)`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "change_entries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub org: String,
    pub grant_id: Uuid,
    pub actor: String,
    pub request_id: String,
    pub at: DateTimeUtc,
    pub module: String,
    pub record: String,
    pub operation: String,
    /// The field changes as JSON text (`[{"name", "before"?, "after"?}]`).
    pub fields: String,
    pub reverts: Option<Uuid>,
    pub reverted_by: Option<Uuid>,
    pub audit_seq: i64,
    pub ordinal: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
