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

    /// The next id, `<prefix>-<counter>` in hex, written into a stack buffer (no
    /// formatting machinery, one allocation: the header value's own bytes).
    pub(crate) fn next(&self) -> RequestId {
        let counter = self.next.fetch_add(1, Ordering::Relaxed);
        let mut buffer = [0u8; 8 + 1 + 16];
        hex_into(&mut buffer[..8], u64::from(self.prefix), 8);
        buffer[8] = b'-';
        let digits = (64 - counter.leading_zeros()).div_ceil(4).max(1) as usize;
        hex_into(&mut buffer[9..9 + digits], counter, digits);
        RequestId(
            HeaderValue::from_bytes(&buffer[..9 + digits])
                .unwrap_or_else(|_| HeaderValue::from_static("0")),
        )
    }
}

/// The low `digits` hex digits of `value`, most significant first, into `out`.
fn hex_into(out: &mut [u8], mut value: u64, digits: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for slot in out[..digits].iter_mut().rev() {
        *slot = HEX[(value & 0xf) as usize];
        value >>= 4;
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
    fn made_ids_are_the_prefix_and_the_counter_in_hex() {
        let ids = RequestIds {
            prefix: 0x0a1b_2c3d,
            next: AtomicU64::new(0),
        };
        assert_eq!(ids.next().as_str(), "0a1b2c3d-0");
        assert_eq!(ids.next().as_str(), "0a1b2c3d-1");
        ids.next.store(0x1f2e, Ordering::Relaxed);
        assert_eq!(ids.next().as_str(), "0a1b2c3d-1f2e");
        ids.next.store(u64::MAX, Ordering::Relaxed);
        assert_eq!(ids.next().as_str(), "0a1b2c3d-ffffffffffffffff");
    }

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
