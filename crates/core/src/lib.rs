//! The Support Access domain, free of I/O.
//!
//! A customer's admin grants the CRM vendor's support a temporary, restricted, audited
//! access to the account. This crate holds the rules of that feature and the ports
//! through which it reaches storage, the clock and the audit log:
//!
//! - [`approval`]: one-request approvals, the request fingerprint, their port and service;
//! - [`grant`]: grants, their lifecycle and the single support seat;
//! - [`audit`]: audit events, their canonical encoding and SHA-256 chain, queries and cursors;
//! - [`change`]: what support changed: change entries, their diff, report and revert;
//! - [`keys`]: the gateway's signing keys, their rotation states and their port;
//! - [`notify`]: signed webhooks (Standard Webhooks), the SSRF check, retries and the
//!   [`notify::WebhookOutbox`] port;
//! - [`restriction`]: the catalogue of the 32 things the support user may not do;
//! - [`ports`]: [`ports::GrantStore`], [`ports::AuditLog`], [`ports::Clock`],
//!   [`ports::GrantChanges`] and the backend-neutral [`ports::StoreError`];
//! - [`request`]: a support request as the audit log records it;
//! - [`service`]: [`service::SupportAccess`], the one service that uses the ports;
//! - [`tlog`]: the audit log as a Merkle tree (RFC 9162), signed checkpoints (C2SP) and
//!   inclusion and consistency proofs, so customers can verify it.
//!
//! Time comes only from the [`ports::Clock`] port; pure functions take `now` as an argument.

pub mod approval;
pub mod audit;
mod canonical;
pub mod change;
pub mod grant;
pub mod ids;
pub mod keys;
pub mod notify;
pub mod ports;
pub mod request;
pub mod restriction;
pub mod service;
pub mod time;
pub mod tlog;

pub use approval::{Approval, ApprovalId, ApprovalStatus, Fingerprint};
pub use audit::{AuditEvent, AuditKind, AuditPage, AuditQuery, Decision, NewAuditEvent};
pub use change::{ChangeEntry, ChangeId, ChangeStore, NewChangeEntry, SupportChanges};
pub use grant::{ClosedAs, Closure, EndDateError, Grant, GrantBounds, GrantStatus, Seat};
pub use ids::{GrantId, OrgId, StaffId, SupportUserId};
pub use ports::{
    AuditLog, ChangeFeed, Clock, GrantChange, GrantChanges, GrantStore, Recorded, StoreError,
};
pub use request::{RequestLine, RequestOutcome, RequestRecord};
pub use restriction::{CATALOGUE, Restriction};
pub use service::SupportAccess;
