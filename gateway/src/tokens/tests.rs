use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{TimeZone, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use support_access_core::Grant;
use support_access_core::ids::{OrgId, StaffId};

use super::*;
use crate::config::KeySource;

const SECRET: &str = "0123456789abcdef0123456789abcdef-test";

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap()
}

fn hs_verifier() -> Verifier {
    let keys = load_keys(&KeySource::Hs256Secret(SECRET.into()), "auth.staff.key").unwrap();
    Verifier::new(
        keys,
        "https://staff.example",
        "support-gateway",
        Duration::from_secs(60),
    )
}

fn hs_token(claims: serde_json::Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

fn staff_claims() -> serde_json::Value {
    json!({"iss": "https://staff.example", "aud": "support-gateway", "sub": "ana",
           "exp": now().timestamp() + 300, "iat": now().timestamp()})
}

fn with_header(token: &str, header: serde_json::Value) -> String {
    let rest = token.split_once('.').unwrap().1;
    format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header.to_string()))
}

#[test]
fn a_valid_token_verifies_and_yields_its_claims() {
    let claims = hs_verifier()
        .verify(&hs_token(staff_claims()), now())
        .unwrap();
    assert_eq!(claims["sub"], "ana");
}

#[test]
fn alg_none_is_refused() {
    let token = with_header(
        &hs_token(staff_claims()),
        json!({"alg": "none", "typ": "JWT"}),
    );
    assert_eq!(
        hs_verifier().verify(&token, now()),
        Err(TokenError::AlgorithmRefused)
    );
    let unsigned = format!("{}.", token.rsplit_once('.').unwrap().0);
    assert_eq!(
        hs_verifier().verify(&unsigned, now()),
        Err(TokenError::Malformed)
    );
}

#[test]
fn embedded_keys_and_crit_headers_are_refused() {
    for field in ["jwk", "jku", "x5u", "x5c", "crit"] {
        let mut header = json!({"alg": "HS256", "typ": "JWT"});
        header[field] = json!("x");
        let token = with_header(&hs_token(staff_claims()), header);
        assert_eq!(
            hs_verifier().verify(&token, now()),
            Err(TokenError::HeaderRefused(match field {
                "jwk" => "jwk",
                "jku" => "jku",
                "x5u" => "x5u",
                "x5c" => "x5c",
                _ => "crit",
            })),
            "{field}"
        );
    }
}

#[test]
fn an_algorithm_no_key_is_pinned_to_is_refused() {
    let token = with_header(&hs_token(staff_claims()), json!({"alg": "RS256"}));
    assert_eq!(
        hs_verifier().verify(&token, now()),
        Err(TokenError::AlgorithmRefused)
    );
}

#[test]
fn a_wrong_signature_is_refused() {
    let other = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &staff_claims(),
        &EncodingKey::from_secret(b"another-secret-another-secret-another"),
    )
    .unwrap();
    assert_eq!(
        hs_verifier().verify(&other, now()),
        Err(TokenError::SignatureInvalid)
    );
}

#[test]
fn expiry_honours_the_leeway_edge() {
    let mut claims = staff_claims();
    claims["exp"] = json!(now().timestamp() - 59);
    assert!(
        hs_verifier()
            .verify(&hs_token(claims.clone()), now())
            .is_ok()
    );
    claims["exp"] = json!(now().timestamp() - 60);
    assert_eq!(
        hs_verifier().verify(&hs_token(claims.clone()), now()),
        Err(TokenError::Expired)
    );
    claims.as_object_mut().unwrap().remove("exp");
    assert_eq!(
        hs_verifier().verify(&hs_token(claims), now()),
        Err(TokenError::Expired)
    );
}

#[test]
fn not_before_in_the_future_is_refused_beyond_the_leeway() {
    let mut claims = staff_claims();
    claims["nbf"] = json!(now().timestamp() + 60);
    assert!(
        hs_verifier()
            .verify(&hs_token(claims.clone()), now())
            .is_ok()
    );
    claims["nbf"] = json!(now().timestamp() + 61);
    assert_eq!(
        hs_verifier().verify(&hs_token(claims), now()),
        Err(TokenError::NotYetValid)
    );
}

