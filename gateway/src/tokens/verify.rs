//! Full verification of a compact JWS with pinned algorithms.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};
use thiserror::Error;

use super::keys::VerifyKey;

/// Why a token was refused. Every variant maps to `401`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TokenError {
    /// Not a compact JWS, or its parts do not decode.
    #[error("the token is malformed")]
    Malformed,
    /// The header embeds or points at keys (`jwk`, `jku`, `x5u`, `x5c`) or marks
    /// extensions critical (`crit`).
    #[error("the token header carries `{0}`, which is refused")]
    HeaderRefused(&'static str),
    /// `alg` is `none`, unknown, or not the algorithm of any configured key.
    #[error("the token's algorithm is not accepted")]
    AlgorithmRefused,
    /// No configured key has the token's `kid`.
    #[error("the token was signed by an unknown key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("the token's signature is invalid")]
    SignatureInvalid,
    /// `iss` is missing or not the expected issuer.
    #[error("the token's issuer is not accepted")]
    WrongIssuer,
    /// `aud` is missing or does not name the expected audience.
    #[error("the token's audience is not accepted")]
    WrongAudience,
    /// `exp` is missing or passed.
    #[error("the token has expired")]
    Expired,
    /// `nbf` lies in the future.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// A claim the gateway needs is missing or has the wrong type.
    #[error("the token lacks the claim `{0}`")]
    MissingClaim(String),
}

impl TokenError {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed => "token_malformed",
            Self::HeaderRefused(_) => "token_header_refused",
            Self::AlgorithmRefused => "token_algorithm_refused",
            Self::UnknownKey => "token_unknown_key",
            Self::SignatureInvalid => "token_signature_invalid",
            Self::WrongIssuer => "token_wrong_issuer",
            Self::WrongAudience => "token_wrong_audience",
            Self::Expired => "token_expired",
            Self::NotYetValid => "token_not_yet_valid",
            Self::MissingClaim(_) => "token_claim_missing",
        }
    }
}

const REFUSED_HEADERS: [&str; 5] = ["jwk", "jku", "x5u", "x5c", "crit"];

/// Verifies tokens of one issuer.
#[derive(Debug, Clone)]
pub struct Verifier {
    keys: Vec<VerifyKey>,
    issuer: String,
    audience: String,
    leeway_seconds: i64,
    require_kid: bool,
}

impl Verifier {
    /// A verifier for tokens of `issuer` addressed to `audience`, signed by one of `keys`.
    pub fn new(
        keys: Vec<VerifyKey>,
        issuer: &str,
        audience: &str,
        leeway: std::time::Duration,
    ) -> Self {
        Self {
            keys,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            leeway_seconds: i64::try_from(leeway.as_secs()).unwrap_or(60).min(60),
            require_kid: false,
        }
    }

    /// Refuses tokens without a `kid` naming one of the keys.
    pub fn requiring_kid(mut self) -> Self {
        self.require_kid = true;
        self
    }

    /// Whether `kid` names one of this verifier's keys.
    pub fn knows_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// The expected issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Verifies signature and registered claims at `now`; returns all claims.
    pub fn verify(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<Map<String, Value>, TokenError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        if header.is_empty() || payload.is_empty() || signature.is_empty() {
            return Err(TokenError::Malformed);
        }
        let header: Map<String, Value> = URL_SAFE_NO_PAD
            .decode(header)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or(TokenError::Malformed)?;
        if let Some(refused) = REFUSED_HEADERS
            .iter()
            .find(|name| header.contains_key(**name))
        {
            return Err(TokenError::HeaderRefused(refused));
        }
        let alg: Algorithm = header
            .get("alg")
            .and_then(Value::as_str)
            .and_then(|alg| alg.parse().ok())
            .ok_or(TokenError::AlgorithmRefused)?;
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.as_str()),
            Some(_) => return Err(TokenError::Malformed),
        };
        if self.require_kid && kid.is_none_or(|kid| !self.knows_kid(kid)) {
            return Err(TokenError::UnknownKey);
        }
        let same_alg: Vec<&VerifyKey> = self.keys.iter().filter(|k| k.alg == alg).collect();
        if same_alg.is_empty() {
            return Err(TokenError::AlgorithmRefused);
        }
        let named: Vec<&VerifyKey> = match kid {
            Some(kid) if same_alg.iter().any(|k| k.kid.as_deref() == Some(kid)) => same_alg
                .into_iter()
                .filter(|k| k.kid.as_deref() == Some(kid))
                .collect(),
            Some(_) => same_alg.into_iter().filter(|k| k.kid.is_none()).collect(),
            None => same_alg,
        };
        if named.is_empty() {
            return Err(TokenError::UnknownKey);
        }
        let mut validation = Validation::new(alg);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let mut outcome = Err(TokenError::SignatureInvalid);
        for key in named {
            match jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation) {
                Ok(data) => {
                    outcome = Ok(data.claims);
                    break;
                }
                Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => {}
                Err(_) => {
                    outcome = Err(TokenError::Malformed);
                    break;
                }
            }
        }
        let claims = outcome?;
        self.check_registered(&claims, now)?;
        Ok(claims)
    }

    fn check_registered(
        &self,
        claims: &Map<String, Value>,
        now: DateTime<Utc>,
    ) -> Result<(), TokenError> {
        if claims.get("iss").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err(TokenError::WrongIssuer);
        }
        let audience_ok = match claims.get("aud") {
            Some(Value::String(aud)) => aud == &self.audience,
            Some(Value::Array(auds)) => auds
                .iter()
                .any(|a| a.as_str() == Some(self.audience.as_str())),
            _ => false,
        };
        if !audience_ok {
            return Err(TokenError::WrongAudience);
        }
        let now = now.timestamp();
        let exp = seconds(claims.get("exp")).ok_or(TokenError::Expired)?;
        if now >= exp.saturating_add(self.leeway_seconds) {
            return Err(TokenError::Expired);
        }
        match claims.get("nbf") {
            None => {}
            Some(nbf) => {
                let nbf = seconds(Some(nbf)).ok_or(TokenError::Malformed)?;
                if now.saturating_add(self.leeway_seconds) < nbf {
                    return Err(TokenError::NotYetValid);
                }
            }
        }
        if let Some(iat) = claims.get("iat")
            && seconds(Some(iat)).is_none()
        {
            return Err(TokenError::Malformed);
        }
        Ok(())
    }
}

fn seconds(value: Option<&Value>) -> Option<i64> {
    let number = value?.as_number()?;
    number.as_i64().or_else(|| {
        number
            .as_f64()
            .filter(|f| f.is_finite())
            .map(|f| f.floor() as i64)
    })
}
