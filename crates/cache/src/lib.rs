//! [`CachedGrantStore`]: a grant cache in front of any
//! [`GrantStore`](support_access_core::GrantStore).
//!
//! Support requests look their grant up on every request (SPEC §3); the cache answers
//! `get` and `open_for_org` from memory. Writes go through to the store. Changes made
//! by other instances arrive through a [`GrantChanges`] feed (on PostgreSQL,
//! `LISTEN`/`NOTIFY`, see `support-access-seaorm`); whatever the feed does, no entry
//! older than [`CacheConfig::max_age`] is served, so a revoke or end-date change made
//! anywhere is in force everywhere within that bound even if notifications are lost.

mod cache;
mod changes;

pub use cache::{CacheConfig, CachedGrantStore};
pub use changes::{BroadcastFeed, LocalGrantChanges};
pub use support_access_core::ports::{ChangeFeed, GrantChange, GrantChanges};
