//! A stub CRM on a real socket that records every request it receives.
//!
//! - `GET/POST/…` anything: answers `200` with `{"data": [{"echo": "<path>"}]}`.
//! - A path containing `/__slow`: waits longer than any test's upstream timeout before
//!   answering (to provoke `504`).
//! - A path containing `/__stream`: answers `200` at once and then streams a chunk every
//!   20 ms for at most 10 s (a long download in flight).
//! - A path containing `/__delay/{ms}`: waits `ms` milliseconds (at most 5 s) before
//!   answering (requests that are still in flight when something else happens).
//!
//! [`Stub::heads`] lists requests as soon as their head arrives; [`Recorded::complete`]
//! tells whether the body then arrived whole. [`Hanging`] is an upstream that reads a
//! request head and never answers, and tells when the gateway gave up the connection.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::channel::Channel;
use http_body_util::{BodyExt, Either, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

/// One request as the stub saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The method.
    pub method: String,
    /// Path and query, exactly as received.
    pub target: String,
    /// The headers.
    pub headers: HeaderMap,
    /// The body bytes.
    pub body: Bytes,
    /// Whether the body arrived whole (`false`: the gateway cut it off).
    pub complete: bool,
}

/// The running stub.
#[derive(Debug, Clone)]
pub struct Stub {
    /// Where it listens.
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Recorded>>>,
    heads: Arc<Mutex<Vec<String>>>,
}

impl Stub {
    /// Starts a stub on `127.0.0.1:0`.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the stub");
        let addr = listener.local_addr().expect("stub address");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let recorder = Recorder {
            seen: seen.clone(),
            heads: heads.clone(),
        };
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let recorder = recorder.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let recorder = recorder.clone();
                        async move { Ok::<_, Infallible>(answer(request, &recorder).await) }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, seen, heads }
    }

    /// The targets of every request whose head arrived, also those whose body is still
    /// on its way (or never completed).
    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().map(|h| h.clone()).unwrap_or_default()
    }

    /// Everything received so far.
    pub fn seen(&self) -> Vec<Recorded> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Forgets what was received.
    pub fn clear(&self) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.clear();
        }
        if let Ok(mut heads) = self.heads.lock() {
            heads.clear();
        }
    }

    /// Whether any received request's target contains `needle` (ASCII case-insensitive).
    pub fn saw_target_containing(&self, needle: &str) -> bool {
        let needle = needle.to_ascii_lowercase();
        self.seen()
            .iter()
            .any(|r| r.target.to_ascii_lowercase().contains(&needle))
    }
}

type StubBody = Either<Full<Bytes>, Channel<Bytes>>;

#[derive(Clone)]
struct Recorder {
    seen: Arc<Mutex<Vec<Recorded>>>,
    heads: Arc<Mutex<Vec<String>>>,
}

async fn answer(request: Request<Incoming>, recorder: &Recorder) -> Response<StubBody> {
    let (parts, body) = request.into_parts();
    let target = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    if let Ok(mut heads) = recorder.heads.lock() {
        heads.push(target.clone());
    }
    let (body, complete) = match body.collect().await {
        Ok(collected) => (collected.to_bytes(), true),
        Err(_) => (Bytes::new(), false),
    };
    if let Ok(mut seen) = recorder.seen.lock() {
        seen.push(Recorded {
            method: parts.method.to_string(),
            target: target.clone(),
            headers: parts.headers,
            body,
            complete,
        });
    }
    if target.contains("/__stream") {
        let (mut sender, body) = Channel::new(1);
        tokio::spawn(async move {
            for n in 0..500 {
                if sender
                    .send_data(Bytes::from(format!("chunk {n}\n")))
                    .await
                    .is_err()
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        return Response::new(Either::Right(body));
    }
    if target.contains("/__slow") {
        tokio::time::sleep(Duration::from_secs(10)).await;
    } else if let Some(ms) = delay_ms(&target) {
        tokio::time::sleep(Duration::from_millis(ms.min(5_000))).await;
    }
    let echo = serde_json::json!({"data": [{"echo": target}]});
    let mut response = Response::new(Either::Left(Full::new(Bytes::from(echo.to_string()))));
    response.headers_mut().insert(
        "content-type",
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// The `{ms}` of a `/__delay/{ms}` segment.
fn delay_ms(target: &str) -> Option<u64> {
    let (_, rest) = target.split_once("/__delay/")?;
    let digits = rest.split(['/', '?']).next()?;
    digits.parse().ok()
}

/// An upstream that reads each request's head and never answers; it counts the heads
/// and the connections the gateway closed (dropped its request).
#[derive(Debug, Clone)]
pub struct Hanging {
    /// Where it listens.
    pub addr: SocketAddr,
    heads: Arc<std::sync::atomic::AtomicUsize>,
    dropped: Arc<std::sync::atomic::AtomicUsize>,
}

impl Hanging {
    /// Starts one on `127.0.0.1:0`.
    pub async fn start() -> Self {
        use std::sync::atomic::Ordering;
        use tokio::io::AsyncReadExt;
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the hanging upstream");
        let addr = listener.local_addr().expect("address");
        let heads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let dropped = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (h, d) = (heads.clone(), dropped.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    continue;
                };
                let (heads, dropped) = (h.clone(), d.clone());
                tokio::spawn(async move {
                    let mut seen = Vec::new();
                    let mut buf = [0u8; 4096];
                    let mut counted = false;
                    loop {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => {
                                dropped.fetch_add(1, Ordering::SeqCst);
                                return;
                            }
                            Ok(n) => {
                                seen.extend_from_slice(&buf[..n]);
                                if !counted && seen.windows(4).any(|w| w == b"\r\n\r\n") {
                                    counted = true;
                                    heads.fetch_add(1, Ordering::SeqCst);
                                }
                            }
                        }
                    }
                });
            }
        });
        Self {
            addr,
            heads,
            dropped,
        }
    }

    /// How many request heads arrived.
    pub fn heads(&self) -> usize {
        self.heads.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// How many connections the gateway closed.
    pub fn dropped(&self) -> usize {
        self.dropped.load(std::sync::atomic::Ordering::SeqCst)
    }
}
