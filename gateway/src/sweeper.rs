//! The background work on the shared state: closing grants past their end, rechecking
//! the support access in flight, refreshing the support users. `crate::build` runs
//! [`App::sweep`] every `grants.sweep_interval` and [`App::recheck_live`] on every
//! grant change another instance announces.

use std::sync::Arc;
use std::time::Duration;

use support_access_core::GrantChanges;
use tokio::task::JoinHandle;

use crate::metrics::StoreOp;
use crate::state::App;

/// Starts the background tasks: the sweep every `interval`, and (with a change feed)
/// the recheck of access in flight on every grant change another instance announces.
/// The feed is kept alive as long as the sweep runs.
pub(crate) fn spawn(
    app: &Arc<App>,
    interval: Duration,
    changes: Option<Arc<dyn GrantChanges>>,
) -> Vec<JoinHandle<()>> {
    // Subscribed before the sweep task takes the feed, to keep it alive.
    let feed = changes.as_ref().map(|changes| changes.subscribe());
    let sweep_app = app.clone();
    let mut tasks = vec![tokio::spawn(async move {
        let _keep_alive = changes;
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            sweep_app.sweep().await;
        }
    })];
    if let Some(mut feed) = feed {
        // A grant changed somewhere (another instance revoked it, say): end what is in
        // flight that it no longer allows.
        let live_app = app.clone();
        tasks.push(tokio::spawn(async move {
            while feed.next().await.is_some() {
                live_app.recheck_live().await;
            }
        }));
    }
    tasks
}

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

    /// Closes open grants past their end, voids their approvals, ends what they had in
    /// flight, and refreshes
    /// the list of support users. Each store call is bounded by `limits.store_timeout`.
    pub async fn sweep(&self) {
        let (metrics, limit) = (&self.metrics, self.limits.store_timeout);
        let expired = self.access.expire_due_grants(100);
        match crate::store_call::bounded(metrics, limit, StoreOp::sweep, expired).await {
            Ok(closed) if closed.is_empty() => {}
            Ok(closed) => {
                tracing::info!(closed = closed.len(), "closed expired grants");
                for grant in closed {
                    crate::seat::void_approvals(&self.approvals, metrics, limit, grant).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "expiry sweep failed"),
        }
        self.recheck_live().await;
        self.webhooks.warn_expiring().await;
        self.support_users
            .refresh(&self.access, metrics, limit)
            .await;
    }
}
