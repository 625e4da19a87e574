//! What the cache adds to a grant store: fewer reads, bounded age, invalidation.
//!
//! Time is tokio's paused test clock (`start_paused`): the cache measures entry age
//! with `tokio::time::Instant`, which `tokio::time::advance` moves deterministically.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use support_access_cache::{
    CacheConfig, CachedGrantStore, GrantChange, GrantChanges, LocalGrantChanges,
};
use support_access_core::audit::{AuditKind, NewAuditEvent};
use support_access_core::grant::{ClosedAs, Closure, Grant};
use support_access_core::ids::{GrantId, OrgId, StaffId};
use support_access_core::{GrantStore, Recorded, StoreError};
use support_access_memory::InMemoryStore;

/// An in-memory store that counts the reads the cache lets through, and can hold a
/// `get` until the test lets it finish.
#[derive(Debug, Clone, Default)]
struct CountingStore {
    inner: InMemoryStore,
    reads: Arc<AtomicUsize>,
    gate: Arc<tokio::sync::Mutex<()>>,
}

impl CountingStore {
    fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl GrantStore for CountingStore {
    async fn insert(&self, grant: &Grant, event: NewAuditEvent) -> Result<Recorded, StoreError> {
        self.inner.insert(grant, event).await
    }
    async fn get(&self, id: GrantId) -> Result<Grant, StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        let read = self.inner.get(id).await;
        let _wait_for_the_test = self.gate.lock().await;
        read
    }
    async fn open_for_org(&self, org: &OrgId) -> Result<Option<Grant>, StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.open_for_org(org).await
    }
    async fn latest_for_org(&self, org: &OrgId) -> Result<Option<Grant>, StoreError> {
        self.inner.latest_for_org(org).await
    }
    async fn set_expiry(
        &self,
        id: GrantId,
        at: DateTime<Utc>,
        event: NewAuditEvent,
    ) -> Result<Recorded, StoreError> {
        self.inner.set_expiry(id, at, event).await
    }
    async fn close(
        &self,
        id: GrantId,
        closure: Closure,
        event: NewAuditEvent,
    ) -> Result<Recorded, StoreError> {
        self.inner.close(id, closure, event).await
    }
    async fn claim_seat(
        &self,
        id: GrantId,
        staff: &StaffId,
        at: DateTime<Utc>,
        event: NewAuditEvent,
    ) -> Result<Recorded, StoreError> {
        self.inner.claim_seat(id, staff, at, event).await
    }
    async fn release_seat(
        &self,
        id: GrantId,
        staff: &StaffId,
        event: NewAuditEvent,
    ) -> Result<Recorded, StoreError> {
        self.inner.release_seat(id, staff, event).await
    }
    async fn due_for_expiry(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Grant>, StoreError> {
        self.inner.due_for_expiry(now, limit).await
    }
}

/// The event of a change of `grant`.
fn ev(grant: &Grant, kind: AuditKind) -> NewAuditEvent {
    grant.event(kind, t0())
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0)
        .single()
        .expect("a valid instant")
}

fn grant(org: &str) -> Grant {
    Grant::new(
        OrgId::from(org),
        "admin-1",
        t0(),
        t0() + chrono::Duration::days(2),
        None,
        None,
    )
}

fn revoke() -> Closure {
    Closure {
        reason: ClosedAs::Revoked,
        at: t0() + chrono::Duration::hours(1),
        by: Some("admin-1".into()),
    }
}

const MAX_AGE: Duration = Duration::from_millis(500);

fn cached(
    store: &CountingStore,
    changes: Arc<dyn GrantChanges>,
) -> CachedGrantStore<CountingStore> {
    CachedGrantStore::new(
        store.clone(),
        changes,
        CacheConfig {
            max_age: MAX_AGE,
            ..CacheConfig::default()
        },
    )
}

#[tokio::test(start_paused = true)]
async fn repeated_lookups_within_the_max_age_are_answered_from_memory() {
    let store = CountingStore::default();
    let g = grant("org-a");
    store
        .insert(&g, ev(&g, AuditKind::GrantCreated))
        .await
        .expect("insert");
    let cache = cached(&store, Arc::new(LocalGrantChanges::new()));
    for _ in 0..10 {
        assert_eq!(cache.get(g.id).await.expect("get"), g);
        assert_eq!(
            cache.open_for_org(&g.org).await.expect("open"),
            Some(g.clone())
        );
    }
    assert_eq!(store.reads(), 2);
}

