//! Group commit of audit appends.
//!
//! Each store runs one writer task. Callers hand it their event and wait; the writer
//! takes every event that is waiting (up to [`MAX_BATCH`]), writes them in one
//! transaction and answers each caller only after the commit. Under load a batch grows
//! while the previous one commits, so one commit serves many appends; alone, an append
//! waits for no one.
//!
//! Inside the transaction [`append_in`] locks each org's head row, which orders appends
//! to one org across every instance sharing the database: `seq` stays gap-free and
//! each event chains to the one committed before it. An event whose caller stopped
//! waiting (a timeout) before the batch's heads are locked is left out, so that a
//! caller who gave up on a stalled database leaves no record behind.
//!
//! If the batch cannot be committed, no event of it is stored and every caller gets the
//! error. On PostgreSQL a batch that takes longer than the write deadline (a server
//! that stopped answering mid-transaction: no server-side timeout fires then) fails as
//! `Unavailable`; its transaction is abandoned, and since every batch reads the org's
//! head from the database, the chain stays whole whether or not it committed. A batch that fails for a reason other than an unavailable database (say, one
//! event reuses an id) is retried one event per transaction, so that one bad event
//! fails only its own caller.
//!
//! **Pipelined on PostgreSQL.** When more appends are waiting for the writer as a
//! batch is about to commit, its transaction commits with `synchronous_commit = off`:
//! the commit returns, and releases the org's head row, as soon as its commit record is
//! in the server's WAL buffers, not once it is on disk. The writer goes on with the
//! next batch at once, while a second task (the flusher) makes the committed
//! batches durable: one small synchronously committed transaction that writes WAL
//! (`pg_logical_emit_message`) flushes the WAL up to its own commit record, hence every
//! commit record before it, and only then are the batches' callers answered. So a
//! caller still hears of its event only once it is durable, and the head row is locked
//! for the batch's statements only, not for the disk flush: batches of one org no
//! longer queue behind each other's `fsync`, and several batches (of this and of other
//! instances) share one. Should the server crash before the flush, the unflushed
//! batches are lost together with everything after them in the WAL (every transaction
//! that chained onto them): the chain stays whole, and their callers got an error.
//! With nothing else waiting (one append at a time), a batch commits synchronously and
//! its callers are answered at once: one flush, not two.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use support_access_core::StoreError;
use support_access_core::audit::{AuditEvent, GENESIS, NewAuditEvent};
use tokio::sync::{Mutex, mpsc, oneshot};

use super::chain::append_in;
use super::to_row;
use crate::Backend;
use crate::error::from_db;
use crate::store::write_transaction;

/// The most events one transaction takes.
const MAX_BATCH: usize = 256;
/// How many appends may wait for the writer before callers wait to hand theirs over.
const QUEUE: usize = 4096;

type Reply = oneshot::Sender<Result<AuditEvent, StoreError>>;

/// Batches committed but maybe not yet durable that may wait for the flusher before the
/// writer waits to hand over more.
const FLUSH_QUEUE: usize = 64;

/// What the flusher runs: a transaction that writes WAL (a transactional logical
/// message, which decoding ignores unless asked for this prefix) and commits
/// synchronously, so that its commit flushes the WAL up to its own record.
const FLUSH: &str = "SELECT pg_logical_emit_message(true, 'support-access/audit-flush', '')";

/// A batch's events as sealed (`None`: left out), and whether its commit awaits a flush.
type Written = (Vec<Option<AuditEvent>>, bool);

