//! The grant-store contract through the cache: each handle is a cache over its own
//! handle on one in-memory store, and the two caches share changes in process.

use std::sync::Arc;

use support_access_cache::{CacheConfig, CachedGrantStore, LocalGrantChanges};
use support_access_contract::{GrantStoreFixture, nothing_to_tear_down};
use support_access_memory::InMemoryStore;

async fn cached_grant_store() -> GrantStoreFixture {
    let store = InMemoryStore::new();
    let changes = Arc::new(LocalGrantChanges::new());
    GrantStoreFixture {
        store: Arc::new(CachedGrantStore::new(
            store.clone(),
            changes.clone(),
            CacheConfig::default(),
        )),
        second: Arc::new(CachedGrantStore::new(
            store.clone(),
            changes,
            CacheConfig::default(),
        )),
        audit: Arc::new(store),
        teardown: nothing_to_tear_down(),
    }
}

mod cached_grant_store {
    support_access_contract::grant_store_suite!(super::cached_grant_store());
}
