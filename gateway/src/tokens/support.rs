//! The gateway's own support tokens: an Ed25519 signing key kept in a file with
//! restrictive permissions (created on first start), issuance, verification and the
//! JWK Set document.

use std::path::Path;
use std::time::Duration;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeZone, Utc};
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use support_access_core::Grant;
use support_access_core::ids::{GrantId, OrgId, StaffId, SupportUserId};
use support_access_core::service::SupportTokenFacts;

use super::keys::{KeyError, VerifyKey};
use super::verify::{TokenError, Verifier};

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

/// Signs and verifies support tokens.
#[derive(Clone)]
pub struct SupportSigner {
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
    verifier: Verifier,
    issuer: String,
    audience: String,
    ttl: Duration,
    leeway_seconds: i64,
    verified: std::sync::Arc<VerifiedTokens>,
}

impl std::fmt::Debug for SupportSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SupportSigner")
            .field("kid", &self.kid)
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
    /// Loads the Ed25519 key at `path`, creating it (mode 0600, folder 0700) when absent.
    /// A key file readable by group or others is refused.
    pub fn load_or_create(
        path: &Path,
        issuer: &str,
        audience: &str,
        ttl: Duration,
        leeway: Duration,
    ) -> Result<Self, KeyError> {
        let document = super::key_file::load_or_create(path, KEY_NAME)?;
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&document)
            .map_err(|_| error(format!("{} is not an Ed25519 PKCS#8 key", path.display())))?;
        Self::from_pair(&pair, issuer, audience, ttl, leeway)
    }

    fn from_pair(
        pair: &Ed25519KeyPair,
        issuer: &str,
        audience: &str,
        ttl: Duration,
        leeway: Duration,
    ) -> Result<Self, KeyError> {
        let pkcs8 = pair
            .to_pkcs8()
            .map_err(|_| error("cannot encode the key as PKCS#8"))?;
        let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
        let kid = ed25519_kid(&x)?;
        let decoding = DecodingKey::from_ed_components(&x)
            .map_err(|e| error(format!("bad public key: {e}")))?;
        let verifier = Verifier::new(
            vec![VerifyKey {
                kid: Some(kid.clone()),
                alg: Algorithm::EdDSA,
                key: decoding,
            }],
            issuer,
            audience,
            leeway,
        )
        .requiring_kid();
        Ok(Self {
            jwk: json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "alg": "EdDSA", "use": "sig"}),
            kid,
            encoding: EncodingKey::from_ed_der(pkcs8.as_ref()),
            verifier,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            ttl,
            leeway_seconds: i64::try_from(leeway.as_secs()).unwrap_or(60).min(60),
            verified: std::sync::Arc::default(),
        })
    }

    /// The key id of the signing key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The issuer of support tokens.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Whether `kid` is one of the support keys.
    pub fn knows_kid(&self, kid: &str) -> bool {
        self.verifier.knows_kid(kid)
    }

    /// The JWK Set of the support keys, for `GET /support-access/v1/jwks.json`.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.jwk.clone()] })
    }

    /// Issues a support token for `staff` under `grant` at `now`; it expires at the
    /// earlier of now + ttl and the grant's end.
    pub fn issue(
        &self,
        grant: &Grant,
        staff: &StaffId,
        now: DateTime<Utc>,
    ) -> Result<(String, DateTime<Utc>), TokenError> {
        let ttl = chrono::Duration::from_std(self.ttl).unwrap_or(chrono::Duration::minutes(15));
        let expires_at = (now + ttl).min(grant.expires_at);
        let claims = SupportClaims {
            iss: self.issuer.clone(),
            sub: grant.support_user.to_string(),
            org: grant.org.to_string(),
            grant: grant.id.to_string(),
            act: Actor {
                sub: staff.to_string(),
            },
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
            jti: uuid::Uuid::new_v4().to_string(),
            aud: self.audience.clone(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding)
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
        let claims = self.verifier.verify(token, now)?;
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