/// Callers whose events are committed, each with its event, to be answered once durable.
type Committed = Vec<(Reply, AuditEvent)>;

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
        let flusher = match backend {
            Backend::Postgres => {
                let (flushes, committed) = mpsc::channel(FLUSH_QUEUE);
                let flusher = Flusher {
                    db: db.clone(),
                    deadline,
                };
                tokio::spawn(flusher.run(committed));
                Some(flushes)
            }
            Backend::Sqlite => None,
        };
        let writer = Writer {
            db,
            backend,
            write_lock,
            deadline,
            counters: counters.clone(),
            flusher,
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
    /// PostgreSQL: where committed batches go to be made durable before their callers
    /// are answered. `None`: a commit is durable when it returns (SQLite, `synchronous
    /// = FULL`).
    flusher: Option<mpsc::Sender<Committed>>,
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
            self.commit(&mut batch, &|| !pending.is_empty()).await;
        }
    }

    /// Writes the batch and answers every caller in it (a caller that stopped waiting
    /// gets nothing, and its event is not written unless its commit was under way). A
    /// committed event's caller is answered once it is durable ([`Writer::durable`]).
    async fn commit(&self, batch: &mut Vec<Pending>, more: &(dyn Fn() -> bool + Sync)) {
        let all: Vec<&Pending> = batch.iter().collect();
        let mut committed = Vec::with_capacity(batch.len());
        let mut flush = false;
        match self.write_within_deadline(&all, more).await {
            Ok((sealed, unflushed)) => {
                flush = unflushed;
                for (pending, event) in batch.drain(..).zip(sealed) {
                    // Without an event, its caller is gone: nothing to answer.
                    if let Some(event) = event {
                        committed.push((pending.reply, event));
                    }
                }
            }
            Err(error) if batch.len() == 1 || matches!(error, StoreError::Unavailable(_)) => {
                for pending in batch.drain(..) {
                    let _ = pending.reply.send(Err(error.clone()));
                }
            }
            Err(_) => {
                for pending in batch.drain(..) {
                    let result = self.write_within_deadline(&[&pending], more).await.map(
                        |(sealed, unflushed)| {
                            flush |= unflushed;
                            sealed.into_iter().next().flatten()
                        },
                    );
                    match result {
                        Ok(Some(event)) => committed.push((pending.reply, event)),
                        // Left out: its caller is gone.
                        Ok(None) => {}
                        Err(error) => {
                            let _ = pending.reply.send(Err(error));
                        }
                    }
                }
            }
        }
        self.durable(committed, flush).await;
    }

    /// Answers the callers of committed events: at once where a commit is durable when
    /// it returns, else through the flusher.
    async fn durable(&self, committed: Committed, flush: bool) {
        if committed.is_empty() {
            return;
        }
        let committed = match &self.flusher {
            Some(flusher) if flush => match flusher.send(committed).await {
                Ok(()) => return,
                Err(mpsc::error::SendError(committed)) => {
                    let gone = StoreError::Unavailable("the audit flusher has stopped".into());
                    for (reply, _) in committed {
                        let _ = reply.send(Err(gone.clone()));
                    }
                    return;
                }
            },
            _ => committed,
        };
        for (reply, event) in committed {
            // A caller that stopped waiting meanwhile does not need it.
            let _ = reply.send(Ok(event));
        }
    }

    /// [`Writer::write`], given up as `Unavailable` after the deadline.
    async fn write_within_deadline(
        &self,
        batch: &[&Pending],
        more: &(dyn Fn() -> bool + Sync),
    ) -> Result<Written, StoreError> {
        let Some(deadline) = self.deadline else {
            return self.write(batch, more).await;
        };
        tokio::time::timeout(deadline, self.write(batch, more))
            .await
            .unwrap_or_else(|_| {
                Err(StoreError::Unavailable(format!(
                    "the audit database did not answer within {deadline:?}"
                )))
            })
    }

    /// One transaction: [`append_in`] on the batch, then commit. An event whose caller
    /// stopped waiting by the time every head is locked is left out. Returns, in the
    /// order given, each event as sealed, or `None` where it was left out; and whether
    /// the commit still has to be flushed.
    ///
    /// On PostgreSQL, when `more` says further appends wait for the writer, the commit
    /// does not wait for the disk (`synchronous_commit = off`): the flusher makes it
    /// durable while the writer goes on. Alone, an append commits synchronously as
    /// before, so that it waits for one flush, not two.
    async fn write(
        &self,
        batch: &[&Pending],
        more: &(dyn Fn() -> bool + Sync),
    ) -> Result<Written, StoreError> {
        let _guard = match &self.write_lock {
            Some(lock) => Some(lock.lock().await),
            None => None,
        };
        if batch.iter().all(|p| p.reply.is_closed()) {
            return Ok((vec![None; batch.len()], false));
        }
        let txn = self
            .db
            .begin_with_options(write_transaction(self.backend))
            .await
            .map_err(from_db)?;
        let events: Vec<&NewAuditEvent> = batch.iter().map(|p| &p.event).collect();
        let sealed = append_in(&txn, &events, &|i| !batch[i].reply.is_closed()).await?;
        let unflushed = self.flusher.is_some() && more();
        if unflushed {
            // Made durable by the flusher before any caller hears of it.
            txn.execute_unprepared("SET LOCAL synchronous_commit = off")
                .await
                .map_err(from_db)?;
        }
        txn.commit().await.map_err(from_db)?;
        let written = sealed.iter().flatten().count() as u64;
        if written > 0 {
            self.counters.batches.fetch_add(1, Ordering::Relaxed);
            self.counters.events.fetch_add(written, Ordering::Relaxed);
        }
        Ok((sealed, unflushed))
    }
}

/// Makes committed PostgreSQL batches durable, then answers their callers.
struct Flusher {
    db: DatabaseConnection,
    deadline: Option<Duration>,
}

impl Flusher {
    async fn run(self, mut committed: mpsc::Receiver<Committed>) {
        let mut waiting: Committed = Vec::new();
        while let Some(first) = committed.recv().await {
            waiting.extend(first);
            // Every batch committed so far shares the one flush.
            while let Ok(more) = committed.try_recv() {
                waiting.extend(more);
            }
            match self.flush().await {
                Ok(()) => {
                    for (reply, event) in waiting.drain(..) {
                        let _ = reply.send(Ok(event));
                    }
                }
                Err(error) => {
                    for (reply, _) in waiting.drain(..) {
                        let _ = reply.send(Err(error.clone()));
                    }
                }
            }
        }
    }

    /// One synchronous commit that writes WAL: once it returns, every transaction
    /// committed before it began is on disk. `Unavailable` after the write deadline.
    async fn flush(&self) -> Result<(), StoreError> {
        let flush = async {
            self.db
                .execute_unprepared(FLUSH)
                .await
                .map(drop)
                .map_err(from_db)
        };
        let Some(deadline) = self.deadline else {
            return flush.await;
        };
        tokio::time::timeout(deadline, flush)
            .await
            .unwrap_or_else(|_| {
                Err(StoreError::Unavailable(format!(
                    "the audit database did not confirm a flush within {deadline:?}"
                )))
            })
    }
}
