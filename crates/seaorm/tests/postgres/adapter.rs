//! The adapter cases of `tests/common/cases.rs` on PostgreSQL, and an unreachable server.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor};
use support_access_core::StoreError;
use support_access_seaorm::{SeaOrmStore, StoreOptions};

use super::cases;
use super::fixture::{create_schema, database_url, drop_schema, in_schema, store};

/// Raw SQL in the test schema, through a connection of its own.
pub(crate) fn exec(schema: String) -> cases::Exec {
    Arc::new(move |sql| {
        let schema = schema.clone();
        Box::pin(async move {
            let mut db = PgConnectOptions::from_str(&database_url())
                .expect("exec: URL")
                .options([("search_path", schema.as_str())])
                .connect()
                .await
                .expect("exec: connect");
            db.execute(AssertSqlSafe(sql)).await.expect("exec");
            let _ = db.close().await;
        })
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_closed_store_is_unavailable_and_writes_nothing() {
    in_schema(|schema| async move {
        let (a, b) = (store(&schema).await, store(&schema).await);
        cases::a_closed_store_is_unavailable_and_writes_nothing(a, b.clone()).await;
        b.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bad_event_in_a_batch_fails_alone() {
    in_schema(|schema| async move {
        let (a, b) = (store(&schema).await, store(&schema).await);
        cases::a_bad_event_in_a_batch_fails_alone(a.clone(), b.clone()).await;
        a.close().await;
        b.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_batch_leaves_no_trace() {
    in_schema(|schema| async move {
        let (a, b) = (store(&schema).await, store(&schema).await);
        cases::a_refused_batch_leaves_no_trace(
            a.clone(),
            b.clone(),
            exec(schema.clone()),
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$; \
             CREATE TRIGGER refuse BEFORE INSERT ON audit_events \
             FOR EACH ROW EXECUTE FUNCTION refuse()",
            "DROP TRIGGER refuse ON audit_events",
        )
        .await;
        a.close().await;
        b.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revoke_whose_event_the_database_refuses_is_not_stored() {
    in_schema(|schema| async move {
        let (a, b) = (store(&schema).await, store(&schema).await);
        cases::a_revoke_whose_event_the_database_refuses_is_not_stored(
            a.clone(),
            b.clone(),
            exec(schema.clone()),
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$; \
             CREATE TRIGGER refuse BEFORE INSERT ON audit_events \
             FOR EACH ROW EXECUTE FUNCTION refuse()",
            "DROP TRIGGER refuse ON audit_events",
        )
        .await;
        a.close().await;
        b.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tree_behind_its_chain_is_built_by_migrate_and_by_append() {
    in_schema(|schema| async move {
        let (a, b) = (store(&schema).await, store(&schema).await);
        cases::a_tree_behind_its_chain_is_built_by_migrate_and_by_append(
            a.clone(),
            b.clone(),
            exec(schema.clone()),
        )
        .await;
        a.close().await;
        b.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_end_of_time_lists_every_open_grant_and_far_instants_are_refused() {
    in_schema(|schema| async move {
        let a = store(&schema).await;
        cases::the_end_of_time_lists_every_open_grant_and_far_instants_are_refused(a.clone()).await;
        a.close().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn instances_migrating_at_once_each_succeed_and_migrating_again_changes_nothing() {
    let schema = create_schema().await;
    let outcome = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(async {
        let stores = [
            store(&schema).await,
            store(&schema).await,
            store(&schema).await,
        ];
        let results = futures::future::join_all(stores.iter().map(|s| s.migrate())).await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        stores[0].migrate().await.expect("migrate again");
        cases::a_bad_event_in_a_batch_fails_alone(stores[0].clone(), stores[1].clone()).await;
        for store in &stores {
            store.close().await;
        }
    }))
    .await;
    drop_schema(&schema).await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable() {
    // Port 1 on the loopback: nothing listens there.
    let options = StoreOptions::new("postgres://postgres@127.0.0.1:1/test")
        .acquire_timeout(Duration::from_millis(500));
    let result = SeaOrmStore::connect_with(options).await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
}
