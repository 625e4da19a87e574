//! `dev-token admin|staff --org ORG --sub SUB`: a customer-admin or staff token signed
//! with the development identity-provider keys shipped in `config/keys/dev-only/`, so
//! the README's run command leads somewhere. The token is checked against the config's
//! own `[auth.customer]` / `[auth.staff]` verifier before it is printed: a config that
//! does not trust the development keys (a production one) gets no token.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::ValueEnum;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use support_access_core::Clock;
use support_access_memory::SystemClock;

use super::EXIT_CONFIG;
use crate::config::Config;
use crate::wiring;

/// Which identity provider's token to mint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// A customer admin (`[auth.customer]`): calls the management API for `--org`.
    Admin,
    /// A support engineer (`[auth.staff]`): exchanges it at `POST /token`.
    Staff,
}

/// The development customer IdP's private key (EC P-256, PKCS#8), beside the config.
const CUSTOMER_KEY: &str = "customer-idp.key.pem";
/// The development staff IdP's private key (Ed25519, PKCS#8).
const STAFF_KEY: &str = "staff-idp.key.pem";
/// The `kid` of the development customer key in `keys/customer.jwks.json`.
const CUSTOMER_KID: &str = "dev-customer-1";

/// `dev-token`'s arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// `admin` (management API) or `staff` (exchanged at `POST /token`).
    kind: Kind,
    /// The admin's org (admin tokens only).
    #[arg(long)]
    org: Option<String>,
    /// The token's subject: the admin's or staff member's id.
    #[arg(long)]
    sub: String,
    /// How long the token is valid, e.g. `1h`.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    ttl: std::time::Duration,
    /// The config file whose `[auth.customer]` / `[auth.staff]` must trust the keys.
    #[arg(long, default_value = "config/gateway.toml")]
    config: PathBuf,
    /// The folder of the development private keys (default: `keys/dev-only/` beside
    /// the config file).
    #[arg(long)]
    keys: Option<PathBuf>,
}

/// Prints the token on stdout, or the reason there is none on stderr (exit 64).
pub(super) fn run(request: &Args) -> ExitCode {
    match mint(request) {
        Ok(token) => {
            println!("{token}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("support-gateway dev-token: {message}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

fn mint(request: &Args) -> Result<String, String> {
    let config = Config::load(&request.config).map_err(|e| e.to_string())?;
    let keys = request.keys.clone().unwrap_or_else(|| {
        request
            .config
            .parent()
            .unwrap_or(Path::new("."))
            .join("keys/dev-only")
    });
    let now = SystemClock.now();
    let iat = now.timestamp();
    let exp = iat.saturating_add(i64::try_from(request.ttl.as_secs()).unwrap_or(3600));
    let (customer, staff) = wiring::verifiers(&config).map_err(|e| e.to_string())?;
    let (claims, header, file, verifier, key_name) = match request.kind {
        Kind::Admin => {
            let org = request
                .org
                .as_deref()
                .ok_or("an admin token needs --org (the org it administers)")?;
            let c = &config.auth.customer;
            let mut claims = json!({"iss": c.issuer, "aud": c.audience, "sub": request.sub,
                "iat": iat, "exp": exp});
            claims[&c.org_claim] = json!(org);
            claims[&c.roles_claim] = json!([c.admin_roles.first().cloned().unwrap_or_default()]);
            let mut header = Header::new(Algorithm::ES256);
            header.kid = Some(CUSTOMER_KID.into());
            (claims, header, CUSTOMER_KEY, customer, "auth.customer.key")
        }
        Kind::Staff => {
            let s = &config.auth.staff;
            let mut claims = json!({"iss": s.issuer, "aud": s.audience, "sub": request.sub,
                "iat": iat, "exp": exp});
            claims[&s.roles_claim] = json!([s.required_role]);
            let header = Header::new(Algorithm::EdDSA);
            (claims, header, STAFF_KEY, staff, "auth.staff.key")
        }
    };
    let path = keys.join(file);
    let pem = std::fs::read(&path).map_err(|e| {
        format!(
            "cannot read the development key {}: {e} (dev-token only works with the \
             development keys of config/keys/dev-only/)",
            path.display()
        )
    })?;
    let key = match request.kind {
        Kind::Admin => EncodingKey::from_ec_pem(&pem),
        Kind::Staff => EncodingKey::from_ed_pem(&pem),
    }
    .map_err(|e| format!("{}: {e}", path.display()))?;
    let token = jsonwebtoken::encode(&header, &claims, &key).map_err(|e| e.to_string())?;
    // The config must trust the development key, or the token would lead nowhere (and
    // a production config must not be handed one).
    verifier.verify(&token, now).map_err(|e| {
        format!(
            "{key_name}: the config does not trust the development key {} ({e}); \
             dev-token is for the development config only",
            path.display()
        )
    })?;
    Ok(token)
}