#[tokio::test(start_paused = true)]
async fn an_entry_older_than_the_max_age_is_read_again_even_without_notification() {
    let store = CountingStore::default();
    let g = grant("org-a");
    store
        .insert(&g, ev(&g, AuditKind::GrantCreated))
        .await
        .expect("insert");
    // No feed tells this cache of the revoke below: only the age bound can.
    let cache = cached(&store, Arc::new(LocalGrantChanges::new()));
    assert!(cache.get(g.id).await.expect("get").is_open());
    store
        .close(g.id, revoke(), ev(&g, AuditKind::GrantRevoked))
        .await
        .expect("revoke behind the cache");
    tokio::time::advance(MAX_AGE - Duration::from_millis(1)).await;
    assert!(cache.get(g.id).await.expect("still cached").is_open());
    tokio::time::advance(Duration::from_millis(1)).await;
    assert!(!cache.get(g.id).await.expect("read again").is_open());
    assert_eq!(cache.open_for_org(&g.org).await.expect("open"), None);
}

#[tokio::test(start_paused = true)]
async fn a_write_through_one_cache_is_seen_at_once_by_a_cache_sharing_its_feed() {
    let store = CountingStore::default();
    let g = grant("org-a");
    store
        .insert(&g, ev(&g, AuditKind::GrantCreated))
        .await
        .expect("insert");
    let changes: Arc<dyn GrantChanges> = Arc::new(LocalGrantChanges::new());
    let (a, b) = (cached(&store, changes.clone()), cached(&store, changes));
    assert!(b.get(g.id).await.expect("b caches").is_open());
    assert!(b.open_for_org(&g.org).await.expect("b caches").is_some());
    a.close(g.id, revoke(), ev(&g, AuditKind::GrantRevoked))
        .await
        .expect("revoke through a");
    assert!(!b.get(g.id).await.expect("b reads again").is_open());
    assert_eq!(b.open_for_org(&g.org).await.expect("b reads again"), None);
}

#[tokio::test(start_paused = true)]
async fn a_feed_that_may_have_missed_changes_makes_the_cache_forget_everything() {
    let store = CountingStore::default();
    let g = grant("org-a");
    store
        .insert(&g, ev(&g, AuditKind::GrantCreated))
        .await
        .expect("insert");
    let changes = Arc::new(LocalGrantChanges::new());
    let cache = cached(&store, changes.clone());
    cache.get(g.id).await.expect("cache");
    store
        .close(g.id, revoke(), ev(&g, AuditKind::GrantRevoked))
        .await
        .expect("revoke behind the cache");
    changes.announce(GrantChange::Everything);
    assert!(!cache.get(g.id).await.expect("read again").is_open());
}

#[tokio::test(start_paused = true)]
async fn a_write_through_the_cache_is_seen_by_its_next_read() {
    let store = CountingStore::default();
    let g = grant("org-a");
    let cache = cached(&store, Arc::new(LocalGrantChanges::new()));
    assert_eq!(cache.open_for_org(&g.org).await.expect("none yet"), None);
    cache
        .insert(&g, ev(&g, AuditKind::GrantCreated))
        .await
        .expect("insert");
    assert_eq!(
        cache.open_for_org(&g.org).await.expect("open"),
        Some(g.clone())
    );
    let end = t0() + chrono::Duration::days(5);
    cache
        .set_expiry(g.id, end, ev(&g, AuditKind::GrantChanged))
        .await
        .expect("change");
    assert_eq!(cache.get(g.id).await.expect("get").expires_at, end);
}

#[tokio::test(start_paused = true)]
async fn a_read_that_raced_with_a_change_is_not_kept() {
    let store = CountingStore::default();
    let g = grant("org-a");
    store
        .insert(&g, ev(&g, AuditKind::GrantCreated))
        .await
        .expect("insert");
    let changes = Arc::new(LocalGrantChanges::new());
    let cache = Arc::new(cached(&store, changes.clone()));
    // The read sees the open grant, then waits at the gate before it returns.
    let gate = store.gate.clone().lock_owned().await;
    let reader = tokio::spawn({
        let cache = cache.clone();
        async move { cache.get(g.id).await }
    });
    while store.reads() == 0 {
        tokio::task::yield_now().await;
    }
    // Meanwhile another instance revokes, and its notification arrives.
    store
        .close(g.id, revoke(), ev(&g, AuditKind::GrantRevoked))
        .await
        .expect("revoke elsewhere");
    changes.announce(GrantChange::Grant {
        id: g.id,
        org: g.org.clone(),
    });
    drop(gate);
    let raced = reader.await.expect("task").expect("get");
    assert!(raced.is_open(), "the racing read returns what it read");
    // But it was not kept: the next read goes to the store and sees the revoke.
    assert!(!cache.get(g.id).await.expect("get").is_open());
    assert_eq!(store.reads(), 2);
}
