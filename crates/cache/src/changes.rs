//! Feeds of grant changes that caches subscribe to.

use std::fmt::Debug;

use support_access_core::ids::{GrantId, OrgId};
use tokio::sync::broadcast;

/// A change a cache must forget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantChange {
    /// This grant of this org changed: forget it and the org's open grant.
    Grant {
        /// The grant.
        id: GrantId,
        /// Its org.
        org: OrgId,
    },
    /// Changes may have been missed (the feed lost its connection): forget everything.
    Everything,
}

/// A feed of grant changes made through any instance sharing the store.
///
/// - A feed MUST deliver every change committed through another instance to every
///   receiver, or else [`GrantChange::Everything`] once it may have missed some.
/// - A feed whose changes do not come from the database itself MUST pass on what
///   [`GrantChanges::announce`] is told.
pub trait GrantChanges: Send + Sync + Debug {
    /// A receiver of every change from now on.
    fn subscribe(&self) -> broadcast::Receiver<GrantChange>;

    /// Tells the feed of a change committed through this process's cache. Feeds that
    /// learn every change from the database (PostgreSQL `NOTIFY`) ignore it, which is
    /// the default; in-process feeds pass it on.
    fn announce(&self, change: GrantChange) {
        let _ = change;
    }
}

/// Changes passed between caches of one process that share one store: for tests, for
/// an embedded SQLite store, and for a single instance (where nobody else writes).
#[derive(Debug, Clone)]
pub struct LocalGrantChanges {
    sender: broadcast::Sender<GrantChange>,
}

/// How many changes a slow receiver may fall behind before it must forget everything.
const BACKLOG: usize = 1024;

impl LocalGrantChanges {
    /// A feed with no subscriber yet.
    pub fn new() -> Self {
        Self {
            sender: broadcast::channel(BACKLOG).0,
        }
    }
}

impl Default for LocalGrantChanges {
    fn default() -> Self {
        Self::new()
    }
}

impl GrantChanges for LocalGrantChanges {
    fn subscribe(&self) -> broadcast::Receiver<GrantChange> {
        self.sender.subscribe()
    }

    fn announce(&self, change: GrantChange) {
        // No receiver: no cache to tell.
        let _ = self.sender.send(change);
    }
}
