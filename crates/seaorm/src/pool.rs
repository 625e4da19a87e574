//! Pool hygiene: a pooled connection is handed out only at the top level, never inside
//! a transaction.
//!
//! sqlx counts a connection's transaction depth and lowers it only when `COMMIT` or
//! `ROLLBACK` succeeds. When SQLite fails a `COMMIT` with `SQLITE_FULL` or an I/O error
//! it rolls the transaction back by itself, the `ROLLBACK` that follows then fails ("no
//! transaction is active"), and the counter stays at 1 although the database is no
//! longer in a transaction. Reused, such a connection turns the next `BEGIN IMMEDIATE`
//! into a `SAVEPOINT` (sea-orm nests when the depth is not 0): that opens a transaction
//! no one commits, which holds the write lock (every other writer gets "database is
//! locked") and swallows every later write on the connection, whose "commits" only
//! release inner savepoints — acknowledged, never durable. So a connection whose depth
//! is not 0 once its queued rollback has run is closed, never reused; its database
//! connection goes, and with it whatever transaction it still held.

use std::future::Future;
use std::pin::Pin;

use sqlx::pool::PoolConnectionMetadata;
use sqlx::{Connection, SqliteConnection};

type Check<'c> = Pin<Box<dyn Future<Output = Result<bool, sqlx::Error>> + Send + 'c>>;

/// `after_release`: keep the connection only if it is back at the top level.
pub(crate) fn settled_after_release<C: Connection>(
    conn: &mut C,
    _meta: PoolConnectionMetadata,
) -> Check<'_> {
    Box::pin(async move {
        if conn.is_in_transaction() {
            // A transaction dropped without COMMIT or ROLLBACK queued its ROLLBACK;
            // a round trip runs it.
            conn.ping().await?;
        }
        Ok(at_top_level(conn, "released"))
    })
}

/// `after_release` of SQLite's writing connection: as [`settled_after_release`], and a
/// connection whose last statement failed at the file (`PERM`, `READONLY`, `IOERR`,
/// `CORRUPT`, `FULL`, `CANTOPEN`, `NOTADB`) is closed too: one opened while the file
/// could not be written was opened read-only, and would stay so.
pub(crate) fn writable_after_release(
    conn: &mut SqliteConnection,
    meta: PoolConnectionMetadata,
) -> Check<'_> {
    Box::pin(async move {
        if !settled_after_release(conn, meta).await? {
            return Ok(false);
        }
        let failed = conn.lock_handle().await?.last_error();
        let at_the_file = failed
            .as_ref()
            .and_then(sqlx::error::DatabaseError::code)
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(|code| matches!(code & 0xff, 3 | 8 | 10 | 11 | 13 | 14 | 26));
        if at_the_file {
            tracing::warn!(
                target: "support_access_seaorm",
                error = %failed.map(|e| e.to_string()).unwrap_or_default(),
                "closing the SQLite writing connection after a file error; the next write opens a new one"
            );
        }
        Ok(!at_the_file)
    })
}

/// `before_acquire`: hand out only a connection at the top level.
pub(crate) fn settled_before_acquire<C: Connection>(
    conn: &mut C,
    _meta: PoolConnectionMetadata,
) -> Check<'_> {
    Box::pin(async move { Ok(at_top_level(conn, "idle")) })
}

fn at_top_level<C: Connection>(conn: &C, state: &str) -> bool {
    if conn.is_in_transaction() {
        tracing::warn!(
            target: "support_access_seaorm",
            "closing a {state} database connection left inside a transaction (a COMMIT or \
             ROLLBACK failed); it is not reused"
        );
        false
    } else {
        true
    }
}
