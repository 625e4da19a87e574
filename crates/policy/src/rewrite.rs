//! Side-effect rewrites (`effect = "set_body_keys"`, SPEC §3 "Side effects"): the
//! support user sends no e-mail and fires no automation that sends it, also through
//! flags on routes that stay allowed. Which keys on which routes are rewritten is policy
//! data; this module applies one rule's [`SetKey`]s to a parsed body and names each
//! change for the audit event's `rewrites`:
//!
//! - `value`: the key is forced to the value, inserted where absent → `notify:false`;
//! - `remove`: the strings are removed from the key's list → `trigger:-workflow`;
//! - `default`: where the key is absent (or, with `remove`, not a list) it is set →
//!   `trigger:default`.
//!
//! Keys are looked up up to letter case ([`key_is`]); the strict reader has already
//! refused bodies with two spellings of one key, so the key rewritten is the one key the
//! upstream reads.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::file::SetKeyFile;
use crate::json::{fold_key, key_is};

/// Where a rewritten key sits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "in", content = "array", rename_all = "snake_case")]
pub enum Location {
    /// The body's top-level object.
    Top,
    /// Each object of the top-level array of this key (folded).
    Items(String),
}

/// One compiled rewrite of a `set_body_keys` rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetKey {
    /// The key as the policy writes it (inserted in this spelling).
    pub key: String,
    /// Where it sits.
    pub at: Location,
    /// The forced value.
    pub value: Option<Value>,
    /// Strings removed from the list value, folded.
    pub remove: Vec<String>,
    /// The value set where the key is absent.
    pub default: Option<Value>,
}

impl SetKey {
    /// Compiles one `set` entry; the message says what is wrong.
    pub(crate) fn compile(entry: &SetKeyFile) -> Result<Self, String> {
        if entry.key.trim().is_empty() {
            return Err("a set entry needs a key".to_owned());
        }
        if entry.value.is_none() && entry.remove.is_empty() && entry.default.is_none() {
            return Err(format!(
                "set entry '{}' needs value, remove or default",
                entry.key
            ));
        }
        if entry.value.is_some() && (!entry.remove.is_empty() || entry.default.is_some()) {
            return Err(format!(
                "set entry '{}': value forces the key, so remove and default do not apply",
                entry.key
            ));
        }
        let at = match entry.at.as_deref().map(str::trim) {
            None | Some("") => Location::Top,
            Some(at) => match at.strip_suffix("[]") {
                Some(array) if !array.is_empty() && !array.contains(['[', ']', '.']) => {
                    Location::Items(fold_key(array))
                }
                _ => {
                    return Err(format!(
                        "set entry '{}': at must be absent or 'name[]'",
                        entry.key
                    ));
                }
            },
        };
        Ok(Self {
            key: entry.key.clone(),
            at,
            value: entry.value.as_ref().map(json_value).transpose()?,
            remove: entry.remove.iter().map(|r| fold_key(r.trim())).collect(),
            default: entry.default.as_ref().map(json_value).transpose()?,
        })
    }
}

fn json_value(value: &toml::Value) -> Result<Value, String> {
    match value {
        toml::Value::String(s) => Ok(Value::String(s.clone())),
        toml::Value::Integer(i) => Ok(Value::from(*i)),
        toml::Value::Boolean(b) => Ok(Value::Bool(*b)),
        toml::Value::Array(items) => items
            .iter()
            .map(json_value)
            .collect::<Result<_, _>>()
            .map(Value::Array),
        other => Err(format!(
            "set values are strings, integers, booleans or arrays of them, not {}",
            other.type_str()
        )),
    }
}

/// Applies `set` to `body`, appending a label per change to `rewrites`.
pub(crate) fn apply(body: &mut Value, set: &[SetKey], rewrites: &mut Vec<String>) {
    for entry in set {
        let Some(top) = body.as_object_mut() else {
            return;
        };
        let mut changes = Vec::new();
        match &entry.at {
            Location::Top => apply_one(top, entry, &mut changes),
            Location::Items(array) => {
                let items = top
                    .iter_mut()
                    .find(|(k, _)| key_is(k, array))
                    .and_then(|(_, v)| v.as_array_mut());
                for item in items.into_iter().flatten() {
                    if let Some(object) = item.as_object_mut() {
                        apply_one(object, entry, &mut changes);
                    }
                }
            }
        }
        for change in changes {
            if !rewrites.contains(&change) {
                rewrites.push(change);
            }
        }
    }
}

fn apply_one(object: &mut Map<String, Value>, entry: &SetKey, changes: &mut Vec<String>) {
    let folded = fold_key(&entry.key);
    let existing = object
        .iter_mut()
        .find(|(k, _)| key_is(k, &folded))
        .map(|(_, v)| v);
    if let Some(value) = &entry.value {
        match existing {
            Some(current) if current == value => {}
            Some(current) => {
                *current = value.clone();
                changes.push(format!("{}:{}", entry.key, label(value)));
            }
            None => {
                object.insert(entry.key.clone(), value.clone());
                changes.push(format!("{}:{}", entry.key, label(value)));
            }
        }
        return;
    }
    match existing {
        None => {
            if let Some(default) = &entry.default {
                object.insert(entry.key.clone(), default.clone());
                changes.push(format!("{}:default", entry.key));
            }
        }
        Some(current) if !entry.remove.is_empty() => {
            let list: Option<Vec<Value>> = match current {
                Value::Array(items) => Some(items.clone()),
                Value::String(_) => Some(vec![current.clone()]),
                _ => None,
            };
            let Some(list) = list else {
                if let Some(default) = &entry.default {
                    *current = default.clone();
                    changes.push(format!("{}:default", entry.key));
                }
                return;
            };
            // A string item may hold a comma-separated list (`"workflow,approval"`) for
            // an upstream that splits it: each part is judged on its own.
            let mut removed: Vec<String> = Vec::new();
            let mut kept: Vec<Value> = Vec::new();
            for item in list {
                let Some(text) = item.as_str() else {
                    kept.push(item);
                    continue;
                };
                let parts: Vec<&str> = text.split(',').collect();
                let mut hits = 0;
                for part in &parts {
                    let folded = fold_key(part.trim());
                    if let Some(hit) = entry.remove.iter().find(|r| **r == folded) {
                        hits += 1;
                        if !removed.contains(hit) {
                            removed.push(hit.clone());
                        }
                    }
                }
                if hits == 0 {
                    kept.push(item);
                    continue;
                }
                for part in parts {
                    let folded = fold_key(part.trim());
                    if !part.trim().is_empty() && !entry.remove.contains(&folded) {
                        kept.push(Value::String(part.trim().to_owned()));
                    }
                }
            }
            if !removed.is_empty() {
                *current = Value::Array(kept);
            }
            for hit in removed {
                changes.push(format!("{}:-{hit}", entry.key));
            }
        }
        Some(_) => {}
    }
}

fn label(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
