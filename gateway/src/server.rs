//! Accept loops for the proxy and ops listeners, with graceful shutdown: on shutdown the
//! listeners close, in-flight requests finish (up to the grace period), idle keep-alive
//! connections are closed. A single connection can be closed the same way when its
//! support access ends ([`Connection::closer`]). With [`ListenerTls`] each connection
//! first does its TLS handshake (bounded in time) on its own task; without it nothing
//! of TLS is on the path.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulConnection;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

pub(crate) mod cores;

use crate::body::BoxError;
use crate::conn::Connection;
use crate::tls::{HANDSHAKE_TIMEOUT, ListenerTls};

/// HTTP settings of a listener.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub max_header_bytes: usize,
    pub grace: Duration,
}

/// Serves `listener` until `shutdown` flips, then drains: the listener closes, every
/// connection is asked to close gracefully (idle ones close at once, busy ones after
/// their response), and whatever is still open when the grace period is over is
/// closed. Returns within the grace period of the shutdown, whatever the handlers do.
pub(crate) async fn serve<H, F, B>(
    listener: TcpListener,
    tls: Option<Arc<ListenerTls>>,
    settings: Settings,
    mut shutdown: watch::Receiver<bool>,
    handler: H,
) where
    H: Fn(Request<Incoming>, Connection) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: http_body::Body<Data = bytes::Bytes, Error = BoxError> + Send + 'static,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        .max_buf_size(settings.max_header_bytes.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(settings.max_header_bytes).unwrap_or(u32::MAX));
    let builder = Arc::new(builder);
    let (drain, draining) = watch::channel(false);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        // Out of file descriptors or similar: back off instead of spinning.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let connection = match tls {
                    Some(_) => Connection::new(peer).over_tls(),
                    None => Connection::new(peer),
                };
                let handler = handler.clone();
                let for_requests = connection.clone();
                let service = service_fn(move |request: Request<Incoming>| {
                    let http1 = request.version() <= http::Version::HTTP_11;
                    let connection = for_requests.clone();
                    let response = handler(request, connection.clone());
                    async move {
                        let mut response = response.await;
                        // This request ended its own connection's support access (a
                        // revoke, a seat release): say so, so that the client does not
                        // send its next request on a connection that is closing.
                        if http1 && connection.close_was_requested() {
                            response
                                .headers_mut()
                                .insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
                        }
                        Ok::<_, Infallible>(response)
                    }
                });
                let draining = draining.clone();
                match &tls {
                    None => {
                        let served =
                            builder.serve_connection(TokioIo::new(stream), service).into_owned();
                        connections.spawn(drive(served, connection, draining));
                    }
                    Some(tls) => {
                        let (acceptor, builder) = (tls.acceptor(), builder.clone());
                        connections.spawn(async move {
                            let handshake = acceptor.accept(stream);
                            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
                                Ok(Ok(stream)) => stream,
                                Ok(Err(e)) => {
                                    tracing::debug!(error = %e, %peer, "TLS handshake failed");
                                    return;
                                }
                                Err(_) => {
                                    tracing::debug!(%peer, "TLS handshake timed out");
                                    return;
                                }
                            };
                            let served =
                                builder.serve_connection(TokioIo::new(stream), service).into_owned();
                            drive(served, connection, draining).await;
                        });
                    }
                }
            }
            // Reap finished connections as they end.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    drain.send_replace(true);
    let drained = tokio::time::timeout(settings.grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "shutdown grace period over; closing the connections still open"
        );
        connections.shutdown().await;
    }
}

/// Runs one connection until it ends; asks it to close gracefully once the server
/// drains or someone asked for this connection to close (its support access ended).
async fn drive<C>(served: C, connection: Connection, mut draining: watch::Receiver<bool>)
where
    C: GracefulConnection,
    C::Error: std::fmt::Display,
{
    let mut served = std::pin::pin!(served);
    let mut closing = false;
    loop {
        tokio::select! {
            ended = served.as_mut() => {
                if let Err(e) = ended {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            _ = draining.wait_for(|draining| *draining), if !closing => {
                closing = true;
                served.as_mut().graceful_shutdown();
            }
            _ = connection.close_requested(), if !closing => {
                closing = true;
                served.as_mut().graceful_shutdown();
            }
        }
    }
}
