//! [`PgGrantChanges`]: grant changes of every instance, from PostgreSQL `NOTIFY`.
//!
//! A trigger on `grants` (see `support-access-migrations`) notifies
//! [`GRANT_CHANGES_CHANNEL`] in every writing transaction; PostgreSQL delivers the
//! notification when the transaction commits. One listening connection per store
//! receives them and passes them on to every subscribed cache.

use std::time::Duration;

use async_trait::async_trait;
use sea_orm::{ConnectionTrait, Statement};
use sqlx::postgres::{PgListener, PgNotification};
use support_access_core::StoreError;
use support_access_core::ids::{GrantId, OrgId};
use support_access_core::ports::{ChangeFeed, GrantChange, GrantChanges};
use support_access_migrations::GRANT_CHANGES_CHANNEL;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::task::JoinHandle;

use crate::SeaOrmStore;
use crate::error::{from_db, from_sqlx};

/// How many changes a slow cache may fall behind before it must forget everything.
const BACKLOG: usize = 1024;
/// How long the listener waits before it reconnects after a failed attempt.
const RECONNECT_BACKOFF: Duration = Duration::from_millis(250);

/// Grant changes committed through any instance on the same PostgreSQL database and
/// schema: the [`GrantChanges`] port on PostgreSQL, for grant caches and the gateway.
///
/// - It MUST deliver [`GrantChange::Everything`] whenever its connection was lost, as
///   notifications sent meanwhile are gone; it reconnects by itself.
/// - Dropping it stops the listening.
#[derive(Debug)]
pub struct PgGrantChanges {
    sender: broadcast::Sender<GrantChange>,
    task: JoinHandle<()>,
}

impl Drop for PgGrantChanges {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl GrantChanges for PgGrantChanges {
    fn subscribe(&self) -> Box<dyn ChangeFeed> {
        Box::new(Subscriber(self.sender.subscribe()))
    }
}

/// One subscriber; falling behind is [`GrantChange::Everything`].
#[derive(Debug)]
struct Subscriber(broadcast::Receiver<GrantChange>);

#[async_trait]
impl ChangeFeed for Subscriber {
    fn try_next(&mut self) -> Option<GrantChange> {
        match self.0.try_recv() {
            Ok(change) => Some(change),
            Err(TryRecvError::Lagged(_)) => Some(GrantChange::Everything),
            Err(TryRecvError::Empty | TryRecvError::Closed) => None,
        }
    }

    async fn next(&mut self) -> Option<GrantChange> {
        match self.0.recv().await {
            Ok(change) => Some(change),
            Err(RecvError::Lagged(_)) => Some(GrantChange::Everything),
            Err(RecvError::Closed) => None,
        }
    }
}

impl SeaOrmStore {
    /// Starts listening for grant changes (PostgreSQL only; one connection of the
    /// pool is kept for it). Returns once the listener is subscribed: every change
    /// committed after that is delivered.
    pub async fn grant_changes(&self) -> Result<PgGrantChanges, StoreError> {
        let Some(pool) = self.inner.pg_pool.clone() else {
            return Err(StoreError::Backend(
                "grant change notifications need PostgreSQL".into(),
            ));
        };
        let schema = match &self.inner.schema {
            Some(schema) => schema.clone(),
            None => self.current_schema().await?,
        };
        let mut listener = PgListener::connect_with(&pool)
            .await
            .map_err(|e| from_sqlx(&e))?;
        listener
            .listen(GRANT_CHANGES_CHANNEL)
            .await
            .map_err(|e| from_sqlx(&e))?;
        let (sender, _) = broadcast::channel(BACKLOG);
        let task = tokio::spawn(listen(listener, schema, sender.clone()));
        Ok(PgGrantChanges { sender, task })
    }

    async fn current_schema(&self) -> Result<String, StoreError> {
        let db = &self.inner.db;
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT current_schema() AS schema",
            ))
            .await
            .map_err(from_db)?
            .ok_or_else(|| StoreError::Backend("no current schema".into()))?;
        row.try_get::<String>("", "schema").map_err(from_db)
    }
}

async fn listen(mut listener: PgListener, schema: String, sender: broadcast::Sender<GrantChange>) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => {
                if let Some(change) = parse(&notification, &schema) {
                    // No subscriber: no cache to tell.
                    let _ = sender.send(change);
                }
            }
            // The connection was lost; the next `try_recv` reconnects. What was sent
            // meanwhile is lost, so every cache forgets everything.
            Ok(None) => {
                let _ = sender.send(GrantChange::Everything);
            }
            Err(sqlx::Error::PoolClosed) => return,
            Err(_) => {
                let _ = sender.send(GrantChange::Everything);
                // A back-off between reconnection attempts, not a synchronisation.
                tokio::time::sleep(RECONNECT_BACKOFF).await;
            }
        }
    }
}

/// `<schema> <grant id> <org>`; changes of other schemas are not ours.
fn parse(notification: &PgNotification, schema: &str) -> Option<GrantChange> {
    let mut parts = notification.payload().splitn(3, ' ');
    let (from_schema, id, org) = (parts.next()?, parts.next()?, parts.next()?);
    if from_schema != schema {
        return None;
    }
    Some(GrantChange::Grant {
        id: id.parse::<GrantId>().ok()?,
        org: OrgId::new(org),
    })
}
