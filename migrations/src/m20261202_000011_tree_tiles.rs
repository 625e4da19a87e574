//! `audit_tree_nodes` keeps only the nodes of 2^8 = 256 leaves and up (`docs/tlog.md`):
//! the store computes the nodes below from the events' hashes on read, so their rows
//! are deleted here and databases written before shrink to ~1 row per 128 events.
//!
//! The rows are keyed by Go tlog's `StoredHashIndex` (`NodeId::packed`), in which
//! leaf `k` is at `P(k) = 2k - popcount(k)` and the nodes it completes follow it. So the
//! nodes below level 8 of each complete block of 256 leaves `[256m, 256m + 256)` are
//! the 510 consecutive keys from `P(256m)` (256 leaves, 254 interior nodes), followed
//! by the block's node of level 8 and those it completes above; and every key from
//! `P(256M)` on, `M` the number of complete blocks, is a node of the partial block.
//! The deletes are ranges of keys per org, computed from its `tree_size`.
//!
//! `down` restores nothing: the deleted hashes are the ones reads compute.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{FromQueryResult, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditTreeNodes {
    Table,
    Org,
    Node,
}

/// Leaves per block: nodes from level 8 up are kept.
const BLOCK: i64 = 256;
/// Keys of one block's nodes below level 8: its 256 leaves and 254 interior nodes.
const LOW_PER_BLOCK: i64 = 510;
/// Key ranges per `DELETE` (two parameters each).
const RANGES_PER_DELETE: usize = 200;

/// The key of leaf `k`: Go tlog's `StoredHashIndex(0, k)`.
fn leaf_key(k: i64) -> i64 {
    2 * k - i64::from(k.count_ones())
}

#[derive(Debug, FromQueryResult)]
struct Head {
    org: String,
    tree_size: i64,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let heads = Head::find_by_statement(Statement::from_string(
            manager.get_database_backend(),
            "SELECT org, tree_size FROM audit_heads WHERE tree_size > 0",
        ))
        .all(db)
        .await?;
        for head in heads {
            let blocks = head.tree_size / BLOCK;
            let org = || Expr::col(AuditTreeNodes::Org).eq(head.org.as_str());
            // The partial block's nodes.
            manager
                .exec_stmt(
                    Query::delete()
                        .from_table(AuditTreeNodes::Table)
                        .and_where(org())
                        .and_where(Expr::col(AuditTreeNodes::Node).gte(leaf_key(blocks * BLOCK)))
                        .to_owned(),
                )
                .await?;
            let starts: Vec<i64> = (0..blocks).map(|m| leaf_key(m * BLOCK)).collect();
            for chunk in starts.chunks(RANGES_PER_DELETE) {
                let mut low = Condition::any();
                for &start in chunk {
                    low = low.add(
                        Expr::col(AuditTreeNodes::Node)
                            .gte(start)
                            .and(Expr::col(AuditTreeNodes::Node).lt(start + LOW_PER_BLOCK)),
                    );
                }
                manager
                    .exec_stmt(
                        Query::delete()
                            .from_table(AuditTreeNodes::Table)
                            .and_where(org())
                            .cond_where(low)
                            .to_owned(),
                    )
                    .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}
