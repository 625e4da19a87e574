//! Stores in the schemas of the shared PostgreSQL fixture (`support-access-pgtest`),
//! and their cleanup.

use std::future::Future;
use std::sync::Arc;

use support_access_contract::Teardown;
use support_access_seaorm::{SeaOrmStore, StoreOptions};

pub use support_access_pgtest::{create_schema, database_url, drop_schema};

/// A store (an instance of its own: own pool, own audit writer) on `schema`.
pub async fn store(schema: &str) -> SeaOrmStore {
    SeaOrmStore::connect_with(
        StoreOptions::new(database_url())
            .schema(schema)
            .max_connections(4),
    )
    .await
    .expect("connect to the test schema")
}

/// A migrated schema with two stores on it, and the teardown that closes them and
/// drops the schema.
pub async fn two_stores() -> (SeaOrmStore, SeaOrmStore, String, Teardown) {
    let schema = create_schema().await;
    let first = store(&schema).await;
    first.migrate().await.expect("migrate the test schema");
    let second = store(&schema).await;
    let (a, b, name) = (first.clone(), second.clone(), schema.clone());
    let teardown: Teardown = Arc::new(move || {
        let (a, b, name) = (a.clone(), b.clone(), name.clone());
        Box::pin(async move {
            a.close().await;
            b.close().await;
            drop_schema(&name).await;
        })
    });
    (first, second, schema, teardown)
}

/// Runs `case` on a fresh migrated schema, then drops the schema, then re-raises the
/// case's panic if it had one.
pub async fn in_schema<C, Fut>(case: C)
where
    C: FnOnce(String) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    support_access_pgtest::in_schema(|schema| async move {
        let store = store(&schema).await;
        store.migrate().await.expect("migrate the test schema");
        store.close().await;
        case(schema).await;
    })
    .await;
}
