//! Grants, seats and the audit log (with its tree and checkpoints) in memory.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use support_access_core::audit::{AuditEvent, AuditPage, AuditQuery, GENESIS, NewAuditEvent};
use support_access_core::grant::{Closure, Grant, Seat};
use support_access_core::ids::{GrantId, OrgId, StaffId};
use support_access_core::time::to_micros;
use support_access_core::tlog::{MemoryTree, StoredCheckpoint, event_leaf};
use support_access_core::{AuditLog, GrantStore, Recorded, StoreError};
use tokio::sync::{OwnedRwLockWriteGuard, RwLock};
use uuid::Uuid;

mod tree;

/// Grants and audit streams in memory. Cheap to clone; clones share the data.
#[derive(Debug, Clone, Default)]
pub struct InMemoryStore {
    state: Arc<Mutex<State>>,
    /// Writes pass it shared; [`InMemoryStore::stall_writes`] holds it alone.
    writes: Arc<RwLock<()>>,
}

/// Writes wait while this lives; see [`InMemoryStore::stall_writes`].
#[derive(Debug)]
pub struct WriteStall {
    _held: OwnedRwLockWriteGuard<()>,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) grants: HashMap<GrantId, Grant>,
    /// Insertion order per org, oldest first; the open grant, if any, is the last.
    by_org: HashMap<OrgId, Vec<GrantId>>,
    streams: HashMap<OrgId, Vec<AuditEvent>>,
    /// Every stored event's id.
    event_ids: HashSet<Uuid>,
    /// What support changed (`crate::record_changes`).
    pub(crate) changes: crate::record_changes::Changes,
    /// Each org's Merkle tree over its stream, appended with every event.
    trees: HashMap<OrgId, MemoryTree>,
    /// Each org's signed checkpoints by size.
    checkpoints: HashMap<OrgId, BTreeMap<u64, StoredCheckpoint>>,
    /// One-request approvals (see `approvals.rs`), under the same lock as the log.
    pub(crate) approvals: crate::approvals::Approvals,
    /// Webhook endpoints and deliveries (`webhooks.rs`): an event's notifications are
    /// queued in [`State::append`], with the event.
    pub(crate) outbox: crate::webhooks::Outbox,
    unavailable: bool,
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every write (appends and grant changes) wait until the returned guard is
    /// dropped, as a database whose write lock another process holds would: for tests
    /// of callers that stop waiting. Returns once writes are held.
    pub async fn stall_writes(&self) -> WriteStall {
        WriteStall {
            _held: self.writes.clone().write_owned().await,
        }
    }

    /// Waits while writes are stalled.
    pub(crate) async fn stalled(&self) {
        drop(self.writes.read().await);
    }

    /// Makes every call fail with `Unavailable` (or work again), as a store that went
    /// down would: for tests of the gateway's fail-closed behaviour.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.lock_raw().unavailable = unavailable;
    }

    /// Rewrites a stored audit event in place, as an attacker with access to the store
    /// could: for tests that chain verification detects it.
    pub fn tamper_with_event(&self, org: &OrgId, seq: u64, change: impl FnOnce(&mut AuditEvent)) {
        let mut state = self.lock_raw();
        if let Some(event) = state
            .streams
            .get_mut(org)
            .and_then(|stream| stream.iter_mut().find(|e| e.seq == seq))
        {
            change(event);
        }
    }

    fn lock_raw(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn lock(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        let state = self.lock_raw();
        if state.unavailable {
            Err(StoreError::Unavailable(
                "the in-memory store is switched off".into(),
            ))
        } else {
            Ok(state)
        }
    }
}

impl State {
    /// Refuses an event whose id is taken, before anything changes.
    pub(crate) fn check_event(&self, event: &NewAuditEvent) -> Result<(), StoreError> {
        if self.event_ids.contains(&event.id) {
            Err(StoreError::Conflict(format!(
                "audit event {} is already in the log",
                event.id
            )))
        } else {
            self.outbox.check_event(event.id)
        }
    }