#[test]
fn wrong_issuer_or_audience_is_refused() {
    let mut claims = staff_claims();
    claims["iss"] = json!("https://evil.example");
    assert_eq!(
        hs_verifier().verify(&hs_token(claims), now()),
        Err(TokenError::WrongIssuer)
    );
    let mut claims = staff_claims();
    claims["aud"] = json!(["crm", "other"]);
    assert_eq!(
        hs_verifier().verify(&hs_token(claims), now()),
        Err(TokenError::WrongAudience)
    );
    let mut claims = staff_claims();
    claims["aud"] = json!(["crm", "support-gateway"]);
    assert!(hs_verifier().verify(&hs_token(claims), now()).is_ok());
}

#[test]
fn garbage_is_malformed_and_never_panics() {
    for token in [
        "",
        ".",
        "..",
        "a.b.c",
        "a.b.c.d",
        "%%%.%%%.%%%",
        "e30.e30.",
        "e30.e30.e30",
    ] {
        assert!(hs_verifier().verify(token, now()).is_err(), "{token}");
    }
}

#[test]
fn the_peek_reads_kid_and_iss_without_verifying() {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("k1".into());
    let token =
        jsonwebtoken::encode(&header, &staff_claims(), &EncodingKey::from_secret(b"x")).unwrap();
    assert_eq!(
        peek(&token),
        Some(Peeked {
            kid: Some("k1".into()),
            iss: Some("https://staff.example".into())
        })
    );
    assert_eq!(peek("1000.4d5a3c.9f8e7d"), None);
    assert_eq!(peek("opaque"), None);
}

fn signer(dir: &std::path::Path) -> SupportSigner {
    SupportSigner::load_or_create(
        &dir.join("keys/support-signing.pem"),
        "support-gateway",
        "crm",
        Duration::from_secs(900),
        Duration::from_secs(60),
    )
    .unwrap()
}

fn grant() -> Grant {
    Grant::new(
        OrgId::from("org-1"),
        "admin",
        now(),
        now() + chrono::Duration::days(1),
        None,
        None,
    )
}

#[test]
fn the_signing_key_is_created_with_restrictive_permissions_and_reused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let first = signer(dir.path());
    let path = dir.path().join("keys/support-signing.pem");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let dir_mode = std::fs::metadata(dir.path().join("keys"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o777, 0o700);
    assert_eq!(signer(dir.path()).kid(), first.kid());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let refused =
        SupportSigner::load_or_create(&path, "i", "a", Duration::from_secs(1), Duration::ZERO)
            .unwrap_err();
    assert_eq!(refused.key, "auth.support.signing_key");
}

#[test]
fn a_support_token_carries_the_spec_claims_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let signer = signer(dir.path());
    let grant = grant();
    let (token, expires_at) = signer.issue(&grant, &StaffId::from("ana"), now()).unwrap();
    assert_eq!(expires_at.timestamp(), now().timestamp() + 900);
    let claims = signer.verify(&token, now()).unwrap();
    assert_eq!(claims.iss, "support-gateway");
    assert_eq!(claims.sub, grant.support_user.to_string());
    assert_eq!(claims.grant, grant.id.to_string());
    assert_eq!(claims.act.sub, "ana");
    assert_eq!(claims.aud, "crm");
    let facts = claims.facts().unwrap();
    assert_eq!(facts.grant, grant.id);
    let peeked = peek(&token).unwrap();
    assert_eq!(peeked.kid, Some(signer.kid()));
    let jwks = signer.jwks();
    assert_eq!(jwks["keys"][0]["kid"], signer.kid());
    assert_eq!(jwks["keys"][0]["crv"], "Ed25519");
}

#[test]
fn a_support_token_never_outlives_its_grant() {
    let dir = tempfile::tempdir().unwrap();
    let signer = signer(dir.path());
    let grant = grant();
    let late = grant.expires_at - chrono::Duration::minutes(5);
    let (_, expires_at) = signer.issue(&grant, &StaffId::from("ana"), late).unwrap();
    assert_eq!(expires_at, grant.expires_at);
}

