//! The one strict JSON reading for guarded routes (SPEC §3, body guards).
//!
//! Bodies are parsed whatever their `Content-Type` says. Integers stay `u64`/`i64`
//! (serde_json never turns them into floats). An object is refused as ambiguous when it
//! holds the same key twice (parsers disagree on which duplicate wins) or two keys that
//! are equal but for letter case (`id` and `ID`): a case-insensitive upstream (Jackson's
//! `ACCEPT_CASE_INSENSITIVE_PROPERTIES`, `equalsIgnoreCase` lookups) would pick one of
//! them and the gateway could not know which. Case is compared by [`fold_key`], which
//! also folds the Unicode letters that Java's `equalsIgnoreCase` equates with ASCII
//! (`ı`, `ſ`, `K` for `i`, `s`, `k`).
//!
//! After that check no object holds two keys that fold alike, so a guard that looks a
//! key up with [`key_is`] finds the one key that both a case-sensitive and a
//! case-insensitive upstream read: matching is exact up to case, never a guess.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Why a body is not JSON the guards accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// Not JSON (or trailing bytes, or nested too deeply).
    #[error("the body is not valid JSON: {0}")]
    Malformed(String),
    /// The same key twice in one object.
    #[error("the body has the key '{0}' twice in one object")]
    DuplicateKey(String),
    /// Two keys equal but for letter case in one object.
    #[error("the body has the keys '{0}' and '{1}' in one object, equal but for letter case")]
    CaseVariantKeys(String, String),
}

/// A key in the form keys are compared in: each character upper-cased then lower-cased
/// by its simple (one-character) mappings, as Java's `equalsIgnoreCase` compares them.
///
/// ```
/// use support_access_policy::json::fold_key;
/// assert_eq!(fold_key("Owner"), "owner");
/// assert_eq!(fold_key("\u{0131}D"), "id"); // dotless i
/// assert_eq!(fold_key("u\u{017F}ers"), "users"); // long s
/// ```
pub fn fold_key(key: &str) -> String {
    if key.is_ascii() {
        return key.to_ascii_lowercase();
    }
    key.chars().map(fold_char).collect()
}

fn fold_char(c: char) -> char {
    let mut upper = c.to_uppercase();
    let upper = match (upper.next(), upper.next()) {
        (Some(u), None) => u,
        _ => c,
    };
    upper.to_lowercase().next().unwrap_or(upper)
}

/// Whether `key` is `name` up to letter case ([`fold_key`]); `name` is ASCII lower case.
pub fn key_is(key: &str, name: &str) -> bool {
    if key.is_ascii() {
        key.eq_ignore_ascii_case(name)
    } else {
        fold_key(key) == name
    }
}

/// Parses `bytes` as one JSON value, refusing duplicate keys.
pub fn parse_strict(bytes: &[u8]) -> Result<Value, JsonError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = StrictValue::deserialize(&mut deserializer).map_err(classify)?;
    deserializer.end().map_err(classify)?;
    Ok(value.0)
}

const DUPLICATE_MARK: &str = "\u{0}duplicate key\u{0}";
const CASE_MARK: &str = "\u{0}case variant\u{0}";

fn classify(error: serde_json::Error) -> JsonError {
    let text = error.to_string();
    if let Some((_, rest)) = text.split_once(DUPLICATE_MARK) {
        let key = rest.split_once(DUPLICATE_MARK).map_or(rest, |(key, _)| key);
        return JsonError::DuplicateKey(key.to_owned());
    }
    if let Some((_, rest)) = text.split_once(CASE_MARK) {
        let mut keys = rest.split(CASE_MARK);
        let first = keys.next().unwrap_or_default().to_owned();
        let second = keys.next().unwrap_or_default().to_owned();
        return JsonError::CaseVariantKeys(first, second);
    }
    JsonError::Malformed(text)
}

struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictSeed;

impl<'de> DeserializeSeed<'de> for StrictSeed {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(value) = seq.next_element_seed(StrictSeed)? {
            out.push(value);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        let mut folded: HashSet<String> = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "{DUPLICATE_MARK}{key}{DUPLICATE_MARK}"
                )));
            }
            let fold = fold_key(&key);
            if !folded.insert(fold.clone()) {
                let other = out
                    .keys()
                    .find(|k| fold_key(k) == fold)
                    .cloned()
                    .unwrap_or_default();
                return Err(de::Error::custom(format!(
                    "{CASE_MARK}{other}{CASE_MARK}{key}{CASE_MARK}"
                )));
            }
            let value = map.next_value_seed(StrictSeed)?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests;
