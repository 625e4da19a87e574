//! The gateway's own support tokens: issuance with the active key, verification with
//! every published key, and the JWK Set document. The keys are the shared key store's
//! (rotated with `keys rotate`), or one Ed25519 key in a file with restrictive
//! permissions (created on first start) for memory storage.

use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use aws_lc_rs::signature::Ed25519KeyPair;
use chrono::{DateTime, TimeZone, Utc};
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, Header};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use support_access_core::Grant;
use support_access_core::ids::{GrantId, OrgId, StaffId, SupportUserId};
use support_access_core::keys::{KeyPurpose, SigningKeyStore};
use support_access_core::service::SupportTokenFacts;

use super::keyring::{self, Audience, KeySet, KeyringError};
use super::keys::KeyError;
use super::verify::TokenError;

/// The RFC 8693 actor: the staff member acting as the support user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The staff id.
    pub sub: String,
}

/// The claims of a support token (SPEC §2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupportClaims {
    /// The gateway's issuer.
    pub iss: String,
    /// The hidden support user, as a decimal string.
    pub sub: String,
    /// The org.
    pub org: String,
    /// The grant id.
    pub grant: String,
    /// The staff member.
    pub act: Actor,
    /// Issued at (seconds).
    pub iat: i64,
    /// Expires at (seconds): the earlier of now + ttl and the grant's end.
    pub exp: i64,
    /// Unique token id.
    pub jti: String,
    /// The audience (the CRM).
    pub aud: String,
}

impl SupportClaims {
    /// The facts `SupportAccess::authorise` checks.
    pub fn facts(&self) -> Result<SupportTokenFacts, TokenError> {
        let grant: GrantId = self
            .grant
            .parse()
            .map_err(|_| TokenError::MissingClaim("grant".into()))?;
        let support_user: SupportUserId = self
            .sub
            .parse()
            .map_err(|_| TokenError::MissingClaim("sub".into()))?;
        let issued_at = Utc
            .timestamp_opt(self.iat, 0)
            .single()
            .ok_or_else(|| TokenError::MissingClaim("iat".into()))?;
        Ok(SupportTokenFacts {
            org: OrgId::new(self.org.clone()),
            grant,
            support_user,
            actor: StaffId::new(self.act.sub.clone()),
            issued_at,
        })
    }
}

/// Signs and verifies support tokens with the published support keys (see
/// [`keyring`](super::keyring)): clones share one key set, which `refresh` replaces.
#[derive(Clone)]
pub struct SupportSigner {
    set: Arc<RwLock<Arc<KeySet>>>,
    store: Option<Arc<dyn SigningKeyStore>>,
    audience: Audience,
    ttl: Duration,
    leeway_seconds: i64,
    verified: std::sync::Arc<VerifiedTokens>,
}

impl std::fmt::Debug for SupportSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SupportSigner")
            .field("kid", &self.kid())
            .field("shared", &self.store.is_some())
            .finish_non_exhaustive()
    }
}

const KEY_NAME: &str = "auth.support.signing_key";

fn error(message: impl Into<String>) -> KeyError {
    KeyError {
        key: KEY_NAME.into(),
        message: message.into(),
    }
}

impl SupportSigner {
    /// The one key at `path` (memory storage: no rotation), creating it (mode 0600,
    /// folder 0700) when absent. A key file readable by group or others is refused.
    pub fn load_or_create(
        path: &Path,
        issuer: &str,
        audience: &str,
        ttl: Duration,
        leeway: Duration,
    ) -> Result<Self, KeyError> {
        let document = super::key_file::load_or_create(path, KEY_NAME)?;
        Ed25519KeyPair::from_pkcs8_maybe_unchecked(&document)
            .map_err(|_| error(format!("{} is not an Ed25519 PKCS#8 key", path.display())))?;
        let audience = Audience {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            leeway,
        };
        let epoch = DateTime::<Utc>::UNIX_EPOCH;
        let set = KeySet::new(&[(document, epoch)], &audience, epoch)?;
        Ok(Self::with(set, None, audience, ttl))
    }

    /// The keys of the shared `store` (every instance sees them), published at `now`;
    /// when the store holds none yet, the key file at `path` (created when absent)
    /// becomes the first.
    pub async fn shared(
        store: Arc<dyn SigningKeyStore>,
        path: &Path,
        issuer: &str,
        audience: &str,
        ttl: Duration,
        leeway: Duration,
        now: DateTime<Utc>,
    ) -> Result<Self, KeyringError> {
        let audience = Audience {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            leeway,
        };
        let file_key = || super::key_file::load_or_create(path, KEY_NAME);
        let stored = keyring::ensure_stored(&*store, file_key, now).await?;
        let lifetime = token_lifetime(ttl, leeway);
        let published = keyring::published(stored, now, lifetime)?;
        let set = KeySet::new(&published, &audience, now)?;
        Ok(Self::with(set, Some(store), audience, ttl))
    }

    fn with(
        set: KeySet,
        store: Option<Arc<dyn SigningKeyStore>>,
        audience: Audience,
        ttl: Duration,
    ) -> Self {
        Self {
            set: Arc::new(RwLock::new(Arc::new(set))),
            store,
            leeway_seconds: i64::try_from(audience.leeway.as_secs())
                .unwrap_or(60)
                .min(60),
            audience,
            ttl,
            verified: std::sync::Arc::default(),
        }
    }

