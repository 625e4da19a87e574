//! A runtime per core for the proxy listener: on a multi-thread runtime of N workers the
//! proxy is served by N threads, each with its own current-thread runtime and its own
//! `SO_REUSEPORT` listener on the same address (the kernel spreads the connections), so
//! that a connection, its requests and their upstream connections (the per-thread pools
//! of [`crate::upstream::Upstream`]) stay on one thread: no cross-thread wake-ups on the
//! ordinary path. On a current-thread runtime (most tests) the proxy is served on that
//! runtime, as one task, exactly as before.
//!
//! The rest (the ops listener, the sweeper, the store's writers, webhooks) stays on the
//! runtime `build` was called on, and so do the requests that reach the store: support
//! traffic and the management API run there (`main_runtime.rs`), whichever thread
//! serves their connection.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use http::{Request, Response};
use hyper::body::Incoming;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpListener;
use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::Settings;
use crate::body::BoxError;
use crate::conn::Connection;
use crate::tls::ListenerTls;

/// How many serving threads the proxy gets: one per worker of the calling runtime if it
/// is a multi-thread one, else none (served on the calling runtime).
pub(crate) fn threads() -> usize {
    let handle = Handle::current();
    match handle.runtime_flavor() {
        RuntimeFlavor::MultiThread => handle.metrics().num_workers().max(1),
        _ => 0,
    }
}

/// `count` listeners on `addr` (at least one; with more than one, all `SO_REUSEPORT` on
/// the port the first got) and that address.
pub(crate) fn bind(
    addr: SocketAddr,
    count: usize,
) -> io::Result<(Vec<std::net::TcpListener>, SocketAddr)> {
    let reuse_port = count > 1;
    let first = listener(addr, reuse_port)?;
    let local = first.local_addr()?;
    let mut listeners = vec![first];
    for _ in 1..count {
        listeners.push(listener(local, true)?);
    }
    Ok((listeners, local))
}

/// One listening socket as `tokio::net::TcpListener::bind` makes it (`SO_REUSEADDR`,
/// backlog 1024, non-blocking), plus `SO_REUSEPORT` if asked.
fn listener(addr: SocketAddr, reuse_port: bool) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    #[cfg(unix)]
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// The serving threads. Each ends once its listener has drained, with its runtime and
/// what that drove (its connections, the ordinary traffic's upstream pool): nothing that
/// outlives a request runs on a serving thread (`main_runtime.rs`).
#[derive(Debug)]
pub(crate) struct Threads {
    handles: Vec<std::thread::JoinHandle<()>>,
}

impl Threads {
    /// Waits until every serving thread has ended.
    pub(crate) async fn stop(self) {
        let handles = self.handles;
        let _ = tokio::task::spawn_blocking(move || {
            for handle in handles {
                let _ = handle.join();
            }
        })
        .await;
    }
}

/// Serves `listeners`: on `threads` threads of their own (one listener each), or, with
/// `threads == 0`, as a task of the calling runtime. Returns once every thread runs
/// (named, its listener registered); each returned handle ends when its listener has
/// drained after `shutdown` and (with threads) its thread's runtime is gone.
pub(crate) async fn serve<H, F, B>(
    listeners: Vec<std::net::TcpListener>,
    threads: usize,
    tls: Option<Arc<ListenerTls>>,
    settings: Settings,
    shutdown: watch::Receiver<bool>,
    handler: H,
) -> io::Result<(Vec<JoinHandle<()>>, Threads)>
where
    H: Fn(Request<Incoming>, Connection) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: http_body::Body<Data = bytes::Bytes, Error = BoxError> + Send + 'static,
{
    let mut servers = Vec::with_capacity(listeners.len());
    let mut handles = Vec::with_capacity(threads);
    for (n, listener) in listeners.into_iter().enumerate() {
        let (tls, shutdown, handler) = (tls.clone(), shutdown.clone(), handler.clone());
        if threads == 0 {
            let listener = TcpListener::from_std(listener)?;
            servers.push(tokio::spawn(super::serve(
                listener, tls, settings, shutdown, handler,
            )));
            continue;
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let port = listener.local_addr().map_or(0, |addr| addr.port());
        let (started, running) = tokio::sync::oneshot::channel::<io::Result<()>>();
        let (drained_tx, drained) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            // `proxy-<port>-<n>` (at most 15 bytes, the kernel's limit).
            .name(format!("proxy-{port}-{n}"))
            .spawn(move || {
                runtime.block_on(async move {
                    match TcpListener::from_std(listener) {
                        Ok(listener) => {
                            let _ = started.send(Ok(()));
                            super::serve(listener, tls, settings, shutdown, handler).await;
                        }
                        Err(e) => {
                            let _ = started.send(Err(e));
                        }
                    }
                });
                // The thread's upstream connections and leftover tasks end here.
                drop(runtime);
                let _ = drained_tx.send(());
            })?;
        running
            .await
            .unwrap_or_else(|_| Err(io::Error::other("the serving thread ended at start")))?;
        handles.push(thread);
        // Done once the thread's listener has drained and its runtime is gone.
        servers.push(tokio::spawn(async move {
            let _ = drained.await;
        }));
    }
    Ok((servers, Threads { handles }))
}
