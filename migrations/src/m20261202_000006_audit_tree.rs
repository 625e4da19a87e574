//! Each org's audit log as a Merkle tree (SPEC §6.1, `docs/tlog.md`), kept in the same
//! transactions as the events, and the signed checkpoints made of it.
//!
//! - `audit_tree_nodes`: Go `sumdb/tlog` stored hashes, one row per complete subtree,
//!   keyed by `(org, node)` where `node` is the subtree's dense index
//!   (`NodeId::packed`); rows are only ever inserted. On SQLite a `WITHOUT ROWID` table.
//! - `audit_heads` gains the tree head: `tree_size`, `tree_root` (32 bytes, `NULL` for
//!   the empty tree) and `tree_frontier` (the hashes of the frontier nodes of
//!   `tree_size`, 32 bytes each, largest subtree first), so an append reads no node.
//! - `audit_checkpoints`: the signed notes, one per `(org, size)`.
//!
//! Events stored before this migration have `tree_size = 0`; the store builds their
//! tree after migrating (and an append catches up whatever is left first).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, blob, blob_null, string, text, timestamp_with_time_zone,
};
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditHeads {
    Table,
    TreeSize,
    TreeRoot,
    TreeFrontier,
}

#[derive(DeriveIden)]
enum AuditTreeNodes {
    Table,
    Org,
    Node,
    Hash,
}

#[derive(DeriveIden)]
enum AuditCheckpoints {
    Table,
    Org,
    Size,
    Root,
    MadeAt,
    Note,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for column in [
            big_integer(AuditHeads::TreeSize).default(0).to_owned(),
            blob_null(AuditHeads::TreeRoot),
            blob_null(AuditHeads::TreeFrontier),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(AuditHeads::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        let nodes = Table::create()
            .table(AuditTreeNodes::Table)
            .col(string(AuditTreeNodes::Org))
            .col(big_integer(AuditTreeNodes::Node))
            .col(blob(AuditTreeNodes::Hash))
            .primary_key(
                Index::create()
                    .name("audit_tree_nodes_org_node")
                    .col(AuditTreeNodes::Org)
                    .col(AuditTreeNodes::Node),
            )
            .to_owned();
        if manager.get_database_backend() == DbBackend::Sqlite {
            // One B-tree keyed by the primary key instead of a rowid table plus an index:
            // one page fewer written per append.
            let sql = format!("{} WITHOUT ROWID", DbBackend::Sqlite.build(&nodes).sql);
            manager.get_connection().execute_unprepared(&sql).await?;
        } else {
            manager.create_table(nodes).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(AuditCheckpoints::Table)
                    .col(string(AuditCheckpoints::Org))
                    .col(big_integer(AuditCheckpoints::Size))
                    .col(blob(AuditCheckpoints::Root))
                    .col(timestamp_with_time_zone(AuditCheckpoints::MadeAt))
                    .col(text(AuditCheckpoints::Note))
                    .primary_key(
                        Index::create()
                            .name("audit_checkpoints_org_size")
                            .col(AuditCheckpoints::Org)
                            .col(AuditCheckpoints::Size),
                    )
                    .check(("audit_checkpoints_size_positive", Expr::cust("size >= 1")))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditCheckpoints::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(AuditTreeNodes::Table).to_owned())
            .await?;
        for column in [
            AuditHeads::TreeFrontier,
            AuditHeads::TreeRoot,
            AuditHeads::TreeSize,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(AuditHeads::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
