//! Schemas per test, stores in them, and their cleanup.

use std::future::Future;
use std::panic::{AssertUnwindSafe, resume_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::FutureExt;
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
use support_access_contract::Teardown;
use support_access_seaorm::{SeaOrmStore, StoreOptions};

static NEXT: AtomicU64 = AtomicU64::new(1);

/// The test server: `DATABASE_URL`, or the local default.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// An admin connection to the test server. Panics, saying how to start PostgreSQL,
/// when it cannot be reached: these tests never skip.
async fn admin() -> PgConnection {
    let url = database_url();
    let connect = tokio::time::timeout(Duration::from_secs(10), PgConnection::connect(&url));
    match connect.await {
        Ok(Ok(connection)) => connection,
        Ok(Err(e)) => panic!(
            "cannot reach PostgreSQL at {url}: {e}\n\
             Start the local server with\n    \
             pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n\
             or point DATABASE_URL at a server (database `test`, user `postgres`)."
        ),
        Err(_) => panic!(
            "PostgreSQL at {url} did not answer within 10 s.\n\
             Start the local server with\n    \
             pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
        ),
    }
}

/// A fresh, empty schema with a name no other test (of any process) uses.
pub async fn create_schema() -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let schema = format!("sa_test_{}_{n}", std::process::id());
    let mut admin = admin().await;
    admin
        .execute(AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
        .await
        .expect("create the test schema");
    let _ = admin.close().await;
    schema
}

/// Drops a test schema and everything in it.
pub async fn drop_schema(schema: &str) {
    let mut admin = admin().await;
    admin
        .execute(AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
        )))
        .await
        .expect("drop the test schema");
    let _ = admin.close().await;
}

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
    C: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let schema = create_schema().await;
    let outcome = AssertUnwindSafe(async {
        let store = store(&schema).await;
        store.migrate().await.expect("migrate the test schema");
        store.close().await;
        case(schema.clone()).await;
    })
    .catch_unwind()
    .await;
    drop_schema(&schema).await;
    if let Err(panic) = outcome {
        resume_unwind(panic);
    }
}
