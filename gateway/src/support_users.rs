//! The hidden support users of the open grants, for the assignment guard on ordinary
//! traffic: refreshed by the sweeper and after every local lifecycle change, by the
//! one [`SupportUsers::refresh`].

use std::sync::{Arc, RwLock};
use std::time::Duration;

use support_access_core::SupportAccess;
use support_access_core::ids::SupportUserId;

use crate::metrics::{Metrics, StoreOp};
use crate::store_call::bounded;

/// How many open grants the registry holds at most.
const MAX_OPEN_GRANTS: u32 = 10_000;

/// The current list of support users.
#[derive(Debug, Default)]
pub struct SupportUsers(RwLock<Arc<[SupportUserId]>>);

impl SupportUsers {
    /// The current list.
    pub fn get(&self) -> Arc<[SupportUserId]> {
        self.0
            .read()
            .map(|users| users.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }

    /// Replaces the list.
    pub fn set(&self, users: Vec<SupportUserId>) {
        let users: Arc<[SupportUserId]> = users.into();
        match self.0.write() {
            Ok(mut current) => *current = users,
            Err(poisoned) => *poisoned.into_inner() = users,
        }
    }

    /// Reads the list again from the service (bounded by `store_timeout`); a store that
    /// cannot say leaves the current list.
    pub(crate) async fn refresh(
        &self,
        access: &SupportAccess,
        metrics: &Metrics,
        store_timeout: Duration,
    ) {
        let open = access.support_users(MAX_OPEN_GRANTS);
        match bounded(metrics, store_timeout, StoreOp::sweep, open).await {
            Ok(users) => self.set(users),
            Err(e) => tracing::warn!(error = %e, "could not refresh the support users"),
        }
    }
}