    /// Re-reads the shared keys and publishes those published at `now`; a signer of a
    /// key file has nothing to re-read.
    pub async fn refresh(&self, now: DateTime<Utc>) -> Result<(), KeyringError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let stored = store.keys(KeyPurpose::Support).await?;
        let lifetime = token_lifetime(self.ttl, self.audience.leeway);
        let published = keyring::published(stored, now, lifetime)?;
        if published.is_empty() {
            return Err(error("the key store holds no published support key").into());
        }
        let set = KeySet::new(&published, &self.audience, now)?;
        *self.set.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(set);
        Ok(())
    }

    /// Whether the keys come from a shared store (and can be rotated).
    pub fn is_shared(&self) -> bool {
        self.store.is_some()
    }

    fn current(&self) -> Arc<KeySet> {
        self.set
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The key id of the key that signed at the last (re)load: for tests and logs.
    pub fn kid(&self) -> String {
        let set = self.current();
        set.signing(set.loaded_at)
            .map(|key| key.kid.clone())
            .unwrap_or_default()
    }

    /// The key id of the key that signs at `now`.
    pub fn kid_at(&self, now: DateTime<Utc>) -> Option<String> {
        self.current().signing(now).map(|key| key.kid.clone())
    }

    /// The issuer of support tokens.
    pub fn issuer(&self) -> &str {
        &self.audience.issuer
    }

    /// Whether `kid` is one of the published support keys.
    pub fn knows_kid(&self, kid: &str) -> bool {
        self.current().verifier.knows_kid(kid)
    }

    /// The JWK Set of every published support key, for `GET /support-access/v1/jwks.json`.
    pub fn jwks(&self) -> Value {
        self.current().jwks()
    }

    /// Issues a support token for `staff` under `grant` at `now`; it expires at the
    /// earlier of now + ttl and the grant's end.
    pub fn issue(
        &self,
        grant: &Grant,
        staff: &StaffId,
        now: DateTime<Utc>,
    ) -> Result<(String, DateTime<Utc>), TokenError> {
        let set = self.current();
        let key = set.signing(now).ok_or(TokenError::Malformed)?;
        let ttl = chrono::Duration::from_std(self.ttl).unwrap_or(chrono::Duration::minutes(15));
        let expires_at = (now + ttl).min(grant.expires_at);
        let claims = SupportClaims {
            iss: self.audience.issuer.clone(),
            sub: grant.support_user.to_string(),
            org: grant.org.to_string(),
            grant: grant.id.to_string(),
            act: Actor {
                sub: staff.to_string(),
            },
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
            jti: uuid::Uuid::new_v4().to_string(),
            aud: self.audience.audience.clone(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(key.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &key.encoding)
            .map_err(|_| TokenError::Malformed)?;
        let expires_at = Utc
            .timestamp_opt(claims.exp, 0)
            .single()
            .unwrap_or(expires_at);
        Ok((token, expires_at))
    }

    /// Verifies a support token at `now`.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<SupportClaims, TokenError> {
        if let Some(claims) = self.verified.get(token, now) {
            return Ok(claims);
        }
        let claims = self.current().verifier.verify(token, now)?;
        let claims: SupportClaims = serde_json::from_value(Value::Object(claims))
            .map_err(|_| TokenError::MissingClaim("grant".into()))?;
        self.verified.put(token, &claims, self.leeway_seconds);
        Ok(claims)
    }
}

/// The key id of an Ed25519 public key (`x`, base64url): its RFC 7638 thumbprint,
/// computed by jsonwebtoken (SHA-256 of the required members in lexicographic order).
pub(super) fn ed25519_kid(x: &str) -> Result<String, KeyError> {
    let jwk: Jwk = serde_json::from_value(json!({"kty": "OKP", "crv": "Ed25519", "x": x}))
        .map_err(|e| error(format!("bad public key: {e}")))?;
    jwk.thumbprint(ThumbprintHash::SHA256)
        .map_err(|e| error(format!("cannot compute the key id: {e}")))
}

/// Support tokens whose signature and claims verified, kept until they expire, so that
/// a support engineer's requests pay for the signature check once per token. What the
/// cache skips is only the token's own checks: the grant, the seat and the policy are
/// checked on every request. Bounded by `quick_cache` (CLOCK-Pro eviction, sharded
/// locks): a full cache evicts its coldest tokens, which then verify afresh.
#[derive(Debug)]
struct VerifiedTokens(quick_cache::sync::Cache<String, (SupportClaims, i64)>);

/// How many verified tokens are kept at most.
const VERIFIED_CAPACITY: usize = 4096;

impl Default for VerifiedTokens {
    fn default() -> Self {
        Self(quick_cache::sync::Cache::new(VERIFIED_CAPACITY))
    }
}

impl VerifiedTokens {
    fn get(&self, token: &str, now: DateTime<Utc>) -> Option<SupportClaims> {
        let (claims, valid_until) = self.0.get(token)?;
        if now.timestamp() < valid_until {
            return Some(claims);
        }
        self.0.remove(token);
        None
    }

    fn put(&self, token: &str, claims: &SupportClaims, leeway_seconds: i64) {
        // Valid for exactly as long as a fresh verification would accept it.
        let valid_until = claims.exp.saturating_add(leeway_seconds);
        self.0
            .insert(token.to_owned(), (claims.clone(), valid_until));
    }
}

/// How long after signing a token can still be accepted: its lifetime and the leeway.
fn token_lifetime(ttl: Duration, leeway: Duration) -> chrono::Duration {
    chrono::Duration::from_std(ttl.saturating_add(leeway)).unwrap_or(chrono::Duration::hours(1))
}
