//! Route templates as written in the policy file (`/crm/v{N}/{module}/{*rest}`), parsed
//! into segments, and the route-table keys they become.

use std::sync::Arc;

/// The placeholder that stands for a version segment in templates and lookup keys. It
/// holds a `%`, which no normalised path keeps, so no real segment can collide with it.
pub(super) const VERSION_PLACEHOLDER: &str = "%v";

/// The first segment of the route-table keys of subtree rules (templates ending in
/// `{*rest}`), so they share the one route table without meeting ordinary routes.
pub(super) const SUBTREE_NAMESPACE: &str = "/%t";

/// One segment of a parsed template.
pub(super) enum TemplateSegment {
    Literal(String),
    Version,
    Param(String),
    CatchAll(String),
}

impl TemplateSegment {
    /// Whether the segment is the final `{*rest}` of a subtree template.
    pub(super) fn is_catch_all(&self) -> bool {
        matches!(self, Self::CatchAll(_))
    }
}

/// The lower-cased, non-empty segments of a path.
pub(super) fn split_segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// Whether a path segment is an API version (`v8`, `v2.1`).
pub(crate) fn is_version_segment(segment: &str) -> bool {
    let Some(rest) = segment.strip_prefix('v') else {
        return false;
    };
    let (major, minor) = match rest.split_once('.') {
        Some((major, minor)) => (major, Some(minor)),
        None => (rest, None),
    };
    let digits = |s: &str| !s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit());
    digits(major) && minor.is_none_or(digits)
}

pub(super) fn starts_with_segments(segments: &[&str], prefix: &[String]) -> bool {
    segments.len() >= prefix.len() && segments.iter().zip(prefix).all(|(a, b)| *a == b)
}

/// Parses a template; the message says what is wrong with it.
pub(super) fn parse_template(
    template: &str,
    version_roots: &[Vec<String>],
) -> Result<Vec<TemplateSegment>, String> {
    if !template.starts_with('/') {
        return Err(format!("'{template}' must start with '/'"));
    }
    let raw: Vec<&str> = template.split('/').skip(1).collect();
    if template != "/" && raw.iter().any(|s| s.is_empty()) {
        return Err(format!(
            "'{template}' has an empty segment or a trailing '/'"
        ));
    }
    let raw: Vec<&str> = raw.into_iter().filter(|s| !s.is_empty()).collect();
    let mut out = Vec::with_capacity(raw.len());
    // The segments so far as the version-root check sees them.
    let mut literals: Vec<String> = Vec::new();
    for (index, segment) in raw.iter().enumerate() {
        let last = index + 1 == raw.len();
        let parsed = parse_segment(template, segment, last, version_roots, &literals)?;
        literals.push(match &parsed {
            TemplateSegment::Literal(s) => s.clone(),
            TemplateSegment::Version => VERSION_PLACEHOLDER.to_owned(),
            TemplateSegment::Param(_) | TemplateSegment::CatchAll(_) => String::from("{}"),
        });
        out.push(parsed);
    }
    Ok(out)
}

fn parse_segment(
    template: &str,
    segment: &str,
    last: bool,
    version_roots: &[Vec<String>],
    before: &[String],
) -> Result<TemplateSegment, String> {
    let lower = segment.to_ascii_lowercase();
    if lower == "v{n}" {
        if !version_roots.iter().any(|root| root == before) {
            return Err(format!("'{template}': v{{N}} must follow a version root"));
        }
        return Ok(TemplateSegment::Version);
    }
    if let Some(inner) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
        return parse_param(template, segment, inner, last);
    }
    if !is_valid_literal(&lower) {
        return Err(format!("'{template}': bad literal segment '{segment}'"));
    }
    Ok(TemplateSegment::Literal(lower))
}

fn parse_param(
    template: &str,
    segment: &str,
    inner: &str,
    last: bool,
) -> Result<TemplateSegment, String> {
    let (name, catch_all) = match inner.strip_prefix('*') {
        Some(name) => (name, true),
        None => (inner, false),
    };
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(format!("'{template}': bad parameter '{segment}'"));
    }
    if catch_all && !last {
        return Err(format!(
            "'{template}': a catch-all must be the last segment"
        ));
    }
    Ok(if catch_all {
        TemplateSegment::CatchAll(name.to_owned())
    } else {
        TemplateSegment::Param(name.to_owned())
    })
}

