//! The [`ChangeStore`] port: change entries and the audit events that record them.

use std::fmt::Debug;

use async_trait::async_trait;

use super::{ChangeEntry, ChangeId, ChangePage, ChangeQuery, NewChangeEntry};
use crate::audit::{AuditEvent, NewAuditEvent};
use crate::ids::OrgId;
use crate::ports::StoreError;

/// The entries of one request together with their `change.recorded` event, both durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedChanges {
    /// The entries as stored, in the order given.
    pub entries: Vec<ChangeEntry>,
    /// The event as stored: sealed in its org's chain.
    pub event: AuditEvent,
}

/// A revert: its own entry, the entry it put back (now marked), and its
/// `change.reverted` event, all durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRevert {
    /// The revert's entry (operation `revert`), as stored.
    pub revert: ChangeEntry,
    /// The entry put back, with `reverted_by` set to the revert.
    pub original: ChangeEntry,
    /// The event as stored.
    pub event: AuditEvent,
}

/// What support changed: the change entries of every org, each tied to the audit event
/// stored with it, in the audit log of the same data (the store's own
/// [`AuditLog`](crate::ports::AuditLog)).
///
/// Promises:
/// - `record` MUST store the entries and their event in one transaction, the event as
///   the org's next event of the audit log of the same data (sealed as
///   [`AuditLog::append`](crate::ports::AuditLog::append) seals it), and MUST return
///   both, each entry with `audit_seq` = the event's `seq`, `ordinal` = its index in
///   the batch and no `reverted_by`: the entries and their event are both durable or
///   neither is.
/// - `record` MUST refuse with `Conflict`, storing nothing (no entry, no event), a
///   batch that [`check_batch`](super::check_batch) refuses (empty, an entry of another
///   org than the event's, an id twice, an event whose `changes_sha256` is not the
///   [`digest`](super::digest) of the entries), an entry whose id is already stored,
///   or an event whose id is already in the log.
/// - `list` MUST return the org's entries that pass every filter of the query (grant,
///   module, record), newest event first and, within one event, in recording order, at
///   most `page_size()` of them, with a `next_cursor` exactly when more match;
///   following cursors MUST list every matching entry once, with no duplicate and no
///   gap, even while new entries are recorded.
/// - `list` and `get` MUST never return another org's entries.
/// - `get` MUST return `NotFound` for an unknown id or an id of another org.
/// - Every field MUST read back exactly as recorded: values as JSON (objects, arrays,
///   numbers, strings), a `null` as `null` and an absent side as absent, fields in
///   order, times at microsecond precision.
/// - `record_revert` MUST store the revert entry (its `reverts` set to `original`, its
///   `audit_seq` the event's `seq`, `ordinal` 0), mark `original` as reverted by it,
///   and store the event, in one transaction, and MUST return all three; it MUST
///   refuse with `Conflict` what `record` refuses of the one-entry batch.
/// - `record_revert` MUST return `NotFound` when `original` is not an entry of the
///   event's org, and `Conflict` when it was already reverted, also when two reverts
///   race: exactly one wins. A refused revert MUST store nothing (no entry, no mark,
///   no event).
/// - A second handle on the same data MUST see every write of the first.
#[async_trait]
pub trait ChangeStore: Send + Sync + Debug {
    /// Stores the entries of one request and their `change.recorded` event.
    async fn record(
        &self,
        entries: Vec<NewChangeEntry>,
        event: NewAuditEvent,
    ) -> Result<RecordedChanges, StoreError>;

    /// A filtered page, newest first.
    async fn list(&self, query: &ChangeQuery) -> Result<ChangePage, StoreError>;

    /// One entry of `org` by id.
    async fn get(&self, org: &OrgId, id: ChangeId) -> Result<ChangeEntry, StoreError>;

    /// Stores a revert of `original` and its `change.reverted` event; marks `original`.
    async fn record_revert(
        &self,
        original: ChangeId,
        revert: NewChangeEntry,
        event: NewAuditEvent,
    ) -> Result<RecordedRevert, StoreError>;
}
