//! The cache decorator.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use support_access_core::audit::NewAuditEvent;
use support_access_core::grant::{Closure, Grant};
use support_access_core::ids::{GrantId, OrgId, StaffId};
use support_access_core::ports::{ChangeFeed, GrantChange, GrantChanges};
use support_access_core::{GrantStore, Recorded, StoreError};
use tokio::time::Instant;

/// How the cache trades freshness for load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    /// The oldest entry the cache serves; older ones are read again. This bounds how
    /// long a change made elsewhere can go unseen when its notification is lost or the
    /// feed is down. Default 500 ms.
    pub max_age: Duration,
    /// The most grants (and, separately, orgs) held; beyond it, stale entries are
    /// dropped, and if that is not enough, all. Default 10 000.
    pub capacity: usize,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            max_age: Duration::from_millis(500),
            capacity: 10_000,
        }
    }
}

/// A [`GrantStore`] that answers `get` and `open_for_org` from memory.
///
/// Promises, on top of the [`GrantStore`] contract (which it passes):
/// - It MUST NOT serve an entry read from the store more than
///   [`CacheConfig::max_age`] ago.
/// - After a write through this cache returns, reads through it MUST see the write.
/// - A write that fails MUST leave nothing of it in the cache: the next read asks the
///   store.
/// - A change delivered by the [`GrantChanges`] feed MUST be seen by the next read;
///   a read that raced with a change is not kept.
/// - Writes, `latest_for_org` and `due_for_expiry` MUST go to the store.
pub struct CachedGrantStore<S> {
    inner: S,
    changes: Arc<dyn GrantChanges>,
    config: CacheConfig,
    state: Mutex<State>,
}

impl<S: fmt::Debug> fmt::Debug for CachedGrantStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedGrantStore")
            .field("inner", &self.inner)
            .field("changes", &self.changes)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

struct Entry<T> {
    value: T,
    /// When the read that produced the value started.
    read_at: Instant,
}

struct State {
    feed: Box<dyn ChangeFeed>,
    /// Moves on every change seen: a read that started under another epoch may have
    /// read what the change replaced, so it is not kept.
    epoch: u64,
    grants: HashMap<GrantId, Entry<Grant>>,
    open: HashMap<OrgId, Entry<Option<Grant>>>,
}

impl State {
    /// Applies every change the feed has delivered so far.
    fn catch_up(&mut self) {
        // An ended feed delivers nothing more; `max_age` still bounds every entry.
        while let Some(change) = self.feed.try_next() {
            match change {
                GrantChange::Grant { id, org } => self.forget(id, Some(&org)),
                GrantChange::Everything => self.forget_all(),
            }
        }
    }

    fn forget(&mut self, id: GrantId, org: Option<&OrgId>) {
        self.epoch += 1;
        self.grants.remove(&id);
        match org {
            Some(org) => {
                self.open.remove(org);
            }
            None => self
                .open
                .retain(|_, entry| entry.value.as_ref().is_none_or(|g| g.id != id)),
        }
    }

    fn forget_all(&mut self) {
        self.epoch += 1;
        self.grants.clear();
        self.open.clear();
    }
}

fn fresh<T>(entry: &Entry<T>, max_age: Duration) -> bool {
    entry.read_at.elapsed() < max_age
}

fn make_room<K, T>(map: &mut HashMap<K, Entry<T>>, config: &CacheConfig) {
    if map.len() >= config.capacity {
        map.retain(|_, entry| fresh(entry, config.max_age));
        if map.len() >= config.capacity {
            map.clear();
        }
    }
}

impl<S: GrantStore> CachedGrantStore<S> {
    /// A cache in front of `inner`, told of other instances' changes by `changes`.
    pub fn new(inner: S, changes: Arc<dyn GrantChanges>, config: CacheConfig) -> Self {
        let feed = changes.subscribe();
        Self {
            inner,
            changes,
            config,
            state: Mutex::new(State {
                feed,
                epoch: 0,
                grants: HashMap::new(),
                open: HashMap::new(),
            }),
        }
    }

