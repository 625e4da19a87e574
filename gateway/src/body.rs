//! The one body type the gateway sends and forwards: a streamed hyper body, or bytes
//! the gateway produced (refusals, rewritten JSON). An enum rather than a boxed trait
//! object keeps the hot path free of an allocation per request.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::Full;
use hyper::body::Incoming;

/// Any error a body can end with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request or response body.
#[derive(Debug)]
pub enum Body {
    /// Streamed from the peer, never held in memory.
    Streamed(Incoming),
    /// Bytes held in memory.
    Full(Full<Bytes>),
    /// Produced by the management API (possibly streamed, e.g. an audit export).
    Api(axum::body::Body),
    /// A support body (response or upload) that ends when its holder's access ends.
    Revocable(Box<crate::live::Revocable<Body>>),
}

impl Body {
    /// A body of these bytes.
    pub fn bytes(bytes: impl Into<Bytes>) -> Self {
        Self::Full(Full::new(bytes.into()))
    }

    /// An empty body.
    pub fn empty() -> Self {
        Self::Full(Full::new(Bytes::new()))
    }
}

impl From<Incoming> for Body {
    fn from(incoming: Incoming) -> Self {
        Self::Streamed(incoming)
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Self::Streamed(body) => Pin::new(body).poll_frame(cx).map_err(Into::into),
            Self::Full(body) => Pin::new(body)
                .poll_frame(cx)
                .map_err(|never| match never {}),
            Self::Api(body) => Pin::new(body).poll_frame(cx).map_err(Into::into),
            Self::Revocable(body) => Pin::new(body.as_mut()).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Streamed(body) => body.is_end_stream(),
            Self::Full(body) => body.is_end_stream(),
            Self::Api(body) => body.is_end_stream(),
            Self::Revocable(body) => http_body::Body::is_end_stream(body.as_ref()),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Streamed(body) => body.size_hint(),
            Self::Full(body) => body.size_hint(),
            Self::Api(body) => body.size_hint(),
            Self::Revocable(body) => http_body::Body::size_hint(body.as_ref()),
        }
    }
}
