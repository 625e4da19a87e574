//! One webhook attempt on the wire: a fresh connection to one of the addresses the
//! target check accepted (never a second DNS lookup that could answer otherwise),
//! TLS by the upstream's stack for `https://` (rustls on aws-lc-rs, the same roots,
//! SNI from the URL's host, HTTP/1.1), one `POST`, and the status of the answer —
//! a redirect is an answer like any other and is never followed. The whole attempt is
//! bounded by `notifications.timeout`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Uri, header};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use support_access_core::notify::AttemptResult;
use support_access_core::notify::service::Outgoing;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::tokens::KeyError;

/// Posts attempts; one connection per attempt.
#[derive(Clone)]
pub(super) struct Client {
    tls: TlsConnector,
    timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client whose attempts last at most `timeout`.
    pub(super) fn new(timeout: Duration) -> Result<Self, KeyError> {
        let mut config = crate::upstream::tls::client_config(None)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            tls: TlsConnector::from(Arc::new(config)),
            timeout,
        })
    }

    /// Posts `outgoing` and says what came of it.
    pub(super) async fn post(&self, outgoing: &Outgoing) -> AttemptResult {
        match tokio::time::timeout(self.timeout, self.try_post(outgoing)).await {
            Err(_) => AttemptResult::TimedOut,
            Ok(Err(why)) => AttemptResult::Unreachable(why),
            Ok(Ok(status)) => AttemptResult::Answered(status),
        }
    }

    async fn try_post(&self, outgoing: &Outgoing) -> Result<u16, String> {
        let uri: Uri = outgoing.url.parse().map_err(|e| format!("bad URL: {e}"))?;
        let tls = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let host = uri.host().ok_or("no host")?;
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let stream = connect(&outgoing.addresses, port).await?;
        let request = request(outgoing, &uri)?;
        match tls {
            true => {
                let name = ServerName::try_from(host.trim_matches(['[', ']']).to_owned())
                    .map_err(|e| format!("bad host name: {e}"))?;
                let stream = self
                    .tls
                    .connect(name, stream)
                    .await
                    .map_err(|e| format!("TLS: {e}"))?;
                exchange(TokioIo::new(stream), request).await
            }
            false => exchange(TokioIo::new(stream), request).await,
        }
    }
}

/// A connection to the first of `addresses` that takes one.
async fn connect(addresses: &[IpAddr], port: u16) -> Result<TcpStream, String> {
    let mut last = "no address to connect to".to_owned();
    for address in addresses {
        match TcpStream::connect(SocketAddr::new(*address, port)).await {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last = format!("{address}: {e}"),
        }
    }
    Err(last)
}

fn request(outgoing: &Outgoing, uri: &Uri) -> Result<Request<Full<Bytes>>, String> {
    let authority = uri.authority().ok_or("no host")?.as_str().to_owned();
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    let mut builder = Request::post(path)
        .header(header::HOST, authority)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::USER_AGENT, "support-gateway-webhooks")
        .header(header::CONNECTION, "close");
    for (name, value) in outgoing.signed.headers() {
        builder = builder.header(name, value);
    }
    builder
        .body(Full::new(Bytes::from(outgoing.body.clone())))
        .map_err(|e| format!("bad request: {e}"))
}

/// One HTTP/1.1 exchange on `io`: the answer's status (its body is not read).
async fn exchange<I>(io: I, request: Request<Full<Bytes>>) -> Result<u16, String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    let driver = tokio::spawn(connection);
    let answer = sender.send_request(request).await;
    driver.abort();
    answer
        .map(|response| response.status().as_u16())
        .map_err(|e| format!("HTTP: {e}"))
}
