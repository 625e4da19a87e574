//! Planning a revert (SPEC §11): the one `PUT` that puts an update's `before` values
//! back, and the fields someone changed after support did (`changed_since`).
//!
//! Only an update is put back. Reverting a create (deleting the record) or a delete
//! (re-creating it, under a new id the CRM chooses) is out of scope for now: `422`.
//! A revert is itself an entry and is not reverted in turn; an admin who wants the
//! support value again reverts nothing and edits the record.

use serde_json::{Value, json};
use thiserror::Error;

use super::{ChangeEntry, ChangeId, Operation, Record};

/// Why a change cannot be put back.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RevertError {
    /// Only updates are put back (`422`).
    #[error("a {0} cannot be reverted; only an update can")]
    NotRevertible(Operation),
    /// The change was reverted already, by the given revert (`409`).
    #[error("the change was already reverted by {0}")]
    AlreadyReverted(ChangeId),
    /// Someone changed these fields after support did (`409`), unless forced.
    #[error("fields changed since support's write: {}", .0.join(", "))]
    ChangedSince(Vec<String>),
}

impl RevertError {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotRevertible(_) => "change_not_revertible",
            Self::AlreadyReverted(_) => "change_already_reverted",
            Self::ChangedSince(_) => "changed_since",
        }
    }
}

/// What a revert sends: the `before` values of the entry's fields, for one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevertPlan {
    /// The entry put back.
    pub change: ChangeId,
    /// Its module.
    pub module: String,
    /// Its record id.
    pub record: String,
    /// Field → the value to write: the field's `before`, or `null` where the field was
    /// absent before support wrote it (the CRM clears it).
    pub values: Record,
    /// The fields someone changed after support did; empty unless the revert was
    /// forced over them.
    pub changed_since: Vec<String>,
}

impl RevertPlan {
    /// The body of the `PUT {module}/{record}`: the CRM's record-update shape,
    /// `{"data": [values]}`.
    pub fn body(&self) -> Value {
        json!({ "data": [Value::Object(self.values.clone())] })
    }
}

/// Plans putting `entry` back, given the record as it is now (`None`: the record is
/// gone). A field counts as changed since support's write when its current value is
/// not the entry's `after` (a record that is gone has changed every field). Unless
/// `force`, any such field refuses the revert with [`RevertError::ChangedSince`],
/// naming them in the entry's order; with `force` they are overwritten and listed in
/// the plan. System fields never appear: entries do not hold them.
pub fn plan_revert(
    entry: &ChangeEntry,
    current: Option<&Record>,
    force: bool,
) -> Result<RevertPlan, RevertError> {
    if entry.operation != Operation::Update {
        return Err(RevertError::NotRevertible(entry.operation));
    }
    if let Some(revert) = entry.reverted_by {
        return Err(RevertError::AlreadyReverted(revert));
    }
    let changed_since = changed_since(entry, current);
    if !force && !changed_since.is_empty() {
        return Err(RevertError::ChangedSince(changed_since));
    }
    let values = entry
        .fields
        .iter()
        .map(|f| (f.name.clone(), f.before.clone().unwrap_or(Value::Null)))
        .collect();
    Ok(RevertPlan {
        change: entry.id,
        module: entry.module.clone(),
        record: entry.record.clone(),
        values,
        changed_since,
    })
}

/// The entry's fields whose current value is not the value support left.
pub fn changed_since(entry: &ChangeEntry, current: Option<&Record>) -> Vec<String> {
    entry
        .fields
        .iter()
        .filter(|f| current.and_then(|r| r.get(&f.name)) != f.after.as_ref())
        .map(|f| f.name.clone())
        .collect()
}
