//! Request-target normalisation (SPEC §3 step 2).
//!
//! [`normalise_target`] turns the raw request target into a [`Target`]: the canonical
//! path that is **both** what the policy matches and what the gateway forwards, its
//! lower-cased match key, and the untouched query string. Anything that could make the
//! upstream read a different path than the one checked is refused with a
//! [`NormaliseError`] carrying a stable [`code`](NormaliseError::code) (all are `400`s).
//!
//! Rules, strictest reading of RFC 3986 that Zoho's own clients still pass:
//! - only origin-form targets (`/…`); absolute-form, authority-form and `*` are refused;
//! - `%XX` of an unreserved character (`A-Z a-z 0-9 - . _ ~`) is decoded; every other
//!   escape is refused: `%2F` (encoded slash), `%5C`, `%25` (double encoding), control
//!   characters, bytes ≥ 0x80 (overlong UTF-8 such as `%c0%af`) and reserved characters;
//! - raw `\`, `;` (path parameters), control characters, non-ASCII bytes and characters
//!   that are not allowed in a path are refused; `#` anywhere is refused;
//! - `.` and `..` segments (also after decoding, e.g. `%2e%2e`), segments made only of
//!   dots and segments ending in a dot are refused;
//! - repeated `/` collapse and a trailing `/` is dropped;
//! - the match key is the canonical path in ASCII lower case; the forwarded path keeps
//!   the case the client sent.
//!
//! [`check_header_names`] refuses method-override and path-carrying headers, and the
//! query string is checked for `_method`-style parameters.

use std::fmt;

use crate::query::{decode_repeatedly, fold_name, raw_pairs};

/// Longest request target accepted, in bytes.
pub const MAX_TARGET_LEN: usize = 16 * 1024;

/// Headers that ask a server to use another method than the request line's.
pub const METHOD_OVERRIDE_HEADERS: &[&str] = &[
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "x-original-method",
];

/// Headers that ask a server or proxy to use another path than the request line's.
pub const PATH_OVERRIDE_HEADERS: &[&str] = &[
    "x-original-url",
    "x-original-uri",
    "x-forwarded-uri",
    "x-forwarded-path",
    "x-forwarded-prefix",
    "x-rewrite-url",
    "x-envoy-original-path",
];

/// Query parameters (compared after percent-decoding, ASCII case-insensitively) that
/// override the method or carry a path.
pub const OVERRIDE_QUERY_PARAMETERS: &[&str] = &[
    "_method",
    "_http_method",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "_url",
    "_path",
];

/// Why a request target, header or query was refused. Every variant is a client error
/// (`400`) with a stable [`code`](Self::code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NormaliseError {
    /// The target is longer than [`MAX_TARGET_LEN`].
    #[error("the request target is longer than {MAX_TARGET_LEN} bytes")]
    TooLong,
    /// An absolute-form target (`http://host/path`).
    #[error("absolute-form request targets are refused; send the path only")]
    AbsoluteForm,
    /// Not a path starting with `/` (authority-form, `*`, empty, …).
    #[error("the request target is not a path starting with '/'")]
    NotOriginForm,
    /// A `#` in the target.
    #[error("the request target contains a fragment ('#')")]
    Fragment,
    /// `%2F`.
    #[error("the path contains an encoded slash (%2F)")]
    EncodedSlash,
    /// A raw or encoded backslash.
    #[error("the path contains a backslash (raw or %5C)")]
    Backslash,
    /// NUL or another control character, raw or encoded.
    #[error("the request target contains a NUL or control character")]
    ControlCharacter,
    /// A byte ≥ 0x80, raw or encoded (covers overlong UTF-8 such as `%c0%af`).
    #[error("the path contains non-ASCII bytes")]
    NonAscii,
    /// `%25`: a percent sign that was itself encoded.
    #[error("the path is percent-encoded twice (%25)")]
    DoubleEncoding,
    /// An escape of a reserved character (`%3B`, `%3F`, `%23`, `%20`, …).
    #[error("the path contains a percent-encoded reserved character")]
    EncodedReserved,
    /// `%` not followed by two hex digits.
    #[error("the path contains a malformed percent escape")]
    MalformedPercent,
    /// A `;` path parameter.
    #[error("the path contains a ';' path parameter")]
    PathParameter,
    /// A character that is not allowed in a path (space, `"`, `<`, `{`, `|`, …).
    #[error("the path contains a character that is not allowed in a URL path")]
    InvalidCharacter,
    /// A `.` or `..` segment, or a segment of dots only.
    #[error("the path contains a '.' or '..' segment")]
    DotSegment,
    /// A segment ending in `.`, which some servers strip.
    #[error("a path segment ends with '.'")]
    TrailingDot,
    /// A method-override header or query parameter.
    #[error("method override '{0}' is refused")]
    MethodOverride(String),
    /// A header or query parameter that carries another path.
    #[error("path override '{0}' is refused")]
    PathOverride(String),
}

