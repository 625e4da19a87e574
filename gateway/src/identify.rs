//! Step 1 of every request: find every token an upstream might read (SPEC §2) and
//! decide, without signature work, whether the request is support traffic.
//!
//! A support token the gateway overlooks but the upstream accepts would be a full
//! bypass, so discovery walks every place and every convention:
//!
//! - **Where the CRM reads tokens**: the `Authorization` header (any scheme, any
//!   spelling, quoted, folded, or the user or password of `Basic` credentials), the
//!   `access_token` parameter of the query and of a form-encoded body (split on `&` and
//!   `;`, the name in any spelling [`fold_name`] folds alike: `access%5Ftoken`,
//!   `ACCESS_TOKEN`, `access.token`, …), and the configured cookies. Each token there
//!   counts.
//! - **Anywhere else** (every other header, every query parameter and form field, every
//!   cookie): a JWT-shaped token that claims the support issuer or a support `kid`.
//!
//! More than one `Authorization` header, or more than one distinct token, is refused
//! (`400`): a support token beside another could be the one the upstream picks. One
//! token that claims the support issuer or a support key makes the request a support
//! request, fully verified next; anything else is ordinary traffic.

use http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, HeaderMap};
use support_access_policy::query::{decode, fold_name, raw_pairs};

use crate::refusal::Refusal;
use crate::tokens::{Peeked, SupportSigner};

mod scan;

use scan::{base64_texts, jwts_in};

/// What kind of request this is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// No support token: forwarded without signature work.
    Ordinary,
    /// Carries a token that claims the support issuer or a support `kid`.
    Support(String),
}

/// Whether the request's body is form-encoded (`application/x-www-form-urlencoded`, in
/// any letter case, with any parameters, in any `Content-Type` header): frameworks read
/// `access_token` and `_method` from such bodies, so the gateway reads it first
/// (bounded by `limits.max_inspected_body_bytes`).
pub fn reads_form(headers: &HeaderMap) -> bool {
    headers.get_all(CONTENT_TYPE).iter().any(|value| {
        let text = String::from_utf8_lossy(value.as_bytes());
        text.split(',').any(|part| {
            part.split(';').next().is_some_and(|media| {
                media
                    .trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        })
    })
}

/// The distinct tokens found so far.
#[derive(Debug, Default)]
struct Found {
    tokens: Vec<(String, Option<Peeked>)>,
}

impl Found {
    fn add(&mut self, token: &str, peeked: Option<Peeked>) {
        let token = token.trim();
        if !token.is_empty() && !self.tokens.iter().any(|(t, _)| t == token) {
            self.tokens.push((token.to_owned(), peeked));
        }
    }

    /// A place the CRM reads a token from: its JWTs count, or else its whole value.
    fn place(&mut self, text: &str, opaque: &str) {
        let mut jwts = jwts_in(text);
        for hidden in base64_texts(text) {
            jwts.extend(jwts_in(&hidden));
        }
        if jwts.is_empty() {
            self.add(opaque.trim().trim_matches('"'), None);
        }
        for (token, peeked) in jwts {
            self.add(&token, Some(peeked));
        }
    }

    /// The `Authorization` value: like a [`Found::place`], and when its JWTs sit beside
    /// other credentials folded into one line (`Zoho-oauthtoken 1000.x, Bearer eyJ…`),
    /// those count too, so that the upstream can not pick one the gateway did not.
    fn authorization(&mut self, text: &str) {
        self.place(text, &credentials_of(text));
        if !text.contains(',') || self.tokens.iter().all(|(_, peeked)| peeked.is_none()) {
            return;
        }
        for part in text.split(',') {
            let part = part.trim();
            let hides_jwt = !jwts_in(part).is_empty()
                || base64_texts(part).iter().any(|t| !jwts_in(t).is_empty());
            let credentials = credentials_of(part);
            // `scheme credentials`, not an auth-param (`realm="x"`) of the previous one.
            if !hides_jwt && part.contains(' ') && !credentials.contains('=') {
                self.add(credentials.trim_matches('"'), None);
            }
        }
    }

    /// Anywhere else: only JWTs that claim to be support tokens count.
    fn elsewhere(&mut self, text: &str, signer: &SupportSigner) {
        for (token, peeked) in jwts_in(text) {
            if claims_support(&peeked, signer) {
                self.add(&token, Some(peeked));
            }
        }
    }
}

/// Whether a peeked token claims the support issuer (compared leniently: case,
/// surrounding space and a trailing `/` ignored) or carries a support `kid`.
fn claims_support(peeked: &Peeked, signer: &SupportSigner) -> bool {
    let normal = |s: &str| s.trim().trim_end_matches('/').to_ascii_lowercase();
    peeked
        .kid
        .as_deref()
        .is_some_and(|kid| signer.knows_kid(kid.trim()))
        || peeked
            .iss
            .as_deref()
            .is_some_and(|iss| normal(iss) == normal(signer.issuer()))
}

/// Finds the request's tokens and classifies it (see the module docs). `form` is the
/// body when [`reads_form`] said to read it.
pub fn identify(
    headers: &HeaderMap,
    query: Option<&str>,
    form: Option<&[u8]>,
    token_cookies: &[String],
    signer: &SupportSigner,
) -> Result<Identity, Refusal> {
    let mut found = Found::default();

    let mut authorizations = headers.get_all(AUTHORIZATION).iter();
    if let Some(value) = authorizations.next() {
        if authorizations.next().is_some() {
            return Err(Refusal::SeveralAuthorizationHeaders);
        }
        found.authorization(&String::from_utf8_lossy(value.as_bytes()));
    }
    let form = form.map(String::from_utf8_lossy);
    for text in [query, form.as_deref()].into_iter().flatten() {
        for (name, value) in raw_pairs(text) {
            let value = decode(value);
            if fold_name(name) == "access_token" {
                found.place(&value, &value);
            } else {
                found.elsewhere(&value, signer);
                found.elsewhere(&decode(name), signer);
            }
        }
    }
    for header in headers.get_all(COOKIE) {
        let text = String::from_utf8_lossy(header.as_bytes());
        for cookie in text.split(';') {
            let (name, value) = cookie.split_once('=').unwrap_or((cookie, ""));
            let decoded = decode(value.trim());
            let name = name.trim();
            if token_cookies
                .iter()
                .any(|c| c == name || *c == decode(name))
            {
                found.place(&decoded, &decoded);
            } else {
                found.elsewhere(&decoded, signer);
            }
        }
    }
    for (name, value) in headers {
        if name != AUTHORIZATION && name != COOKIE {
            found.elsewhere(&String::from_utf8_lossy(value.as_bytes()), signer);
        }
    }

    match found.tokens.as_slice() {
        [] => Ok(Identity::Ordinary),
        [(token, peeked)] => Ok(
            if peeked.as_ref().is_some_and(|p| claims_support(p, signer)) {
                Identity::Support(token.clone())
            } else {
                Identity::Ordinary
            },
        ),
        _ => Err(Refusal::SeveralTokens),
    }
}

/// The credentials of an `Authorization` value: what follows the scheme, or all of it.
fn credentials_of(text: &str) -> String {
    match text.trim().split_once(|c: char| c.is_ascii_whitespace()) {
        Some((_scheme, credentials)) => credentials.trim().to_owned(),
        None => text.trim().to_owned(),
    }
}

#[cfg(test)]
mod tests;
