//! The checks a store makes on a batch of entries and its event before writing them.

use std::collections::BTreeSet;

use thiserror::Error;

use super::digest::carries_digest;
use super::{ChangeId, NewChangeEntry};
use crate::audit::NewAuditEvent;

/// A batch refused before anything is stored.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BatchError {
    /// A batch records at least one entry.
    #[error("a change batch holds no entry")]
    Empty,
    /// Every entry belongs to the org of the batch's event.
    #[error("change {0} belongs to another org than its event")]
    WrongOrg(ChangeId),
    /// Two entries of the batch share an id.
    #[error("change {0} appears twice in its batch")]
    Duplicate(ChangeId),
    /// The event's `changes_sha256` is missing or is not the [`digest`] of the entries.
    #[error("the event's changes_sha256 is not the digest of its entries")]
    Digest,
}

/// Checks a batch of entries and the event that records them before a store writes
/// them: not empty, every entry of the event's org, no id twice, and the event's
/// `changes_sha256` the [`digest`] of the entries. Stores call this and answer
/// `Conflict` on an error.
pub fn check_batch(event: &NewAuditEvent, entries: &[NewChangeEntry]) -> Result<(), BatchError> {
    let org = &event.org;
    if entries.is_empty() {
        return Err(BatchError::Empty);
    }
    let mut seen = BTreeSet::new();
    for entry in entries {
        if &entry.org != org {
            return Err(BatchError::WrongOrg(entry.id));
        }
        if !seen.insert(entry.id) {
            return Err(BatchError::Duplicate(entry.id));
        }
    }
    if !carries_digest(event, entries) {
        return Err(BatchError::Digest);
    }
    Ok(())
}
