//! The background work on the shared state: closing grants past their end, rechecking
//! the support access in flight, refreshing the support users. `crate::build` runs
//! [`App::sweep`] every `grants.sweep_interval` and [`App::recheck_live`] on every
//! grant change another instance announces.

use crate::metrics::StoreOp;
use crate::state::App;

impl App {
    /// Ends what is in flight (requests, uploads, streams, connections) of support
    /// holders the store no longer authorises (revoked elsewhere, expired, seat
    /// released). Bounded by `limits.store_timeout`.
    pub async fn recheck_live(&self) {
        if !self.live.is_empty() {
            let recheck = self.live.recheck(&self.access, self.access.now());
            if tokio::time::timeout(self.limits.store_timeout, recheck)
                .await
                .is_err()
            {
                tracing::warn!("the recheck of support access in flight did not finish in time");
            }
        }
    }

    /// Closes open grants past their end, ends what they had in flight, and refreshes
    /// the list of support users. Each store call is bounded by `limits.store_timeout`.
    pub async fn sweep(&self) {
        let (metrics, limit) = (&self.metrics, self.limits.store_timeout);
        let expired = self.access.expire_due(100);
        match crate::store_call::bounded(metrics, limit, StoreOp::sweep, expired).await {
            Ok(0) => {}
            Ok(closed) => tracing::info!(closed, "closed expired grants"),
            Err(e) => tracing::warn!(error = %e, "expiry sweep failed"),
        }
        self.recheck_live().await;
        self.support_users
            .refresh(&self.access, metrics, limit)
            .await;
    }
}
