//! The audit key, rotated (`keys rotate --audit`): the checkpoints' Ed25519 note keys
//! kept in the shared key store (purpose `audit`), the key file `audit.key_file` stored
//! as the first. The key that signs a checkpoint first is the newest whose
//! `activates_at` has passed; a rotated-in key waits `auth.support.publish_ahead`.
//! During a changeover checkpoints carry several signatures (C2SP signed-note): the
//! rotated-in key co-signs from the rotation on, and the superseded key keeps co-signing
//! for `audit.key_overlap` after the new one took over, so a customer holding only the
//! old verifier key verifies checkpoints made after the rotation and has that long to
//! learn the new key. Checkpoints signed before a rotation keep verifying with the
//! previous verifier key, which customers keep.

use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use chrono::{DateTime, Duration, Utc};
use support_access_core::keys::{KeyPurpose, KeyState, SigningKeyStore, StoredKey, key_states};
use support_access_core::tlog::{
    AuditSigner, NoteError, NoteSigner, NoteVerifier, audit_key_name, sign_all,
};
use support_access_core::{Clock, StoreError};

use super::keyring::KeyringError;
use super::keys::KeyError;

const KEY_NAME: &str = "audit.key_file";

fn error(message: impl Into<String>) -> KeyError {
    KeyError {
        key: KEY_NAME.into(),
        message: message.into(),
    }
}

/// A stored audit key made from a PKCS#8 document; its kid is `audit-` and the C2SP
/// key id in hex, its public part the verifier key (vkey).
pub fn stored_audit_key(
    document: &[u8],
    issuer: &str,
    created_at: DateTime<Utc>,
    activates_at: DateTime<Utc>,
) -> Result<StoredKey, KeyError> {
    let signer = NoteSigner::from_pkcs8(&audit_key_name(issuer), document)
        .map_err(|e| error(e.to_string()))?;
    Ok(StoredKey {
        kid: format!("audit-{:08x}", signer.key_id()),
        purpose: KeyPurpose::Audit,
        algorithm: "Ed25519".into(),
        private_pem: pem::encode(&pem::Pem::new("PRIVATE KEY", document.to_vec())),
        public_jwk: serde_json::json!({ "vkey": signer.verifier().to_string() }).to_string(),
        created_at,
        activates_at,
    })
}

/// A stored audit key (its private part dropped) and its signer.
#[derive(Debug)]
struct LoadedKey {
    stored: StoredKey,
    signer: Arc<NoteSigner>,
}

/// The kids of the audit keys that sign at `now`, the one signing first: the newest
/// active key (the oldest when none is active yet), then every key published ahead of
/// its activation, then every key superseded less than `overlap` ago — exactly the keys
/// `keys list --audit` shows as `active`, `next` and `retiring`.
pub fn signing_kids(keys: Vec<StoredKey>, now: DateTime<Utc>, overlap: Duration) -> Vec<String> {
    let statuses = key_states(keys, now, overlap);
    let oldest = statuses.last().map(|status| status.key.kid.clone());
    let mut current = None;
    let mut others = Vec::new();
    for status in statuses {
        match status.state {
            KeyState::Active => current = Some(status.key.kid),
            KeyState::Next | KeyState::Retiring => others.push(status.key.kid),
            KeyState::Retired => {}
        }
    }
    let Some(current) = current.or(oldest) else {
        return Vec::new();
    };
    others.retain(|kid| *kid != current);
    let mut kids = vec![current];
    kids.extend(others);
    kids
}

/// The audit keys of the shared store, signing with those of the clock's now.
#[derive(Debug)]
pub struct RotatingAuditSigner {
    issuer: String,
    store: Arc<dyn SigningKeyStore>,
    clock: Arc<dyn Clock>,
    overlap: Duration,
    /// A key to sign with should none be selected, and every stored audit key.
    keys: RwLock<(Arc<NoteSigner>, Vec<LoadedKey>)>,
}

impl RotatingAuditSigner {
    /// The audit keys of `store`; on an empty store the key file at `path` (created when
    /// absent) is stored as the first, active at once. A superseded key co-signs for
    /// `overlap` after its successor activated.
    pub async fn shared(
        store: Arc<dyn SigningKeyStore>,
        path: &Path,
        issuer: &str,
        clock: Arc<dyn Clock>,
        overlap: Duration,
    ) -> Result<Self, KeyringError> {
        if store.keys(KeyPurpose::Audit).await?.is_empty() {
            let document = super::key_file::load_or_create(path, KEY_NAME)?;
            let now = clock.now();
            match store
                .add(&stored_audit_key(&document, issuer, now, now)?)
                .await
            {
                Ok(()) | Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let keys = load(&*store, issuer).await?;
        Ok(Self {
            issuer: issuer.to_owned(),
            store,
            clock,
            overlap,
            keys: RwLock::new(keys),
        })
    }

    /// Re-reads the audit keys.
    pub async fn refresh(&self) -> Result<(), KeyringError> {
        let keys = load(&*self.store, &self.issuer).await?;
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = keys;
        Ok(())
    }

    /// The signer of now, then the others co-signing now.
    fn signing(&self) -> (Arc<NoteSigner>, Vec<Arc<NoteSigner>>) {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        let stored = keys.1.iter().map(|key| key.stored.clone()).collect();
        let mut signers = signing_kids(stored, self.clock.now(), self.overlap)
            .into_iter()
            .filter_map(|kid| keys.1.iter().find(|key| key.stored.kid == kid))
            .map(|key| key.signer.clone());
        let current = signers.next().unwrap_or_else(|| keys.0.clone());
        (current, signers.collect())
    }
}

/// The stored audit keys, and one of them to sign with should none be selected (there
/// is always one: the store holds at least one key); an error when there are none.
async fn load(
    store: &dyn SigningKeyStore,
    issuer: &str,
) -> Result<(Arc<NoteSigner>, Vec<LoadedKey>), KeyringError> {
    let name = audit_key_name(issuer);
    let mut keys = Vec::new();
    for mut key in store.keys(KeyPurpose::Audit).await? {
        let parsed = pem::parse(key.private_pem.as_bytes())
            .map_err(|e| error(format!("stored key {}: {e}", key.kid)))?;
        let signer = NoteSigner::from_pkcs8(&name, parsed.contents())
            .map_err(|e| error(format!("stored key {}: {e}", key.kid)))?;
        key.private_pem.clear();
        keys.push(LoadedKey {
            stored: key,
            signer: Arc::new(signer),
        });
    }
    let any = keys
        .first()
        .map(|key| key.signer.clone())
        .ok_or_else(|| error("the key store holds no audit key"))?;
    Ok((any, keys))
}

impl AuditSigner for RotatingAuditSigner {
    fn sign_note(&self, text: &str) -> Result<String, NoteError> {
        let (current, others) = self.signing();
        let mut signers: Vec<&NoteSigner> = vec![&current];
        signers.extend(others.iter().map(|signer| &**signer));
        sign_all(text, &signers)
    }

    fn verifier(&self) -> NoteVerifier {
        self.signing().0.verifier()
    }

    fn verifiers(&self) -> Vec<NoteVerifier> {
        let (current, others) = self.signing();
        std::iter::once(current)
            .chain(others)
            .map(|signer| signer.verifier())
            .collect()
    }
}

#[cfg(test)]
mod tests;
