//! Step 1 of every request: find every token the CRM would read — each `Authorization`
//! header whatever its scheme, `access_token` query parameters, configured cookies —
//! and decide, without signature work, whether the request is support traffic.

use std::borrow::Cow;

use http::StatusCode;
use http::header::{AUTHORIZATION, COOKIE, HeaderMap};

use crate::refusal::Refusal;
use crate::tokens::{SupportSigner, peek};

/// What kind of request this is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// No support token: forwarded without signature work.
    Ordinary,
    /// Carries a token that claims the support issuer or a support `kid`.
    Support(String),
}

/// Finds the request's token and classifies it. More than one `Authorization` header, or
/// more than one distinct token anywhere, is refused (`400`): a support token overlooked
/// beside a customer token would be a bypass.
pub fn identify(
    headers: &HeaderMap,
    query: Option<&str>,
    token_cookies: &[String],
    signer: &SupportSigner,
) -> Result<Identity, Refusal> {
    let mut found: Option<Cow<'_, str>> = None;
    let mut add = |token: Cow<'_, str>| -> Result<(), Refusal> {
        let token_text = token.trim();
        if token_text.is_empty() {
            return Ok(());
        }
        match &found {
            Some(existing) if existing.as_ref() != token_text => Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "several_tokens",
                "The request carries more than one distinct token.",
            )),
            Some(_) => Ok(()),
            None => {
                found = Some(Cow::Owned(token_text.to_owned()));
                Ok(())
            }
        }
    };

    let mut authorizations = headers.get_all(AUTHORIZATION).iter();
    if let Some(value) = authorizations.next() {
        if authorizations.next().is_some() {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "several_authorization_headers",
                "The request carries more than one Authorization header.",
            ));
        }
        let text = String::from_utf8_lossy(value.as_bytes());
        // A folded field ("Bearer a, Bearer b", as a proxy joins two lines) carries
        // several credentials: each part that is a JWT counts, so none hides behind another.
        if text.contains(',') {
            for part in text.split(',') {
                let part = credentials_of(part);
                if peek(&part).is_some() {
                    add(Cow::Owned(part))?;
                }
            }
        }
        add(Cow::Owned(credentials_of(&text)))?;
    }
    if let Some(query) = query {
        for pair in query.split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            if percent_decode(name).eq_ignore_ascii_case("access_token") {
                add(Cow::Owned(percent_decode(value)))?;
            }
        }
    }
    if !token_cookies.is_empty() {
        for header in headers.get_all(COOKIE) {
            let text = String::from_utf8_lossy(header.as_bytes());
            for cookie in text.split(';') {
                let (name, value) = cookie.split_once('=').unwrap_or((cookie, ""));
                if token_cookies.iter().any(|c| c == name.trim()) {
                    add(Cow::Owned(value.trim().trim_matches('"').to_owned()))?;
                }
            }
        }
    }
    let Some(token) = found else {
        return Ok(Identity::Ordinary);
    };
    let is_support = peek(&token).is_some_and(|peeked| {
        peeked
            .kid
            .as_deref()
            .is_some_and(|kid| signer.knows_kid(kid))
            || peeked.iss.as_deref() == Some(signer.issuer())
    });
    Ok(if is_support {
        Identity::Support(token.into_owned())
    } else {
        Identity::Ordinary
    })
}

/// The credentials of an `Authorization` value: what follows the scheme, or all of it.
fn credentials_of(text: &str) -> String {
    match text.trim().split_once(|c: char| c.is_ascii_whitespace()) {
        Some((_scheme, credentials)) => credentials.trim().to_owned(),
        None => text.trim().to_owned(),
    }
}

/// Decodes `%XX` escapes and `+` (form encoding) leniently; undecodable bytes are kept.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
