//! Driver errors translated into the port's [`StoreError`], at the boundary: no driver
//! code leaves this crate.

use sea_orm::{DbErr, RuntimeErr, SqlErr};
use support_access_core::StoreError;

/// Translates a sea-orm error: unique violations are `Conflict`, lost or refused
/// connections and transient lock or resource failures are `Unavailable`, the rest is
/// `Backend`.
pub(crate) fn from_db(error: DbErr) -> StoreError {
    if let Some(SqlErr::UniqueConstraintViolation(detail)) = error.sql_err() {
        return StoreError::Conflict(detail);
    }
    match &error {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => StoreError::Unavailable(error.to_string()),
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            from_sqlx(e)
        }
        _ => StoreError::Backend(error.to_string()),
    }
}

/// Translates a sqlx error the same way as [`from_db`].
pub(crate) fn from_sqlx(error: &sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(error.to_string()),
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(db.message().to_owned())
        }
        sqlx::Error::Database(db) if is_transient(db.as_ref()) => {
            StoreError::Unavailable(error.to_string())
        }
        _ => StoreError::Backend(error.to_string()),
    }
}

/// PostgreSQL SQLSTATEs of a lost or refused connection, a shutdown, exhausted
/// resources or a lock timeout; SQLite's `BUSY` and `LOCKED`, and the codes of a
/// database file that cannot take writes now — `PERM`, `READONLY`, `IOERR`, `FULL`,
/// `CANTOPEN` (a full disk, a file made read-only or immutable) — primary and extended.
fn is_transient(error: &dyn sqlx::error::DatabaseError) -> bool {
    const PG_CLASSES: [&str; 3] = ["08", "53", "57"];
    const PG_CODES: [&str; 3] = ["40001", "40P01", "55P03"];
    let Some(code) = error.code() else {
        return false;
    };
    if error
        .try_downcast_ref::<sqlx::sqlite::SqliteError>()
        .is_some()
    {
        code.parse::<i32>()
            .is_ok_and(|n| matches!(n & 0xff, 3 | 5 | 6 | 8 | 10 | 13 | 14))
    } else {
        PG_CLASSES.iter().any(|class| code.starts_with(class)) || PG_CODES.contains(&code.as_ref())
    }
}

/// A stored value that the domain cannot represent (a corrupted row).
pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("stored data cannot be read: {what}"))
}
