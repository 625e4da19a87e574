//! In-memory adapters for every Support Access port.
//!
//! - [`InMemoryStore`]: [`GrantStore`](support_access_core::GrantStore) and
//!   [`AuditLog`](support_access_core::AuditLog) in one process's memory. Clones share
//!   the data, so a clone is a second handle on the same store. It also implements
//!   [`ChangeStore`](support_access_core::ChangeStore) and
//!   [`ApprovalStore`](support_access_core::ports::ApprovalStore), their events in the
//!   same log.
//! - [`ManualClock`]: a clock tests set and advance.
//! - [`SystemClock`]: the wall clock; the only place in the workspace that reads it.

mod approvals;
mod clock;
mod record_changes;
mod store;

pub use clock::{ManualClock, SystemClock};
pub use store::{InMemoryStore, WriteStall};
