//! Query strings and form-encoded bodies, split and decoded the way upstreams do:
//! parameters separated by `&` **and** `;` (older servlet containers, Perl's CGI, Go
//! before 1.17 split on both), names and values percent-decoded with `+` as a space
//! (`form_urlencoded`). Shared by the normaliser (override parameters) and the gateway's
//! token discovery (`access_token`), so both read a query alike.
//!
//! Names are also compared the way frameworks fold them ([`fold_name`]): decoded up to
//! three times (a server that decodes twice finds nothing either), trimmed, ASCII lower
//! case, with PHP's rewriting of `.`, ` ` and `[` to `_`, and a trailing `[…]` (PHP's
//! and Rails' array syntax) dropped.

use std::borrow::Cow;

/// The parameters of a query string or form body, decoded by [`form_urlencoded`]:
/// `(name, value)` in order. `form_urlencoded` splits on `&` only, so each `;`-separated
/// piece is parsed on its own.
///
/// ```
/// use support_access_policy::query::pairs;
/// let got: Vec<(String, String)> = pairs("a=1;b=x+y&c=%41").map(|(n, v)| (n.into(), v.into())).collect();
/// assert_eq!(got, [("a".into(), "1".into()), ("b".into(), "x y".into()), ("c".into(), "A".into())]);
/// ```
pub fn pairs(text: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> + '_ {
    text.split(';')
        .flat_map(|piece| form_urlencoded::parse(piece.as_bytes()))
}

/// The parameters of a query string or form body, undecoded: `(name, value)` in order.
/// For the normaliser, which compares names decoded up to three times and so needs them
/// raw (no crate splits on `;` without decoding).
pub fn raw_pairs(text: &str) -> impl Iterator<Item = (&str, &str)> + '_ {
    text.split(['&', ';'])
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
}

/// Percent-decodes once, `+` as a space, invalid UTF-8 replaced.
pub fn decode(text: &str) -> Cow<'_, str> {
    if !text.contains(['%', '+']) {
        return Cow::Borrowed(text);
    }
    let plus_as_space: Cow<'_, str> = if text.contains('+') {
        Cow::Owned(text.replace('+', " "))
    } else {
        Cow::Borrowed(text)
    };
    let decoded = percent_encoding::percent_decode_str(&plus_as_space).decode_utf8_lossy();
    Cow::Owned(decoded.into_owned())
}

/// Percent-decodes up to three times (`%2541` → `%41` → `A`), so that double encoding
/// hides nothing from a comparison.
pub fn decode_repeatedly(text: &str) -> String {
    decode_further(decode(text).into_owned())
}

/// Decodes an already decoded text up to twice more (stopping when nothing changes).
fn decode_further(mut decoded: String) -> String {
    for _ in 0..2 {
        let next = decode(&decoded).into_owned();
        if next == decoded {
            break;
        }
        decoded = next;
    }
    decoded
}

/// A parameter name as frameworks fold it before looking it up (see the module docs).
///
/// ```
/// use support_access_policy::query::fold_name;
/// for name in ["access_token", "ACCESS_TOKEN", "access%5Ftoken", "access%255Ftoken",
///              "access.token", "access+token", "access%20token", "access_token[]", " access_token "] {
///     assert_eq!(fold_name(name), "access_token", "{name}");
/// }
/// ```
pub fn fold_name(raw: &str) -> String {
    fold_decoded_name(&decode(raw))
}

/// [`fold_name`] of a name already decoded once (as [`pairs`] gives it): decoded up to
/// twice more, then folded.
pub fn fold_decoded_name(decoded: &str) -> String {
    let decoded = decode_further(decoded.to_owned());
    let mut name = decoded.trim().to_ascii_lowercase();
    if let Some(open) = name.find('[')
        && name.ends_with(']')
        && open > 0
    {
        name.truncate(open);
    }
    name.chars()
        .map(|c| if matches!(c, '.' | ' ' | '[') { '_' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_separators_split_and_empty_pieces_are_skipped() {
        let names: Vec<String> = pairs("x=1;;access_token=t&&y")
            .map(|(n, _)| n.into_owned())
            .collect();
        assert_eq!(names, ["x", "access_token", "y"]);
    }

    #[test]
    fn invalid_escapes_and_bytes_do_not_panic() {
        assert_eq!(decode("%zz%4"), "%zz%4");
        assert_eq!(decode("%ff"), "\u{FFFD}");
        assert_eq!(decode_repeatedly("%252541"), "A");
    }

    #[test]
    fn decoded_pairs_fold_as_their_raw_names_do() {
        let text = "access%25255Ftoken=1;ACCESS.TOKEN=2&a%2Bb=3&x[]=4&%ff=5&plain";
        let raw: Vec<String> = raw_pairs(text).map(|(n, _)| fold_name(n)).collect();
        let decoded: Vec<String> = pairs(text).map(|(n, _)| fold_decoded_name(&n)).collect();
        assert_eq!(raw, decoded);
        assert_eq!(decoded[0], "access_token");
        assert_eq!(decoded[1], "access_token");
        let values: Vec<String> = pairs(text).map(|(_, v)| v.into_owned()).collect();
        let raw_values: Vec<String> = raw_pairs(text)
            .map(|(_, v)| decode(v).into_owned())
            .collect();
        assert_eq!(values, raw_values);
    }
}
