//! End-to-end: the real gateway on real sockets, in front of a recording stub CRM, on a
//! real SQLite database.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod approval;
mod attacks;
mod browser;
mod browser_approvals;
mod browser_changes;
mod browser_checkpoint;
mod browser_webhooks;
mod bypass;
mod changes;
mod child;
mod cores;
mod export;
mod faults;
mod jwt;
mod keys;
mod kill9;
mod lifecycle;
mod management;
mod ordinary;
mod request_ids;
mod restrictions;
mod revocation;
mod sqlite_faults;
mod support;
mod tlog;
mod tlog_rotation;
mod tlog_tamper;
mod tls;
mod webhooks;
mod webhooks_faults;
