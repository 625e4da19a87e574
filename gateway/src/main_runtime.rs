//! The runtime [`crate::build`] was called on, and the one door to it from the serving
//! threads of a runtime per core (`server/cores.rs`).
//!
//! Everything that owns long-lived I/O lives on the main runtime: the store's pools and
//! audit writers, the webhook outbox, the grant change feed, the key refresh, the
//! `request.completed` drain. A store connection first opened by a task of a serving
//! thread would be driven by that thread's runtime (and sqlx spawns the return of a
//! pooled connection on the runtime of the task that dropped it), and that runtime ends
//! when its listener has drained. So the requests that reach the store — support
//! traffic and the management API — run on the main runtime: [`MainRuntime::run`]
//! spawns them there and the serving thread awaits the answer. Ordinary traffic does no
//! store I/O (identification and the assignment guard read memory only: the support
//! users the sweeper and the management API refresh) and stays on its serving thread.
//!
//! On the main runtime itself (no serving threads, or a current-thread runtime) `run`
//! is a plain `.await`.

use std::future::Future;

use tokio::runtime::Handle;
use tokio::task::JoinHandle;
use tracing::Instrument;

/// A handle on the main runtime (none if the gateway was built outside one).
#[derive(Debug, Clone)]
pub(crate) struct MainRuntime(Option<Handle>);

/// The main runtime is gone (the process is ending): the work did not run to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Gone;

impl MainRuntime {
    /// The runtime this is called on.
    pub(crate) fn current() -> Self {
        Self(Handle::try_current().ok())
    }

    /// Whether the caller already runs on the main runtime.
    fn is_here(&self) -> bool {
        match &self.0 {
            None => true,
            Some(main) => Handle::try_current().is_ok_and(|here| here.id() == main.id()),
        }
    }

    /// Runs `work` on the main runtime (in the caller's span) and returns its output.
    /// Dropping the returned future cancels `work`, as if it ran on the caller's task:
    /// a client that goes away stops its request wherever it runs. A panic in `work`
    /// goes on in the caller.
    pub(crate) async fn run<F>(&self, work: F) -> Result<F::Output, Gone>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let main = match &self.0 {
            Some(main) if !self.is_here() => main,
            _ => return Ok(work.await),
        };
        let mut task = Cancelling(main.spawn(work.in_current_span()));
        match (&mut task.0).await {
            Ok(output) => Ok(output),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(Gone),
        }
    }
}

/// A task that is aborted when its handle is dropped.
struct Cancelling<T>(JoinHandle<T>);

impl<T> Drop for Cancelling<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::{Gone, MainRuntime};

    /// The id of the runtime the caller runs on.
    fn runtime_id() -> tokio::runtime::Id {
        tokio::runtime::Handle::current().id()
    }

    fn serving_thread() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn work_from_another_runtime_runs_on_the_main_one() {
        let main = MainRuntime::current();
        let main_id = runtime_id();
        let here = main.run(async { runtime_id() }).await;
        assert_eq!(here, Ok(main_id), "inline on the main runtime");
        let ran_on = tokio::task::spawn_blocking(move || {
            serving_thread().block_on(async move {
                let serving_id = runtime_id();
                (serving_id, main.run(async { runtime_id() }).await)
            })
        })
        .await
        .expect("the serving thread");
        assert_ne!(ran_on.0, main_id);
        assert_eq!(ran_on.1, Ok(main_id), "spawned on the main runtime");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn dropping_the_caller_cancels_the_work() {
        let main = MainRuntime::current();
        let (started, running) = tokio::sync::oneshot::channel::<()>();
        let dropped = Arc::new(AtomicBool::new(false));
        let (ended, cancelled) = tokio::sync::oneshot::channel::<()>();
        struct Flag(Arc<AtomicBool>, Option<tokio::sync::oneshot::Sender<()>>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
                let _ = self.1.take().map(|ended| ended.send(()));
            }
        }
        let flag = Flag(dropped.clone(), Some(ended));
        tokio::task::spawn_blocking(move || {
            serving_thread().block_on(async move {
                let work = main.run(async move {
                    let _flag = flag;
                    let _ = started.send(());
                    std::future::pending::<()>().await;
                });
                tokio::select! {
                    _ = work => unreachable!("the work never ends"),
                    _ = running => {}
                }
            })
        })
        .await
        .expect("the serving thread");
        cancelled.await.expect("the work was dropped");
        assert!(dropped.load(Ordering::SeqCst));
    }

    #[test]
    fn work_for_a_runtime_that_is_gone_reports_it() {
        let main_runtime = serving_thread();
        let main = main_runtime.block_on(async { MainRuntime::current() });
        drop(main_runtime);
        let outcome = serving_thread().block_on(main.run(async { 1 }));
        assert_eq!(outcome, Err(Gone));
    }
}
