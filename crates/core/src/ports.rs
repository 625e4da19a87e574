//! The ports: what the domain needs from the outside world. Adapters implement them;
//! `support-access-contract` holds one suite per port that proves each promise below.
//!
//! Every promise is a MUST sentence; each has a contract case of the same name.

use std::fmt::Debug;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::audit::{AuditEvent, AuditPage, AuditQuery, NewAuditEvent};
use crate::grant::{Closure, Grant};
use crate::ids::{GrantId, OrgId, StaffId};
pub use crate::tlog::store::AuditTree;

pub use crate::approval::port::{ApprovalFilter, ApprovalStore, RecordedApproval};
pub use crate::change::port::{ChangeStore, RecordedChanges, RecordedRevert};

/// The one backend-neutral error of every port. Adapters translate their driver's
/// errors at the boundary and never leak driver codes.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StoreError {
    /// The thing asked for does not exist.
    #[error("not found")]
    NotFound,
    /// The change contradicts the stored state (an open grant exists, the seat is held,
    /// the grant is closed). The text says what.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The store cannot be reached or did not answer in time. The gateway fails closed
    /// for support traffic on this.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store answered with an error that is none of the above.
    #[error("store error: {0}")]
    Backend(String),
}

/// The current time. The only source of time in the domain.
///
/// - It MUST be monotonic enough for expiry: a clock that jumps back may extend access.
pub trait Clock: Send + Sync + Debug {
    /// Now, in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// A grant change together with the audit event that records it, both durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The grant as the change left it.
    pub grant: Grant,
    /// The event as stored: sealed in its org's chain.
    pub event: AuditEvent,
}

