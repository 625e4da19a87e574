//! Every store call the gateway makes on a request's behalf is bounded in time
//! (`limits.store_timeout`) and counted: a store that stopped answering is
//! unavailable, and the caller fails closed instead of hanging. A call that timed out
//! never counts as a success; its future is dropped, which (by the `AuditLog` and
//! `GrantStore` contracts) leaves nothing behind unless its commit was already under way.

use std::future::Future;
use std::time::Duration;

use support_access_core::StoreError;
use support_access_core::approval::service::{DecideError, RequestError, UseError};
use support_access_core::service::{
    ChangeError, ClaimError, GrantError, Refusal as AccessRefusal, ReleaseError, RevokeError,
};

use support_access_core::change::SupportChangeError;
use support_access_core::notify::service::WebhookError;
use support_access_core::tlog::{CheckpointerError, TreeReadError};

use crate::metrics::{Metrics, StoreOp};

/// A domain error that may carry a store failure.
pub(crate) trait StoreFailure: From<StoreError> {
    /// The store failure inside, if this is one.
    fn store_error(&self) -> Option<&StoreError>;
}

impl StoreFailure for StoreError {
    fn store_error(&self) -> Option<&StoreError> {
        Some(self)
    }
}

macro_rules! store_failure {
    ($($error:ty),*) => {$(
        impl StoreFailure for $error {
            fn store_error(&self) -> Option<&StoreError> {
                match self {
                    Self::Store(e) => Some(e),
                    _ => None,
                }
            }
        }
    )*};
}

store_failure!(
    GrantError,
    ChangeError,
    RevokeError,
    ClaimError,
    ReleaseError,
    AccessRefusal,
    TreeReadError,
    CheckpointerError,
    UseError,
    DecideError,
    RequestError,
    SupportChangeError,
    WebhookError
);

/// The metrics label of a store failure; `None` for the store's domain answers
/// (`NotFound`, `Conflict`), which are not failures.
fn kind(error: &StoreError) -> Option<&'static str> {
    match error {
        StoreError::NotFound | StoreError::Conflict(_) => None,
        StoreError::Unavailable(_) => Some("unavailable"),
        StoreError::Backend(_) => Some("backend"),
    }
}

/// Runs `call`, giving up with `Unavailable` after `limit`; counts the outcome.
pub(crate) async fn bounded<T, E: StoreFailure>(
    metrics: &Metrics,
    limit: Duration,
    op: StoreOp,
    call: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    match tokio::time::timeout(limit, call).await {
        Ok(outcome) => {
            let failure = outcome
                .as_ref()
                .err()
                .and_then(StoreFailure::store_error)
                .and_then(kind);
            metrics.store_call(op, failure);
            outcome
        }
        Err(_) => {
            metrics.store_call(op, Some("timeout"));
            Err(
                StoreError::Unavailable(format!("the store did not answer within {limit:?}"))
                    .into(),
            )
        }
    }
}

#[cfg(test)]
mod tests;