#[test]
fn a_support_token_signed_with_another_key_is_refused() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (token, _) = signer(a.path())
        .issue(&grant(), &StaffId::from("ana"), now())
        .unwrap();
    assert_eq!(
        signer(b.path()).verify(&token, now()),
        Err(TokenError::UnknownKey)
    );
}

#[test]
fn a_cached_verification_still_expires_with_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let signer = signer(dir.path());
    let (token, expires_at) = signer
        .issue(&grant(), &StaffId::from("ana"), now())
        .unwrap();
    assert!(signer.verify(&token, now()).is_ok());
    assert!(
        signer.verify(&token, now()).is_ok(),
        "served from the cache"
    );
    let edge = expires_at + chrono::Duration::seconds(59);
    assert!(signer.verify(&token, edge).is_ok());
    let past = expires_at + chrono::Duration::seconds(60);
    assert_eq!(signer.verify(&token, past), Err(TokenError::Expired));
    let tampered = format!("{token}x");
    assert!(
        signer.verify(&tampered, now()).is_err(),
        "other bytes are verified afresh"
    );
}

#[test]
fn the_key_id_is_the_rfc_7638_thumbprint() {
    // RFC 7638 §3.1: the thumbprint of the example RSA key, by jsonwebtoken.
    let rsa: jsonwebtoken::jwk::Jwk = serde_json::from_value(json!({
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29"
    }))
    .unwrap();
    assert_eq!(
        rsa.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
            .unwrap(),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
    // RFC 8037 §A.3: the thumbprint of the example Ed25519 key, as the signer's kid.
    assert_eq!(
        super::support::ed25519_kid("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo").unwrap(),
        "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    );
    let dir = tempfile::tempdir().unwrap();
    let signer = signer(dir.path());
    let x = signer.jwks()["keys"][0]["x"].as_str().unwrap().to_owned();
    assert_eq!(signer.kid(), super::support::ed25519_kid(&x).unwrap());
}

#[test]
fn a_pem_public_key_is_pinned_to_the_algorithm_of_its_type() {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair,
        Ed25519KeyPair, KeyPair,
    };
    let rng = SystemRandom::new();
    let ec = |alg| {
        let doc = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(alg, doc.as_ref()).unwrap();
        pair.public_key().as_der().unwrap().as_ref().to_vec()
    };
    let ed = {
        let doc = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap();
        pair.public_key().as_der().unwrap().as_ref().to_vec()
    };
    let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let rsa = rsa.public_key().as_der().unwrap().as_ref().to_vec();
    let dir = tempfile::tempdir().unwrap();
    for (name, der, alg) in [
        (
            "p256",
            ec(&ECDSA_P256_SHA256_FIXED_SIGNING),
            Algorithm::ES256,
        ),
        (
            "p384",
            ec(&ECDSA_P384_SHA384_FIXED_SIGNING),
            Algorithm::ES384,
        ),
        ("ed25519", ed, Algorithm::EdDSA),
        ("rsa", rsa, Algorithm::RS256),
    ] {
        assert_eq!(
            super::keys::pem_algorithm("PUBLIC KEY", &der),
            Some(alg),
            "{name}"
        );
        let path = dir.path().join(format!("{name}.pem"));
        std::fs::write(&path, pem::encode(&pem::Pem::new("PUBLIC KEY", der))).unwrap();
        let keys = load_keys(&KeySource::PemFile(path), "auth.staff.key").unwrap();
        assert_eq!(
            keys.iter().map(|k| k.alg).collect::<Vec<_>>(),
            [alg],
            "{name}"
        );
    }
    assert_eq!(
        super::keys::pem_algorithm("PUBLIC KEY", b"\x30\x03junk"),
        None
    );
    assert_eq!(super::keys::pem_algorithm("PRIVATE KEY", &[]), None);
}

#[test]
fn the_audit_key_is_created_private_named_after_the_issuer_and_reused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys/audit-signing.pem");
    let first = super::audit_signer(&path, "support-gateway").unwrap();
    assert_eq!(first.name(), "support-gateway/audit");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let again = super::audit_signer(&path, "support-gateway").unwrap();
    assert_eq!(again.verifier().to_string(), first.verifier().to_string());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let refused = super::audit_signer(&path, "support-gateway").unwrap_err();
    assert_eq!(refused.key, "audit.key_file");
}
