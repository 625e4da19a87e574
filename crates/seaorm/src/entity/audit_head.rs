//! `audit_heads`: the last `seq` and `hash` of each org's stream, and its tree head
//! (size, root, frontier). Appends lock the row.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_heads")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub org: String,
    pub seq: i64,
    pub hash: String,
    /// Leaves in the org's tree: `seq` once the tree is built.
    pub tree_size: i64,
    /// The tree's root, 32 bytes; `NULL` for the empty tree.
    pub tree_root: Option<Vec<u8>>,
    /// The hashes of `Frontier::nodes_for(tree_size)`, 32 bytes each, in that order.
    pub tree_frontier: Option<Vec<u8>>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
