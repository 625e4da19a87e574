//! Request ids (SPEC §7): a client's own `X-Request-Id` of at most 128 visible ASCII
//! characters is kept, else the gateway makes one from a random per-process prefix and
//! a counter, unique without coordination and cheap on the hot path (ordinary traffic
//! is benchmarked against nginx). The id goes upstream, into the response, the audit
//! events, the refusal body and the log lines.

use std::sync::atomic::{AtomicU64, Ordering};

use http::header::{HeaderMap, HeaderName, HeaderValue};

/// The header that carries the id both ways.
pub(crate) static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest client id kept.
pub(crate) const MAX_LEN: usize = 128;

/// Makes the id of each request of this process.
#[derive(Debug)]
pub(crate) struct RequestIds {
    prefix: u32,
    next: AtomicU64,
}

/// One request's id, as a header value (always visible ASCII, so also a `&str`).
#[derive(Debug, Clone)]
pub(crate) struct RequestId(HeaderValue);

impl RequestId {
    /// The id as text.
    pub(crate) fn as_str(&self) -> &str {
        // Only visible ASCII gets here (kept ids are checked, made ids are hex).
        self.0.to_str().unwrap_or_default()
    }

    /// The id as a header value.
    pub(crate) fn header(&self) -> &HeaderValue {
        &self.0
    }
}

impl RequestIds {
    pub(crate) fn new() -> Self {
        Self {
            prefix: uuid::Uuid::new_v4().as_u128() as u32,
            next: AtomicU64::new(1),
        }
    }

    /// The id of a request with these headers: its own `X-Request-Id` if that is 1 to
    /// 128 visible ASCII characters, else a new one.
    pub(crate) fn for_request(&self, headers: &HeaderMap) -> RequestId {
        match headers.get(&X_REQUEST_ID) {
            Some(own) if acceptable(own) => RequestId(own.clone()),
            _ => self.next(),
        }
    }

    /// The next id, `<prefix>-<counter>` in hex.
    pub(crate) fn next(&self) -> RequestId {
        let text = format!(
            "{:08x}-{:x}",
            self.prefix,
            self.next.fetch_add(1, Ordering::Relaxed)
        );
        RequestId(
            HeaderValue::from_maybe_shared(bytes::Bytes::from(text))
                .unwrap_or_else(|_| HeaderValue::from_static("0")),
        )
    }
}

/// At most [`MAX_LEN`] visible ASCII characters (`!` to `~`), at least one.
fn acceptable(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty() && bytes.len() <= MAX_LEN && bytes.iter().all(|b| (0x21..=0x7e).contains(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_and_share_the_process_prefix() {
        let ids = RequestIds::new();
        let (a, b) = (ids.next(), ids.next());
        assert_ne!(a.as_str(), b.as_str());
        assert_eq!(
            a.as_str().split_once('-').map(|p| p.0),
            b.as_str().split_once('-').map(|p| p.0)
        );
    }

    fn with_id(value: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(&X_REQUEST_ID, HeaderValue::from_bytes(value).unwrap());
        headers
    }

    #[test]
    fn a_client_id_of_visible_ascii_is_kept() {
        let ids = RequestIds::new();
        let id = ids.for_request(&with_id(b"trace-4f1c/abc:1"));
        assert_eq!(id.as_str(), "trace-4f1c/abc:1");
        let longest = "a".repeat(MAX_LEN);
        assert_eq!(
            ids.for_request(&with_id(longest.as_bytes())).as_str(),
            longest
        );
    }

    #[test]
    fn a_client_id_too_long_or_with_spaces_or_bytes_beyond_ascii_is_replaced() {
        let ids = RequestIds::new();
        let too_long = "a".repeat(MAX_LEN + 1);
        for bad in [
            too_long.as_bytes(),
            b"two words",
            b"caf\xc3\xa9",
            b"tab\there",
            b"",
        ] {
            let id = ids.for_request(&with_id(bad));
            assert_ne!(id.as_bytes_for_test(), bad);
            assert!(id.as_str().contains('-'), "{}", id.as_str());
        }
    }

    impl RequestId {
        fn as_bytes_for_test(&self) -> &[u8] {
            self.0.as_bytes()
        }
    }
}
