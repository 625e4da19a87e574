//! [`SeaOrmStore`]: connecting, migrating and closing.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, SqliteTransactionMode, SqlxPostgresConnector,
    SqlxSqliteConnector, TransactionOptions, TransactionTrait,
};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use support_access_core::StoreError;
use support_access_migrations::Migrator;
use support_access_migrations::MigratorTrait;
use tokio::sync::Mutex;

use crate::audit::{Appender, backfill};
use crate::error::{from_db, from_sqlx};
use crate::pool::{settled_after_release, settled_before_acquire, writable_after_release};

/// Which database a [`SeaOrmStore`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// PostgreSQL: production, several instances may share it.
    Postgres,
    /// SQLite: the embedded default, one file.
    Sqlite,
}

/// How to connect: the URL and pool settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    url: String,
    schema: Option<String>,
    max_connections: u32,
    acquire_timeout: Duration,
    busy_timeout: Duration,
    statement_timeout: Duration,
}

impl StoreOptions {
    /// Options for `url`: `postgres://…` (or `postgresql://…`) or `sqlite://…` (e.g.
    /// `sqlite://support-access.db?mode=rwc`, or `sqlite::memory:`).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            schema: None,
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            busy_timeout: Duration::from_secs(30),
            statement_timeout: Duration::from_secs(10),
        }
    }

    /// PostgreSQL only: work in this schema (`search_path` of every connection), which
    /// must exist. Tests use one schema each; production leaves it unset.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// The pool's size (default 10; an in-memory SQLite database always uses 1).
    pub fn max_connections(mut self, max: u32) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// How long a call waits for a pooled connection before it fails with
    /// `Unavailable` (default 5 s).
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// SQLite only: how long a write waits for another process's write lock (default
    /// 30 s).
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// PostgreSQL only: the longest a statement may run or wait for a lock before it
    /// fails with `Unavailable` (default 10 s), so that a stuck database makes the
    /// gateway fail closed instead of hanging.
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = timeout;
        self
    }

    fn backend(&self) -> Result<Backend, StoreError> {
        let url = self.url.as_str();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else {
            Err(StoreError::Backend(
                "the storage URL must start with postgres://, postgresql:// or sqlite:".into(),
            ))
        }
    }
}

/// The [`GrantStore`](support_access_core::GrantStore) and
/// [`AuditLog`](support_access_core::AuditLog) ports on PostgreSQL or SQLite.
///
/// Cheap to clone; clones share one connection pool and one audit writer. Separately
/// connected stores on the same database are separate instances (as two gateway
/// processes are) and see each other's writes.
///
/// - It MUST NOT change the schema on connect: call [`SeaOrmStore::migrate`] (the
///   gateway's `migrate` command and `serve` do).
/// - Audit appends of one store are written in batches (group commit): each append
///   returns once the transaction holding its event has committed.
#[derive(Debug, Clone)]
pub struct SeaOrmStore {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    /// Reads.
    pub(crate) db: DatabaseConnection,
    /// Writes (audit batches, lifecycle changes, migrations). On SQLite a pool of one
    /// connection of its own, so that a connection left unable to write (opened
    /// read-only while the file was not writable, say) is found by the next write and
    /// replaced; on PostgreSQL and in memory the same pool as `db`.
    pub(crate) writer: DatabaseConnection,
    pub(crate) backend: Backend,
    pub(crate) appender: Appender,
    /// SQLite: one writer at a time within this process (other processes wait on the
    /// database's own lock, up to the busy timeout).
    pub(crate) write_lock: Option<Arc<Mutex<()>>>,
    pub(crate) pg_pool: Option<PgPool>,
    pub(crate) schema: Option<String>,
}

impl SeaOrmStore {
    /// Connects to `url` with default options. Runs no migration.
    ///
    /// Returns `Unavailable` when the database cannot be reached.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(StoreOptions::new(url)).await
    }

    /// Connects with the given options. Runs no migration.
    ///
    /// Returns `Unavailable` when the database cannot be reached.
    pub async fn connect_with(options: StoreOptions) -> Result<Self, StoreError> {
        let backend = options.backend()?;
        let (db, writer, write_lock, pg_pool) = match backend {
            Backend::Postgres => {
                let pool = postgres_pool(&options).await?;
                let db = SqlxPostgresConnector::from_sqlx_postgres_pool(pool.clone());
                (db.clone(), db, None, Some(pool))
            }
            Backend::Sqlite => {
                let (db, writer) = sqlite_connections(&options).await?;
                (db, writer, Some(Arc::new(Mutex::new(()))), None)
            }
        };
        // A write that outlives its connection wait and its statement timeouts is stuck
        // on a server that stopped answering (the server-side timeout cannot fire
        // then): give up, so that one lost connection does not stall every append.
        let write_deadline = match backend {
            Backend::Postgres => Some(options.acquire_timeout + options.statement_timeout),
            Backend::Sqlite => None,
        };
        let appender = Appender::start(writer.clone(), backend, write_lock.clone(), write_deadline);
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                writer,
                backend,
                appender,
                write_lock,
                pg_pool,
                schema: options.schema,
            }),
        })
    }

    /// The database this store talks to.
    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// Applies every pending migration, in one transaction. On PostgreSQL, instances
    /// starting together take turns (an advisory lock), so each migration runs once.
    /// Then builds the Merkle tree of events stored before the tree existed, in
    /// transactions of its own (a few thousand events each).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let (_guard, txn) = self.begin_write().await?;
        if self.inner.backend == Backend::Postgres {
            txn.execute_unprepared(
                "SELECT pg_advisory_xact_lock(hashtext('support-access/migrations/' || current_schema()))",
            )
            .await
            .map_err(from_db)?;
        }
        Migrator::up(&txn, None).await.map_err(from_db)?;
        txn.commit().await.map_err(from_db)?;
        backfill(&self.inner.writer, self.inner.backend).await
    }

    /// Closes the connection pool. Calls made afterwards, through this store or its
    /// clones, fail with `Unavailable`.
    pub async fn close(&self) {
        // Closing a pool cannot fail in a way the caller could act on.
        let _ = self.inner.db.close_by_ref().await;
        let _ = self.inner.writer.close_by_ref().await;
    }

    /// Waits for this process's turn to write, then begins a writing transaction
    /// ([`write_transaction`]). Hold the guard until the transaction has ended.
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<
        (
            Option<tokio::sync::OwnedMutexGuard<()>>,
            sea_orm::DatabaseTransaction,
        ),
        StoreError,
    > {
        let guard = self.write_guard().await;
        let txn = self
            .inner
            .writer
            .begin_with_options(write_transaction(self.inner.backend))
            .await
            .map_err(from_db)?;
        Ok((guard, txn))
    }

    /// Waits for this process's turn to write (SQLite); no wait on PostgreSQL.
    pub(crate) async fn write_guard(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match &self.inner.write_lock {
            Some(lock) => Some(lock.clone().lock_owned().await),
            None => None,
        }
    }
}

