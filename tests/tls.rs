//! TLS for the tests: a certificate authority made fresh by rcgen and leaf certificates
//! it signs, a TLS upstream stub that answers with the HTTP version it saw, and a TLS
//! client of the gateway's listener that reports the ALPN protocol and the certificate
//! the server showed.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A certificate authority of this test run.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TestCa")
    }
}

/// A leaf certificate and its key, as PEM.
#[derive(Debug, Clone)]
pub struct Leaf {
    /// The certificate.
    pub cert_pem: String,
    /// The private key (PKCS#8).
    pub key_pem: String,
}

impl TestCa {
    /// A new CA named `name`.
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().expect("CA key");
        Self {
            issuer: CertifiedIssuer::self_signed(params, key).expect("CA certificate"),
        }
    }

    /// The CA certificate as PEM.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// Writes the CA certificate to `dir/name` and returns the path.
    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, self.pem()).expect("write the CA");
        path
    }

    /// A leaf for `localhost` and `127.0.0.1`, named `common_name`.
    pub fn leaf(&self, common_name: &str) -> Leaf {
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("leaf params");
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("leaf");
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

impl Leaf {
    /// Writes `cert.pem` and `key.pem` under `dir` with `prefix`; returns both paths.
    pub fn write(&self, dir: &Path, prefix: &str) -> (PathBuf, PathBuf) {
        let cert = dir.join(format!("{prefix}cert.pem"));
        let key = dir.join(format!("{prefix}key.pem"));
        std::fs::write(&cert, &self.cert_pem).expect("write the certificate");
        std::fs::write(&key, &self.key_pem).expect("write the key");
        (cert, key)
    }

    /// The certificate's DER.
    pub fn der(&self) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(self.cert_pem.as_bytes()).expect("PEM certificate")
    }

    /// A rustls server config serving this leaf with these ALPN protocols.
    pub fn server_config(&self, alpn: &[&[u8]]) -> rustls::ServerConfig {
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).expect("PEM key");
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![self.der()], key)
            .expect("server config");
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        config
    }
}

/// One request the TLS stub saw.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `HTTP/1.1` or `HTTP/2.0`.
    pub version: String,
    /// Path and query.
    pub target: String,
    /// The headers.
    pub headers: HeaderMap,
}

/// An HTTPS upstream: answers `200 {"version": …}` to everything and records requests.
#[derive(Debug, Clone)]
pub struct TlsStub {
    /// Where it listens.
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl TlsStub {
    /// Starts one on `127.0.0.1:0` serving `leaf` with ALPN `alpn`.
    pub async fn start(leaf: &Leaf, alpn: &[&[u8]]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let acceptor = TlsAcceptor::from(Arc::new(leaf.server_config(alpn)));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorder = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, recorder) = (acceptor.clone(), recorder.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let service = service_fn(move |request: Request<Incoming>| {
                        let recorder = recorder.clone();
                        async move {
                            let version = format!("{:?}", request.version());
                            let target = request
                                .uri()
                                .path_and_query()
                                .map_or("/", |p| p.as_str())
                                .to_owned();
                            recorder.lock().expect("lock").push(Seen {
                                version: version.clone(),
                                target,
                                headers: request.headers().clone(),
                            });
                            let body = serde_json::json!({ "version": version }).to_string();
                            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
                        }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Self { addr, seen }
    }

    /// Everything received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// A TLS connection to a server, one HTTP connection over it.
pub struct TlsClient {
    /// The ALPN protocol agreed (`h2`, `http/1.1`), if any.
    pub alpn: Option<Vec<u8>>,
    /// The certificate the server showed (leaf).
    pub server_cert: CertificateDer<'static>,
    sender: Sender,
}

impl std::fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsClient")
            .field("alpn", &self.alpn)
            .finish()
    }
}

enum Sender {
    Http1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    Http2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

/// A response, read whole.
#[derive(Debug, Clone)]
pub struct TlsAnswer {
    /// The status.
    pub status: u16,
    /// The HTTP version.
    pub version: http::Version,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl TlsClient {
    /// Connects to `addr` as `localhost`, trusting `ca_pem`, offering `alpn`.
    pub async fn connect(addr: SocketAddr, ca_pem: &str, alpn: &[&[u8]]) -> Self {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).expect("CA PEM"))
            .expect("CA");
        let mut config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let name = ServerName::try_from("localhost").expect("name");
        let tls = TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .expect("TLS handshake");
        let (_, session) = tls.get_ref();
        let alpn = session.alpn_protocol().map(<[u8]>::to_vec);
        let server_cert = session
            .peer_certificates()
            .and_then(|certs| certs.first())
            .expect("a server certificate")
            .clone()
            .into_owned();
        let io = TokioIo::new(tls);
        let sender = if alpn.as_deref() == Some(b"h2") {
            let (sender, connection) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                    .await
                    .expect("h2 handshake");
            tokio::spawn(connection);
            Sender::Http2(sender)
        } else {
            let (sender, connection) = hyper::client::conn::http1::handshake(io)
                .await
                .expect("http/1.1 handshake");
            tokio::spawn(connection);
            Sender::Http1(sender)
        };
        Self {
            alpn,
            server_cert,
            sender,
        }
    }

    /// Sends `GET target` on this connection.
    pub async fn get(&mut self, target: &str) -> TlsAnswer {
        let request = Request::get(format!("https://localhost{target}"))
            .header("host", "localhost")
            .body(Full::new(Bytes::new()))
            .expect("request");
        let response = match &mut self.sender {
            Sender::Http1(sender) => {
                let (mut parts, body) = request.into_parts();
                parts.uri = target.parse().expect("origin form");
                sender.send_request(Request::from_parts(parts, body)).await
            }
            Sender::Http2(sender) => {
                let (mut parts, body) = request.into_parts();
                parts.headers.remove("host");
                sender.send_request(Request::from_parts(parts, body)).await
            }
        }
        .expect("a response");
        let (parts, body) = response.into_parts();
        TlsAnswer {
            status: parts.status.as_u16(),
            version: parts.version,
            headers: parts.headers,
            body: body.collect().await.expect("body").to_bytes(),
        }
    }
}
