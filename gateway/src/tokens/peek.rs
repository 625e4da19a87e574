//! The unverified peek: enough of a token to classify the request, with no signature
//! work. Anything that fails to parse is simply not a JWT (Zoho's own OAuth tokens are
//! opaque), so it is ordinary traffic.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

/// What the peek saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Peeked {
    /// The header's `kid`.
    pub kid: Option<String>,
    /// The payload's `iss`.
    pub iss: Option<String>,
}

#[derive(Deserialize)]
struct Header {
    kid: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Payload {
    iss: Option<serde_json::Value>,
}

/// Decodes the header's `kid` and the payload's `iss` of a compact JWS, if it is one.
pub fn peek(token: &str) -> Option<Peeked> {
    let mut parts = token.split('.');
    let (header, payload) = (parts.next()?, parts.next()?);
    if header.is_empty() || payload.is_empty() {
        return None;
    }
    let header: Header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
    let payload: Payload = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    Some(Peeked {
        // A `kid` that is not a string is never one of ours, but it must not hide the
        // `iss` either: both are read independently.
        kid: match header.kid {
            Some(serde_json::Value::String(kid)) => Some(kid),
            _ => None,
        },
        iss: match payload.iss {
            Some(serde_json::Value::String(iss)) => Some(iss),
            _ => None,
        },
    })
}
