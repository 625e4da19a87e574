//! The audit key, rotated (`keys rotate --audit`): the checkpoints' Ed25519 note keys
//! kept in the shared key store (purpose `audit`), the key file `audit.key_file` stored
//! as the first. The key that signs a checkpoint is the newest whose `activates_at` has
//! passed; a rotated-in key waits `auth.support.publish_ahead`. Checkpoints signed
//! before a rotation keep verifying with the previous verifier key, which customers keep.

use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use chrono::{DateTime, Utc};
use support_access_core::keys::{KeyPurpose, SigningKeyStore, StoredKey};
use support_access_core::tlog::{AuditSigner, NoteError, NoteSigner, NoteVerifier, audit_key_name};
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

/// Audit keys, newest activation first; never empty.
type KeySet = Vec<(DateTime<Utc>, Arc<NoteSigner>)>;

/// The audit keys of the shared store, signing with the one active at the clock's now.
#[derive(Debug)]
pub struct RotatingAuditSigner {
    issuer: String,
    store: Arc<dyn SigningKeyStore>,
    clock: Arc<dyn Clock>,
    /// The key signing when none has activated yet (the oldest), and every key.
    keys: RwLock<(Arc<NoteSigner>, KeySet)>,
}

impl RotatingAuditSigner {
    /// The audit keys of `store`; on an empty store the key file at `path` (created when
    /// absent) is stored as the first, active at once.
    pub async fn shared(
        store: Arc<dyn SigningKeyStore>,
        path: &Path,
        issuer: &str,
        clock: Arc<dyn Clock>,
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
            keys: RwLock::new(keys),
        })
    }

    /// Re-reads the audit keys.
    pub async fn refresh(&self) -> Result<(), KeyringError> {
        let keys = load(&*self.store, &self.issuer).await?;
        *self.keys.write().unwrap_or_else(PoisonError::into_inner) = keys;
        Ok(())
    }

    fn current(&self) -> Arc<NoteSigner> {
        let now = self.clock.now();
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        keys.1
            .iter()
            .find(|(at, _)| *at <= now)
            .map_or_else(|| keys.0.clone(), |(_, signer)| signer.clone())
    }
}

/// The stored audit keys, newest first, and the oldest; an error when there are none.
async fn load(
    store: &dyn SigningKeyStore,
    issuer: &str,
) -> Result<(Arc<NoteSigner>, KeySet), KeyringError> {
    let name = audit_key_name(issuer);
    let mut keys = Vec::new();
    for key in store.keys(KeyPurpose::Audit).await? {
        let parsed = pem::parse(key.private_pem.as_bytes())
            .map_err(|e| error(format!("stored key {}: {e}", key.kid)))?;
        let signer = NoteSigner::from_pkcs8(&name, parsed.contents())
            .map_err(|e| error(format!("stored key {}: {e}", key.kid)))?;
        keys.push((key.activates_at, Arc::new(signer)));
    }
    keys.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
    let oldest = keys
        .last()
        .map(|(_, signer)| signer.clone())
        .ok_or_else(|| error("the key store holds no audit key"))?;
    Ok((oldest, keys))
}

impl AuditSigner for RotatingAuditSigner {
    fn sign_note(&self, text: &str) -> Result<String, NoteError> {
        self.current().sign(text)
    }

    fn verifier(&self) -> NoteVerifier {
        self.current().verifier()
    }
}
