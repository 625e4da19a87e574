//! Finding JWT-shaped tokens inside text, the way a lenient upstream would dig them
//! out: bare or quoted (`Bearer "eyJ…"`), as an auth-param (`token=eyJ…`), folded behind
//! another credential, or as the user or password of `Basic` credentials (base64 of
//! `user:password`).

use base64::Engine;
use base64::engine::general_purpose::{
    GeneralPurpose, STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD,
};

use crate::tokens::{Peeked, peek};

/// Whether a byte can be part of a compact JWS.
fn is_jws_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')
}

/// Every JWT-shaped token in `text` (a run of base64url characters and dots that
/// decodes to a JOSE header and a JSON payload), with what its peek saw.
pub(crate) fn jwts_in(text: &str) -> Vec<(String, Peeked)> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut at = 0;
    // Every JOSE header is a JSON object, `{"…`, whose base64url starts `eyJ` or `eyI`;
    // one with leading whitespace (`{ "` → `eyAi`, `{\n` → `ewo`) is looked for too.
    while let Some(offset) = find_start(&bytes[at..]) {
        let start = at + offset;
        let mut end = start;
        while end < bytes.len() && is_jws_byte(bytes[end]) {
            end += 1;
        }
        let candidate = text[start..end].trim_end_matches('.');
        if candidate.contains('.')
            && let Some(peeked) = peek(candidate)
            && !found.iter().any(|(t, _): &(String, Peeked)| t == candidate)
        {
            found.push((candidate.to_owned(), peeked));
        }
        at = end.max(start + 1);
    }
    found
}

fn find_start(bytes: &[u8]) -> Option<usize> {
    (0..bytes.len().saturating_sub(2)).find(|&i| {
        let starts_here = bytes[i] == b'e'
            && matches!(bytes.get(i + 1), Some(b'y' | b'w'))
            && bytes.get(i + 2).is_some_and(u8::is_ascii_alphanumeric);
        starts_here && (i == 0 || !is_jws_byte(bytes[i - 1]))
    })
}

/// The texts hidden in base64 runs of `text` (the `user:password` of `Basic`
/// credentials, whatever the scheme's spelling), decoded leniently: either alphabet,
/// with or without padding.
pub(crate) fn base64_texts(text: &str) -> Vec<String> {
    const ENGINES: [GeneralPurpose; 4] = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD];
    text.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '-' | '_')))
        .filter(|run| run.len() >= 16)
        .filter_map(|run| {
            ENGINES
                .iter()
                .find_map(|engine| engine.decode(run).ok())
                .and_then(|bytes| String::from_utf8(bytes).ok())
        })
        .collect()
}
