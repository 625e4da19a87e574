//! The file as written, before validation.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::*;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct File {
    listen: RawListen,
    upstream: RawUpstream,
    storage: RawStorage,
    auth: RawAuth,
    grants: RawGrants,
    policy: RawPolicy,
    limits: RawLimits,
    log: RawLog,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawListen {
    proxy: String,
    ops: String,
}

impl Default for RawListen {
    fn default() -> Self {
        Self {
            proxy: "127.0.0.1:8080".into(),
            ops: "127.0.0.1:9090".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawUpstream {
    url: String,
    connect_timeout: String,
    request_timeout: String,
    max_idle_connections: usize,
    idle_timeout: String,
}

impl Default for RawUpstream {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8081".into(),
            connect_timeout: "2s".into(),
            request_timeout: "30s".into(),
            max_idle_connections: 256,
            idle_timeout: "90s".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawStorage {
    url: String,
}

impl Default for RawStorage {
    fn default() -> Self {
        Self {
            url: "sqlite://support-access.db?mode=rwc".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawAuth {
    header_schemes: Vec<String>,
    token_cookies: Vec<String>,
    leeway: String,
    customer: RawCustomer,
    staff: RawStaff,
    support: RawSupport,
}

impl Default for RawAuth {
    fn default() -> Self {
        Self {
            header_schemes: vec!["Bearer".into(), "Zoho-oauthtoken".into()],
            token_cookies: Vec::new(),
            leeway: "60s".into(),
            customer: RawCustomer::default(),
            staff: RawStaff::default(),
            support: RawSupport::default(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    jwks_file: Option<String>,
    pem_file: Option<String>,
    hs256_secret: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawCustomer {
    issuer: String,
    audience: String,
    key: Option<RawKey>,
    org_claim: String,
    roles_claim: String,
    admin_roles: Vec<String>,
}

impl Default for RawCustomer {
    fn default() -> Self {
        Self {
            issuer: String::new(),
            audience: String::new(),
            key: None,
            org_claim: "org".into(),
            roles_claim: "roles".into(),
            admin_roles: vec!["admin".into()],
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawStaff {
    issuer: String,
    audience: String,
    key: Option<RawKey>,
    roles_claim: String,
    required_role: String,
}

impl Default for RawStaff {
    fn default() -> Self {
        Self {
            issuer: String::new(),
            audience: String::new(),
            key: None,
            roles_claim: "roles".into(),
            required_role: "support_agent".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawSupport {
    issuer: String,
    audience: String,
    signing_key: String,
    token_ttl: String,
}

impl Default for RawSupport {
    fn default() -> Self {
        Self {
            issuer: "support-gateway".into(),
            audience: "crm".into(),
            signing_key: "keys/support-signing.pem".into(),
            token_ttl: "15m".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawGrants {
    min_duration: String,
    max_duration: String,
    sweep_interval: String,
}

impl Default for RawGrants {
    fn default() -> Self {
        Self {
            min_duration: "1d".into(),
            max_duration: "365d".into(),
            sweep_interval: "1s".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawPolicy {
    file: String,
}

impl Default for RawPolicy {
    fn default() -> Self {
        Self {
            file: "policy/zoho-crm-v8.toml".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLimits {
    max_header_bytes: usize,
    max_inspected_body_bytes: usize,
    shutdown_grace: String,
    store_timeout: String,
    body_read_timeout: String,
}

impl Default for RawLimits {
    fn default() -> Self {
        Self {
            max_header_bytes: 64 * 1024,
            max_inspected_body_bytes: 1024 * 1024,
            shutdown_grace: "30s".into(),
            store_timeout: "10s".into(),
            body_read_timeout: "30s".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLog {
    format: String,
    level: String,
}

impl Default for RawLog {
    fn default() -> Self {
        Self {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

fn addr(key: &str, text: &str) -> Result<SocketAddr, ConfigError> {
    text.parse().map_err(|_| {
        ConfigError::new(
            key,
            format!("`{text}` is not an address like 127.0.0.1:8080"),
        )
    })
}

fn duration(key: &str, text: &str) -> Result<Duration, ConfigError> {
    humantime::parse_duration(text).map_err(|e| {
        ConfigError::new(
            key,
            format!("`{text}` is not a duration like 2s, 15m or 1d: {e}"),
        )
    })
}

fn positive(key: &str, d: Duration) -> Result<Duration, ConfigError> {
    if d.is_zero() {
        Err(ConfigError::new(key, "must be greater than zero"))
    } else {
        Ok(d)
    }
}

fn required(key: &str, text: &str) -> Result<String, ConfigError> {
    if text.trim().is_empty() {
        Err(ConfigError::new(key, "is required"))
    } else {
        Ok(text.to_owned())
    }
}

fn path(base: &Path, text: &str) -> PathBuf {
    let p = Path::new(text);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

fn key(base: &Path, key_name: &str, raw: Option<RawKey>) -> Result<KeySource, ConfigError> {
    let raw = raw.ok_or_else(|| {
        ConfigError::new(
            key_name,
            "is required: { jwks_file = … }, { pem_file = … } or { hs256_secret = … }",
        )
    })?;
    match (raw.jwks_file, raw.pem_file, raw.hs256_secret) {
        (Some(file), None, None) => Ok(KeySource::JwksFile(path(base, &file))),
        (None, Some(file), None) => Ok(KeySource::PemFile(path(base, &file))),
        (None, None, Some(secret)) if secret.len() >= 32 => Ok(KeySource::Hs256Secret(secret)),
        (None, None, Some(_)) => Err(ConfigError::new(
            format!("{key_name}.hs256_secret"),
            "must be at least 32 bytes long",
        )),
        _ => Err(ConfigError::new(
            key_name,
            "needs exactly one of jwks_file, pem_file, hs256_secret",
        )),
    }
}

fn storage(base: &Path, url: &str) -> Result<Storage, ConfigError> {
    const KEY: &str = "storage.url";
    if url == "memory" {
        return Ok(Storage::Memory);
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Storage::Postgres(url.to_owned()));
    }
    if let Some(rest) = url.strip_prefix("sqlite://") {
        let (file, query) = rest
            .split_once('?')
            .map_or((rest, None), |(f, q)| (f, Some(q)));
        if file.is_empty() {
            return Err(ConfigError::new(KEY, "an sqlite:// URL needs a file path"));
        }
        let resolved = if file == ":memory:" {
            file.to_owned()
        } else {
            path(base, file).display().to_string()
        };
        return Ok(Storage::Sqlite(match query {
            Some(q) => format!("sqlite://{resolved}?{q}"),
            None => format!("sqlite://{resolved}"),
        }));
    }
    Err(ConfigError::new(
        KEY,
        format!("`{url}` is none of sqlite://…, postgres://…, memory"),
    ))
}

impl File {
    pub(super) fn validate(self, base: &Path) -> Result<Config, ConfigError> {
        let upstream_url: http::Uri = self.upstream.url.parse().map_err(|_| {
            ConfigError::new(
                "upstream.url",
                format!("`{}` is not a URL", self.upstream.url),
            )
        })?;
        if upstream_url.scheme_str() != Some("http") || upstream_url.host().is_none() {
            return Err(ConfigError::new(
                "upstream.url",
                format!("`{}` must be an http:// URL with a host", self.upstream.url),
            ));
        }
        let leeway = duration("auth.leeway", &self.auth.leeway)?;
        if leeway > Duration::from_secs(60) {
            return Err(ConfigError::new("auth.leeway", "may be at most 60s"));
        }
        if self.auth.header_schemes.is_empty() {
            return Err(ConfigError::new(
                "auth.header_schemes",
                "needs at least one scheme",
            ));
        }
        let min_duration = positive(
            "grants.min_duration",
            duration("grants.min_duration", &self.grants.min_duration)?,
        )?;
        let max_duration = duration("grants.max_duration", &self.grants.max_duration)?;
        if max_duration < min_duration {
            return Err(ConfigError::new(
                "grants.max_duration",
                "must not be shorter than grants.min_duration",
            ));
        }
        let format = match self.log.format.as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                return Err(ConfigError::new(
                    "log.format",
                    format!("`{other}` is neither text nor json"),
                ));
            }
        };
        if self.limits.max_header_bytes < 1024 {
            return Err(ConfigError::new(
                "limits.max_header_bytes",
                "must be at least 1024",
            ));
        }
        if self.limits.max_inspected_body_bytes == 0 {
            return Err(ConfigError::new(
                "limits.max_inspected_body_bytes",
                "must be greater than zero",
            ));
        }
        let c = self.auth.customer;
        let s = self.auth.staff;
        let p = self.auth.support;
        Ok(Config {
            listen: Listen {
                proxy: addr("listen.proxy", &self.listen.proxy)?,
                ops: addr("listen.ops", &self.listen.ops)?,
            },
            upstream: Upstream {
                url: upstream_url,
                connect_timeout: positive(
                    "upstream.connect_timeout",
                    duration("upstream.connect_timeout", &self.upstream.connect_timeout)?,
                )?,
                request_timeout: positive(
                    "upstream.request_timeout",
                    duration("upstream.request_timeout", &self.upstream.request_timeout)?,
                )?,
                max_idle_connections: self.upstream.max_idle_connections,
                idle_timeout: duration("upstream.idle_timeout", &self.upstream.idle_timeout)?,
            },
            storage: storage(base, &self.storage.url)?,
            auth: Auth {
                header_schemes: self.auth.header_schemes,
                token_cookies: self.auth.token_cookies,
                leeway,
                customer: CustomerAuth {
                    issuer: required("auth.customer.issuer", &c.issuer)?,
                    audience: required("auth.customer.audience", &c.audience)?,
                    key: key(base, "auth.customer.key", c.key)?,
                    org_claim: required("auth.customer.org_claim", &c.org_claim)?,
                    roles_claim: required("auth.customer.roles_claim", &c.roles_claim)?,
                    admin_roles: c.admin_roles,
                },
                staff: StaffAuth {
                    issuer: required("auth.staff.issuer", &s.issuer)?,
                    audience: required("auth.staff.audience", &s.audience)?,
                    key: key(base, "auth.staff.key", s.key)?,
                    roles_claim: required("auth.staff.roles_claim", &s.roles_claim)?,
                    required_role: required("auth.staff.required_role", &s.required_role)?,
                },
                support: SupportAuth {
                    issuer: required("auth.support.issuer", &p.issuer)?,
                    audience: required("auth.support.audience", &p.audience)?,
                    signing_key: path(base, &required("auth.support.signing_key", &p.signing_key)?),
                    token_ttl: positive(
                        "auth.support.token_ttl",
                        duration("auth.support.token_ttl", &p.token_ttl)?,
                    )?,
                },
            },
            grants: Grants {
                min_duration,
                max_duration,
                sweep_interval: positive(
                    "grants.sweep_interval",
                    duration("grants.sweep_interval", &self.grants.sweep_interval)?,
                )?,
            },
            policy: PolicyConfig {
                file: path(base, &required("policy.file", &self.policy.file)?),
            },
            limits: Limits {
                max_header_bytes: self.limits.max_header_bytes,
                max_inspected_body_bytes: self.limits.max_inspected_body_bytes,
                shutdown_grace: duration("limits.shutdown_grace", &self.limits.shutdown_grace)?,
                store_timeout: positive(
                    "limits.store_timeout",
                    duration("limits.store_timeout", &self.limits.store_timeout)?,
                )?,
                body_read_timeout: positive(
                    "limits.body_read_timeout",
                    duration("limits.body_read_timeout", &self.limits.body_read_timeout)?,
                )?,
            },
            log: Log {
                format,
                level: self.log.level,
            },
        })
    }
}
