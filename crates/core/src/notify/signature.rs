//! The Standard Webhooks wire format (standardwebhooks.com): a `POST` with
//! `Content-Type: application/json` and the headers `webhook-id`, `webhook-timestamp`
//! (Unix seconds) and `webhook-signature: v1,<base64(HMAC-SHA256(key,
//! "<id>.<timestamp>.<body>"))>`, where `key` is the secret's bytes after `whsec_`.
//! HMAC is aws-lc-rs's, the crypto library the product already signs tokens with.

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::Secret;

/// Header of the message id.
pub const ID_HEADER: &str = "webhook-id";
/// Header of the attempt's Unix time.
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// Header of the signatures.
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// The headers of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp`: the attempt's time in Unix seconds.
    pub timestamp: i64,
    /// `webhook-signature`: `v1,<base64>`.
    pub signature: String,
}

impl Signed {
    /// The three headers, names lowercase, in the order above.
    pub fn headers(&self) -> [(&'static str, String); 3] {
        [
            (ID_HEADER, self.id.clone()),
            (TIMESTAMP_HEADER, self.timestamp.to_string()),
            (SIGNATURE_HEADER, self.signature.clone()),
        ]
    }
}

fn tag(secret: &Secret, id: &str, timestamp: i64, body: &[u8]) -> hmac::Tag {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.key());
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(id.as_bytes());
    ctx.update(b".");
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    ctx.sign()
}

/// Signs one attempt of message `id` with `body`, sent at `timestamp` (Unix seconds).
pub fn sign(secret: &Secret, id: &str, timestamp: i64, body: &[u8]) -> Signed {
    let signature = format!("v1,{}", STANDARD.encode(tag(secret, id, timestamp, body)));
    Signed {
        id: id.to_owned(),
        timestamp,
        signature,
    }
}

/// Why a receiver refuses a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The timestamp is further than the tolerance from now (a replay, or a clock off).
    #[error("webhook-timestamp is outside the tolerance")]
    Stale,
    /// No `v1` signature of the header matches.
    #[error("no webhook signature matches")]
    Mismatch,
}

/// Checks a delivery as a receiver does: `timestamp` within `tolerance_secs` of `now`
/// (Unix seconds), and one of the space-separated `v1,` signatures of `header` the
/// HMAC of `id.timestamp.body` (compared in constant time).
pub fn verify(
    secret: &Secret,
    id: &str,
    timestamp: i64,
    body: &[u8],
    header: &str,
    now: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    if (now - timestamp).abs() > tolerance_secs {
        return Err(SignatureError::Stale);
    }
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.key());
    let mut message = Vec::with_capacity(id.len() + body.len() + 24);
    message.extend_from_slice(id.as_bytes());
    message.push(b'.');
    message.extend_from_slice(timestamp.to_string().as_bytes());
    message.push(b'.');
    message.extend_from_slice(body);
    let matches = header
        .split_ascii_whitespace()
        .filter_map(|part| part.strip_prefix("v1,"))
        .filter_map(|encoded| STANDARD.decode(encoded).ok())
        .any(|given| hmac::verify(&key, &message, &given).is_ok());
    if matches {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}
