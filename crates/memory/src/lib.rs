//! In-memory adapters for every Support Access port.
//!
//! - [`InMemoryStore`]: the [`GrantStore`](support_access_core::GrantStore),
//!   [`AuditLog`](support_access_core::AuditLog),
//!   [`AuditTree`](support_access_core::tlog::AuditTree),
//!   [`ChangeStore`](support_access_core::ChangeStore) and
//!   [`ApprovalStore`](support_access_core::ports::ApprovalStore) and
//!   [`WebhookOutbox`](support_access_core::notify::WebhookOutbox) ports in one process's
//!   memory, their events in the same log (and the notifications of those events queued
//!   with them). Clones share the data, so a clone is a
//!   second handle on the same store.
//! - [`ManualClock`]: a clock tests set and advance.
//! - [`SystemClock`]: the wall clock; the only place in the workspace that reads it.

mod approvals;
mod clock;
mod record_changes;
mod store;
mod webhooks;

pub use clock::{ManualClock, SystemClock};
pub use store::{InMemoryStore, WriteStall};
