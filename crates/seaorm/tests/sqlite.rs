//! The port contracts on SQLite: a fresh database file per case, deleted afterwards;
//! the second handle is a second store (its own pool and audit writer) on that file.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use support_access_cache::{CacheConfig, CachedGrantStore, LocalGrantChanges};
use support_access_contract::{
    ApprovalStoreFixture, AuditLogFixture, AuditTreeFixture, ChangeStoreFixture, GrantStoreFixture,
    Release, Stall, Tamper, Teardown, WebhookOutboxFixture,
};
use support_access_core::StoreError;
use support_access_seaorm::{SeaOrmStore, StoreOptions};

static NEXT: AtomicU64 = AtomicU64::new(1);

fn url(path: &Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

async fn open(path: &Path) -> SeaOrmStore {
    SeaOrmStore::connect_with(StoreOptions::new(url(path)).max_connections(4))
        .await
        .expect("open the SQLite test database")
}

/// Two stores on a fresh, migrated database file, and the teardown that deletes it.
async fn two_stores() -> (SeaOrmStore, SeaOrmStore, PathBuf, Teardown) {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let path =
        std::env::temp_dir().join(format!("support-access-test-{}-{n}.db", std::process::id()));
    let first = open(&path).await;
    first.migrate().await.expect("migrate");
    let second = open(&path).await;
    let (a, b, file) = (first.clone(), second.clone(), path.clone());
    let teardown: Teardown = Arc::new(move || {
        let (a, b, file) = (a.clone(), b.clone(), file.clone());
        Box::pin(async move {
            a.close().await;
            b.close().await;
            for suffix in ["", "-wal", "-shm"] {
                let mut name = file.clone().into_os_string();
                name.push(suffix);
                // Absent files (no WAL written) are fine.
                let _ = std::fs::remove_file(name);
            }
        })
    });
    (first, second, path, teardown)
}

async fn grant_store() -> GrantStoreFixture {
    let (store, second, _, teardown) = two_stores().await;
    GrantStoreFixture {
        store: Arc::new(store.clone()),
        second: Arc::new(second),
        audit: Arc::new(store),
        teardown,
    }
}

async fn change_store() -> ChangeStoreFixture {
    let (store, second, _, teardown) = two_stores().await;
    ChangeStoreFixture {
        store: Arc::new(store.clone()),
        second: Arc::new(second),
        audit: Arc::new(store),
        teardown,
    }
}

async fn webhook_outbox() -> WebhookOutboxFixture {
    let (store, second, _, teardown) = two_stores().await;
    WebhookOutboxFixture {
        outbox: Arc::new(store.clone()),
        second: Arc::new(second),
        grants: Arc::new(store.clone()),
        audit: Arc::new(store),
        teardown,
    }
}

async fn approval_store() -> ApprovalStoreFixture {
    let (store, second, _, teardown) = two_stores().await;
    ApprovalStoreFixture {
        store: Arc::new(store.clone()),
        second: Arc::new(second),
        grants: Arc::new(store.clone()),
        audit: Arc::new(store),
        teardown,
    }
}

/// The cache decorator over each handle, sharing changes in process.
async fn cached_grant_store() -> GrantStoreFixture {
    let (store, second, _, teardown) = two_stores().await;
    let changes = Arc::new(LocalGrantChanges::new());
    GrantStoreFixture {
        audit: Arc::new(store.clone()),
        store: Arc::new(CachedGrantStore::new(
            store,
            changes.clone(),
            CacheConfig::default(),
        )),
        second: Arc::new(CachedGrantStore::new(
            second,
            changes,
            CacheConfig::default(),
        )),
        teardown,
    }
}

async fn audit_log() -> AuditLogFixture {
    let (log, second, path, teardown) = two_stores().await;
    let stall = write_lock_holder(path.clone());
    let tamper: Tamper = Arc::new(move |org, seq, new_path| {
        let url = url(&path);
        Box::pin(async move {
            let db = Database::connect(url).await.expect("tamper: connect");
            let changed = db
                .execute_raw(Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    "UPDATE audit_events SET path = ? WHERE org = ? AND seq = ?",
                    [
                        new_path.into(),
                        org.as_str().into(),
                        i64::try_from(seq).expect("seq").into(),
                    ],
                ))
                .await
                .expect("tamper: update");
            assert_eq!(changed.rows_affected(), 1, "tamper: one event changed");
            db.close().await.expect("tamper: close");
        })
    });
    AuditLogFixture {
        log: Arc::new(log),
        second: Arc::new(second),
        tamper,
        stall,
        teardown,
    }
}

