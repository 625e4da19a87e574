//! What support changed (SPEC §11): one change entry per record a support request
//! created, updated or deleted, each field's value before and after, tied to the
//! `change.recorded` audit event of the request; and putting an update back.
//!
//! - [`diff`]: the field-level difference of two records, and applying it;
//! - [`revert`]: planning the `PUT` that puts an update's `before` values back, and
//!   `changed_since`;
//! - [`report`]: the report of a grant as JSON and as CSV (a row per field change);
//! - [`port`]: the [`ChangeStore`] port;
//! - [`service`]: [`SupportChanges`], the service over it.
//!
//! A record is a JSON object (`serde_json::Map`). Only top-level fields are compared;
//! nested values are compared as whole values. A field missing on one side is *absent*
//! (`None`), which is not the same as JSON `null` (`Some(Value::Null)`).

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::audit::UnknownName;
use crate::ids::{GrantId, OrgId};
use crate::time::to_micros;

mod batch;
pub mod diff;
pub mod digest;
mod listing;
pub mod port;
pub mod report;
pub mod revert;
pub mod service;

pub use batch::{BatchError, check_batch};
pub use diff::{apply_after, apply_before, diff};
pub use digest::digest;
pub use listing::{ChangeCursor, ChangePage, ChangeQuery, DEFAULT_PAGE, MAX_PAGE, listing_order};
pub use port::{ChangeStore, RecordedChanges, RecordedRevert};
pub use revert::{RevertError, RevertPlan, plan_revert};
pub use service::{SupportChangeError, SupportChanges};

/// A record as the CRM returns it: a JSON object, field name → value.
pub type Record = Map<String, Value>;

/// One change entry. Random (UUID v4), never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChangeId(Uuid);

impl ChangeId {
    /// A fresh random id.
    pub fn random() -> Self {
        Self(Uuid::new_v4())
    }

    /// Wraps a stored id.
    pub fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }

    /// The id as a UUID.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for ChangeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for ChangeId {
    type Err = uuid::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

/// What a change did to its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Support created the record: every field is new (`before` absent).
    Create,
    /// Support changed fields of the record.
    Update,
    /// Support deleted the record: every field is gone (`after` absent).
    Delete,
    /// An admin put an update back (`changes/{id}/revert`).
    Revert,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 4] = [Self::Create, Self::Update, Self::Delete, Self::Revert];

    /// `create`, `update`, `delete` or `revert`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::Revert => "revert",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Operation {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|op| op.as_str() == s)
            .ok_or_else(|| UnknownName(s.to_owned()))
    }
}

/// One field's value before and after. `None` is *absent* (the record had no such
/// field, or did not exist); JSON `null` is `Some(Value::Null)`. Absent sides are left
/// out of the JSON form, so they never read back as `null`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldChange {
    /// The field's API name.
    pub name: String,
    /// The value before the write; `None` when absent.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub before: Option<Value>,
    /// The value after the write; `None` when absent.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub after: Option<Value>,
}

/// A key that is there is `Some`, also when its value is `null` (serde's default for
/// `Option` would read `null` as `None`); a missing key is `None` through `default`.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// The fields a CRM maintains itself (`Modified_Time`, `$`-prefixed keys, …): left out
/// of diffs, of `changed_since` and of revert. Policy data: each CRM's policy names its
/// own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SystemFields {
    names: BTreeSet<String>,
    prefixes: Vec<String>,
}

impl SystemFields {
    /// Fields named exactly one of `names`, or starting with one of `prefixes`.
    pub fn new<N, P>(names: N, prefixes: P) -> Self
    where
        N: IntoIterator,
        N::Item: Into<String>,
        P: IntoIterator,
        P::Item: Into<String>,
    {
        Self {
            names: names.into_iter().map(Into::into).collect(),
            prefixes: prefixes
                .into_iter()
                .map(Into::into)
                .filter(|p: &String| !p.is_empty())
                .collect(),
        }
    }

    /// No system fields: every field is compared.
    pub fn none() -> Self {
        Self::default()
    }

    /// Whether the CRM maintains `name` itself.
    pub fn contains(&self, name: &str) -> bool {
        self.names.contains(name) || self.prefixes.iter().any(|p| name.starts_with(p.as_str()))
    }
}

