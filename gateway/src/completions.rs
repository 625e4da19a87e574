//! `request.completed`, recorded off the request path.
//!
//! `request.allowed` is durable before anything is forwarded; the outcome of the
//! forwarded request is not a precondition of anything, so the response does not wait
//! for its commit. [`Completions::record`] hands the event to the store at once (its
//! first poll puts it in the store's group-commit queue, in this request's order) and
//! leaves the wait for the commit to the gateway's one drain task, which holds every
//! outstanding append (a `FuturesUnordered`) and runs on the runtime the gateway was
//! built on (`main_runtime.rs`). At most [`CAPACITY`] of these are outstanding: beyond
//! that a request waits for a slot before it answers (backpressure, so a store that
//! cannot keep up slows the support traffic down instead of growing a queue).
//! [`Completions::settled`] waits until every event handed over so far is stored or has
//! failed; graceful shutdown calls it, so nothing is lost while the process lives. A
//! crash (`kill -9`, power loss) may lose the `request.completed` events of the last
//! requests answered; their `request.allowed` is always stored.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use support_access_core::StoreError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use crate::metrics::{Metrics, StoreOp};
use crate::store_call::bounded;

/// How many `request.completed` events may wait for their commit at once.
pub(crate) const CAPACITY: u32 = 2048;

/// An append handed over: stored when it resolves.
pub(crate) type Append = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send>>;

/// The outstanding `request.completed` appends of one gateway.
#[derive(Debug)]
pub(crate) struct Completions {
    slots: Arc<Semaphore>,
    capacity: u32,
    metrics: Arc<Metrics>,
    limit: Duration,
    /// To the drain task; it ends once this is dropped and what it holds is done.
    drain: mpsc::UnboundedSender<Outstanding>,
}

impl Completions {
    /// Appends bounded by `limit` (`limits.store_timeout`), counted in `metrics`; the
    /// drain task starts on the current runtime.
    pub(crate) fn new(metrics: Arc<Metrics>, limit: Duration) -> Self {
        Self::with_capacity(metrics, limit, CAPACITY)
    }

    fn with_capacity(metrics: Arc<Metrics>, limit: Duration, capacity: u32) -> Self {
        let (drain, handed) = mpsc::unbounded_channel();
        tokio::spawn(drain_all(handed));
        Self {
            slots: Arc::new(Semaphore::new(capacity as usize)),
            capacity,
            metrics,
            limit,
            drain,
        }
    }

    /// Hands `append` to the store and returns without waiting for its commit (only
    /// for a free slot). The support request stays counted in flight until it is
    /// stored.
    pub(crate) async fn record(&self, append: Append, in_flight: InFlight, request_id: &str) {
        let Ok(slot) = self.slots.clone().acquire_owned().await else {
            return; // never closed
        };
        let (metrics, limit) = (self.metrics.clone(), self.limit);
        let started = Instant::now();
        let mut append: Append = Box::pin(async move {
            let stored = bounded(&metrics, limit, StoreOp::audit_append, append).await;
            metrics.audit_append(started.elapsed());
            drop(in_flight);
            stored
        });
        // The first poll hands the event over; it may even be stored already.
        let first = std::future::poll_fn(|cx| Poll::Ready(append.as_mut().poll(cx))).await;
        if let Poll::Ready(stored) = first {
            report(stored, request_id);
            return;
        }
        let outstanding = Outstanding {
            append,
            request_id: request_id.to_owned(),
            _slot: slot,
        };
        if let Err(mpsc::error::SendError(outstanding)) = self.drain.send(outstanding) {
            // The drain task is gone (its runtime ended): wait for this one on its own.
            tokio::spawn(outstanding);
        }
    }

    /// Waits until every append handed over before this call is stored or has failed.
    pub(crate) async fn settled(&self) {
        let _all = self.slots.acquire_many(self.capacity).await;
    }
}

/// An append waiting for its commit, holding its slot until then.
struct Outstanding {
    append: Append,
    request_id: String,
    _slot: OwnedSemaphorePermit,
}

impl Future for Outstanding {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // A panic ends this append only, not the drain task and the others it holds.
        let append = &mut self.append;
        let polled = std::panic::catch_unwind(AssertUnwindSafe(|| append.as_mut().poll(cx)));
        let stored = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(stored)) => stored,
            Err(_) => Err(StoreError::Backend("the append panicked".into())),
        };
        report(stored, &self.request_id);
        Poll::Ready(())
    }
}

/// The drain task: waits for every outstanding append handed to it, all at once, until
/// the gateway is gone and they are done.
async fn drain_all(mut handed: mpsc::UnboundedReceiver<Outstanding>) {
    let mut outstanding = FuturesUnordered::new();
    loop {
        tokio::select! {
            biased;
            Some(()) = outstanding.next(), if !outstanding.is_empty() => {}
            next = handed.recv() => match next {
                Some(append) => outstanding.push(append),
                None => break,
            },
        }
    }
    while outstanding.next().await.is_some() {}
}

