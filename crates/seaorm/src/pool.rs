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

use sqlx::Connection;
use sqlx::pool::PoolConnectionMetadata;

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