async fn audit_tree() -> AuditTreeFixture {
    let (store, second, _, teardown) = two_stores().await;
    AuditTreeFixture {
        log: Arc::new(store.clone()),
        tree: Arc::new(store.clone()),
        grants: Arc::new(store),
        second_log: Arc::new(second.clone()),
        second_tree: Arc::new(second),
        teardown,
    }
}

/// Another process's write transaction on the file: the store's writes wait for it.
fn write_lock_holder(path: PathBuf) -> Stall {
    use sqlx::{Connection, Executor};
    Arc::new(move || {
        let url = url(&path);
        Box::pin(async move {
            let mut holder = sqlx::SqliteConnection::connect(&url)
                .await
                .expect("stall: connect");
            holder
                .execute("BEGIN IMMEDIATE")
                .await
                .expect("stall: take the write lock");
            let release: Release = Box::new(move || {
                Box::pin(async move {
                    holder.execute("ROLLBACK").await.expect("stall: release");
                    let _ = holder.close().await;
                })
            });
            release
        })
    })
}

#[path = "common/cases.rs"]
mod cases;
#[path = "common/tamper.rs"]
mod tamper;
#[path = "common/tmpfs.rs"]
mod tmpfs;
#[path = "common/webhook_cases.rs"]
mod webhook_cases;

/// Raw SQL on the database file, through a connection of its own.
fn exec(path: PathBuf) -> cases::Exec {
    Arc::new(move |sql| {
        let url = url(&path);
        Box::pin(async move {
            let db = Database::connect(url).await.expect("exec: connect");
            db.execute_unprepared(&sql).await.expect("exec");
            db.close().await.expect("exec: close");
        })
    })
}

/// Fails unless a connection of its own can take the write lock at once: a pooled
/// connection left inside a transaction that never committed would hold it. Checked
/// with no busy wait, so the answer does not depend on how loaded the machine is.
async fn no_connection_holds_the_write_lock(path: &std::path::Path) {
    let db = Database::connect(url(path)).await.expect("probe: connect");
    let taken = db
        .execute_unprepared("PRAGMA busy_timeout = 0; BEGIN IMMEDIATE; ROLLBACK;")
        .await;
    db.close().await.expect("probe: close");
    taken.expect("the write lock is free once a write is acknowledged");
}

/// Runs an adapter case on two stores of a fresh file, then deletes the file.
async fn adapter_case<F, Fut>(case: F)
where
    F: FnOnce(SeaOrmStore, SeaOrmStore, PathBuf) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let (a, b, path, teardown) = two_stores().await;
    let outcome =
        futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(case(a, b, path))).await;
    teardown().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