/// Who made a write and for which request: shared by every entry of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    /// The org whose record it is.
    pub org: OrgId,
    /// The grant the support request ran under.
    pub grant: GrantId,
    /// The staff id (support writes) or the admin's `sub` (reverts).
    pub actor: String,
    /// The request id, as in the request's audit events.
    pub request_id: String,
    /// When the write was answered.
    pub at: DateTime<Utc>,
}

/// A change entry as its producer writes it, before the store ties it to its event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewChangeEntry {
    /// Unique id, chosen by the producer.
    pub id: ChangeId,
    /// The org whose record it is.
    pub org: OrgId,
    /// The grant the write ran under.
    pub grant: GrantId,
    /// The staff id (support writes) or the admin's `sub` (reverts).
    pub actor: String,
    /// The request id of the write.
    pub request_id: String,
    /// When, UTC, microsecond precision.
    pub at: DateTime<Utc>,
    /// The CRM module (`Leads`, `Deals`, …).
    pub module: String,
    /// The record id.
    pub record: String,
    /// What the write did.
    pub operation: Operation,
    /// The fields that changed (every field for a create or a delete), by name.
    pub fields: Vec<FieldChange>,
    /// For a revert, the entry it put back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverts: Option<ChangeId>,
}

impl NewChangeEntry {
    /// The entry for one record a support write touched, from the record as read just
    /// before the write (`None`: it did not exist) and just after (`None`: it is gone).
    /// Create when only `after` exists, delete when only `before` does, update when
    /// both do. `None` means the CRM answered "no such record"; a read that failed is
    /// not `None` (the caller refuses the write, or must not call this with it: an
    /// update whose after-read failed would read as a delete). `None` when nothing is left to record: no record on either side, or an
    /// update that changed no field outside `system`.
    pub fn capture(
        capture: &Capture,
        module: &str,
        record: &str,
        before: Option<&Record>,
        after: Option<&Record>,
        system: &SystemFields,
    ) -> Option<Self> {
        let operation = match (before, after) {
            (None, None) => return None,
            (None, Some(_)) => Operation::Create,
            (Some(_), None) => Operation::Delete,
            (Some(_), Some(_)) => Operation::Update,
        };
        let fields = diff(before, after, system);
        if operation == Operation::Update && fields.is_empty() {
            return None;
        }
        Some(Self::new(capture, module, record, operation, fields))
    }

    /// The entry of a revert of `original`: the record as read just before the revert's
    /// `PUT` and just after. Always an entry (also when the `PUT` changed nothing), so
    /// that every revert is on record.
    pub fn revert(
        capture: &Capture,
        original: &ChangeEntry,
        before: Option<&Record>,
        after: Option<&Record>,
        system: &SystemFields,
    ) -> Self {
        let mut entry = Self::new(
            capture,
            &original.module,
            &original.record,
            Operation::Revert,
            diff(before, after, system),
        );
        entry.reverts = Some(original.id);
        entry
    }

    fn new(
        capture: &Capture,
        module: &str,
        record: &str,
        operation: Operation,
        fields: Vec<FieldChange>,
    ) -> Self {
        Self {
            id: ChangeId::random(),
            org: capture.org.clone(),
            grant: capture.grant,
            actor: capture.actor.clone(),
            request_id: capture.request_id.clone(),
            at: to_micros(capture.at),
            module: module.to_owned(),
            record: record.to_owned(),
            operation,
            fields,
            reverts: None,
        }
    }

    /// The field change named `name`, if the entry has one.
    pub fn field(&self, name: &str) -> Option<&FieldChange> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// A change entry as stored: tied to its audit event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeEntry {
    /// The `seq` of the `change.recorded` (or, for a revert, `change.reverted`) event
    /// stored with it, in its org's audit log.
    pub audit_seq: u64,
    /// Its place among the entries of that event: 0, 1, 2, …
    pub ordinal: u32,
    /// The revert that put it back, once one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverted_by: Option<ChangeId>,
    /// What the producer wrote.
    #[serde(flatten)]
    pub data: NewChangeEntry,
}

impl std::ops::Deref for ChangeEntry {
    type Target = NewChangeEntry;

    fn deref(&self) -> &NewChangeEntry {
        &self.data
    }
}

impl ChangeEntry {
    /// Where this entry stands in its org's newest-first listing.
    pub fn position(&self) -> ChangeCursor {
        ChangeCursor {
            audit_seq: self.audit_seq,
            ordinal: self.ordinal,
        }
    }
}

#[cfg(test)]
mod tests;
