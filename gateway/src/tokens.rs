//! Bearer tokens (SPEC §2): finding them in a request, an unverified peek for
//! classification, full verification with pinned algorithms, and the gateway's own
//! support tokens (Ed25519).
//!
//! Verification never reads the wall clock: `exp`, `nbf` and `iat` are checked against
//! the `now` the caller takes from the Clock port.

pub(crate) mod key_file;
pub mod keyring;
mod keys;
mod peek;
mod support;
mod verify;

pub use key_file::audit_signer;
pub use keys::{KeyError, VerifyKey, load_keys};
pub use peek::{Peeked, peek};
pub use support::{Actor, SupportClaims, SupportSigner};
pub use verify::{TokenError, Verifier};

#[cfg(test)]
mod tests;