/// A literal segment: RFC 3986 unreserved and sub-delimiter characters (and `:`, `@`),
/// not only dots.
fn is_valid_literal(lower: &str) -> bool {
    let valid = lower.bytes().all(|b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b'='
                    | b':'
                    | b'@'
            )
    });
    valid && !lower.bytes().all(|b| b == b'.')
}

/// The specificity of a template (see `RouteRule::specificity`): 3 per literal, 2 per
/// parameter, 0 for a catch-all, and an end mark 1 after a template without one, so
/// that `/a/b` (3 3 1) beats `/a/b/{*rest}` (3 3 0) on the path `/a/b` itself.
pub(super) fn specificity(segments: &[TemplateSegment]) -> Arc<[u8]> {
    let mut ranks: Vec<u8> = segments
        .iter()
        .map(|segment| match segment {
            TemplateSegment::Literal(_) | TemplateSegment::Version => 3,
            TemplateSegment::Param(_) => 2,
            TemplateSegment::CatchAll(_) => 0,
        })
        .collect();
    if !matches!(segments.last(), Some(TemplateSegment::CatchAll(_))) {
        ranks.push(1);
    }
    ranks.into()
}

/// The route-table key of a template (parameters named by position, so templates that
/// differ only in parameter names share one route) and its parameter positions.
pub(super) fn route_key(segments: &[TemplateSegment]) -> (String, Vec<(String, usize)>) {
    let mut key = String::new();
    let mut params = Vec::new();
    for (index, segment) in segments.iter().enumerate() {
        key.push('/');
        match segment {
            TemplateSegment::Literal(s) => key.push_str(s),
            TemplateSegment::Version => key.push_str(VERSION_PLACEHOLDER),
            TemplateSegment::Param(name) => {
                key.push_str(&format!("{{p{index}}}"));
                params.push((name.clone(), index));
            }
            TemplateSegment::CatchAll(name) => {
                key.push_str(&format!("{{*p{index}}}"));
                params.push((name.clone(), index));
            }
        }
    }
    if key.is_empty() {
        key.push('/');
    }
    (key, params)
}

/// The prefix of a subtree template (without its catch-all): literals, `None` for a
/// parameter.
pub(super) fn prefix_pattern(segments: &[TemplateSegment]) -> Vec<Option<String>> {
    segments
        .iter()
        .filter_map(|segment| match segment {
            TemplateSegment::Literal(s) => Some(Some(s.clone())),
            TemplateSegment::Version => Some(Some(VERSION_PLACEHOLDER.to_owned())),
            TemplateSegment::Param(_) => Some(None),
            TemplateSegment::CatchAll(_) => None,
        })
        .collect()
}

/// Whether every path under `inner` is also under `outer`.
pub(super) fn pattern_contains(outer: &[Option<String>], inner: &[Option<String>]) -> bool {
    outer.len() <= inner.len()
        && outer.iter().zip(inner).all(|(o, i)| match (o, i) {
            (None, _) => true,
            (Some(o), Some(i)) => o == i,
            (Some(_), None) => false,
        })
}

pub(super) fn under_governed_without_version(
    segments: &[TemplateSegment],
    governed: &[Vec<String>],
    version_roots: &[Vec<String>],
) -> bool {
    let literals: Vec<&str> = segments
        .iter()
        .map(|s| match s {
            TemplateSegment::Literal(l) => l.as_str(),
            TemplateSegment::Version => VERSION_PLACEHOLDER,
            _ => "{}",
        })
        .collect();
    let versioned = version_roots.iter().any(|root| {
        starts_with_segments(&literals, root)
            && literals.get(root.len()) == Some(&VERSION_PLACEHOLDER)
    });
    !versioned
        && governed
            .iter()
            .any(|root| starts_with_segments(&literals, root))
}
