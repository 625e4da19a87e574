//! Tokens of the development identity providers whose public keys the default config
//! trusts (`config/keys/dev-only/`): admins and customers of an org, and support staff.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::harness::config_dir;

fn key(file: &str) -> Vec<u8> {
    std::fs::read(config_dir().join("keys/dev-only").join(file)).expect("a dev-only key")
}

/// A customer token of `org` for `sub` with `roles`, valid for an hour from `now`.
pub fn customer(org: &str, sub: &str, roles: &[&str], now: DateTime<Utc>) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("dev-customer-1".into());
    let claims = json!({
        "iss": "https://accounts.crm.example", "aud": "crm", "sub": sub, "org": org,
        "roles": roles, "iat": now.timestamp(), "exp": now.timestamp() + 3600,
    });
    let key = EncodingKey::from_ec_pem(&key("customer-idp.key.pem")).expect("EC key");
    jsonwebtoken::encode(&header, &claims, &key).expect("sign")
}

/// An admin token of `org`.
pub fn admin(org: &str, sub: &str, now: DateTime<Utc>) -> String {
    customer(org, sub, &["admin"], now)
}

/// A support-staff token for `sub` with `roles`, valid for an hour from `now`.
pub fn staff_with_roles(sub: &str, roles: &[&str], now: DateTime<Utc>) -> String {
    let claims = json!({
        "iss": "https://staff.vendor.example", "aud": "support-gateway", "sub": sub,
        "name": sub, "roles": roles, "iat": now.timestamp(), "exp": now.timestamp() + 3600,
    });
    let key = EncodingKey::from_ed_pem(&key("staff-idp.key.pem")).expect("Ed25519 key");
    jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &key).expect("sign")
}

/// A support-staff token with the `support_agent` role.
pub fn staff(sub: &str, now: DateTime<Utc>) -> String {
    staff_with_roles(sub, &["support_agent"], now)
}