    /// Seals `event` as its org's next and stores it, with its leaf in the org's tree.
    /// The one place events enter the log: appends and lifecycle changes both come
    /// here, under the store's lock.
    pub(crate) fn append(&mut self, event: NewAuditEvent) -> Result<AuditEvent, StoreError> {
        self.append_about(event, None)
    }

    /// [`State::append`] of a grant change's event, told the grant as changed (the
    /// data of its notification, SPEC §9).
    fn append_about(
        &mut self,
        event: NewAuditEvent,
        grant: Option<&Grant>,
    ) -> Result<AuditEvent, StoreError> {
        let stream = self.streams.entry(event.org.clone()).or_default();
        let (seq, prev_hash) = stream
            .last()
            .map_or((1, GENESIS), |last| (last.seq + 1, last.hash));
        let sealed = event.seal(seq, prev_hash);
        self.trees
            .entry(sealed.org.clone())
            .or_default()
            .append(&[event_leaf(&sealed.hash)])
            .map_err(|error| StoreError::Backend(error.to_string()))?;
        self.outbox.queue_for_event(&sealed, grant)?;
        stream.push(sealed.clone());
        self.event_ids.insert(sealed.id);
        Ok(sealed)
    }

    /// Applies a checked change to grant `id` and records its event, both under the one
    /// lock the caller holds: both happen or neither does.
    fn change(
        &mut self,
        id: GrantId,
        event: NewAuditEvent,
        change: impl FnOnce(&mut Grant) -> Result<(), StoreError>,
    ) -> Result<Recorded, StoreError> {
        self.check_event(&event)?;
        let mut changed = self.grants.get(&id).ok_or(StoreError::NotFound)?.clone();
        change(&mut changed)?;
        let event = self.append_about(event, Some(&changed))?;
        self.grants.insert(id, changed.clone());
        Ok(Recorded {
            grant: changed,
            event,
        })
    }

    fn open_for_org(&self, org: &OrgId) -> Option<&Grant> {
        self.by_org
            .get(org)
            .and_then(|ids| ids.last())
            .and_then(|id| self.grants.get(id))
            .filter(|grant| grant.is_open())
    }
}

#[async_trait]
impl GrantStore for InMemoryStore {
    async fn insert(&self, grant: &Grant, event: NewAuditEvent) -> Result<Recorded, StoreError> {
        self.stalled().await;
        let mut state = self.lock()?;
        if state.open_for_org(&grant.org).is_some() {
            return Err(StoreError::Conflict(format!(
                "org {} already has an open grant",
                grant.org
            )));
        }
        if state.grants.contains_key(&grant.id) {
            return Err(StoreError::Conflict(format!("grant {} exists", grant.id)));
        }
        state.check_event(&event)?;
        let event = state.append_about(event, Some(grant))?;
        state
            .by_org
            .entry(grant.org.clone())
            .or_default()
            .push(grant.id);
        state.grants.insert(grant.id, grant.clone());
        Ok(Recorded {
            grant: grant.clone(),
            event,
        })
    }

    async fn get(&self, id: GrantId) -> Result<Grant, StoreError> {
        self.lock()?
            .grants
            .get(&id)
            .cloned()
            .ok_or(StoreError::NotFound)
    }

    async fn open_for_org(&self, org: &OrgId) -> Result<Option<Grant>, StoreError> {
        Ok(self.lock()?.open_for_org(org).cloned())
    }

    async fn latest_for_org(&self, org: &OrgId) -> Result<Option<Grant>, StoreError> {
        let state = self.lock()?;
        Ok(state
            .by_org
            .get(org)
            .and_then(|ids| ids.last())
            .and_then(|id| state.grants.get(id))
            .cloned())
    }

