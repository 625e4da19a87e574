//! The one PostgreSQL fixture of the test suites (the seaorm adapter's and the e2e
//! gateway's): the server, a fresh schema per test, dropped afterwards also when the
//! test fails, and URLs that reach the server through another address (a relay the
//! test can cut) and work in a schema.
//!
//! The server is `DATABASE_URL`, by default `postgres://postgres@127.0.0.1:5432/test`.
//! When it cannot be reached, every test fails loudly with the command that starts the
//! local server: these suites never skip.

use std::future::Future;
use std::net::SocketAddr;
use std::panic::resume_unwind;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

/// How to start the local server, for the failure messages.
const START: &str = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start";

static NEXT: AtomicU64 = AtomicU64::new(1);

/// The test server: `DATABASE_URL`, or the local default.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// An admin connection to the test server. Panics, saying how to start PostgreSQL,
/// when it cannot be reached.
pub async fn admin() -> PgConnection {
    let url = database_url();
    let connect = tokio::time::timeout(Duration::from_secs(10), PgConnection::connect(&url));
    match connect.await {
        Ok(Ok(connection)) => connection,
        Ok(Err(e)) => panic!(
            "cannot reach PostgreSQL at {url}: {e}\n\
             Start the local server with\n    {START}\n\
             or point DATABASE_URL at a server (database `test`, user `postgres`)."
        ),
        Err(_) => panic!(
            "PostgreSQL at {url} did not answer within 10 s.\n\
             Start the local server with\n    {START}"
        ),
    }
}

/// Runs one statement on an admin connection; panics with the statement on failure.
pub async fn admin_execute(sql: String) {
    let mut admin = admin().await;
    admin
        .execute(AssertSqlSafe(sql.clone()))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let _ = admin.close().await;
}

/// A fresh, empty schema with a name no other test (of any process) uses.
pub async fn create_schema() -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let schema = format!("sa_test_{}_{n}", std::process::id());
    admin_execute(format!("CREATE SCHEMA \"{schema}\"")).await;
    schema
}

/// Drops a test schema and everything in it.
pub async fn drop_schema(schema: &str) {
    admin_execute(format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")).await;
}

/// Runs `case` in a fresh, empty schema, then drops the schema (also when the case
/// panics), then re-raises the case's panic.
///
/// The case runs as a task of its own on the test's runtime, as a gateway's work does:
/// run on the test's own thread instead, it made the allocator keep per-thread arenas
/// that the e2e suite's flat-memory export test saw as growth.
pub async fn in_schema<C, Fut>(case: C)
where
    C: FnOnce(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let schema = create_schema().await;
    let outcome = tokio::spawn(case(schema.clone())).await;
    drop_schema(&schema).await;
    if let Err(e) = outcome
        && e.is_panic()
    {
        resume_unwind(e.into_panic());
    }
}

/// `scheme://[user@]host[:port]/rest` split into `(scheme://user@, host:port, /rest)`.
fn split_url(url: &str) -> (String, String, String) {
    let (scheme, rest) = url.split_once("://").expect("DATABASE_URL has a scheme");
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let (user, host) = match authority.rsplit_once('@') {
        Some((user, host)) => (format!("{user}@"), host),
        None => (String::new(), authority),
    };
    let host = if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:5432")
    };
    (format!("{scheme}://{user}"), host, tail.to_owned())
}

/// The server's TCP address (it must be reachable over TCP).
pub async fn server_addr() -> SocketAddr {
    let (_, host, _) = split_url(&database_url());
    tokio::net::lookup_host(&host)
        .await
        .expect("resolve the PostgreSQL host")
        .next()
        .expect("an address for the PostgreSQL host")
}

/// The server's URL, but reached at `addr` and working in `schema`.
pub fn url_via(addr: SocketAddr, schema: &str) -> String {
    let (prefix, _, tail) = split_url(&database_url());
    let tail = if tail.is_empty() { "/" } else { &tail };
    let separator = if tail.contains('?') { '&' } else { '?' };
    format!("{prefix}{addr}{tail}{separator}options%5Bsearch_path%5D={schema}")
}

#[cfg(test)]
mod tests {
    use std::panic::AssertUnwindSafe;

    use futures::FutureExt;

    use super::*;

    #[test]
    fn a_url_is_split_into_prefix_host_and_tail() {
        assert_eq!(
            split_url("postgres://postgres@127.0.0.1/test"),
            (
                "postgres://postgres@".to_owned(),
                "127.0.0.1:5432".to_owned(),
                "/test".to_owned()
            )
        );
        assert_eq!(
            split_url("postgresql://db:6543?x=1"),
            (
                "postgresql://".to_owned(),
                "db:6543".to_owned(),
                "?x=1".to_owned()
            )
        );
    }

    #[tokio::test]
    async fn a_schema_is_dropped_after_its_case_even_when_the_case_panics() {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let inner = seen.clone();
        let outcome = AssertUnwindSafe(in_schema(|schema| async move {
            *inner.lock().unwrap() = schema;
            panic!("the case fails");
        }))
        .catch_unwind()
        .await;
        assert!(outcome.is_err(), "the case's panic is re-raised");
        let schema = seen.lock().unwrap().clone();
        assert!(schema.starts_with("sa_test_"));
        let mut admin = admin().await;
        let left: Option<(String,)> = sqlx::query_as(
            "SELECT schema_name::text FROM information_schema.schemata WHERE schema_name = $1",
        )
        .bind(&schema)
        .fetch_optional(&mut admin)
        .await
        .unwrap();
        assert_eq!(left, None, "{schema} was dropped");
    }
}
