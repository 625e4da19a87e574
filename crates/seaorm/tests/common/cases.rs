//! Adapter cases beyond the port contracts, run on SQLite and on PostgreSQL: failure
//! handling of the audit writer, closed stores, and the range of stored instants.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use futures::future::{BoxFuture, join_all};
use support_access_core::audit::{AuditKind, ChainVerifier, NewAuditEvent};
use support_access_core::grant::Grant;
use support_access_core::ids::{GrantId, OrgId};
use support_access_core::{AuditLog, GrantStore, StoreError};
use support_access_seaorm::SeaOrmStore;

/// Runs raw SQL on the store's database, behind the store's back.
pub type Exec = Arc<dyn Fn(String) -> BoxFuture<'static, ()> + Send + Sync>;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0)
        .single()
        .expect("a valid instant")
}

fn event(org: &OrgId, n: i64) -> NewAuditEvent {
    NewAuditEvent::new(
        org.clone(),
        AuditKind::RequestAllowed,
        t0() + Duration::seconds(n),
    )
}

fn grant(org: &str, end: DateTime<Utc>) -> Grant {
    Grant::new(OrgId::from(org), "admin", t0(), end, None, None)
}

async fn verified(log: &SeaOrmStore, org: &OrgId) -> u64 {
    let mut verifier = ChainVerifier::new(org.clone());
    for event in log.scan(org, 0, 1000).await.expect("scan") {
        verifier.check(&event).expect("the chain verifies");
    }
    verifier.verified()
}

/// After `close`, calls fail with `Unavailable` and nothing they asked for is stored.
pub async fn a_closed_store_is_unavailable_and_writes_nothing(a: SeaOrmStore, b: SeaOrmStore) {
    let org = OrgId::from("org-closed");
    a.close().await;
    let appended = a.append(event(&org, 0)).await;
    assert!(
        matches!(appended, Err(StoreError::Unavailable(_))),
        "{appended:?}"
    );
    let g = grant("org-closed", t0() + Duration::days(2));
    let inserted = a.insert(&g, g.event(AuditKind::GrantCreated, t0())).await;
    assert!(
        matches!(inserted, Err(StoreError::Unavailable(_))),
        "{inserted:?}"
    );
    let got = a.get(g.id).await;
    assert!(matches!(got, Err(StoreError::Unavailable(_))), "{got:?}");
    assert_eq!(b.scan(&org, 0, 10).await.expect("scan"), Vec::new());
    assert_eq!(b.get(g.id).await, Err(StoreError::NotFound));
}

/// An event that cannot be stored (its id is taken) fails alone, even when it shares
/// a batch with others; the others are stored gap-free.
pub async fn a_bad_event_in_a_batch_fails_alone(a: SeaOrmStore, b: SeaOrmStore) {
    let org = OrgId::from("org-batch");
    let first = a.append(event(&org, 0)).await.expect("first");
    let appends = (1..=20).map(|n| {
        let log = if n % 2 == 0 { a.clone() } else { b.clone() };
        let mut e = event(&org, n);
        if n == 7 {
            e.id = first.id;
        }
        tokio::spawn(async move { (n, log.append(e).await) })
    });
    let results: Vec<_> = join_all(appends)
        .await
        .into_iter()
        .map(|joined| joined.expect("task"))
        .collect();
    for (n, result) in &results {
        assert_eq!(result.is_err(), *n == 7, "append {n}: {result:?}");
    }
    let seqs: BTreeSet<u64> = results
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok().map(|e| e.seq))
        .collect();
    assert_eq!(seqs, (2..=20).collect());
    assert_eq!(verified(&a, &org).await, 20);
}

/// When the database refuses every event, every caller of the batch gets the error,
/// no event and no head move is stored, and the chain later continues from seq 1.
pub async fn a_refused_batch_leaves_no_trace(
    a: SeaOrmStore,
    b: SeaOrmStore,
    exec: Exec,
    refuse: &str,
    allow: &str,
) {
    let org = OrgId::from("org-refused");
    exec(refuse.to_owned()).await;
    let appends = (0..10).map(|n| {
        let log = a.clone();
        let e = event(&org, n);
        tokio::spawn(async move { log.append(e).await })
    });
    for joined in join_all(appends).await {
        let result = joined.expect("task");
        assert!(result.is_err(), "{result:?}");
    }
    assert_eq!(b.scan(&org, 0, 100).await.expect("scan"), Vec::new());
    assert!(!b.orgs().await.expect("orgs").contains(&org));
    exec(allow.to_owned()).await;
    let next = b
        .append(event(&org, 99))
        .await
        .expect("append once allowed");
    assert_eq!(next.seq, 1);
    assert_eq!(verified(&a, &org).await, 1);
}

