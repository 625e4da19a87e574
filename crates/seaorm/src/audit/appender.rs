//! Group commit of audit appends.
//!
//! Each store runs one writer task. Callers hand it their event and wait; the writer
//! takes every event that is waiting (up to [`MAX_BATCH`]), writes them in one
//! transaction and answers each caller only after the commit. Under load a batch grows
//! while the previous one commits, so one commit serves many appends; alone, an append
//! waits for no one.
//!
//! Inside the transaction each org's head row in `audit_heads` is locked (an upsert),
//! which orders appends to one org across every instance sharing the database: `seq`
//! stays gap-free and each event chains to the one committed before it. Orgs are
//! locked in sorted order so that two batches never wait on each other in a cycle.
//!
//! If the batch cannot be committed, no event of it is stored and every caller gets the
//! error. On PostgreSQL a batch that takes longer than the write deadline (a server
//! that stopped answering mid-transaction: no server-side timeout fires then) fails as
//! `Unavailable`; its transaction is abandoned, and since every batch reads the org's
//! head from the database, the chain stays whole whether or not it committed. A batch that fails for a reason other than an unavailable database (say, one
//! event reuses an id) is retried one event per transaction, so that one bad event
//! fails only its own caller.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};
use support_access_core::StoreError;
use support_access_core::audit::{AuditEvent, ChainHash, GENESIS, NewAuditEvent};
use support_access_core::ids::OrgId;
use tokio::sync::{Mutex, mpsc, oneshot};

use super::{to_i64, to_row};
use crate::Backend;
use crate::entity::{audit_event, audit_head};
use crate::error::{corrupt, from_db};

/// The most events one transaction takes.
const MAX_BATCH: usize = 256;
/// How many appends may wait for the writer before callers wait to hand theirs over.
const QUEUE: usize = 4096;

type Reply = oneshot::Sender<Result<AuditEvent, StoreError>>;

struct Pending {
    event: NewAuditEvent,
    reply: Reply,
}

/// What a store's audit writer has committed so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AppendStats {
    /// Committed transactions.
    pub batches: u64,
    /// Events in them. Above `batches` when appends were grouped.
    pub events: u64,
}

#[derive(Debug, Default)]
struct Counters {
    batches: AtomicU64,
    events: AtomicU64,
}

/// The handle on a store's writer task. The task ends when the last handle is dropped.
#[derive(Debug, Clone)]
pub(crate) struct Appender {
    queue: mpsc::Sender<Pending>,
    counters: Arc<Counters>,
}

impl Appender {
    /// Starts the writer task on the current tokio runtime.
    pub(crate) fn start(
        db: DatabaseConnection,
        backend: Backend,
        write_lock: Option<Arc<Mutex<()>>>,
        deadline: Option<Duration>,
    ) -> Self {
        let (queue, pending) = mpsc::channel(QUEUE);
        let counters = Arc::new(Counters::default());
        let writer = Writer {
            db,
            backend,
            write_lock,
            deadline,
            counters: counters.clone(),
        };
        tokio::spawn(writer.run(pending));
        Self { queue, counters }
    }

    /// What the writer has committed so far.
    pub(crate) fn stats(&self) -> AppendStats {
        AppendStats {
            batches: self.counters.batches.load(Ordering::Relaxed),
            events: self.counters.events.load(Ordering::Relaxed),
        }
    }

    /// Appends one event; returns it sealed once its transaction has committed.
    pub(crate) async fn append(&self, event: NewAuditEvent) -> Result<AuditEvent, StoreError> {
        // Refuse what no row can hold before it can spoil a batch.
        to_row(&event.clone().seal(1, GENESIS))?;
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Pending { event, reply })
            .await
            .map_err(|_| StoreError::Unavailable("the audit writer has stopped".into()))?;
        answer.await.map_err(|_| {
            StoreError::Unavailable("the audit writer stopped before the commit".into())
        })?
    }
}

struct Writer {
    db: DatabaseConnection,
    backend: Backend,
    write_lock: Option<Arc<Mutex<()>>>,
    deadline: Option<Duration>,
    counters: Arc<Counters>,
}

