//! The upstream CRM: a pooled keep-alive client — plain HTTP/1.1 for `http://`, TLS
//! with HTTP/2 by ALPN (else HTTP/1.1) for `https://` (`upstream/tls.rs`) — and
//! forwarding per RFC 9110 (hop-by-hop headers removed, `X-Forwarded-*` added, bodies
//! streamed both ways).

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Weak};
use std::time::Duration;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::{Builder, Client};
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::body::Body;
use crate::config;
use crate::tokens::KeyError;

pub(crate) mod tls;

/// Why the upstream gave no response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamFailure {
    /// No connection could be made (`502`).
    Unreachable,
    /// The connection failed mid-request (`502`).
    Broken,
    /// No response head within the request timeout (`504`).
    Timeout,
    /// The TLS handshake failed: the CRM's certificate was refused (`502`).
    Tls,
}

impl UpstreamFailure {
    /// A label for metrics.
    pub fn label(self) -> &'static str {
        match self {
            Self::Unreachable => "unreachable",
            Self::Broken => "broken",
            Self::Timeout => "timeout",
            Self::Tls => "tls",
        }
    }
}

/// The client in front of the CRM. Cheap to clone; clones share the settings and the
/// per-thread pools. Each thread that sends keeps its own pool of connections (and the
/// pool's connection tasks run on that thread's runtime), so that with a runtime per
/// core (`server.rs`) a request and its upstream connection never wake each other
/// across threads.
#[derive(Debug, Clone)]
pub struct Upstream {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    connector: Connector,
    builder: Builder,
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
    host_header: HeaderValue,
    base_path: String,
    request_timeout: Duration,
}

/// What a thread's pool is built from.
#[derive(Debug)]
enum Connector {
    Plain(HttpConnector),
    Tls(HttpConnector, Box<rustls::ClientConfig>),
}

/// Plain HTTP has its own client type, so that it pays nothing for TLS.
#[derive(Debug, Clone)]
enum Pool {
    Plain(Client<HttpConnector, Body>),
    Tls(Client<HttpsConnector<HttpConnector>, Body>),
}

thread_local! {
    /// This thread's pools, one per live [`Upstream`] (tests run several gateways in one
    /// process); a dropped upstream's pool goes when the next one is added.
    static POOLS: RefCell<Vec<(Weak<Shared>, Pool)>> = const { RefCell::new(Vec::new()) };
}

impl Shared {
    fn pool(&self) -> Pool {
        match &self.connector {
            Connector::Plain(connector) => Pool::Plain(build(&self.builder, connector.clone())),
            Connector::Tls(connector, tls) => {
                let https = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config((**tls).clone())
                    .https_only()
                    .enable_http1()
                    .enable_http2()
                    .wrap_connector(connector.clone());
                Pool::Tls(build(&self.builder, https))
            }
        }
    }
}

impl Upstream {
    /// A client for `config.url`; an `https://` one reads `upstream.ca_file` here.
    pub fn new(config: &config::Upstream) -> Result<Self, KeyError> {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(config.connect_timeout));
        connector.set_nodelay(true);
        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .pool_idle_timeout(config.idle_timeout)
            .pool_max_idle_per_host(config.max_idle_connections)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new());
        let connector = if config.url.scheme() == Some(&http::uri::Scheme::HTTPS) {
            connector.enforce_http(false);
            let tls = tls::client_config(config.ca_file.as_deref())?;
            Connector::Tls(connector, Box::new(tls))
        } else {
            connector.enforce_http(true);
            Connector::Plain(connector)
        };
        let parts = config.url.clone().into_parts();
        let authority = parts
            .authority
            .unwrap_or_else(|| http::uri::Authority::from_static("127.0.0.1"));
        let base_path = parts
            .path_and_query
            .map(|p| p.path().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        Ok(Self {
            shared: Arc::new(Shared {
                connector,
                builder,
                scheme: parts.scheme.unwrap_or(http::uri::Scheme::HTTP),
                host_header: HeaderValue::from_str(authority.as_str())
                    .unwrap_or_else(|_| HeaderValue::from_static("localhost")),
                authority,
                base_path,
                request_timeout: config.request_timeout,
            }),
        })
    }

    /// This thread's pool, made on first use.
    fn pool(&self) -> Pool {
        POOLS.with(|pools| {
            let mut pools = pools.borrow_mut();
            let me = Arc::as_ptr(&self.shared);
            if let Some((_, pool)) = pools.iter().find(|(shared, _)| shared.as_ptr() == me) {
                return pool.clone();
            }
            pools.retain(|(shared, _)| shared.strong_count() > 0);
            let pool = self.shared.pool();
            pools.push((Arc::downgrade(&self.shared), pool.clone()));
            pool
        })
    }

    /// The request's URI for the CRM: the request's own path and query when it is
    /// `path_and_query` and there is no base path (no copy), else rebuilt.
    fn uri(&self, request: &Request<Body>, path_and_query: &str) -> Result<Uri, UpstreamFailure> {
        let shared = &*self.shared;
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(shared.scheme.clone());
        parts.authority = Some(shared.authority.clone());
        parts.path_and_query = match request.uri().path_and_query() {
            Some(own) if shared.base_path.is_empty() && own.as_str() == path_and_query => {
                Some(own.clone())
            }
            _ => {
                let mut target =
                    String::with_capacity(shared.base_path.len() + path_and_query.len());
                target.push_str(&shared.base_path);
                target.push_str(path_and_query);
                Some(
                    http::uri::PathAndQuery::from_maybe_shared(bytes::Bytes::from(target))
                        .map_err(|_| UpstreamFailure::Broken)?,
                )
            }
        };
        Uri::from_parts(parts).map_err(|_| UpstreamFailure::Broken)
    }

    /// Sends `request` (already cleaned) to the CRM at `path_and_query`; returns the
    /// response with hop-by-hop headers removed.
    pub async fn send(
        &self,
        mut request: Request<Body>,
        path_and_query: &str,
    ) -> Result<Response<Incoming>, UpstreamFailure> {
        *request.uri_mut() = self.uri(&request, path_and_query)?;
        *request.version_mut() = http::Version::HTTP_11;
        request
            .headers_mut()
            .insert(header::HOST, self.shared.host_header.clone());
        let sent = match self.pool() {
            Pool::Plain(client) => client.request(request),
            Pool::Tls(client) => client.request(request),
        };
        match tokio::time::timeout(self.shared.request_timeout, sent).await {
            Err(_) => Err(UpstreamFailure::Timeout),
            Ok(Err(e)) if tls::is_tls_failure(&e) => {
                tracing::warn!(error = %e, "TLS to the upstream failed");
                Err(UpstreamFailure::Tls)
            }
            Ok(Err(e)) if e.is_connect() => Err(UpstreamFailure::Unreachable),
            Ok(Err(_)) => Err(UpstreamFailure::Broken),
            Ok(Ok(mut response)) => {
                remove_hop_by_hop(response.headers_mut());
                Ok(response)
            }
        }
    }
}

