//! An HTTP client for the tests: ordinary requests through hyper, and raw bytes over a
//! TCP socket for requests a well-behaved client would never send.

use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A response, fully read.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON (panics if it is not JSON: a refusal must be).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Whether the body is a JSON refusal with `Content-Type: application/json`.
    pub fn is_json(&self) -> bool {
        self.headers
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"application/json"))
            && serde_json::from_slice::<serde_json::Value>(&self.body).is_ok()
    }
}

/// A pooled HTTP/1.1 client.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: Client<HttpConnector, Full<Bytes>>,
    base: SocketAddr,
}

impl HttpClient {
    /// A client of the server at `base`.
    pub fn new(base: SocketAddr) -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
            base,
        }
    }

    /// Sends a request; `headers` are added as given.
    pub async fn send(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Answer {
        let mut request = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).expect("method"))
            .uri(format!("http://{}{target}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(Bytes::copy_from_slice(body)))
            .expect("request");
        let response = self
            .client
            .request(request)
            .await
            .expect("the gateway answers");
        let (parts, body) = response.into_parts();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await.expect("body").to_bytes(),
        }
    }

    /// `GET` with a bearer token.
    pub async fn get(&self, target: &str, token: &str) -> Answer {
        self.send(
            "GET",
            target,
            &[("authorization", &format!("Bearer {token}"))],
            b"",
        )
        .await
    }
}

/// Sends raw bytes on a fresh connection and reads until the server closes it or
/// `expect_responses` responses' heads have arrived; returns everything read.
pub async fn raw(addr: SocketAddr, bytes: &[u8]) -> String {
    String::from_utf8_lossy(&raw_bytes(addr, bytes).await).into_owned()
}

/// Like [`raw`], but returns the bytes read unchanged.
pub async fn raw_bytes(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(bytes).await.expect("write");
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(3), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
    out
}

/// One HTTP/1.1 response parsed from raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawResponse {
    /// The status code.
    pub status: u16,
    /// The header fields in order, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the answer is JSON: `Content-Type: application/json` and a body that
    /// parses (for a response to `HEAD`, which has no body, the header alone).
    pub fn is_json(&self, head: bool) -> bool {
        self.header("content-type")
            .is_some_and(|v| v.starts_with("application/json"))
            && (head || serde_json::from_slice::<serde_json::Value>(&self.body).is_ok())
    }

    /// The body as JSON, if it is.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Parses one response from the start of `bytes`; returns it and the bytes it took, or
/// `None` if it is incomplete. `head`: the request was `HEAD` (no body follows).
/// `at_eof`: nothing more will arrive (a body without length runs to the end).
pub fn parse_response(bytes: &[u8], head: bool, at_eof: bool) -> Option<(RawResponse, usize)> {
    let end = find(bytes, b"\r\n\r\n")?;
    let text = String::from_utf8_lossy(&bytes[..end]).into_owned();
    let mut lines = text.split("\r\n");
    let status_line = lines.next()?;
    let status: u16 = status_line.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let response = RawResponse {
        status,
        headers,
        body: Vec::new(),
    };
    let start = end + 4;
    if head || status < 200 || status == 204 || status == 304 {
        return Some((response, start));
    }
    let rest = &bytes[start..];
    if response
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        let mut body = Vec::new();
        let mut at = 0;
        loop {
            let line_end = at + find(&rest[at..], b"\r\n")?;
            let size_text = String::from_utf8_lossy(&rest[at..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
            at = line_end + 2;
            if size == 0 {
                let trailer_end = at + find(&rest[at..], b"\r\n")?;
                return Some((RawResponse { body, ..response }, start + trailer_end + 2));
            }
            body.extend_from_slice(rest.get(at..at + size)?);
            at += size + 2;
        }
    }
    if let Some(length) = response
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        let body = rest.get(..length)?.to_vec();
        return Some((RawResponse { body, ..response }, start + length));
    }
    if !at_eof {
        return None;
    }
    Some((
        RawResponse {
            body: rest.to_vec(),
            ..response
        },
        bytes.len(),
    ))
}

/// Splits everything a server wrote on one connection into responses; `head[i]` says
/// whether the `i`-th request was `HEAD`. A trailing incomplete response is dropped.
pub fn parse_responses(bytes: &[u8], head: &[bool]) -> Vec<RawResponse> {
    let mut responses = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let is_head = head.get(responses.len()).copied().unwrap_or(false);
        let Some((response, used)) = parse_response(&bytes[at..], is_head, true) else {
            break;
        };
        responses.push(response);
        at += used;
    }
    responses
}

/// A raw keep-alive connection: send a request, read exactly its response, repeat.
#[derive(Debug)]
pub struct RawConnection {
    stream: TcpStream,
    buffered: Vec<u8>,
}

impl RawConnection {
    /// Connects to `addr`.
    pub async fn open(addr: SocketAddr) -> Self {
        Self {
            stream: TcpStream::connect(addr).await.expect("connect"),
            buffered: Vec::new(),
        }
    }

    /// Writes `request` and reads one response; `None` if the server closed the
    /// connection (or stayed silent for 3 s) before a whole response arrived.
    pub async fn exchange(&mut self, request: &[u8]) -> Option<RawResponse> {
        if self.stream.write_all(request).await.is_err() {
            return None;
        }
        let mut buf = [0u8; 8192];
        loop {
            if let Some((response, used)) = parse_response(&self.buffered, false, false) {
                self.buffered.drain(..used);
                return Some(response);
            }
            match tokio::time::timeout(
                std::time::Duration::from_secs(3),
                self.stream.read(&mut buf),
            )
            .await
            {
                Ok(Ok(n)) if n > 0 => self.buffered.extend_from_slice(&buf[..n]),
                _ => {
                    return parse_response(&self.buffered, false, true).map(|(r, _)| r);
                }
            }
        }
    }

    /// Writes raw bytes without reading anything.
    pub async fn write(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).await.is_ok()
    }

    /// Whether the server closes the connection within `limit` (nothing more arrives
    /// and the read ends); `false` if it stays open that long or sends bytes.
    pub async fn closed_within(&mut self, limit: std::time::Duration) -> bool {
        let mut buf = [0u8; 1024];
        matches!(
            tokio::time::timeout(limit, self.stream.read(&mut buf)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}