/// How a writing transaction begins: on SQLite `BEGIN IMMEDIATE`, so that it takes the
/// write lock at once (a deferred one could fail to upgrade midway).
pub(crate) fn write_transaction(backend: Backend) -> TransactionOptions {
    match backend {
        Backend::Postgres => TransactionOptions::default(),
        Backend::Sqlite => TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        },
    }
}

/// Applies every pending migration to the store's database: the same as
/// [`SeaOrmStore::migrate`].
pub async fn migrate(store: &SeaOrmStore) -> Result<(), StoreError> {
    store.migrate().await
}

async fn postgres_pool(options: &StoreOptions) -> Result<PgPool, StoreError> {
    let mut connect = PgConnectOptions::from_str(&options.url)
        .map_err(|e| StoreError::Backend(format!("invalid PostgreSQL URL: {e}")))?
        .application_name("support-access")
        .options([(
            "statement_timeout",
            format!("{}ms", options.statement_timeout.as_millis().max(1)),
        )]);
    if let Some(schema) = &options.schema {
        connect = connect.options([("search_path", quote_ident(schema))]);
    }
    PgPoolOptions::new()
        .max_connections(options.max_connections)
        .acquire_timeout(options.acquire_timeout)
        .before_acquire(settled_before_acquire)
        .after_release(settled_after_release)
        .connect_with(connect)
        .await
        .map_err(|e| match from_sqlx(&e) {
            StoreError::Backend(text) => StoreError::Unavailable(text),
            other => other,
        })
}

/// The reading pool and the one-connection writing pool of an SQLite database (one
/// pool for both when the database lives in memory: it lives as long as its connection).
async fn sqlite_connections(
    options: &StoreOptions,
) -> Result<(DatabaseConnection, DatabaseConnection), StoreError> {
    let connect = SqliteConnectOptions::from_str(&options.url)
        .map_err(|e| StoreError::Backend(format!("invalid SQLite URL: {e}")))?
        .journal_mode(SqliteJournalMode::Wal)
        // FULL: a commit is on disk when it returns, as the audit log promises.
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(options.busy_timeout)
        .foreign_keys(true);
    let in_memory = options.url.contains(":memory:") || options.url.contains("mode=memory");
    let unavailable = |e: sqlx::Error| match from_sqlx(&e) {
        StoreError::Backend(text) => StoreError::Unavailable(text),
        other => other,
    };
    if in_memory {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(options.acquire_timeout)
            .idle_timeout(None)
            .max_lifetime(None)
            .before_acquire(settled_before_acquire)
            .after_release(writable_after_release)
            .connect_with(connect)
            .await
            .map_err(unavailable)?;
        let db = SqlxSqliteConnector::from_sqlx_sqlite_pool(pool);
        return Ok((db.clone(), db));
    }
    let readers = SqlitePoolOptions::new()
        .max_connections(options.max_connections)
        .acquire_timeout(options.acquire_timeout)
        .idle_timeout(Some(Duration::from_secs(600)))
        .max_lifetime(Some(Duration::from_secs(1800)))
        .before_acquire(settled_before_acquire)
        .after_release(settled_after_release)
        .connect_with(connect.clone())
        .await
        .map_err(unavailable)?;
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .acquire_timeout(options.acquire_timeout)
        .idle_timeout(Some(Duration::from_secs(600)))
        .max_lifetime(Some(Duration::from_secs(1800)))
        .before_acquire(settled_before_acquire)
        .after_release(writable_after_release)
        .connect_lazy_with(connect);
    Ok((
        SqlxSqliteConnector::from_sqlx_sqlite_pool(readers),
        SqlxSqliteConnector::from_sqlx_sqlite_pool(writer),
    ))
}

/// `"name"` with inner quotes doubled: a schema name as a PostgreSQL identifier.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
