//! [`ChangeStore`] in memory: the entries live in the store's one [`State`], so an
//! entry batch and its audit event are written under the one lock, both or neither.

use std::collections::HashMap;

use async_trait::async_trait;
use support_access_core::StoreError;
use support_access_core::audit::NewAuditEvent;
use support_access_core::change::{
    ChangeEntry, ChangeId, ChangePage, ChangeQuery, ChangeStore, NewChangeEntry, RecordedChanges,
    RecordedRevert, check_batch,
};
use support_access_core::ids::OrgId;
use support_access_core::time::to_micros;

use crate::InMemoryStore;
use crate::store::State;

/// Every org's change entries, in recording order.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    entries: Vec<ChangeEntry>,
    by_id: HashMap<ChangeId, usize>,
}

impl Changes {
    fn check_new(&self, entry: &NewChangeEntry) -> Result<(), StoreError> {
        if self.by_id.contains_key(&entry.id) {
            Err(StoreError::Conflict(format!(
                "change {} is already stored",
                entry.id
            )))
        } else {
            Ok(())
        }
    }

    fn push(&mut self, mut entry: NewChangeEntry, audit_seq: u64, ordinal: u32) -> ChangeEntry {
        entry.at = to_micros(entry.at);
        let stored = ChangeEntry {
            audit_seq,
            ordinal,
            reverted_by: None,
            data: entry,
        };
        self.by_id.insert(stored.id, self.entries.len());
        self.entries.push(stored.clone());
        stored
    }

    fn of_org(&self, org: &OrgId, id: ChangeId) -> Option<usize> {
        self.by_id
            .get(&id)
            .copied()
            .filter(|&i| &self.entries[i].org == org)
    }
}

impl State {
    fn record_changes(
        &mut self,
        entries: Vec<NewChangeEntry>,
        event: NewAuditEvent,
    ) -> Result<RecordedChanges, StoreError> {
        check_batch(&event, &entries).map_err(|e| StoreError::Conflict(e.to_string()))?;
        self.check_event(&event)?;
        for entry in &entries {
            self.changes.check_new(entry)?;
        }
        let event = self.append(event);
        let entries = (0..)
            .zip(entries)
            .map(|(ordinal, entry)| self.changes.push(entry, event.seq, ordinal))
            .collect();
        Ok(RecordedChanges { entries, event })
    }

    fn record_revert(
        &mut self,
        original: ChangeId,
        mut revert: NewChangeEntry,
        event: NewAuditEvent,
    ) -> Result<RecordedRevert, StoreError> {
        let index = self
            .changes
            .of_org(&event.org, original)
            .ok_or(StoreError::NotFound)?;
        if let Some(by) = self.changes.entries[index].reverted_by {
            return Err(StoreError::Conflict(format!(
                "change {original} was already reverted by {by}"
            )));
        }
        revert.reverts = Some(original);
        check_batch(&event, std::slice::from_ref(&revert))
            .map_err(|e| StoreError::Conflict(e.to_string()))?;
        self.changes.check_new(&revert)?;
        self.check_event(&event)?;
        let event = self.append(event);
        let revert = self.changes.push(revert, event.seq, 0);
        let original = &mut self.changes.entries[index];
        original.reverted_by = Some(revert.id);
        Ok(RecordedRevert {
            revert,
            original: original.clone(),
            event,
        })
    }
}

#[async_trait]
impl ChangeStore for InMemoryStore {
    async fn record(
        &self,
        entries: Vec<NewChangeEntry>,
        event: NewAuditEvent,
    ) -> Result<RecordedChanges, StoreError> {
        self.stalled().await;
        self.lock()?.record_changes(entries, event)
    }

    async fn list(&self, query: &ChangeQuery) -> Result<ChangePage, StoreError> {
        let state = self.lock()?;
        let page_size = query.page_size();
        let mut matching: Vec<ChangeEntry> = state
            .changes
            .entries
            .iter()
            .filter(|entry| query.matches(entry))
            .cloned()
            .collect();
        support_access_core::change::listing_order(&mut matching);
        matching.truncate(page_size as usize + 1);
        Ok(ChangePage::from_overfetch(matching, page_size))
    }

    async fn get(&self, org: &OrgId, id: ChangeId) -> Result<ChangeEntry, StoreError> {
        let state = self.lock()?;
        state
            .changes
            .of_org(org, id)
            .map(|i| state.changes.entries[i].clone())
            .ok_or(StoreError::NotFound)
    }

    async fn record_revert(
        &self,
        original: ChangeId,
        revert: NewChangeEntry,
        event: NewAuditEvent,
    ) -> Result<RecordedRevert, StoreError> {
        self.stalled().await;
        self.lock()?.record_revert(original, revert, event)
    }
}
