//! The gateway's configuration (SPEC §7): a TOML file, every key overridable by
//! `SUPPORT_GATEWAY_<KEY__PATH>` environment variables, relative paths resolved against
//! the file's folder, validated before anything starts. A bad value is refused with a
//! message naming its key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use thiserror::Error;

/// The prefix of environment overrides: `SUPPORT_GATEWAY_STORAGE__URL=postgres://…`.
pub const ENV_PREFIX: &str = "SUPPORT_GATEWAY_";

/// A configuration that was refused, naming the key at fault.
#[derive(Debug, Error)]
#[error("configuration key `{key}`: {message}")]
pub struct ConfigError {
    /// The dotted key, e.g. `upstream.url`.
    pub key: String,
    /// What is wrong with it.
    pub message: String,
}

impl ConfigError {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// The validated configuration the gateway runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the proxy and ops listeners bind.
    pub listen: Listen,
    /// The CRM the gateway fronts.
    pub upstream: Upstream,
    /// Where grants and the audit log live.
    pub storage: Storage,
    /// Token verification and issuance.
    pub auth: Auth,
    /// Grant duration bounds and the expiry sweep.
    pub grants: Grants,
    /// The route policy file.
    pub policy: PolicyConfig,
    /// Request limits.
    pub limits: Limits,
    /// Logging.
    pub log: Log,
    /// The verifiable audit log (SPEC §6.1).
    pub audit: Audit,
    pub approvals: Approvals,
    /// Webhooks (SPEC §9).
    pub notifications: Notifications,
}

/// `[notifications]` (SPEC §9): webhook delivery.
#[derive(Debug, Clone, Copy)]
pub struct Notifications {
    /// A delivery still failing this long after it was queued is `failed`.
    pub max_age: Duration,
    /// How long one attempt waits for the receiver's answer.
    pub timeout: Duration,
    /// How long before a grant's end its one `grant.expiring` is sent.
    pub expiry_warning: Duration,
    /// How often the worker looks for due deliveries.
    pub poll_interval: Duration,
    /// `http://` and loopback, private or link-local targets (tests, local receivers).
    pub allow_insecure_targets: bool,
}

/// `[approvals]` (SPEC §10): how long a one-request approval waits and stays usable.
#[derive(Debug, Clone, Copy)]
pub struct Approvals {
    /// A pending approval expires this long after it was requested.
    pub pending_ttl: Duration,
    /// An approved one must be used within this long of its approval.
    pub ttl: Duration,
}

/// `[audit]`.
#[derive(Debug, Clone)]
pub struct Audit {
    /// How often each org's log that grew gets a signed checkpoint.
    pub checkpoint_interval: Duration,
    /// The Ed25519 PKCS#8 PEM audit key (key name `<auth.support.issuer>/audit`);
    /// created when absent.
    pub key_file: PathBuf,
    /// After `keys rotate --audit`, how long the superseded audit key keeps signing
    /// checkpoints beside the new one (default 7 days), so that a customer holding only
    /// the old verifier key verifies them and learns the new key meanwhile.
    pub key_overlap: Duration,
}

/// `[listen]`.
#[derive(Debug, Clone)]
pub struct Listen {
    /// The proxy (and management API) listener.
    pub proxy: SocketAddr,
    /// `/healthz`, `/readyz`, `/metrics`.
    pub ops: SocketAddr,
    /// `[listen.tls]`: the proxy listener serves TLS (HTTP/1.1 and h2 by ALPN).
    pub tls: Option<ListenTls>,
    /// `listen.runtime_per_core` (default off): on a multi-thread runtime the proxy is
    /// served by one thread per worker, each with its own runtime, `SO_REUSEPORT`
    /// listener and upstream pool (`server::cores`); what reaches the store runs on the
    /// main runtime (`main_runtime`).
    pub runtime_per_core: bool,
}

/// `[listen.tls]`: PEM files, re-read on `SIGHUP`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenTls {
    /// The certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
}

/// `[upstream]`.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// The CRM's base URL (`http://host:port` or `https://host`).
    pub url: http::Uri,
    /// Extra PEM root certificates for an `https://` upstream, beside the platform's
    /// and the webpki roots.
    pub ca_file: Option<PathBuf>,
    /// How long to wait for a TCP connection to the upstream (`502` after).
    pub connect_timeout: Duration,
    /// How long to wait for the upstream's response head (`504` after).
    pub request_timeout: Duration,
    /// Idle keep-alive connections kept per upstream host.
    pub max_idle_connections: usize,
    /// How long an idle upstream connection is kept.
    pub idle_timeout: Duration,
}

/// `[storage]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// In-process memory: nothing survives a restart.
    Memory,
    /// An SQLite database (`sqlite://path?mode=rwc`), the path resolved.
    Sqlite(String),
    /// A PostgreSQL server.
    Postgres(String),
}