impl Writer {
    async fn run(self, mut pending: mpsc::Receiver<Pending>) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while let Some(first) = pending.recv().await {
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match pending.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            self.commit(&mut batch).await;
        }
    }

    /// Writes the batch and answers every caller in it.
    async fn commit(&self, batch: &mut Vec<Pending>) {
        let events: Vec<&NewAuditEvent> = batch.iter().map(|p| &p.event).collect();
        match self.write_within_deadline(&events).await {
            Ok(sealed) => {
                for (pending, event) in batch.drain(..).zip(sealed) {
                    // A caller that stopped waiting does not need the answer.
                    let _ = pending.reply.send(Ok(event));
                }
            }
            Err(error) if batch.len() == 1 || matches!(error, StoreError::Unavailable(_)) => {
                for pending in batch.drain(..) {
                    let _ = pending.reply.send(Err(error.clone()));
                }
            }
            Err(_) => {
                for pending in batch.drain(..) {
                    let result = self
                        .write_within_deadline(&[&pending.event])
                        .await
                        .and_then(|sealed| {
                            sealed
                                .into_iter()
                                .next()
                                .ok_or_else(|| corrupt("an append wrote no event"))
                        });
                    let _ = pending.reply.send(result);
                }
            }
        }
    }

    /// [`Writer::write`], given up as `Unavailable` after the deadline.
    async fn write_within_deadline(
        &self,
        events: &[&NewAuditEvent],
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let Some(deadline) = self.deadline else {
            return self.write(events).await;
        };
        tokio::time::timeout(deadline, self.write(events))
            .await
            .unwrap_or_else(|_| {
                Err(StoreError::Unavailable(format!(
                    "the audit database did not answer within {deadline:?}"
                )))
            })
    }

    /// One transaction: per org (sorted), lock the head, seal and insert the org's
    /// events in arrival order, move the head; then commit. Returns the sealed events
    /// in the order given.
    async fn write(&self, events: &[&NewAuditEvent]) -> Result<Vec<AuditEvent>, StoreError> {
        let mut by_org: BTreeMap<&OrgId, Vec<usize>> = BTreeMap::new();
        for (i, event) in events.iter().enumerate() {
            by_org.entry(&event.org).or_default().push(i);
        }
        let options = match self.backend {
            Backend::Postgres => TransactionOptions::default(),
            Backend::Sqlite => TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            },
        };
        let _guard = match &self.write_lock {
            Some(lock) => Some(lock.lock().await),
            None => None,
        };
        let txn = self.db.begin_with_options(options).await.map_err(from_db)?;
        let mut sealed: Vec<Option<AuditEvent>> = vec![None; events.len()];
        for (org, indices) in by_org {
            let head = audit_head::Entity::insert(audit_head::ActiveModel {
                org: ActiveValue::Set(org.as_str().to_owned()),
                seq: ActiveValue::Set(0),
                hash: ActiveValue::Set(GENESIS.to_hex()),
            })
            .on_conflict(
                OnConflict::column(audit_head::Column::Org)
                    .update_column(audit_head::Column::Org)
                    .to_owned(),
            )
            .exec_with_returning(&txn)
            .await
            .map_err(from_db)?;
            let mut seq = u64::try_from(head.seq).map_err(|_| corrupt("audit head seq"))?;
            let mut prev = ChainHash::from_hex(head.hash.trim())
                .map_err(|_| corrupt(format!("audit head hash of org {org}")))?;
            let mut rows = Vec::with_capacity(indices.len());
            for i in indices {
                seq += 1;
                let event = events[i].clone().seal(seq, prev);
                prev = event.hash;
                rows.push(to_row(&event)?);
                sealed[i] = Some(event);
            }
            audit_event::Entity::insert_many(rows)
                .exec_without_returning(&txn)
                .await
                .map_err(from_db)?;
            audit_head::Entity::update_many()
                .col_expr(audit_head::Column::Seq, Expr::value(to_i64(seq, "seq")?))
                .col_expr(audit_head::Column::Hash, Expr::value(prev.to_hex()))
                .filter(audit_head::Column::Org.eq(org.as_str()))
                .exec(&txn)
                .await
                .map_err(from_db)?;
        }
        txn.commit().await.map_err(from_db)?;
        self.counters.batches.fetch_add(1, Ordering::Relaxed);
        self.counters
            .events
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        sealed
            .into_iter()
            .map(|event| event.ok_or_else(|| corrupt("an event of the batch was not sealed")))
            .collect()
    }
}
