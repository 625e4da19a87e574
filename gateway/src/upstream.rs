//! The upstream CRM: a pooled keep-alive client — plain HTTP/1.1 for `http://`, TLS
//! with HTTP/2 by ALPN (else HTTP/1.1) for `https://` (`upstream/tls.rs`) — and
//! forwarding per RFC 9110 (hop-by-hop headers removed, `X-Forwarded-*` added, bodies
//! streamed both ways).

use std::net::SocketAddr;
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

/// The pooled client in front of the CRM.
#[derive(Debug, Clone)]
pub struct Upstream {
    client: Pool,
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
    host_header: HeaderValue,
    base_path: String,
    request_timeout: Duration,
}

/// Plain HTTP has its own client type, so that it pays nothing for TLS.
#[derive(Debug, Clone)]
enum Pool {
    Plain(Client<HttpConnector, Body>),
    Tls(Client<HttpsConnector<HttpConnector>, Body>),
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
        let client = if config.url.scheme() == Some(&http::uri::Scheme::HTTPS) {
            connector.enforce_http(false);
            let tls = tls::client_config(config.ca_file.as_deref())?;
            let https = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls)
                .https_only()
                .enable_http1()
                .enable_http2()
                .wrap_connector(connector);
            Pool::Tls(build(&builder, https))
        } else {
            connector.enforce_http(true);
            Pool::Plain(build(&builder, connector))
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
            client,
            scheme: parts.scheme.unwrap_or(http::uri::Scheme::HTTP),
            host_header: HeaderValue::from_str(authority.as_str())
                .unwrap_or_else(|_| HeaderValue::from_static("localhost")),
            authority,
            base_path,
            request_timeout: config.request_timeout,
        })
    }

    /// Sends `request` (already cleaned) to the CRM at `path_and_query`; returns the
    /// response with hop-by-hop headers removed.
    pub async fn send(
        &self,
        mut request: Request<Body>,
        path_and_query: &str,
    ) -> Result<Response<Incoming>, UpstreamFailure> {
        let target = if self.base_path.is_empty() {
            path_and_query.to_owned()
        } else {
            format!("{}{path_and_query}", self.base_path)
        };
        let uri = Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(target)
            .build()
            .map_err(|_| UpstreamFailure::Broken)?;
        *request.uri_mut() = uri;
        *request.version_mut() = http::Version::HTTP_11;
        request
            .headers_mut()
            .insert(header::HOST, self.host_header.clone());
        let sent = match &self.client {
            Pool::Plain(client) => client.request(request),
            Pool::Tls(client) => client.request(request),
        };
        match tokio::time::timeout(self.request_timeout, sent).await {
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
    remove_hop_by_hop(headers);
    let peer_ip = peer.ip().to_string();
    let forwarded_for = match headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(previous) => format!("{previous}, {peer_ip}"),
        None => peer_ip,
    };
    if let Ok(value) = HeaderValue::from_str(&forwarded_for) {
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
    }
}
