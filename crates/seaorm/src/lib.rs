//! Support Access storage on PostgreSQL (production) and SQLite (embedded default)
//! through sea-orm.
//!
//! [`SeaOrmStore`] implements the [`GrantStore`](support_access_core::GrantStore),
//! [`AuditLog`](support_access_core::AuditLog),
//! [`AuditTree`](support_access_core::tlog::AuditTree),
//! [`ChangeStore`](support_access_core::ChangeStore),
//! [`ApprovalStore`](support_access_core::ports::ApprovalStore),
//! [`SigningKeyStore`](support_access_core::keys::SigningKeyStore) and
//! [`WebhookOutbox`](support_access_core::notify::WebhookOutbox) ports; the contract suites of
//! `support-access-contract` prove it on both databases. The database holds the
//! invariants itself (one open grant per org, one event per `(org, seq)`), so several
//! instances may share one PostgreSQL.
//!
//! ```no_run
//! # async fn example() -> Result<(), support_access_core::StoreError> {
//! use support_access_seaorm::SeaOrmStore;
//!
//! let store = SeaOrmStore::connect("sqlite://support-access.db?mode=rwc").await?;
//! store.migrate().await?;
//! # Ok(()) }
//! ```
//!
//! On PostgreSQL, [`SeaOrmStore::grant_changes`] listens for grant changes of every
//! instance: the core [`GrantChanges`](support_access_core::GrantChanges) port, which
//! keeps a grant cache of this instance fresh.

mod approvals;
mod audit;
mod changes;
mod entity;
mod error;
mod grants;
mod instant;
mod keys;
mod pool;
mod record_changes;
mod store;
mod tree;
mod webhooks;

pub use audit::AppendStats;
pub use changes::PgGrantChanges;
pub use store::{Backend, SeaOrmStore, StoreOptions, migrate};

/// For `benches/append.rs` only (feature `bench-internals`, never on in the gateway).
#[cfg(feature = "bench-internals")]
#[doc(hidden)]
pub mod bench {
    /// Makes every store of this process write (`true`, the only production mode) or
    /// skip (`false`) the audit tree on append, to measure what the tree costs.
    /// Skipping breaks the tree of the orgs appended meanwhile.
    pub fn set_audit_tree(enabled: bool) {
        crate::audit::TREE_DISABLED.store(!enabled, std::sync::atomic::Ordering::Relaxed);
    }
}