/// Grants and their support seat.
///
/// Every change (`insert`, `set_expiry`, `close`, `claim_seat`, `release_seat`) takes
/// the audit event that records it and stores both in one transaction, in the audit
/// log of the same data (the store's own [`AuditLog`]).
///
/// Promises:
/// - Every change MUST store its event in the same transaction as the change, as the
///   org's next event of the audit log of the same data (sealed as
///   [`AuditLog::append`] seals it), and MUST return both: the change and its event
///   are both durable or neither is.
/// - A change that is refused (`Conflict`, `NotFound`) or fails MUST store no event.
/// - A change whose event cannot be stored (its id is already in the log, say) MUST
///   fail and leave the grant unchanged.
/// - `insert` MUST return `Conflict` when the org already has an open grant, also when
///   two inserts for one org race: exactly one wins.
/// - `get` MUST return `NotFound` for an unknown id, and otherwise the grant exactly as
///   written, times at microsecond precision.
/// - `open_for_org` MUST return the org's open grant (not closed), whatever its end date.
/// - `latest_for_org` MUST return the open grant if there is one, else the most recently
///   created closed grant, else `None`.
/// - `set_expiry` MUST change only the end date of an open grant; it MUST return
///   `Conflict` for a closed grant and `NotFound` for an unknown one.
/// - `close` MUST close an open grant exactly once: of several concurrent closes, one
///   returns the closed grant and the others `Conflict`.
/// - `claim_seat` MUST give the seat to `staff` when it is free, MUST keep the existing
///   claim unchanged when `staff` already holds it, and MUST return `Conflict` when
///   another staff member holds it or the grant is closed; of several concurrent claims
///   by different staff, exactly one wins.
/// - `release_seat` MUST free the seat held by `staff` and MUST return `Conflict` when
///   `staff` does not hold it.
/// - `due_for_expiry` MUST return open grants whose end date is at or before `now`,
///   oldest end first, at most `limit`.
/// - `open_grants` MUST return every open grant (at most `limit`) and no closed one.
/// - A second handle on the same data MUST see every write of the first.
#[async_trait]
pub trait GrantStore: Send + Sync + Debug {
    /// Stores a new open grant and the event that records it.
    async fn insert(&self, grant: &Grant, event: NewAuditEvent) -> Result<Recorded, StoreError>;
    /// One grant by id.
    async fn get(&self, id: GrantId) -> Result<Grant, StoreError>;
    /// The org's open grant, if any.
    async fn open_for_org(&self, org: &OrgId) -> Result<Option<Grant>, StoreError>;
    /// The org's open grant, or its latest closed one.
    async fn latest_for_org(&self, org: &OrgId) -> Result<Option<Grant>, StoreError>;
    /// Moves an open grant's end date; returns the changed grant and its event.
    async fn set_expiry(
        &self,
        id: GrantId,
        expires_at: DateTime<Utc>,
        event: NewAuditEvent,
    ) -> Result<Recorded, StoreError>;
    /// Closes an open grant (revoke or expiry); returns the closed grant and its event.
    async fn close(
        &self,
        id: GrantId,
        closure: Closure,
        event: NewAuditEvent,
    ) -> Result<Recorded, StoreError>;
    /// Claims the support seat for `staff` at `at`; returns the grant with its seat and
    /// the event.
    async fn claim_seat(
        &self,
        id: GrantId,
        staff: &StaffId,
        at: DateTime<Utc>,
        event: NewAuditEvent,
    ) -> Result<Recorded, StoreError>;
    /// Frees the support seat held by `staff`; returns the grant without a seat and the
    /// event.
    async fn release_seat(
        &self,
        id: GrantId,
        staff: &StaffId,
        event: NewAuditEvent,
    ) -> Result<Recorded, StoreError>;
    /// Open grants whose end date has come.
    async fn due_for_expiry(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Grant>, StoreError>;

    /// Every open grant, at most `limit`, oldest end first: the gateway's list of hidden
    /// support users that nobody may assign records to. The default asks
    /// `due_for_expiry` with the end of time, which returns exactly the open grants.
    async fn open_grants(&self, limit: u32) -> Result<Vec<Grant>, StoreError> {
        self.due_for_expiry(DateTime::<Utc>::MAX_UTC, limit).await
    }
}

/// The durable, chained, per-org audit log.
///
/// Promises:
/// - `append` MUST assign the org's next `seq` (1 for the first event, then +1 with no
///   gap and no repeat, also under concurrent appends from many tasks and from several
///   handles on the same data), MUST set `prev_hash` to the previous event's `hash`
///   ([`crate::audit::GENESIS`] for the first) and `hash` by
///   [`crate::audit::NewAuditEvent::seal`], and MUST return `Ok` only once the event is
///   durable — never when it gave up waiting for the database.
/// - `append` MUST refuse an event whose `id` is already in the log with `Conflict`,
///   storing nothing of it.
/// - `append` MUST return `Unavailable` when the event could not be made durable; the
///   event MUST then not appear later — unless the outcome is unknown because the
///   store had already asked the database to commit it when it gave up (the
///   connection was lost, the write deadline passed): then the event MUST appear whole,
///   in its place in the chain, or not at all.
/// - An append whose caller stops waiting (drops the call, e.g. on a timeout) before
///   the store holds the org's append order for it MUST NOT be written, then or later.
///   So a caller that gives up on a stalled store gets neither an answer nor a record;
///   only an append abandoned while its commit was under way may still appear.
/// - `query` MUST return the org's events that pass every filter of the query, newest
///   (highest `seq`) first, at most `page_size()` of them, with a `next_cursor` exactly
///   when more match; following cursors MUST list every matching event once, with no
///   duplicate and no gap, even while new events are appended.
/// - `query` MUST never return another org's events.
/// - `scan` MUST return the org's events with `seq > after_seq` in ascending order, at
///   most `limit`, exactly as stored (so that tampering is visible to verification).
/// - `orgs` MUST list every org that has at least one event.
/// - Every field MUST read back exactly as appended, `error`, `rewrites` (in order),
///   `changes_sha256` and `approval` included; an event appended without them MUST read
///   back without them.
#[async_trait]
pub trait AuditLog: Send + Sync + Debug {
    /// Appends an event to its org's chain; returns it as stored.
    async fn append(&self, event: NewAuditEvent) -> Result<AuditEvent, StoreError>;
    /// A filtered page, newest first.
    async fn query(&self, query: &AuditQuery) -> Result<AuditPage, StoreError>;
    /// Events after `after_seq`, oldest first.
    async fn scan(
        &self,
        org: &OrgId,
        after_seq: u64,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError>;
    /// Every org with events.
    async fn orgs(&self) -> Result<Vec<OrgId>, StoreError>;
}

/// A change a grant cache must forget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantChange {
    /// This grant of this org changed: forget it and the org's open grant.
    Grant {
        /// The grant.
        id: GrantId,
        /// Its org.
        org: OrgId,
    },
    /// Changes may have been missed (the feed lost its connection, or a receiver fell
    /// behind): forget everything.
    Everything,
}

/// A feed of grant changes made through any instance sharing the store (on PostgreSQL,
/// `LISTEN`/`NOTIFY`), for grant caches and for ending support access in flight.
///
/// Promises:
/// - A feed MUST deliver every change committed through another instance to every
///   subscriber, or else [`GrantChange::Everything`] once it may have missed some.
/// - A feed whose changes do not come from the database itself MUST pass on what
///   [`GrantChanges::announce`] is told.
pub trait GrantChanges: Send + Sync + Debug {
    /// A subscriber to every change from now on.
    fn subscribe(&self) -> Box<dyn ChangeFeed>;

    /// Tells the feed of a change committed through this process. Feeds that learn
    /// every change from the database ignore it, which is the default; in-process feeds
    /// pass it on.
    fn announce(&self, change: GrantChange) {
        let _ = change;
    }
}

/// One subscriber's changes, in order. A subscriber that fell behind gets
/// [`GrantChange::Everything`] in place of what it missed.
#[async_trait]
pub trait ChangeFeed: Send + Sync + Debug {
    /// The next change already delivered, without waiting; `None` when there is none
    /// yet or the feed has ended.
    fn try_next(&mut self) -> Option<GrantChange>;

    /// Waits for the next change; `None` once the feed has ended.
    async fn next(&mut self) -> Option<GrantChange>;
}
