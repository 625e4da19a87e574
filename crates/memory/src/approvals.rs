//! One-request approvals in memory: [`ApprovalStore`] for [`InMemoryStore`], under the
//! store's one lock, so that a change and its audit event happen together and the one
//! `consume` that finds the approval `approved` is the one that uses it.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use support_access_core::approval::{Approval, ApprovalId, ApprovalStatus, Decision, Fingerprint};
use support_access_core::audit::NewAuditEvent;
use support_access_core::ids::GrantId;
use support_access_core::ports::{ApprovalFilter, ApprovalStore, RecordedApproval};
use support_access_core::time::to_micros;
use support_access_core::{Grant, StoreError};

use crate::InMemoryStore;
use crate::store::State;

/// The approvals, by id.
#[derive(Debug, Default)]
pub(crate) struct Approvals {
    by_id: HashMap<ApprovalId, Approval>,
}

impl Approvals {
    fn get_mut(&mut self, id: ApprovalId) -> Result<&mut Approval, StoreError> {
        self.by_id.get_mut(&id).ok_or(StoreError::NotFound)
    }
}

fn conflict(approval: &Approval, what: &str) -> StoreError {
    StoreError::Conflict(format!(
        "approval {} is {} and cannot be {what}",
        approval.id, approval.status
    ))
}

/// Whether an open approval is not past its end at `at`.
fn live(approval: &Approval, at: DateTime<Utc>) -> bool {
    approval.status.is_open() && at < approval.expires_at
}

/// Whether `grant` is open, not past its end, and its seat held under the approval's
/// claim: what `consume` requires of the grant.
fn grant_holds(approval: &Approval, grant: Option<&Grant>, now: DateTime<Utc>) -> bool {
    grant.is_some_and(|g| g.is_open() && approval.holds_under(g, now))
}

impl State {
    /// Applies a checked change to approval `id` and records its event, both under the
    /// one lock the caller holds.
    fn change_approval(
        &mut self,
        id: ApprovalId,
        event: NewAuditEvent,
        change: impl FnOnce(&Approval, &State) -> Result<Approval, StoreError>,
    ) -> Result<RecordedApproval, StoreError> {
        self.check_event(&event)?;
        let current = self
            .approvals
            .by_id
            .get(&id)
            .ok_or(StoreError::NotFound)?
            .clone();
        let changed = change(&current, self)?;
        let event = self.append(event)?;
        self.approvals.by_id.insert(id, changed.clone());
        Ok(RecordedApproval {
            approval: changed,
            event,
        })
    }
}

#[async_trait]
impl ApprovalStore for InMemoryStore {
    async fn create(
        &self,
        approval: &Approval,
        event: NewAuditEvent,
    ) -> Result<RecordedApproval, StoreError> {
        self.stalled().await;
        let mut state = self.lock()?;
        state.check_event(&event)?;
        let at = approval.requested_at;
        let table = &mut state.approvals;
        if table.by_id.contains_key(&approval.id) {
            return Err(StoreError::Conflict(format!(
                "approval {} exists",
                approval.id
            )));
        }
        if table
            .by_id
            .values()
            .any(|a| a.fingerprint == approval.fingerprint && live(a, at))
        {
            return Err(StoreError::Conflict(
                "an open approval of this request exists".into(),
            ));
        }
        for stale in table
            .by_id
            .values_mut()
            .filter(|a| a.fingerprint == approval.fingerprint && a.status.is_open())
        {
            stale.status = ApprovalStatus::Expired;
            stale.closed_at = Some(to_micros(at));
        }
        let stored = Approval {
            requested_at: to_micros(approval.requested_at),
            expires_at: to_micros(approval.expires_at),
            seat_claimed_at: to_micros(approval.seat_claimed_at),
            ..approval.clone()
        };
        table.by_id.insert(stored.id, stored.clone());
        let event = state.append(event)?;
        Ok(RecordedApproval {
            approval: stored,
            event,
        })
    }

    async fn get(&self, id: ApprovalId) -> Result<Approval, StoreError> {
        self.lock()?
            .approvals
            .by_id
            .get(&id)
            .cloned()
            .ok_or(StoreError::NotFound)
    }

    async fn find_open(
        &self,
        fingerprint: &Fingerprint,
        now: DateTime<Utc>,
    ) -> Result<Option<Approval>, StoreError> {
        Ok(self
            .lock()?
            .approvals
            .by_id
            .values()
            .find(|a| &a.fingerprint == fingerprint && live(a, now))
            .cloned())
    }

    async fn decide(
        &self,
        id: ApprovalId,
        decision: &Decision,
        event: NewAuditEvent,
    ) -> Result<RecordedApproval, StoreError> {
        self.stalled().await;
        self.lock()?.change_approval(id, event, |current, _| {
            if current.status == ApprovalStatus::Pending && live(current, decision.at) {
                Ok(current.clone().decided(decision))
            } else {
                Err(conflict(current, "decided"))
            }
        })
    }

    async fn consume(
        &self,
        id: ApprovalId,
        fingerprint: &Fingerprint,
        now: DateTime<Utc>,
        event: NewAuditEvent,
    ) -> Result<RecordedApproval, StoreError> {
        self.stalled().await;
        self.lock()?.change_approval(id, event, |current, state| {
            let usable = current.status == ApprovalStatus::Approved
                && live(current, now)
                && &current.fingerprint == fingerprint
                && grant_holds(current, state.grants.get(&current.grant), now);
            if !usable {
                return Err(conflict(current, "used"));
            }
            let mut used = current.clone();
            used.status = ApprovalStatus::Used;
            used.closed_at = Some(to_micros(now));
            Ok(used)
        })
    }

    async fn void(&self, id: ApprovalId, at: DateTime<Utc>) -> Result<Approval, StoreError> {
        self.stalled().await;
        let mut state = self.lock()?;
        let approval = state.approvals.get_mut(id)?;
        if !approval.status.is_open() {
            return Err(conflict(approval, "voided"));
        }
        approval.status = ApprovalStatus::Void;
        approval.closed_at = Some(to_micros(at));
        Ok(approval.clone())
    }

    async fn void_for_grant(&self, grant: GrantId, at: DateTime<Utc>) -> Result<u64, StoreError> {
        self.stalled().await;
        let mut state = self.lock()?;
        let mut voided = 0;
        for approval in state
            .approvals
            .by_id
            .values_mut()
            .filter(|a| a.grant == grant && a.status.is_open())
        {
            approval.status = ApprovalStatus::Void;
            approval.closed_at = Some(to_micros(at));
            voided += 1;
        }
        Ok(voided)
    }

    async fn list(&self, filter: &ApprovalFilter) -> Result<Vec<Approval>, StoreError> {
        let state = self.lock()?;
        let mut listed: Vec<Approval> = state
            .approvals
            .by_id
            .values()
            .filter(|a| a.org == filter.org)
            .filter(|a| filter.status.is_none_or(|s| a.status_at(filter.now) == s))
            .cloned()
            .collect();
        listed.sort_by_key(|a| std::cmp::Reverse((a.requested_at, a.id)));
        listed.truncate(filter.limit as usize);
        Ok(listed)
    }
}
