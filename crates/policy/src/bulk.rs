//! Bulk write jobs (`POST /crm/bulk/v{N}/write`, `effect = "bulk_write_owner"`): an
//! import names record owners in its field mappings, not in owner keys of the body:
//!
//! ```json
//! {"operation": "insert", "resource": [{"type": "data", "module": {"api_name": "Leads"},
//!   "file_id": "…", "field_mappings": [{"api_name": "Owner", "default_value": {"value": "…"}},
//!                                       {"api_name": "Last_Name", "index": 0}]}]}
//! ```
//!
//! - Any caller: a mapping of an assignment field (`guards.assignment_keys`, e.g.
//!   `Owner`) whose `default_value` names the support user — as a string or number, in
//!   any spelling the lenient reader accepts, bare or inside an object — is an
//!   assignment (restriction 17).
//! - Support: the gateway cannot see the imported file, so every resource must list its
//!   `field_mappings` (without them Zoho maps the file's own header, which may hold an
//!   `Owner` column), and a mapping of an assignment field is allowed only with a
//!   `default_value` that surely is the support user, no file column (`index`) and no
//!   `find_by` other than `id`. Records a support import creates then stay owned by the
//!   support user, as SPEC §0 promises.

use serde_json::{Map, Value};

use crate::guard::names_assignee;
use crate::json::{fold_key, key_is};
use crate::lenient::surely_names;

fn get<'v>(object: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    object
        .iter()
        .find(|(key, _)| key_is(key, name))
        .map(|(_, value)| value)
}

/// Every field-mapping object of the body (in any `field_mappings` array, any depth).
fn mappings<'v>(value: &'v Value, out: &mut Vec<&'v Map<String, Value>>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                if key_is(key, "field_mappings")
                    && let Value::Array(items) = inner
                {
                    out.extend(items.iter().filter_map(Value::as_object));
                }
                mappings(inner, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| mappings(v, out)),
        _ => {}
    }
}

/// Whether a mapping maps an assignment field (its `api_name` is one of `keys`).
fn maps_assignment_field(mapping: &Map<String, Value>, keys: &[String]) -> Option<String> {
    let name = get(mapping, "api_name")?.as_str()?;
    let folded = fold_key(name.trim());
    keys.contains(&folded).then(|| name.to_owned())
}

/// Every scalar inside a default value.
fn scalars<'v>(value: &'v Value, out: &mut Vec<&'v Value>) {
    match value {
        Value::Object(map) => map.values().for_each(|v| scalars(v, out)),
        Value::Array(items) => items.iter().for_each(|v| scalars(v, out)),
        Value::Null => {}
        scalar => out.push(scalar),
    }
}

/// The mapping (`field_mappings[Owner].default_value`) whose default value names one of
/// `ids`, if any.
pub(crate) fn find_mapped_assignment(
    value: &Value,
    keys: &[String],
    ids: &[u64],
) -> Option<String> {
    let mut found = Vec::new();
    mappings(value, &mut found);
    found.into_iter().find_map(|mapping| {
        let name = maps_assignment_field(mapping, keys)?;
        let default = get(mapping, "default_value")?;
        let mut values = Vec::new();
        scalars(default, &mut values);
        values
            .into_iter()
            .any(|v| names_assignee(v, ids))
            .then(|| format!("field_mappings[{name}].default_value"))
    })
}

/// Why a support bulk write may not go on (see the module docs), if it may not.
pub(crate) fn support_owner_problem(
    value: &Value,
    keys: &[String],
    support: u64,
) -> Option<String> {
    let Some(top) = value.as_object() else {
        return Some("A bulk write body must be a JSON object.".to_owned());
    };
    let resources = match get(top, "resource") {
        Some(Value::Array(items)) => items,
        _ => return Some("A support bulk write must list its 'resource' array.".to_owned()),
    };
    for resource in resources {
        let Some(resource) = resource.as_object() else {
            return Some("Each bulk write resource must be an object.".to_owned());
        };
        let Some(Value::Array(mappings)) = get(resource, "field_mappings") else {
            return Some(
                "A support bulk write must list its field_mappings: the file's own header could map the owner."
                    .to_owned(),
            );
        };
        for mapping in mappings {
            let Some(mapping) = mapping.as_object() else {
                return Some("Each field mapping must be an object.".to_owned());
            };
            let Some(name) = maps_assignment_field(mapping, keys) else {
                continue;
            };
            let refuse = |why: &str| {
                Some(format!(
                    "A support bulk write may map '{name}' only to the support user itself: {why}."
                ))
            };
            if get(mapping, "index").is_some_and(|v| !v.is_null()) {
                return refuse("it is mapped from a file column the gateway cannot see");
            }
            if let Some(find_by) = get(mapping, "find_by")
                && !find_by.as_str().is_some_and(|f| key_is(f.trim(), "id"))
            {
                return refuse("find_by must be 'id'");
            }
            let mut values = Vec::new();
            if let Some(default) = get(mapping, "default_value") {
                scalars(default, &mut values);
            }
            if values.is_empty() || !values.iter().all(|v| surely_names(v, support)) {
                return refuse("its default_value is not the support user's id");
            }
        }
    }
    None
}

#[cfg(test)]
mod tests;
