//! [`LocalGrantChanges`]: the in-process [`GrantChanges`] feed, and [`BroadcastFeed`],
//! a [`ChangeFeed`] over a tokio broadcast channel.

use async_trait::async_trait;
use support_access_core::ports::{ChangeFeed, GrantChange, GrantChanges};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

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
    fn subscribe(&self) -> Box<dyn ChangeFeed> {
        Box::new(BroadcastFeed(self.sender.subscribe()))
    }

    fn announce(&self, change: GrantChange) {
        // No receiver: no cache to tell.
        let _ = self.sender.send(change);
    }
}

/// A subscriber of a broadcast channel of changes; falling behind is `Everything`.
#[derive(Debug)]
pub struct BroadcastFeed(pub broadcast::Receiver<GrantChange>);

#[async_trait]
impl ChangeFeed for BroadcastFeed {
    fn try_next(&mut self) -> Option<GrantChange> {
        match self.0.try_recv() {
            Ok(change) => Some(change),
            Err(TryRecvError::Lagged(_)) => Some(GrantChange::Everything),
            Err(TryRecvError::Empty | TryRecvError::Closed) => None,
        }
    }

    async fn next(&mut self) -> Option<GrantChange> {
        match self.0.recv().await {
            Ok(change) => Some(change),
            Err(RecvError::Lagged(_)) => Some(GrantChange::Everything),
            Err(RecvError::Closed) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use support_access_core::ids::{GrantId, OrgId};

    use super::*;

    fn change() -> GrantChange {
        GrantChange::Grant {
            id: GrantId::random(),
            org: OrgId::new("org"),
        }
    }

    #[tokio::test]
    async fn a_subscriber_gets_what_is_announced_in_order_and_nothing_more() {
        let changes = LocalGrantChanges::new();
        let mut feed = changes.subscribe();
        assert_eq!(feed.try_next(), None, "nothing announced yet");
        let (first, second) = (change(), change());
        changes.announce(first.clone());
        changes.announce(second.clone());
        assert_eq!(feed.try_next(), Some(first));
        assert_eq!(feed.next().await, Some(second));
        assert_eq!(feed.try_next(), None);
    }

    #[tokio::test]
    async fn a_subscriber_that_fell_behind_forgets_everything() {
        let changes = LocalGrantChanges::new();
        let mut feed = changes.subscribe();
        for _ in 0..=BACKLOG {
            changes.announce(change());
        }
        assert_eq!(feed.try_next(), Some(GrantChange::Everything));
        let mut waiting = changes.subscribe();
        for _ in 0..=BACKLOG {
            changes.announce(change());
        }
        assert_eq!(waiting.next().await, Some(GrantChange::Everything));
    }

    #[tokio::test]
    async fn a_feed_whose_source_is_gone_ends() {
        let changes = LocalGrantChanges::new();
        let mut feed = changes.subscribe();
        drop(changes);
        assert_eq!(feed.try_next(), None);
        assert_eq!(feed.next().await, None);
    }
}
