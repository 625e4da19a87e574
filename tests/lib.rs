//! Test support for the end-to-end suite: a recording stub CRM, a harness that runs the
//! real gateway on port 0 in front of it on a real database, and an HTTP client that can
//! also send raw bytes.

pub mod client;
pub mod fault_fs;
pub mod harness;
pub mod stub;
pub mod stub_records;
pub mod tls;
pub mod tokens;
