//! The request fingerprint: what "exactly as it was sent" means, in canonical bytes,
//! and the body preview the admin page shows.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::ids::{GrantId, StaffId};

/// The request an approval is bound to, as the policy saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestShape<'a> {
    /// The grant the support token names.
    pub grant: GrantId,
    /// The staff member (`act.sub`).
    pub actor: &'a StaffId,
    /// The HTTP method exactly as sent (not folded: `HEAD` is not `GET` here).
    pub method: &'a str,
    /// The normalised path that the policy checked and the gateway forwards.
    pub path: &'a str,
    /// The raw query string, without `?`; `None` when the target had no `?`.
    pub query: Option<&'a str>,
    /// The request body exactly as received (empty when there is none).
    pub body: &'a [u8],
}

/// SHA-256 (lower-case hex) of a request body.
pub fn body_sha256(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// The fingerprint of one request: SHA-256 over its canonical bytes.
///
/// The canonical bytes are a version line and one `name=value` line per part, in this
/// order, each value written `len:bytes` (its length in bytes, in decimal) or `~` when
/// absent:
///
/// ```text
/// support-access/approval/v1
/// grant=36:<grant uuid>
/// actor=<len>:<staff id>
/// method=<len>:<method as sent>
/// path=<len>:<normalised path>
/// query=<len>:<raw query> | query=~   (no `?` at all; `?` with nothing after is `0:`)
/// body_sha256=64:<hex SHA-256 of the body as received>
/// ```
///
/// Length prefixes make the encoding injective: no two different requests share their
/// bytes, so the same request always fingerprints alike and a change of any body byte,
/// of the query, path, method, actor or grant changes the fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The fingerprint of `request`.
    pub fn of(request: &RequestShape<'_>) -> Self {
        Self::from_parts(request, &body_sha256(request.body))
    }

    /// The fingerprint of `request` whose body hash is already known (`body` is
    /// ignored).
    pub fn from_parts(request: &RequestShape<'_>, body_sha256: &str) -> Self {
        Self(Sha256::digest(canonical_bytes(request, body_sha256)).into())
    }

    /// Lower-case hex, 64 characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex characters.
    pub fn from_hex(text: &str) -> Result<Self, hex::FromHexError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes)?;
        Ok(Self(bytes))
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// The canonical bytes of [`Fingerprint`].
pub fn canonical_bytes(request: &RequestShape<'_>, body_sha256: &str) -> Vec<u8> {
    use crate::canonical::field;
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"support-access/approval/v1\n");
    field(&mut out, "grant", Some(&request.grant.to_string()));
    field(&mut out, "actor", Some(request.actor.as_str()));
    field(&mut out, "method", Some(request.method));
    field(&mut out, "path", Some(request.path));
    field(&mut out, "query", request.query);
    field(&mut out, "body_sha256", Some(body_sha256));
    out
}

/// The longest body preview kept with an approval (SPEC §10: first 4 KiB).
pub const PREVIEW_BYTES: usize = 4096;

/// The first [`PREVIEW_BYTES`] of a body as text for the admin page: cut at a
/// character boundary, invalid UTF-8 replaced; `None` for an empty body.
pub fn body_preview(body: &[u8]) -> Option<String> {
    if body.is_empty() {
        return None;
    }
    let mut head = &body[..body.len().min(PREVIEW_BYTES)];
    if head.len() < body.len()
        && let Err(e) = std::str::from_utf8(head)
        && e.error_len().is_none()
    {
        // The cut fell inside a character: drop its first bytes.
        head = &head[..e.valid_up_to()];
    }
    Some(String::from_utf8_lossy(head).into_owned())
}
