//! `audit_events`: the chained events, keyed by `(org, seq)`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub org: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    pub id: Uuid,
    pub at: DateTimeUtc,
    pub kind: String,
    pub grant_id: Option<Uuid>,
    pub support_user: Option<i64>,
    pub actor: Option<String>,
    pub method: Option<String>,
    pub path: Option<String>,
    pub status: Option<i32>,
    pub rule: Option<String>,
    pub restriction: Option<i16>,
    pub latency_ms: Option<i64>,
    pub request_id: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub body_sha256: Option<String>,
    pub reason: Option<String>,
    pub ticket: Option<String>,
    pub error: Option<String>,
    /// A JSON array of strings; `NULL` when the event has no rewrites.
    pub rewrites: Option<String>,
    /// On `change.*` events: the digest of the change entries recorded.
    pub changes_sha256: Option<String>,
    pub approval: Option<Uuid>,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
