//! The Support Access gateway.
//!
//! `support-gateway serve` runs a reverse proxy in front of a CRM. Ordinary traffic is
//! forwarded untouched (bar two guards); support traffic — requests carrying a support
//! token the gateway issued — is verified, checked against the grant and the route
//! policy, audited durably, and only then forwarded.

pub mod config;
