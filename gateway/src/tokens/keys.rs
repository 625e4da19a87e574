//! Loading an issuer's verification keys from a PEM file, a JWK Set file or an HS256
//! secret. Every key is pinned to exactly one algorithm.

use std::path::Path;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};
use spki::SubjectPublicKeyInfoRef;
use thiserror::Error;

use crate::config::KeySource;

/// A key that verifies one algorithm.
#[derive(Clone)]
pub struct VerifyKey {
    /// The key id, if the source names one (JWK Sets do).
    pub kid: Option<String>,
    /// The one algorithm this key verifies.
    pub alg: Algorithm,
    /// The key.
    pub key: DecodingKey,
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// A key source that could not be loaded.
#[derive(Debug, Error)]
#[error("{key}: {message}")]
pub struct KeyError {
    /// The configuration key, e.g. `auth.staff.key.pem_file`.
    pub key: String,
    /// What went wrong.
    pub message: String,
}

fn error(key: &str, message: impl Into<String>) -> KeyError {
    KeyError {
        key: key.to_owned(),
        message: message.into(),
    }
}

/// Loads the keys of `source`; `name` is the config key used in errors.
pub fn load_keys(source: &KeySource, name: &str) -> Result<Vec<VerifyKey>, KeyError> {
    match source {
        KeySource::Hs256Secret(secret) => Ok(vec![VerifyKey {
            kid: None,
            alg: Algorithm::HS256,
            key: DecodingKey::from_secret(secret.as_bytes()),
        }]),
        KeySource::PemFile(path) => {
            let key_name = format!("{name}.pem_file");
            let text = read(path, &key_name)?;
            Ok(vec![pem_key(&text, &key_name)?])
        }
        KeySource::JwksFile(path) => {
            let key_name = format!("{name}.jwks_file");
            let text = read(path, &key_name)?;
            let set: JwkSet = serde_json::from_slice(&text).map_err(|e| {
                error(
                    &key_name,
                    format!("{} is not a JWK Set: {e}", path.display()),
                )
            })?;
            let keys = set
                .keys
                .iter()
                .filter(|jwk| {
                    !matches!(
                        jwk.common.public_key_use,
                        Some(jsonwebtoken::jwk::PublicKeyUse::Encryption)
                    )
                })
                .map(|jwk| jwk_key(jwk, &key_name))
                .collect::<Result<Vec<_>, _>>()?;
            if keys.is_empty() {
                return Err(error(
                    &key_name,
                    format!("{} holds no signing key", path.display()),
                ));
            }
            Ok(keys)
        }
    }
}

fn read(path: &Path, key_name: &str) -> Result<Vec<u8>, KeyError> {
    std::fs::read(path).map_err(|e| error(key_name, format!("cannot read {}: {e}", path.display())))
}

/// The algorithm a PEM public key verifies, from its type: PKCS#1 `RSA PUBLIC KEY`, or
/// the algorithm (and curve) of a `PUBLIC KEY`'s SubjectPublicKeyInfo.
pub(super) fn pem_algorithm(tag: &str, der: &[u8]) -> Option<Algorithm> {
    use const_oid::db::{rfc5912, rfc8410};
    if tag == "RSA PUBLIC KEY" {
        return Some(Algorithm::RS256);
    }
    if tag != "PUBLIC KEY" {
        return None;
    }
    let info = SubjectPublicKeyInfoRef::try_from(der).ok()?;
    let oid = info.algorithm.oid;
    if oid == rfc5912::RSA_ENCRYPTION {
        Some(Algorithm::RS256)
    } else if oid == rfc5912::ID_EC_PUBLIC_KEY {
        match info.algorithm.parameters_oid().ok()? {
            curve if curve == rfc5912::SECP_256_R_1 => Some(Algorithm::ES256),
            curve if curve == rfc5912::SECP_384_R_1 => Some(Algorithm::ES384),
            _ => None,
        }
    } else if oid == rfc8410::ID_ED_25519 {
        Some(Algorithm::EdDSA)
    } else {
        None
    }
}

/// A PEM public key; the algorithm follows from the key's type.
fn pem_key(text: &[u8], key_name: &str) -> Result<VerifyKey, KeyError> {
    let parsed = pem::parse(text).map_err(|e| error(key_name, format!("not a PEM file: {e}")))?;
    let tag = parsed.tag();
    let bad =
        |e: jsonwebtoken::errors::Error| error(key_name, format!("not a usable public key: {e}"));
    let Some(alg) = pem_algorithm(tag, parsed.contents()) else {
        return Err(error(
            key_name,
            format!("a `{tag}` PEM is not an RSA, EC P-256/P-384 or Ed25519 public key"),
        ));
    };
    let key = match alg {
        Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(text),
        Algorithm::EdDSA => DecodingKey::from_ed_pem(text),
        _ => DecodingKey::from_rsa_pem(text),
    }
    .map_err(bad)?;
    Ok(VerifyKey {
        kid: None,
        alg,
        key,
    })
}

fn jwk_key(jwk: &Jwk, key_name: &str) -> Result<VerifyKey, KeyError> {
    let inferred = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Algorithm::ES256,
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P384 => Algorithm::ES384,
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            Algorithm::EdDSA
        }
        AlgorithmParameters::OctetKey(_) => Algorithm::HS256,
        _ => return Err(error(key_name, "a key has an unsupported type or curve")),
    };
    let alg = match jwk.common.key_algorithm {
        None => inferred,
        Some(declared) => {
            let declared = key_algorithm(declared)
                .ok_or_else(|| error(key_name, "a key declares an unsupported alg"))?;
            if !same_family(declared, inferred) {
                return Err(error(key_name, "a key's alg does not match its key type"));
            }
            declared
        }
    };
    let key = DecodingKey::from_jwk(jwk)
        .map_err(|e| error(key_name, format!("a key is unusable: {e}")))?;
    Ok(VerifyKey {
        kid: jwk.common.key_id.clone(),
        alg,
        key,
    })
}

fn key_algorithm(alg: KeyAlgorithm) -> Option<Algorithm> {
    Some(match alg {
        KeyAlgorithm::HS256 => Algorithm::HS256,
        KeyAlgorithm::HS384 => Algorithm::HS384,
        KeyAlgorithm::HS512 => Algorithm::HS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

fn same_family(a: Algorithm, b: Algorithm) -> bool {
    use Algorithm::*;
    let family = |alg| match alg {
        HS256 | HS384 | HS512 => 0,
        RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => 1,
        ES256 => 2,
        ES384 => 3,
        EdDSA => 4,
        _ => 5,
    };
    family(a) == family(b)
}