    async fn set_expiry(
        &self,
        id: GrantId,
        expires_at: DateTime<Utc>,
        event: NewAuditEvent,
    ) -> Result<Recorded, StoreError> {
        self.stalled().await;
        self.lock()?.change(id, event, |grant| {
            open(grant)?;
            grant.expires_at = to_micros(expires_at);
            Ok(())
        })
    }

    async fn close(
        &self,
        id: GrantId,
        closure: Closure,
        event: NewAuditEvent,
    ) -> Result<Recorded, StoreError> {
        self.stalled().await;
        self.lock()?.change(id, event, |grant| {
            open(grant)?;
            grant.closure = Some(Closure {
                at: to_micros(closure.at),
                ..closure
            });
            Ok(())
        })
    }

    async fn claim_seat(
        &self,
        id: GrantId,
        staff: &StaffId,
        at: DateTime<Utc>,
        event: NewAuditEvent,
    ) -> Result<Recorded, StoreError> {
        self.stalled().await;
        self.lock()?.change(id, event, |grant| {
            open(grant)?;
            match &grant.seat {
                Some(seat) if &seat.holder != staff => Err(StoreError::Conflict(format!(
                    "the seat of grant {id} is held by another staff member"
                ))),
                Some(_) => Ok(()),
                None => {
                    grant.seat = Some(Seat {
                        holder: staff.clone(),
                        claimed_at: to_micros(at),
                    });
                    Ok(())
                }
            }
        })
    }

    async fn release_seat(
        &self,
        id: GrantId,
        staff: &StaffId,
        event: NewAuditEvent,
    ) -> Result<Recorded, StoreError> {
        self.stalled().await;
        self.lock()?.change(id, event, |grant| match &grant.seat {
            Some(seat) if &seat.holder == staff => {
                grant.seat = None;
                Ok(())
            }
            _ => Err(StoreError::Conflict(format!(
                "{staff} does not hold the seat of grant {id}"
            ))),
        })
    }

    async fn due_for_expiry(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Grant>, StoreError> {
        let state = self.lock()?;
        let mut due: Vec<Grant> = state
            .grants
            .values()
            .filter(|grant| grant.is_open() && grant.expires_at <= now)
            .cloned()
            .collect();
        due.sort_by_key(|grant| (grant.expires_at, grant.id));
        due.truncate(limit as usize);
        Ok(due)
    }
}

/// `Conflict` unless the grant is open.
fn open(grant: &Grant) -> Result<(), StoreError> {
    if grant.is_open() {
        Ok(())
    } else {
        Err(StoreError::Conflict(format!(
            "grant {} is closed",
            grant.id
        )))
    }
}

#[async_trait]
impl AuditLog for InMemoryStore {
    async fn append(&self, event: NewAuditEvent) -> Result<AuditEvent, StoreError> {
        self.stalled().await;
        let mut state = self.lock()?;
        state.check_event(&event)?;
        state.append(event)
    }

    async fn query(&self, query: &AuditQuery) -> Result<AuditPage, StoreError> {
        let state = self.lock()?;
        let page_size = query.page_size();
        let events = state
            .streams
            .get(&query.org)
            .map(|stream| {
                stream
                    .iter()
                    .rev()
                    .filter(|event| query.matches(event))
                    .take(page_size as usize + 1)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        Ok(AuditPage::from_overfetch(events, page_size))
    }

    async fn scan(
        &self,
        org: &OrgId,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let state = self.lock()?;
        Ok(state
            .streams
            .get(org)
            .map(|stream| {
                stream
                    .iter()
                    .filter(|event| event.seq > after_seq)
                    .take(limit as usize)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn orgs(&self) -> Result<Vec<OrgId>, StoreError> {
        let state = self.lock()?;
        let mut orgs: Vec<OrgId> = state
            .streams
            .iter()
            .filter(|(_, stream)| !stream.is_empty())
            .map(|(org, _)| org.clone())
            .collect();
        orgs.sort();
        Ok(orgs)
    }
}
