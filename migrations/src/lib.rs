//! The Support Access database schema, as sea-orm migrations that run unchanged on
//! PostgreSQL and SQLite.
//!
//! The history is frozen: a migration that has been released is never edited; a change
//! of schema is a new migration appended to [`Migrator::migrations`]. Migrations never
//! import the adapters' entities; they name tables and columns themselves.
//!
//! Invariants the database holds, whoever writes to it:
//! - at most one open grant per org (unique partial index on `grants (org)` where
//!   `closed_at IS NULL`);
//! - one audit event per `(org, seq)` (primary key) and per event id (unique);
//! - a closed grant says how it was closed, and a seat has a claim time (checks);
//! - one change entry per id and per `(org, audit_seq, ordinal)` (unique index);
//! - at most one open approval per request fingerprint (unique partial index on
//!   `approvals (fingerprint)` where `status` is `pending` or `approved`);
//! - one webhook message per id, a delivery only of a stored message to a stored
//!   endpoint (foreign keys), and a known delivery status (check).
//!
//! On PostgreSQL, every write to `grants` also sends a notification on the channel
//! [`GRANT_CHANGES_CHANNEL`] inside the writing transaction, so that caches of other
//! instances learn of it when it commits.

pub use sea_orm_migration::MigratorTrait;
use sea_orm_migration::prelude::*;

mod m20261126_000001_grants;
mod m20261126_000002_audit;
mod m20261126_000003_signing_keys;
mod m20261126_000004_grant_notify;
mod m20261201_000005_event_error_rewrites;
mod m20261202_000006_audit_tree;
mod m20261202_000007_approvals;
mod m20261202_000008_changes;
mod m20261202_000009_keys;
mod m20261202_000010_webhooks;

/// The PostgreSQL `LISTEN`/`NOTIFY` channel on which every committed change of a grant
/// is announced. The payload is `<table schema> <grant id> <org>`, separated by single
/// spaces (the org comes last and may itself contain spaces).
pub const GRANT_CHANGES_CHANNEL: &str = "support_access_grants";

/// Applies the Support Access migrations: `Migrator::up(&db, None)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_grants::Migration),
            Box::new(m20261126_000002_audit::Migration),
            Box::new(m20261126_000003_signing_keys::Migration),
            Box::new(m20261126_000004_grant_notify::Migration),
            Box::new(m20261201_000005_event_error_rewrites::Migration),
            Box::new(m20261202_000006_audit_tree::Migration),
            Box::new(m20261202_000007_approvals::Migration),
            Box::new(m20261202_000008_changes::Migration),
            Box::new(m20261202_000009_keys::Migration),
            Box::new(m20261202_000010_webhooks::Migration),
        ]
    }
}