impl NormaliseError {
    /// The stable code of this refusal, the JSON `error` field.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLong => "target_too_long",
            Self::AbsoluteForm => "absolute_form_target",
            Self::NotOriginForm => "odd_request_target",
            Self::Fragment => "fragment_in_target",
            Self::EncodedSlash => "encoded_slash",
            Self::Backslash => "backslash_in_path",
            Self::ControlCharacter => "control_character",
            Self::NonAscii => "non_ascii_path",
            Self::DoubleEncoding => "double_encoding",
            Self::EncodedReserved => "encoded_reserved_character",
            Self::MalformedPercent => "malformed_percent_encoding",
            Self::PathParameter => "path_parameter",
            Self::InvalidCharacter => "invalid_path_character",
            Self::DotSegment => "dot_segment",
            Self::TrailingDot => "trailing_dot_segment",
            Self::MethodOverride(_) => "method_override",
            Self::PathOverride(_) => "path_override",
        }
    }
}

/// A normalised request target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    path: String,
    key: String,
    query: Option<String>,
}

impl Target {
    /// The canonical path: what the policy matched and what must be forwarded, in the
    /// client's letter case (e.g. `/crm/v8/Leads/42`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The match key: [`path`](Self::path) in ASCII lower case.
    pub fn match_key(&self) -> &str {
        &self.key
    }

    /// The query string after `?`, unchanged, if there was one.
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// The target to forward upstream: canonical path plus the original query.
    pub fn forward_target(&self) -> String {
        match &self.query {
            Some(query) => format!("{}?{}", self.path, query),
            None => self.path.clone(),
        }
    }

    /// The segments of the canonical path, in the client's letter case.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.path.split('/').filter(|s| !s.is_empty())
    }
}

impl Target {
    /// The target with the last segment cut at its first `.` (`send_mail.json` →
    /// `send_mail`), if it has one past its first character: some frameworks route
    /// `/x.json` as `/x` (suffix pattern matching), so the policy checks both.
    pub(crate) fn without_suffix(&self) -> Option<Target> {
        let (head, last) = self.path.rsplit_once('/')?;
        let dot = last.find('.').filter(|&i| i > 0)?;
        let path = format!("{head}/{}", last.get(..dot)?);
        Some(Target {
            key: path.to_ascii_lowercase(),
            path,
            query: self.query.clone(),
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.forward_target())
    }
}

/// Normalises a raw request target (`/path?query`, as on the request line).
///
/// ```
/// # use support_access_policy::normalise::normalise_target;
/// let t = normalise_target("/crm//v8/%4Ceads/?fields=Last_Name").unwrap();
/// assert_eq!(t.path(), "/crm/v8/Leads");
/// assert_eq!(t.match_key(), "/crm/v8/leads");
/// assert_eq!(t.query(), Some("fields=Last_Name"));
/// assert!(normalise_target("/crm/v8/settings%2Faudit_log_export").is_err());
/// ```
pub fn normalise_target(raw: &str) -> Result<Target, NormaliseError> {
    let bytes = raw.as_bytes();
    if bytes.len() > MAX_TARGET_LEN {
        return Err(NormaliseError::TooLong);
    }
    if !raw.starts_with('/') {
        return Err(if raw.contains("://") {
            NormaliseError::AbsoluteForm
        } else {
            NormaliseError::NotOriginForm
        });
    }
    if bytes.contains(&b'#') {
        return Err(NormaliseError::Fragment);
    }
    let (raw_path, query) = match raw.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (raw, None),
    };
    if let Some(query) = query {
        check_query(query)?;
    }
    let decoded = decode_path(raw_path.as_bytes())?;
    let mut path = String::with_capacity(decoded.len());
    for segment in decoded.split('/').filter(|s| !s.is_empty()) {
        if segment.bytes().all(|b| b == b'.') {
            return Err(NormaliseError::DotSegment);
        }
        if segment.ends_with('.') {
            return Err(NormaliseError::TrailingDot);
        }
        path.push('/');
        path.push_str(segment);
    }
    if path.is_empty() {
        path.push('/');
    }
    let key = path.to_ascii_lowercase();
    Ok(Target {
        path,
        key,
        query: query.map(str::to_owned),
    })
}