/// The largest instant as "now" lists every open grant; instants the store could not
/// order are refused.
pub async fn the_end_of_time_lists_every_open_grant_and_far_instants_are_refused(a: SeaOrmStore) {
    let mut ids = BTreeSet::new();
    for (i, years) in [1, 50, 7000].into_iter().enumerate() {
        let g = grant(&format!("org-far-{i}"), t0() + Duration::days(365 * years));
        a.insert(&g, g.event(AuditKind::GrantCreated, t0()))
            .await
            .expect("insert");
        ids.insert(g.id);
    }
    let due: BTreeSet<GrantId> = a
        .due_for_expiry(DateTime::<Utc>::MAX_UTC, 100)
        .await
        .expect("due")
        .into_iter()
        .map(|g| g.id)
        .collect();
    assert!(ids.is_subset(&due), "{ids:?} in {due:?}");
    let too_far = grant("org-too-far", DateTime::<Utc>::MAX_UTC);
    assert!(matches!(
        a.insert(&too_far, too_far.event(AuditKind::GrantCreated, t0()))
            .await,
        Err(StoreError::Backend(_))
    ));
}

/// When the database refuses the event of a revoke, the revoke is not stored either —
/// not in the database, not in a cache in front of the store — and it goes through once
/// events are taken again.
pub async fn a_revoke_whose_event_the_database_refuses_is_not_stored(
    a: SeaOrmStore,
    b: SeaOrmStore,
    exec: Exec,
    refuse: &str,
    allow: &str,
) {
    use support_access_cache::{CacheConfig, CachedGrantStore, LocalGrantChanges};
    use support_access_core::grant::{ClosedAs, Closure};

    let org = OrgId::from("org-refused-revoke");
    let g = grant("org-refused-revoke", t0() + Duration::days(2));
    let cache = CachedGrantStore::new(
        a.clone(),
        Arc::new(LocalGrantChanges::new()),
        CacheConfig::default(),
    );
    cache
        .insert(&g, g.event(AuditKind::GrantCreated, t0()))
        .await
        .expect("insert");
    assert!(cache.get(g.id).await.expect("warm the cache").is_open());
    let revoke = Closure {
        reason: ClosedAs::Revoked,
        at: t0() + Duration::minutes(1),
        by: Some("admin".into()),
    };
    exec(refuse.to_owned()).await;
    let refused = cache
        .close(g.id, revoke.clone(), g.event(AuditKind::GrantRevoked, t0()))
        .await;
    assert!(refused.is_err(), "{refused:?}");
    assert!(cache.get(g.id).await.expect("get").is_open(), "cache");
    assert!(a.get(g.id).await.expect("get").is_open(), "store");
    assert!(
        b.get(g.id).await.expect("get").is_open(),
        "another instance"
    );
    let kinds: Vec<AuditKind> = b
        .scan(&org, 0, 10)
        .await
        .expect("scan")
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, [AuditKind::GrantCreated]);
    exec(allow.to_owned()).await;
    let revoked = cache
        .close(g.id, revoke, g.event(AuditKind::GrantRevoked, t0()))
        .await
        .expect("revoke once events are taken");
    assert_eq!(revoked.event.seq, 2);
    assert!(!b.get(g.id).await.expect("get").is_open());
}

/// Events stored before the tree existed (`tree_size` 0, no nodes, as the migration
/// leaves them) get their tree from `migrate`, and an append that finds the tree
/// behind its chain catches it up first.
pub async fn a_tree_behind_its_chain_is_built_by_migrate_and_by_append(
    a: SeaOrmStore,
    b: SeaOrmStore,
    exec: Exec,
) {
    use support_access_core::tlog::{AuditTree, MemoryTree, TreeHead, event_leaf};

    let org = OrgId::from("org-before-the-tree");
    let forget = "DELETE FROM audit_tree_nodes; \
                  UPDATE audit_heads SET tree_size = 0, tree_root = NULL, tree_frontier = NULL";
    let expected = |events: &[support_access_core::audit::AuditEvent]| {
        let mut tree = MemoryTree::new();
        let leaves: Vec<_> = events.iter().map(|e| event_leaf(&e.hash)).collect();
        tree.append(&leaves).expect("tree");
        TreeHead {
            size: tree.size(),
            root: tree.root(),
        }
    };
    for n in 0..5 {
        a.append(event(&org, n)).await.expect("append");
    }
    exec(forget.to_owned()).await;
    assert_eq!(b.tree_head(&org).await, Ok(TreeHead::EMPTY));
    a.migrate().await.expect("migrate");
    let events = b.scan(&org, 0, 100).await.expect("scan");
    assert_eq!(b.tree_head(&org).await, Ok(expected(&events)));
    assert_eq!(b.root_at(&org, 3).await, Ok(expected(&events[..3]).root));

    exec(forget.to_owned()).await;
    b.append(event(&org, 5)).await.expect("append");
    let events = a.scan(&org, 0, 100).await.expect("scan");
    assert_eq!(events.len(), 6);
    assert_eq!(a.tree_head(&org).await, Ok(expected(&events)));
    let proof = a.consistency_proof(&org, 2, 6).await.expect("proof");
    proof
        .verify(&expected(&events[..2]).root, &expected(&events).root)
        .expect("consistent");
}
