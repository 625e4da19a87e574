//! The support signing keys as one set (SPEC §2, key rotation): every published key
//! (`next`, `active`, `retiring`) verifies and is in the JWK Set; the key active at the
//! moment of issue signs. The set comes from the shared key store (the database) and is
//! re-read by every instance, or is the one key of the key file (memory storage).

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use serde_json::{Value, json};
use support_access_core::StoreError;
use support_access_core::keys::{KeyPurpose, KeyStatus, SigningKeyStore, StoredKey, key_states};

use super::keys::{KeyError, VerifyKey};
use super::support::ed25519_kid;
use super::verify::Verifier;

/// How often every instance re-reads the shared keys. Far below the default
/// `publish_ahead` (5 minutes), so every instance publishes and accepts a new key long
/// before any instance signs with it.
pub const REFRESH_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

const KEY_NAME: &str = "auth.support.signing_key";

fn error(message: impl Into<String>) -> KeyError {
    KeyError {
        key: KEY_NAME.into(),
        message: message.into(),
    }
}

/// A key's PKCS#8 document and the instant it starts signing.
pub(super) type Published = (Vec<u8>, DateTime<Utc>);

/// One published key.
#[derive(Clone)]
pub(super) struct SignKey {
    pub kid: String,
    pub encoding: EncodingKey,
    pub jwk: Value,
    pub activates_at: DateTime<Utc>,
}

/// The published keys, newest activation first, and a verifier that accepts each.
#[derive(Clone)]
pub(super) struct KeySet {
    pub keys: Vec<SignKey>,
    pub verifier: Verifier,
    /// When the set was read.
    pub loaded_at: DateTime<Utc>,
}

/// What every key of a signer shares.
#[derive(Debug, Clone)]
pub(super) struct Audience {
    pub issuer: String,
    pub audience: String,
    pub leeway: std::time::Duration,
}

impl KeySet {
    /// The set of `keys` (PKCS#8 documents with their activation).
    pub fn new(
        keys: &[Published],
        audience: &Audience,
        loaded_at: DateTime<Utc>,
    ) -> Result<Self, KeyError> {
        let mut set = Vec::with_capacity(keys.len());
        let mut verify = Vec::with_capacity(keys.len());
        for (document, activates_at) in keys {
            let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(document)
                .map_err(|_| error("a support key is not an Ed25519 PKCS#8 key"))?;
            let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
            let kid = ed25519_kid(&x)?;
            let decoding = DecodingKey::from_ed_components(&x)
                .map_err(|e| error(format!("bad public key: {e}")))?;
            verify.push(VerifyKey {
                kid: Some(kid.clone()),
                alg: Algorithm::EdDSA,
                key: decoding,
            });
            set.push(SignKey {
                jwk: public_jwk(&x, &kid),
                kid,
                encoding: EncodingKey::from_ed_der(document),
                activates_at: *activates_at,
            });
        }
        set.sort_by_key(|key| std::cmp::Reverse(key.activates_at));
        let verifier = Verifier::new(
            verify,
            &audience.issuer,
            &audience.audience,
            audience.leeway,
        )
        .requiring_kid();
        Ok(Self {
            keys: set,
            verifier,
            loaded_at,
        })
    }

    /// The key that signs at `now`: the newest whose activation has passed (the oldest
    /// key when none has, which cannot happen once the first key is stored).
    pub fn signing(&self, now: DateTime<Utc>) -> Option<&SignKey> {
        self.keys
            .iter()
            .find(|key| key.activates_at <= now)
            .or_else(|| self.keys.last())
    }

    /// The JWK Set of every published key.
    pub fn jwks(&self) -> Value {
        json!({ "keys": self.keys.iter().map(|key| key.jwk.clone()).collect::<Vec<_>>() })
    }
}

fn public_jwk(x: &str, kid: &str) -> Value {
    json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"})
}

/// The published keys among `stored`, at `now`, as (document, activation) pairs.
pub(super) fn published(
    stored: Vec<StoredKey>,
    now: DateTime<Utc>,
    token_lifetime: chrono::Duration,
) -> Result<Vec<Published>, KeyError> {
    key_states(stored, now, token_lifetime)
        .into_iter()
        .filter(|status| status.state.is_published())
        .map(|status| {
            let parsed = pem::parse(status.key.private_pem.as_bytes())
                .map_err(|e| error(format!("stored key {}: {e}", status.key.kid)))?;
            Ok((parsed.into_contents(), status.key.activates_at))
        })
        .collect()
}

/// A stored support key made from a PKCS#8 document, published from `created_at`,
/// signing from `activates_at`.
pub fn stored_key(
    document: &[u8],
    created_at: DateTime<Utc>,
    activates_at: DateTime<Utc>,
) -> Result<StoredKey, KeyError> {
    let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(document)
        .map_err(|_| error("not an Ed25519 PKCS#8 key"))?;
    let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
    let kid = ed25519_kid(&x)?;
    Ok(StoredKey {
        kid: kid.clone(),
        purpose: KeyPurpose::Support,
        algorithm: "EdDSA".into(),
        private_pem: pem::encode(&pem::Pem::new("PRIVATE KEY", document.to_vec())),
        public_jwk: public_jwk(&x, &kid).to_string(),
        created_at,
        activates_at,
    })
}

/// A new Ed25519 key as a PKCS#8 document.
pub fn generate() -> Result<Vec<u8>, KeyError> {
    let document = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
        .map_err(|_| error("cannot generate an Ed25519 key"))?;
    Ok(document.as_ref().to_vec())
}

/// The support keys of `store`; when it holds none yet, the key file's key is stored
/// first (active from `now`), so that an upgrade keeps the key its tokens carry and a
/// first start of several instances settles on keys they all see.
pub async fn ensure_stored(
    store: &dyn SigningKeyStore,
    file_key: impl FnOnce() -> Result<Vec<u8>, KeyError>,
    now: DateTime<Utc>,
) -> Result<Vec<StoredKey>, KeyringError> {
    let keys = store.keys(KeyPurpose::Support).await?;
    if !keys.is_empty() {
        return Ok(keys);
    }
    let first = stored_key(&file_key()?, now, now)?;
    match store.add(&first).await {
        // Another instance stored the same file key first.
        Ok(()) | Err(StoreError::Conflict(_)) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(store.keys(KeyPurpose::Support).await?)
}

/// The states of the support keys at `now`, newest first (`keys list`).
pub async fn statuses(
    store: &dyn SigningKeyStore,
    now: DateTime<Utc>,
    token_lifetime: chrono::Duration,
) -> Result<Vec<KeyStatus>, StoreError> {
    Ok(key_states(
        store.keys(KeyPurpose::Support).await?,
        now,
        token_lifetime,
    ))
}

/// Why the shared keys could not be read or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    /// A key is unusable.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The key store failed.
    #[error("storage.url: {0}")]
    Store(#[from] StoreError),
}

/// Re-reads the shared keys every [`REFRESH_EVERY`] until aborted.
pub fn spawn_refresh(
    signer: super::SupportSigner,
    now: impl Fn() -> DateTime<Utc> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(REFRESH_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(e) = signer.refresh(now()).await {
                tracing::warn!(error = %e, "cannot re-read the support signing keys; keeping the ones loaded");
            }
        }
    })
}