/// A header name as an upstream might fold it: ASCII lower case, and every character
/// that is not a letter or digit read as `-` (CGI and PHP turn `-` into `_`, so
/// `X_HTTP_Method_Override` and `X.Support.Access.User` reach them under the same name).
///
/// ```
/// # use support_access_policy::normalise::fold_header_name;
/// assert_eq!(fold_header_name("X_Support_Access_User"), "x-support-access-user");
/// assert_eq!(fold_header_name("x.http.method.override"), "x-http-method-override");
/// ```
pub fn fold_header_name(name: &str) -> String {
    name.trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

/// Refuses method-override and path-carrying headers, given the request's header names
/// (in any spelling [`fold_header_name`] folds alike).
///
/// ```
/// # use support_access_policy::normalise::check_header_names;
/// assert!(check_header_names(["accept", "Authorization"]).is_ok());
/// assert_eq!(check_header_names(["X-HTTP-Method-Override"]).unwrap_err().code(), "method_override");
/// assert_eq!(check_header_names(["X_HTTP_Method"]).unwrap_err().code(), "method_override");
/// assert_eq!(check_header_names(["X-Original-URL"]).unwrap_err().code(), "path_override");
/// ```
pub fn check_header_names<'a>(
    names: impl IntoIterator<Item = &'a str>,
) -> Result<(), NormaliseError> {
    for name in names {
        let folded = fold_header_name(name);
        if METHOD_OVERRIDE_HEADERS.contains(&folded.as_str()) {
            return Err(NormaliseError::MethodOverride(folded));
        }
        if PATH_OVERRIDE_HEADERS.contains(&folded.as_str()) {
            return Err(NormaliseError::PathOverride(folded));
        }
    }
    Ok(())
}

/// Refuses a query parameter name that overrides the method or carries a path.
pub fn check_query_parameter_name(name: &str) -> Result<(), NormaliseError> {
    let decoded = decode_repeatedly(name);
    let decoded = decoded.trim();
    if let Some(found) = OVERRIDE_QUERY_PARAMETERS
        .iter()
        .find(|p| p.eq_ignore_ascii_case(decoded) || **p == fold_name(name))
    {
        return Err(if found.ends_with("url") || found.ends_with("path") {
            NormaliseError::PathOverride((*found).to_owned())
        } else {
            NormaliseError::MethodOverride((*found).to_owned())
        });
    }
    Ok(())
}

