//! The field-level difference of two records, and applying it to either side.

use std::collections::BTreeSet;

use super::{FieldChange, Record, SystemFields};

/// The fields whose value differs between `before` and `after`, by name in ascending
/// order, leaving out the fields in `system`. A record that does not exist (`None`)
/// has no fields, so a create lists every field of `after` and a delete every field of
/// `before`. Top-level fields only: a nested object or array is compared as one value.
/// A field on one side only is absent (`None`) on the other, never `null`.
pub fn diff(
    before: Option<&Record>,
    after: Option<&Record>,
    system: &SystemFields,
) -> Vec<FieldChange> {
    let names: BTreeSet<&String> = before
        .into_iter()
        .chain(after)
        .flat_map(|record| record.keys())
        .filter(|name| !system.contains(name))
        .collect();
    names
        .into_iter()
        .filter_map(|name| {
            let old = before.and_then(|r| r.get(name));
            let new = after.and_then(|r| r.get(name));
            (old != new).then(|| FieldChange {
                name: name.clone(),
                before: old.cloned(),
                after: new.cloned(),
            })
        })
        .collect()
}

/// `record` with each change's `after` applied: the field set to it, or removed where
/// `after` is absent. Applied to the `before` of a [`diff`], gives its `after` on every
/// field outside the system fields.
pub fn apply_after(record: &Record, changes: &[FieldChange]) -> Record {
    apply(record, changes, |change| change.after.as_ref())
}

/// `record` with each change's `before` applied: what a revert puts back.
pub fn apply_before(record: &Record, changes: &[FieldChange]) -> Record {
    apply(record, changes, |change| change.before.as_ref())
}

fn apply(
    record: &Record,
    changes: &[FieldChange],
    side: impl Fn(&FieldChange) -> Option<&serde_json::Value>,
) -> Record {
    let mut out = record.clone();
    for change in changes {
        match side(change) {
            Some(value) => {
                out.insert(change.name.clone(), value.clone());
            }
            None => {
                out.remove(&change.name);
            }
        }
    }
    out
}