mod adapter {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_closed_store_is_unavailable_and_writes_nothing() {
        adapter_case(|a, b, _| cases::a_closed_store_is_unavailable_and_writes_nothing(a, b)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_bad_event_in_a_batch_fails_alone() {
        adapter_case(|a, b, _| cases::a_bad_event_in_a_batch_fails_alone(a, b)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_refused_batch_leaves_no_trace() {
        adapter_case(|a, b, path| async move {
            cases::a_refused_batch_leaves_no_trace(
                a,
                b,
                exec(path),
                "CREATE TRIGGER refuse BEFORE INSERT ON audit_events \
                 BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
                "DROP TRIGGER refuse",
            )
            .await;
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_revoke_whose_event_the_database_refuses_is_not_stored() {
        adapter_case(|a, b, path| async move {
            cases::a_revoke_whose_event_the_database_refuses_is_not_stored(
                a,
                b,
                exec(path),
                "CREATE TRIGGER refuse BEFORE INSERT ON audit_events \
                 BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
                "DROP TRIGGER refuse",
            )
            .await;
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_end_of_time_lists_every_open_grant_and_far_instants_are_refused() {
        adapter_case(|a, _, _| {
            cases::the_end_of_time_lists_every_open_grant_and_far_instants_are_refused(a)
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn instances_migrating_at_once_each_succeed_and_migrating_again_changes_nothing() {
        // `two_stores` migrated through the first; these are fresh stores on a new file.
        let (a, b, path, teardown) = two_stores().await;
        let fresh = path.with_extension("fresh.db");
        let stores = [open(&fresh).await, open(&fresh).await, open(&fresh).await];
        let results = futures::future::join_all(stores.iter().map(|s| s.migrate())).await;
        let outcome = std::panic::catch_unwind(|| {
            assert!(results.iter().all(Result::is_ok), "{results:?}");
        });
        let again = stores[0].migrate().await;
        for store in &stores {
            store.close().await;
        }
        for suffix in ["", "-wal", "-shm"] {
            let mut name = fresh.clone().into_os_string();
            name.push(suffix);
            let _ = std::fs::remove_file(name);
        }
        drop((a, b));
        teardown().await;
        if let Err(panic) = outcome {
            std::panic::resume_unwind(panic);
        }
        again.expect("migrate again");
    }

    /// The root cause of lost audit events and revokes on a full disk: a connection
    /// whose COMMIT failed went back to the pool still counted inside a transaction,
    /// and later "transactions" on it were savepoints of one that never committed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn on_a_full_disk_every_write_fails_and_every_acknowledged_write_is_durable() {
        use support_access_core::audit::{AuditKind, NewAuditEvent};
        use support_access_core::grant::{ClosedAs, Closure, Grant};
        use support_access_core::ids::OrgId;
        use support_access_core::{AuditLog, GrantStore};

        // Room to spare once the filler is gone: the case's own writes (the WAL is not
        // checkpointed below 1,000 pages) must never be what fills the disk again.
        let disk = tmpfs::Tmpfs::mount(16 * 1024);
        let path = disk.path().join("gateway.db");
        let options = || {
            StoreOptions::new(url(&path))
                .max_connections(4)
                .busy_timeout(std::time::Duration::from_millis(500))
        };
        let store = SeaOrmStore::connect_with(options()).await.expect("open");
        store.migrate().await.expect("migrate");
        let org = OrgId::from("org-full");
        let now = chrono::DateTime::from_timestamp(1_795_000_000, 0).expect("an instant");
        let event = |n: usize| {
            let mut e = NewAuditEvent::new(org.clone(), AuditKind::RequestAllowed, now);
            e.user_agent = Some(format!("{n}:{}", "x".repeat(1500)));
            e
        };
        let grant = Grant::new(
            org.clone(),
            "admin",
            now,
            now + chrono::Duration::days(2),
            None,
            None,
        );
        store
            .insert(&grant, grant.event(AuditKind::GrantCreated, now))
            .await
            .expect("insert");
        store
            .append(event(0))
            .await
            .expect("append before the disk fills");

        disk.fill();
        for n in 1..=30 {
            let appended = store.append(event(n)).await;
            assert!(appended.is_err(), "append {n} on a full disk: {appended:?}");
        }
        let revoke = Closure {
            reason: ClosedAs::Revoked,
            at: now,
            by: Some("admin".into()),
        };
        let closed = GrantStore::close(
            &store,
            grant.id,
            revoke.clone(),
            grant.event(AuditKind::GrantRevoked, now),
        )
        .await;
        assert!(closed.is_err(), "a revoke on a full disk: {closed:?}");

        disk.free();
        let mut acknowledged = Vec::new();
        for n in 31..=40 {
            let appended = store
                .append(event(n))
                .await
                .expect("append once there is room");
            acknowledged.push(appended.id);
            no_connection_holds_the_write_lock(&path).await;
        }
        let revoked = GrantStore::close(
            &store,
            grant.id,
            revoke,
            grant.event(AuditKind::GrantRevoked, now),
        )
        .await
        .expect("revoke once there is room");
        store.close().await;

        // What another process finds: every acknowledged write, nothing else.
        let fresh = SeaOrmStore::connect_with(options()).await.expect("reopen");
        let stored: Vec<_> = fresh
            .scan(&org, 0, 100)
            .await
            .expect("scan")
            .into_iter()
            .map(|e| e.id)
            .collect();
        acknowledged.push(revoked.event.id);
        assert_eq!(stored.len(), 2 + acknowledged.len(), "{stored:?}");
        assert!(acknowledged.iter().all(|id| stored.contains(id)));
        assert!(
            !fresh.get(grant.id).await.expect("get").is_open(),
            "the revoke held"
        );
        fresh
            .append(event(99))
            .await
            .expect("another writer is not locked out");
        fresh.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_tree_behind_its_chain_is_built_by_migrate_and_by_append() {
        adapter_case(|a, b, path| {
            cases::a_tree_behind_its_chain_is_built_by_migrate_and_by_append(a, b, exec(path))
        })
        .await;
    }

    #[tokio::test]
    async fn an_unopenable_database_is_unavailable() {
        let missing = std::env::temp_dir().join("support-access-no-such-dir/x.db");
        let result = SeaOrmStore::connect(&url(&missing)).await;
        assert!(
            matches!(result, Err(StoreError::Unavailable(_))),
            "{result:?}"
        );
    }
}

mod grant_store {
    support_access_contract::grant_store_suite!(super::grant_store());
}

async fn signing_key_store() -> support_access_contract::SigningKeyStoreFixture {
    let (store, second, _, teardown) = two_stores().await;
    support_access_contract::SigningKeyStoreFixture {
        store: Arc::new(store),
        second: Arc::new(second),
        teardown,
    }
}

mod signing_key_store {
    support_access_contract::signing_key_store_suite!(super::signing_key_store());
}

mod cached_grant_store {
    support_access_contract::grant_store_suite!(super::cached_grant_store());
}

mod audit_log {
    support_access_contract::audit_log_suite!(super::audit_log());
}

mod change_store {
    support_access_contract::change_store_suite!(super::change_store());
}

mod audit_tree {
    support_access_contract::audit_tree_suite!(super::audit_tree());
}

/// Tamper detection with raw SQL on the database file (`common/tamper.rs`).
mod tampering {
    use super::tamper::{self, Attack};
    use super::*;

    async fn attack<F, Fut>(case: F)
    where
        F: FnOnce(Attack) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        adapter_case(|a, _, path| async move {
            case(Attack::prepare(a, exec(path)).await).await;
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_untouched_log_passes() {
        attack(tamper::an_untouched_log_passes).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn deleting_the_newest_events_is_detected() {
        attack(tamper::deleting_the_newest_events_is_detected).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn deleting_the_newest_events_and_their_tree_is_detected() {
        attack(tamper::deleting_the_newest_events_and_their_tree_is_detected).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn editing_an_event_is_detected() {
        attack(tamper::editing_an_event_is_detected).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rehashing_the_chain_is_detected() {
        attack(tamper::rehashing_the_chain_is_detected).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rehashing_the_chain_and_the_tree_is_detected() {
        attack(tamper::rehashing_the_chain_and_the_tree_is_detected).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_missing_node_is_refused_not_made_up() {
        attack(tamper::a_missing_node_is_refused_not_made_up).await;
    }
}

mod approval_store {
    support_access_contract::approval_store_suite!(super::approval_store());
}

mod webhook_outbox {
    support_access_contract::webhook_outbox_suite!(super::webhook_outbox());
}

mod webhook_adapter {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_delivery_the_database_refuses_takes_its_event_with_it() {
        adapter_case(|a, b, path| async move {
            webhook_cases::a_delivery_the_database_refuses_takes_its_event_with_it(
                a,
                b,
                exec(path),
                "CREATE TRIGGER refuse BEFORE INSERT ON webhook_deliveries \
                 BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
                "DROP TRIGGER refuse",
            )
            .await;
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_delivery_outlives_the_instance_that_claimed_it() {
        adapter_case(|a, b, _| {
            webhook_cases::a_delivery_outlives_the_instance_that_claimed_it(a, b)
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn racing_appends_queue_each_notification_once_per_receiver() {
        adapter_case(|a, b, _| {
            webhook_cases::racing_appends_queue_each_notification_once_per_receiver(a, b)
        })
        .await;
    }
}
