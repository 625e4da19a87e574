//! One client connection as a request handler sees it: the peer's address, a way to ask
//! for the connection to be closed (gracefully: an idle connection closes at once, a
//! busy one after its response), and a place to keep things alive exactly as long as
//! the connection lives.

use std::any::Any;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

/// A client connection; cheap to clone, clones are the same connection.
#[derive(Debug, Clone)]
pub struct Connection {
    peer: SocketAddr,
    tls: bool,
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The peer's IP as a header value, for `X-Forwarded-For`: formatted once per
    /// connection, not per request.
    peer_header: http::HeaderValue,
    close: watch::Sender<bool>,
    held: Mutex<Vec<(String, Box<dyn Any + Send>)>>,
}

/// Asks a connection to close; held by whoever may need to close it, without keeping
/// the connection's state alive.
#[derive(Debug, Clone)]
pub struct Closer(std::sync::Weak<Inner>);

impl Closer {
    /// Asks the connection to close, if it still exists.
    pub fn close(&self) {
        if let Some(inner) = self.0.upgrade() {
            inner.close.send_replace(true);
        }
    }
}

impl Connection {
    /// A new connection from `peer`.
    pub fn new(peer: SocketAddr) -> Self {
        Self {
            peer,
            tls: false,
            inner: Arc::new(Inner {
                peer_header: crate::upstream::peer_value(peer.ip()),
                close: watch::channel(false).0,
                held: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The same, over TLS.
    pub fn over_tls(self) -> Self {
        Self { tls: true, ..self }
    }

    /// The client's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The client's IP as a header value.
    pub(crate) fn peer_header(&self) -> &http::HeaderValue {
        &self.inner.peer_header
    }

    /// Whether the client spoke TLS to the gateway (`X-Forwarded-Proto: https`).
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// A handle that asks this connection to close.
    pub fn closer(&self) -> Closer {
        Closer(Arc::downgrade(&self.inner))
    }

    /// Keeps `thing` alive until the connection ends, once per `key`: `make` runs only
    /// if nothing is held under `key` yet.
    pub fn hold_once<T: Any + Send>(&self, key: String, make: impl FnOnce() -> T) {
        let mut held = self
            .inner
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !held.iter().any(|(k, _)| *k == key) {
            held.push((key, Box::new(make())));
        }
    }

    /// Whether someone asked this connection to close.
    pub fn close_was_requested(&self) -> bool {
        *self.inner.close.borrow()
    }

    /// Resolves once someone asked this connection to close.
    pub async fn close_requested(&self) {
        let mut close = self.inner.close.subscribe();
        let _ = close.wait_for(|close| *close).await;
    }
}
