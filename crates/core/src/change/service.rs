//! [`SupportChanges`]: recording what support changed, listing it, the report of a
//! grant, and reverts, written once against the [`ChangeStore`] port.
//!
//! The gateway does the upstream reads and writes (before-read, after-read, the
//! revert's `PUT`) and hands the records here; this service builds the entries, their
//! audit events and the revert plan.

use std::sync::Arc;

use thiserror::Error;

use super::revert::{RevertError, RevertPlan, plan_revert};
use super::{
    Capture, ChangeEntry, ChangeId, ChangePage, ChangeQuery, MAX_PAGE, NewChangeEntry, Record,
    SystemFields,
};
use super::{ChangeStore, RecordedChanges, RecordedRevert, digest};
use crate::audit::{AuditKind, NewAuditEvent};
use crate::grant::Grant;
use crate::ids::{GrantId, OrgId};
use crate::ports::{Clock, StoreError};

/// Why a change call failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SupportChangeError {
    /// No change entry of the caller's org has this id.
    #[error("no such change")]
    NotFound,
    /// The revert was refused.
    #[error(transparent)]
    Revert(#[from] RevertError),
    /// Another revert of the same change won the race.
    #[error("the change was reverted meanwhile")]
    RevertedMeanwhile,
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl SupportChangeError {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "change_not_found",
            Self::Revert(e) => e.code(),
            Self::RevertedMeanwhile => "change_already_reverted",
            Self::Store(e) => e.code(),
        }
    }
}

impl From<StoreError> for SupportChangeError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::NotFound,
            other => Self::Store(other),
        }
    }
}

/// The change-capture service. It holds the ports and nothing else.
#[derive(Debug, Clone)]
pub struct SupportChanges {
    store: Arc<dyn ChangeStore>,
    clock: Arc<dyn Clock>,
}

impl SupportChanges {
    /// The service over the given ports.
    pub fn new(store: Arc<dyn ChangeStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// Who is writing, for which request, now: what every entry of one request shares.
    pub fn capture(&self, grant: &Grant, actor: &str, request_id: &str) -> Capture {
        Capture {
            org: grant.org.clone(),
            grant: grant.id,
            actor: actor.to_owned(),
            request_id: request_id.to_owned(),
            at: self.clock.now(),
        }
    }

    /// Stores the entries of one support request with their `change.recorded` event
    /// (grant, support user, reason and ticket stamped; actor and request id from
    /// `capture`). Nothing is written when there is no entry: `Ok(None)`.
    pub async fn record(
        &self,
        grant: &Grant,
        capture: &Capture,
        entries: Vec<NewChangeEntry>,
    ) -> Result<Option<RecordedChanges>, SupportChangeError> {
        if entries.is_empty() {
            return Ok(None);
        }
        let event = event_of(grant, AuditKind::ChangeRecorded, capture, &entries);
        Ok(Some(self.store.record(entries, event).await?))
    }

    /// A page of the org's entries, newest first.
    pub async fn page(&self, query: &ChangeQuery) -> Result<ChangePage, SupportChangeError> {
        Ok(self.store.list(query).await?)
    }

    /// One entry of `org`.
    pub async fn get(&self, org: &OrgId, id: ChangeId) -> Result<ChangeEntry, SupportChangeError> {
        Ok(self.store.get(org, id).await?)
    }

    /// Every entry of `grant`, oldest first: what the report lists.
    pub async fn of_grant(
        &self,
        org: &OrgId,
        grant: GrantId,
    ) -> Result<Vec<ChangeEntry>, SupportChangeError> {
        let mut query = ChangeQuery::new(org.clone());
        query.grant = Some(grant);
        query.limit = MAX_PAGE;
        let mut entries = Vec::new();
        loop {
            let page = self.store.list(&query).await?;
            entries.extend(page.entries);
            match page.next_cursor {
                Some(cursor) => query.cursor = Some(cursor),
                None => break,
            }
        }
        entries.sort_by_key(|e| (e.audit_seq, e.ordinal));
        Ok(entries)
    }

    /// Reads entry `id` of `org` and plans putting it back over the record as it is
    /// now (`None`: gone). See [`plan_revert`].
    pub async fn plan_revert(
        &self,
        org: &OrgId,
        id: ChangeId,
        current: Option<&Record>,
        force: bool,
    ) -> Result<(ChangeEntry, RevertPlan), SupportChangeError> {
        let entry = self.store.get(org, id).await?;
        let plan = plan_revert(&entry, current, force)?;
        Ok((entry, plan))
    }

    /// Stores the revert of `original` (the record as read just before the revert's
    /// `PUT` and just after) with its `change.reverted` event, the admin as actor.
    pub async fn record_revert(
        &self,
        grant: &Grant,
        capture: &Capture,
        original: &ChangeEntry,
        before: Option<&Record>,
        after: Option<&Record>,
        system: &SystemFields,
    ) -> Result<RecordedRevert, SupportChangeError> {
        let entry = NewChangeEntry::revert(capture, original, before, after, system);
        let event = event_of(
            grant,
            AuditKind::ChangeReverted,
            capture,
            std::slice::from_ref(&entry),
        );
        self.store
            .record_revert(original.id, entry, event)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => SupportChangeError::RevertedMeanwhile,
                other => other.into(),
            })
    }
}

/// The event that records `entries`: the grant's stamps, the actor and request id, and
/// the entries' digest.
fn event_of(
    grant: &Grant,
    kind: AuditKind,
    capture: &Capture,
    entries: &[NewChangeEntry],
) -> NewAuditEvent {
    let mut event = grant.event(kind, capture.at);
    event.actor = Some(capture.actor.clone());
    event.request_id = Some(capture.request_id.clone());
    event.changes_sha256 = Some(digest(entries));
    event
}
