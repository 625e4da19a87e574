//! The gateway's own signing keys and their rotation (SPEC §2): stored where every
//! instance sees them, each with the instant it starts signing, and a state that follows
//! from the times alone.
//!
//! A key is `next` until its `activates_at`; the newest key whose `activates_at` has
//! passed is `active` (it signs); an older key is `retiring` from the instant a newer one
//! activated until the last token it can have signed has expired (`superseded +
//! token lifetime + leeway`), then `retired`. Every key but a retired one is published
//! and accepted. States are computed at `now`, never stored, so every instance agrees.

use std::fmt::Debug;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use crate::ports::StoreError;

/// What a key signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyPurpose {
    /// Support tokens (published in the JWK Set).
    Support,
    /// Checkpoints of the verifiable audit log.
    Audit,
}

impl KeyPurpose {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Support => "support",
            Self::Audit => "audit",
        }
    }
}

/// A stored key.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// The JWS `kid` (the RFC 7638 thumbprint of the public key).
    pub kid: String,
    /// What it signs.
    pub purpose: KeyPurpose,
    /// The JWS `alg`, e.g. `EdDSA`.
    pub algorithm: String,
    /// The private key, PKCS#8 PEM.
    pub private_pem: String,
    /// The public key as a JWK (JSON text).
    pub public_jwk: String,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// When it starts signing (publication starts at `created_at`).
    pub activates_at: DateTime<Utc>,
}

impl Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("purpose", &self.purpose)
            .field("algorithm", &self.algorithm)
            .field("created_at", &self.created_at)
            .field("activates_at", &self.activates_at)
            .finish_non_exhaustive()
    }
}

/// Where a key is in its life at some instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Published, not signing yet.
    Next,
    /// Published and signing.
    Active,
    /// Published and accepted, no longer signing.
    Retiring,
    /// Neither published nor accepted.
    Retired,
}

impl KeyState {
    /// The name `keys list` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Active => "active",
            Self::Retiring => "retiring",
            Self::Retired => "retired",
        }
    }

    /// Whether a key in this state is published and its signatures accepted.
    pub fn is_published(self) -> bool {
        !matches!(self, Self::Retired)
    }
}

/// A key's state at one instant, with the instants that bound it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyStatus {
    /// The key.
    pub key: StoredKey,
    /// Its state.
    pub state: KeyState,
    /// When a newer key took over signing, if one has.
    pub superseded_at: Option<DateTime<Utc>>,
    /// When it is (or was) retired, if it has been superseded.
    pub retires_at: Option<DateTime<Utc>>,
}

/// The state of every key at `now`, newest first. `token_lifetime` is the longest a
/// token signed by a key can be accepted after it was signed (its lifetime plus the
/// verification leeway).
pub fn key_states(
    mut keys: Vec<StoredKey>,
    now: DateTime<Utc>,
    token_lifetime: Duration,
) -> Vec<KeyStatus> {
    // Newest activation first; ties broken by kid so every instance orders alike.
    keys.sort_by(|a, b| {
        b.activates_at
            .cmp(&a.activates_at)
            .then_with(|| b.kid.cmp(&a.kid))
    });
    // The instant the next-newer key activated, for each key.
    let mut newer_activation: Option<DateTime<Utc>> = None;
    let mut active_seen = false;
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        let superseded_at = newer_activation.filter(|at| *at <= now);
        let state = if key.activates_at > now {
            KeyState::Next
        } else if !active_seen {
            active_seen = true;
            KeyState::Active
        } else {
            // `superseded_at` is set: a newer key has activated.
            let retires_at = superseded_at.map(|at| at + token_lifetime);
            if retires_at.is_some_and(|at| at <= now) {
                KeyState::Retired
            } else {
                KeyState::Retiring
            }
        };
        newer_activation = Some(key.activates_at);
        let retires_at = superseded_at.map(|at| at + token_lifetime);
        out.push(KeyStatus {
            key,
            state,
            superseded_at,
            retires_at,
        });
    }
    out
}

/// The gateway's signing keys, shared by every instance.
///
/// - `add` MUST make the key visible to every later `keys` call of every instance.
/// - `add` of a kid already stored MUST answer `Conflict` and change nothing.
/// - `keys` MUST return every key of the purpose, retired ones included.
#[async_trait]
pub trait SigningKeyStore: Send + Sync + Debug {
    /// Every key of `purpose`.
    async fn keys(&self, purpose: KeyPurpose) -> Result<Vec<StoredKey>, StoreError>;
    /// Stores a new key.
    async fn add(&self, key: &StoredKey) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kid: &str, activates_at: DateTime<Utc>) -> StoredKey {
        StoredKey {
            kid: kid.into(),
            purpose: KeyPurpose::Support,
            algorithm: "EdDSA".into(),
            private_pem: String::new(),
            public_jwk: String::new(),
            created_at: activates_at - Duration::minutes(5),
            activates_at,
        }
    }

    fn states(keys: &[StoredKey], now: DateTime<Utc>) -> Vec<(String, KeyState)> {
        key_states(keys.to_vec(), now, Duration::minutes(16))
            .into_iter()
            .map(|s| (s.key.kid, s.state))
            .collect()
    }

    #[test]
    fn a_rotation_goes_next_active_retiring_retired_to_the_second() {
        let t0 = DateTime::<Utc>::UNIX_EPOCH + Duration::days(20_000);
        let t1 = t0 + Duration::hours(1);
        let keys = [key("a", t0), key("b", t1)];
        use KeyState::*;
        let at = |d: Duration| states(&keys, t1 + d);
        assert_eq!(
            at(-Duration::seconds(1)),
            [("b".into(), Next), ("a".into(), Active)]
        );
        assert_eq!(
            at(Duration::zero()),
            [("b".into(), Active), ("a".into(), Retiring)]
        );
        assert_eq!(
            at(Duration::minutes(16) - Duration::seconds(1)),
            [("b".into(), Active), ("a".into(), Retiring)]
        );
        assert_eq!(
            at(Duration::minutes(16)),
            [("b".into(), Active), ("a".into(), Retired)]
        );
        let statuses = key_states(keys.to_vec(), t1, Duration::minutes(16));
        assert_eq!(statuses[1].retires_at, Some(t1 + Duration::minutes(16)));
        assert_eq!(statuses[0].retires_at, None);
    }

    #[test]
    fn only_the_newest_activated_key_signs_and_future_keys_wait() {
        let t0 = DateTime::<Utc>::UNIX_EPOCH + Duration::days(20_000);
        let keys = [
            key("a", t0),
            key("b", t0 + Duration::minutes(1)),
            key("c", t0 + Duration::hours(2)),
        ];
        use KeyState::*;
        assert_eq!(
            states(&keys, t0 + Duration::minutes(30)),
            [
                ("c".into(), Next),
                ("b".into(), Active),
                ("a".into(), Retired)
            ]
        );
        assert_eq!(
            states(&keys, t0 + Duration::minutes(10)),
            [
                ("c".into(), Next),
                ("b".into(), Active),
                ("a".into(), Retiring)
            ]
        );
        assert!(!Retired.is_published() && Retiring.is_published() && Next.is_published());
    }
}