fn build<C>(builder: &Builder, connector: C) -> Client<C, Body>
where
    C: hyper_util::client::legacy::connect::Connect + Clone,
{
    builder.build(connector)
}

const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::UPGRADE,
];

/// Removes the hop-by-hop headers of RFC 9110 §7.6.1: those named by `Connection`, and
/// the fixed list (`Transfer-Encoding` is the framing's business and hyper sets it).
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    if headers.contains_key(header::CONNECTION) {
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
            .collect();
        for name in named {
            headers.remove(name);
        }
    }
    for name in &HOP_BY_HOP {
        if headers.contains_key(name) {
            headers.remove(name);
        }
    }
    headers.remove(header::TRANSFER_ENCODING);
}

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Prepares a client request's headers for the upstream: hop-by-hop headers removed,
/// `X-Forwarded-For` (appended), `-Proto` (`https` when the client spoke TLS) and
/// `-Host` set.
pub fn prepare_headers(headers: &mut HeaderMap, peer: SocketAddr, tls: bool) {
    prepare_headers_for(headers, &peer_value(peer.ip()), tls);
}

/// A peer address as a header value, formatted into a stack buffer (once per
/// connection: `Connection::peer_header` in `conn.rs`).
pub(crate) fn peer_value(ip: IpAddr) -> HeaderValue {
    use std::io::Write;
    let mut buffer = [0u8; 64];
    let mut rest = &mut buffer[..];
    let len = match write!(rest, "{ip}") {
        Ok(()) => 64 - rest.len(),
        Err(_) => 0,
    };
    HeaderValue::from_bytes(&buffer[..len]).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

/// [`prepare_headers`] with the peer's address already a header value.
pub(crate) fn prepare_headers_for(headers: &mut HeaderMap, peer: &HeaderValue, tls: bool) {
    remove_hop_by_hop(headers);
    let forwarded_for = match headers.get(&X_FORWARDED_FOR) {
        Some(previous) if previous.to_str().is_ok() => {
            let mut joined = bytes::BytesMut::with_capacity(previous.len() + 2 + peer.len());
            joined.extend_from_slice(previous.as_bytes());
            joined.extend_from_slice(b", ");
            joined.extend_from_slice(peer.as_bytes());
            HeaderValue::from_maybe_shared(joined.freeze()).ok()
        }
        _ => Some(peer.clone()),
    };
    if let Some(value) = forwarded_for {
        headers.insert(X_FORWARDED_FOR.clone(), value);
    }
    let proto = if tls { "https" } else { "http" };
    headers.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static(proto));
    if let Some(host) = headers.get(header::HOST).cloned() {
        headers.insert(X_FORWARDED_HOST.clone(), host);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_and_those_named_by_connection_are_removed() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert("x-secret", HeaderValue::from_static("1"));
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        headers.insert("x-kept", HeaderValue::from_static("yes"));
        remove_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 1, "{headers:?}");
        assert_eq!(headers["x-kept"], "yes");
    }

    #[test]
    fn forwarded_headers_are_added_and_for_is_appended() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("crm.example"));
        headers.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.9"));
        prepare_headers(&mut headers, "192.0.2.1:5555".parse().unwrap(), false);
        assert_eq!(headers["x-forwarded-for"], "203.0.113.9, 192.0.2.1");
        assert_eq!(headers["x-forwarded-proto"], "http");
        assert_eq!(headers["x-forwarded-host"], "crm.example");
        let mut v6 = HeaderMap::new();
        prepare_headers(&mut v6, "[2001:db8::1]:443".parse().unwrap(), true);
        assert_eq!(v6["x-forwarded-for"], "2001:db8::1");
        assert_eq!(v6["x-forwarded-proto"], "https");
    }
}