/// `[auth]`.
#[derive(Debug, Clone)]
pub struct Auth {
    /// Authorization schemes accepted, compared case-insensitively.
    pub header_schemes: Vec<String>,
    /// Cookies that may carry a token upstream.
    pub token_cookies: Vec<String>,
    /// The CRM's identity provider.
    pub customer: CustomerAuth,
    /// The vendor's support-staff identity provider.
    pub staff: StaffAuth,
    /// The tokens the gateway itself issues.
    pub support: SupportAuth,
    /// Clock skew tolerated on `exp`/`nbf`/`iat` (at most 60 s).
    pub leeway: Duration,
}

/// How an issuer's verification keys are found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A JWK Set document.
    JwksFile(PathBuf),
    /// A PEM public key (RSA, EC P-256/P-384 or Ed25519; the algorithm follows the key).
    PemFile(PathBuf),
    /// A shared HS256 secret.
    Hs256Secret(String),
}

/// `[auth.customer]`.
#[derive(Debug, Clone)]
pub struct CustomerAuth {
    /// Expected `iss`.
    pub issuer: String,
    /// Expected `aud`.
    pub audience: String,
    /// Verification keys.
    pub key: KeySource,
    /// The claim naming the org.
    pub org_claim: String,
    /// The claim listing roles.
    pub roles_claim: String,
    /// Roles that make a customer an admin.
    pub admin_roles: Vec<String>,
}

/// `[auth.staff]`.
#[derive(Debug, Clone)]
pub struct StaffAuth {
    /// Expected `iss`.
    pub issuer: String,
    /// Expected `aud`.
    pub audience: String,
    /// Verification keys.
    pub key: KeySource,
    /// The claim listing roles.
    pub roles_claim: String,
    /// The role a staff member needs to get a support token.
    pub required_role: String,
}

/// `[auth.support]`.
#[derive(Debug, Clone)]
pub struct SupportAuth {
    /// `iss` of support tokens.
    pub issuer: String,
    /// `aud` of support tokens.
    pub audience: String,
    /// The Ed25519 PKCS#8 PEM signing key; created when absent.
    pub signing_key: PathBuf,
    /// Lifetime of a support token (never past the grant's end).
    pub token_ttl: Duration,
    /// How long a key added by `keys rotate` is published before it signs, so that
    /// upstream JWKS caches hold it by then.
    pub publish_ahead: Duration,
}

/// `[grants]`.
#[derive(Debug, Clone, Copy)]
pub struct Grants {
    /// The shortest grant.
    pub min_duration: Duration,
    /// The longest grant.
    pub max_duration: Duration,
    /// How often open grants past their end are closed.
    pub sweep_interval: Duration,
}

/// `[policy]`.
#[derive(Debug, Clone)]
pub struct PolicyConfig {
    /// The route policy file.
    pub file: PathBuf,
}

/// `[limits]`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The largest request head accepted.
    pub max_header_bytes: usize,
    /// The largest body a rule reads (owner rewrite, guards); `413` beyond.
    pub max_inspected_body_bytes: usize,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
    /// How long a support request waits for the store (grant lookup, audit append)
    /// before it is refused with `503`; also bounds the management API's store calls.
    pub store_timeout: Duration,
    /// How long the gateway waits for a body it must read before it refuses the
    /// request with `408`.
    pub body_read_timeout: Duration,
}

/// `[log]`.
#[derive(Debug, Clone)]
pub struct Log {
    /// `text` or `json`.
    pub format: LogFormat,
    /// A tracing filter, e.g. `info` or `support_gateway=debug`.
    pub level: String,
    /// Whether each request writes an access line (target `access`).
    pub access: bool,
}

/// The log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl Config {
    /// Reads `file`, applies `SUPPORT_GATEWAY_*` overrides from the process environment
    /// and validates. For the binary's edge; the library takes a `Config` value.
    pub fn load(file: &Path) -> Result<Self, ConfigError> {
        if !file.is_file() {
            return Err(ConfigError::new(
                "--config",
                format!("no config file at {}", file.display()),
            ));
        }
        let figment =
            Figment::from(Toml::file_exact(file)).merge(Env::prefixed(ENV_PREFIX).split("__"));
        Self::from_figment(figment, base_dir(file))
    }

    /// Parses TOML text, relative paths resolved against `base`. For tests and embedding.
    pub fn from_toml(text: &str, base: &Path) -> Result<Self, ConfigError> {
        Self::from_figment(Figment::from(Toml::string(text)), base.to_path_buf())
    }

    fn from_figment(figment: Figment, base: PathBuf) -> Result<Self, ConfigError> {
        let raw: raw::File = figment.extract().map_err(|e| {
            let key = e.path.join(".");
            let key = if key.is_empty() {
                "(file)".to_owned()
            } else {
                key
            };
            ConfigError::new(key, e.kind.to_string())
        })?;
        raw.validate(&base)
    }
}

fn base_dir(file: &Path) -> PathBuf {
    match file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

mod raw;

#[cfg(test)]
mod tests;