/// The methods that an ordinary request asks for besides its request line's: the values
/// of method-override headers (any spelling) and of `_method`-style parameters in the
/// query and, when given, a form-encoded body. Upper-cased and trimmed, as the
/// frameworks that honour them do. Ordinary traffic is guarded as every one of them.
///
/// ```
/// # use support_access_policy::normalise::method_overrides;
/// let headers = [("x-http-method-override", "post")];
/// assert_eq!(method_overrides(headers, Some("_method=PUT"), Some(b"_method=patch")), ["POST", "PUT", "PATCH"]);
/// ```
pub fn method_overrides<'a>(
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    query: Option<&str>,
    form: Option<&[u8]>,
) -> Vec<String> {
    let mut methods: Vec<String> = Vec::new();
    let mut add = |value: &str| {
        let method = value.trim().to_ascii_uppercase();
        if !method.is_empty() && !methods.contains(&method) {
            methods.push(method);
        }
    };
    for (name, value) in headers {
        if METHOD_OVERRIDE_HEADERS.contains(&fold_header_name(name).as_str()) {
            value.split(',').for_each(&mut add);
        }
    }
    let form = form.map(String::from_utf8_lossy);
    for text in [query, form.as_deref()].into_iter().flatten() {
        for (name, value) in raw_pairs(text) {
            if matches!(
                check_query_parameter_name(name),
                Err(NormaliseError::MethodOverride(_))
            ) {
                add(&decode_repeatedly(value));
            }
        }
    }
    methods
}

/// Checks a raw query string: no control or non-ASCII bytes (raw or `%00`-style), no
/// override parameters. Parameters are split on `&` and `;` (some servers split on both).
fn check_query(query: &str) -> Result<(), NormaliseError> {
    let bytes = query.as_bytes();
    for (index, &b) in bytes.iter().enumerate() {
        if b < 0x20 || b == 0x7f {
            return Err(NormaliseError::ControlCharacter);
        }
        if b >= 0x80 {
            return Err(NormaliseError::NonAscii);
        }
        if b == b'%'
            && let Some(value) = hex_pair(bytes, index + 1)
            && (value < 0x20 || value == 0x7f)
        {
            return Err(NormaliseError::ControlCharacter);
        }
    }
    for (name, value) in raw_pairs(query) {
        check_query_parameter_name(name)?;
        // A path hidden in the query (`?/crm/v8/…`, `?next=/crm/…`) is refused: a
        // framework or proxy that routes on it would reach a route nobody checked.
        for part in [name, value] {
            let decoded = decode_repeatedly(part);
            let decoded = decoded.trim();
            if decoded.starts_with('/') || decoded.starts_with('\\') || decoded.contains("://") {
                return Err(NormaliseError::PathOverride("query".to_owned()));
            }
        }
    }
    Ok(())
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Characters allowed raw in a path besides unreserved ones and `/`: the sub-delims
/// except `;`, plus `:` and `@`.
fn is_allowed_raw(b: u8) -> bool {
    matches!(
        b,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b'=' | b':' | b'@'
    )
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn hex_pair(bytes: &[u8], at: usize) -> Option<u8> {
    let high = hex_value(*bytes.get(at)?)?;
    let low = hex_value(*bytes.get(at + 1)?)?;
    Some(high << 4 | low)
}

fn decode_path(bytes: &[u8]) -> Result<String, NormaliseError> {
    let mut out = String::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&b) = bytes.get(index) {
        if b == b'%' {
            let decoded = hex_pair(bytes, index + 1).ok_or(NormaliseError::MalformedPercent)?;
            match decoded {
                b'%' => return Err(NormaliseError::DoubleEncoding),
                b'/' => return Err(NormaliseError::EncodedSlash),
                b'\\' => return Err(NormaliseError::Backslash),
                0x00..=0x1f | 0x7f => return Err(NormaliseError::ControlCharacter),
                0x80..=0xff => return Err(NormaliseError::NonAscii),
                d if is_unreserved(d) => out.push(char::from(d)),
                _ => return Err(NormaliseError::EncodedReserved),
            }
            index += 3;
            continue;
        }
        match b {
            b'\\' => return Err(NormaliseError::Backslash),
            0x00..=0x1f | 0x7f => return Err(NormaliseError::ControlCharacter),
            0x80..=0xff => return Err(NormaliseError::NonAscii),
            b';' => return Err(NormaliseError::PathParameter),
            b'/' => out.push('/'),
            b if is_unreserved(b) || is_allowed_raw(b) => out.push(char::from(b)),
            _ => return Err(NormaliseError::InvalidCharacter),
        }
        index += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