    /// The store behind the cache.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// After a write through this cache: forget what it changed here, and tell the
    /// other caches of this process.
    fn changed(&self, id: GrantId, org: Option<&OrgId>) {
        let mut state = self.state();
        state.catch_up();
        state.forget(id, org);
        drop(state);
        if let Some(org) = org {
            self.changes.announce(GrantChange::Grant {
                id,
                org: org.clone(),
            });
        }
    }

    /// Forgets what a write touched, and passes its result on. A failed write changed
    /// nothing, but what it touched is forgotten all the same (and read again).
    fn after_write(
        &self,
        id: GrantId,
        result: Result<Recorded, StoreError>,
    ) -> Result<Recorded, StoreError> {
        let org = result
            .as_ref()
            .ok()
            .map(|recorded| recorded.grant.org.clone());
        self.changed(id, org.as_ref());
        result
    }
}

#[async_trait]
impl<S: GrantStore> GrantStore for CachedGrantStore<S> {
    async fn insert(&self, grant: &Grant, event: NewAuditEvent) -> Result<Recorded, StoreError> {
        let result = self.inner.insert(grant, event).await;
        self.changed(grant.id, Some(&grant.org));
        result
    }

    async fn get(&self, id: GrantId) -> Result<Grant, StoreError> {
        let epoch = {
            let mut state = self.state();
            state.catch_up();
            if let Some(entry) = state.grants.get(&id)
                && fresh(entry, self.config.max_age)
            {
                return Ok(entry.value.clone());
            }
            state.epoch
        };
        let read_at = Instant::now();
        let grant = self.inner.get(id).await?;
        let mut state = self.state();
        state.catch_up();
        if state.epoch == epoch {
            make_room(&mut state.grants, &self.config);
            state.grants.insert(
                id,
                Entry {
                    value: grant.clone(),
                    read_at,
                },
            );
        }
        Ok(grant)
    }

    async fn open_for_org(&self, org: &OrgId) -> Result<Option<Grant>, StoreError> {
        let epoch = {
            let mut state = self.state();
            state.catch_up();
            if let Some(entry) = state.open.get(org)
                && fresh(entry, self.config.max_age)
            {
                return Ok(entry.value.clone());
            }
            state.epoch
        };
        let read_at = Instant::now();
        let open = self.inner.open_for_org(org).await?;
        let mut state = self.state();
        state.catch_up();
        if state.epoch == epoch {
            make_room(&mut state.open, &self.config);
            state.open.insert(
                org.clone(),
                Entry {
                    value: open.clone(),
                    read_at,
                },
            );
        }
        Ok(open)
    }

    async fn latest_for_org(&self, org: &OrgId) -> Result<Option<Grant>, StoreError> {
        self.inner.latest_for_org(org).await
    }

    async fn set_expiry(
        &self,
        id: GrantId,
        expires_at: DateTime<Utc>,
        event: NewAuditEvent,
    ) -> Result<Recorded, StoreError> {
        let result = self.inner.set_expiry(id, expires_at, event).await;
        self.after_write(id, result)
    }

    async fn close(
        &self,
        id: GrantId,
        closure: Closure,
        event: NewAuditEvent,
    ) -> Result<Recorded, StoreError> {
        let result = self.inner.close(id, closure, event).await;
        self.after_write(id, result)
    }

    async fn claim_seat(
        &self,
        id: GrantId,
        staff: &StaffId,
        at: DateTime<Utc>,
        event: NewAuditEvent,
    ) -> Result<Recorded, StoreError> {
        let result = self.inner.claim_seat(id, staff, at, event).await;
        self.after_write(id, result)
    }

    async fn release_seat(
        &self,
        id: GrantId,
        staff: &StaffId,
        event: NewAuditEvent,
    ) -> Result<Recorded, StoreError> {
        let result = self.inner.release_seat(id, staff, event).await;
        self.after_write(id, result)
    }

    async fn due_for_expiry(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Grant>, StoreError> {
        self.inner.due_for_expiry(now, limit).await
    }
}