/// Counts a support request between its durable `request.allowed` and its stored
/// `request.completed` (also when the request is dropped in between, at shutdown).
pub(crate) struct InFlight(Arc<Metrics>);

impl InFlight {
    pub(crate) fn new(metrics: &Arc<Metrics>) -> Self {
        metrics.support_in_flight(1);
        Self(metrics.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.support_in_flight(-1);
    }
}

fn report(stored: Result<(), StoreError>, request_id: &str) {
    if let Err(e) = stored {
        tracing::error!(request_id, error = %e, "could not record the outcome of a forwarded support request");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use futures::FutureExt;
    use support_access_core::StoreError;
    use tokio::sync::oneshot;

    use super::{Append, Completions, InFlight};
    use crate::metrics::Metrics;

    /// An append that is stored when `store` is sent to (or fails if it is dropped).
    fn held() -> (oneshot::Sender<()>, Append) {
        let (store, stored) = oneshot::channel::<()>();
        let append: Append = Box::pin(async move {
            stored
                .await
                .map_err(|_| StoreError::Unavailable("dropped".into()))
        });
        (store, append)
    }

    #[tokio::test]
    async fn the_answer_does_not_wait_for_the_commit_but_settled_does() {
        let metrics = Arc::new(Metrics::default());
        let completions = Completions::with_capacity(metrics.clone(), Duration::from_secs(60), 4);
        let (store, append) = held();
        let in_flight = InFlight::new(&metrics);
        completions
            .record(append, in_flight, "r1")
            .now_or_never()
            .expect("handing over does not wait for the commit");
        assert_eq!(metrics.support_requests_in_flight(), 1, "not stored yet");
        let mut settled = Box::pin(completions.settled());
        assert!(
            (&mut settled).now_or_never().is_none(),
            "one is outstanding"
        );
        store.send(()).unwrap();
        settled.await;
        assert_eq!(metrics.support_requests_in_flight(), 0);
    }

    #[tokio::test]
    async fn a_full_queue_holds_the_next_request_back_until_a_commit() {
        let metrics = Arc::new(Metrics::default());
        let completions = Completions::with_capacity(metrics.clone(), Duration::from_secs(60), 2);
        let mut stores = Vec::new();
        for id in ["r1", "r2"] {
            let (store, append) = held();
            stores.push(store);
            completions
                .record(append, InFlight::new(&metrics), id)
                .now_or_never()
                .expect("a free slot");
        }
        let (third_store, third) = held();
        let mut waiting = Box::pin(completions.record(third, InFlight::new(&metrics), "r3"));
        assert!((&mut waiting).now_or_never().is_none(), "no free slot");
        stores.remove(0).send(()).unwrap();
        waiting.await;
        stores.remove(0).send(()).unwrap();
        third_store.send(()).unwrap();
        completions.settled().await;
        assert_eq!(metrics.support_requests_in_flight(), 0);
    }

    #[tokio::test]
    async fn a_panicking_append_fails_alone() {
        let metrics = Arc::new(Metrics::default());
        let completions = Completions::with_capacity(metrics.clone(), Duration::from_secs(60), 4);
        let (store, append) = held();
        let stored = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stored.clone();
        let append: Append = Box::pin(async move {
            append.await?;
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        });
        completions
            .record(append, InFlight::new(&metrics), "r1")
            .now_or_never()
            .expect("a free slot");
        let (panic, panicking) = held();
        let panicking: Append = Box::pin(async move {
            let _ = panicking.await;
            panic!("a broken append");
        });
        completions
            .record(panicking, InFlight::new(&metrics), "r2")
            .now_or_never()
            .expect("a free slot");
        panic.send(()).unwrap();
        store.send(()).unwrap();
        completions.settled().await;
        assert!(
            stored.load(std::sync::atomic::Ordering::SeqCst),
            "r1 stored"
        );
        assert_eq!(metrics.support_requests_in_flight(), 0);
    }

    #[tokio::test]
    async fn an_append_already_stored_frees_its_slot_at_once() {
        let metrics = Arc::new(Metrics::default());
        let completions = Completions::with_capacity(metrics.clone(), Duration::from_secs(60), 1);
        for id in ["r1", "r2", "r3"] {
            let append: Append = Box::pin(async { Ok(()) });
            completions
                .record(append, InFlight::new(&metrics), id)
                .now_or_never()
                .expect("stored on the first poll");
        }
        completions
            .settled()
            .now_or_never()
            .expect("nothing outstanding");
        assert_eq!(metrics.support_requests_in_flight(), 0);
    }
}
