//! Everything that needs a real PostgreSQL: the port contracts, the cache over two
//! instances, tamper detection with raw SQL, and the multi-instance guarantees (concurrent appends and grants,
//! revocation seen by another instance's cache, expiry exactly once).
//!
//! The server is `DATABASE_URL`, by default `postgres://postgres@127.0.0.1:5432/test`.
//! Each test works in a schema of its own, dropped afterwards, also when it fails.

mod adapter;
mod cache;
#[path = "../common/cases.rs"]
mod cases;
mod contract;
mod fixture;
mod multi_instance;
#[path = "../common/tamper.rs"]
mod tamper;
mod tampering;
#[path = "../common/webhook_cases.rs"]
mod webhook_cases;
mod webhooks;
