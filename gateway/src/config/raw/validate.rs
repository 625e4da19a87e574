//! Validating the file as written into a [`Config`]: each section checked on its own,
//! in the order the errors have always been reported.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::super::*;
use super::{
    File, RawApprovals, RawAudit, RawAuth, RawCustomer, RawGrants, RawKey, RawLimits, RawListen,
    RawNotifications, RawStaff, RawSupport, RawUpstream,
};

impl File {
    pub(in crate::config) fn validate(self, base: &Path) -> Result<Config, ConfigError> {
        let upstream_url = upstream_url(&self.upstream.url)?;
        let leeway = self.auth.leeway()?;
        let (min_duration, max_duration) = self.grants.durations()?;
        let format = log_format(&self.log.format)?;
        self.limits.check_sizes()?;
        Ok(Config {
            listen: self.listen.validate(base)?,
            upstream: self.upstream.validate(base, upstream_url)?,
            storage: storage(base, &self.storage.url)?,
            auth: self.auth.validate(base, leeway)?,
            grants: Grants {
                min_duration,
                max_duration,
                sweep_interval: positive_duration(
                    "grants.sweep_interval",
                    &self.grants.sweep_interval,
                )?,
            },
            policy: PolicyConfig {
                file: path(base, &required("policy.file", &self.policy.file)?),
            },
            limits: self.limits.validate()?,
            log: Log {
                format,
                level: self.log.level,
                access: self.log.access,
            },
            audit: self.audit.validate(base)?,
            approvals: self.approvals.validate()?,
            notifications: self.notifications.validate()?,
        })
    }
}

fn upstream_url(text: &str) -> Result<http::Uri, ConfigError> {
    let url: http::Uri = text
        .parse()
        .map_err(|_| ConfigError::new("upstream.url", format!("`{text}` is not a URL")))?;
    if !matches!(url.scheme_str(), Some("http" | "https")) || url.host().is_none() {
        return Err(ConfigError::new(
            "upstream.url",
            format!("`{text}` must be an http:// or https:// URL with a host"),
        ));
    }
    Ok(url)
}

fn log_format(text: &str) -> Result<LogFormat, ConfigError> {
    match text {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        other => Err(ConfigError::new(
            "log.format",
            format!("`{other}` is neither text nor json"),
        )),
    }
}

impl RawListen {
    fn validate(&self, base: &Path) -> Result<Listen, ConfigError> {
        let tls = match &self.tls {
            None => None,
            Some(tls) => Some(ListenTls {
                cert_file: path(base, &required("listen.tls.cert_file", &tls.cert_file)?),
                key_file: path(base, &required("listen.tls.key_file", &tls.key_file)?),
            }),
        };
        Ok(Listen {
            proxy: addr("listen.proxy", &self.proxy)?,
            ops: addr("listen.ops", &self.ops)?,
            tls,
            runtime_per_core: self.runtime_per_core,
        })
    }
}

impl RawUpstream {
    fn validate(&self, base: &Path, url: http::Uri) -> Result<Upstream, ConfigError> {
        let ca_file = match self.ca_file.trim() {
            "" => None,
            _ if url.scheme_str() != Some("https") => {
                return Err(ConfigError::new(
                    "upstream.ca_file",
                    "is for an https:// upstream.url only",
                ));
            }
            file => Some(path(base, file)),
        };
        Ok(Upstream {
            url,
            ca_file,
            connect_timeout: positive_duration("upstream.connect_timeout", &self.connect_timeout)?,
            request_timeout: positive_duration("upstream.request_timeout", &self.request_timeout)?,
            max_idle_connections: self.max_idle_connections,
            idle_timeout: duration("upstream.idle_timeout", &self.idle_timeout)?,
        })
    }
}

impl RawAuth {
    /// The leeway (at most 60s), checked with the header schemes before the rest.
    fn leeway(&self) -> Result<Duration, ConfigError> {
        let leeway = duration("auth.leeway", &self.leeway)?;
        if leeway > Duration::from_secs(60) {
            return Err(ConfigError::new("auth.leeway", "may be at most 60s"));
        }
        if self.header_schemes.is_empty() {
            return Err(ConfigError::new(
                "auth.header_schemes",
                "needs at least one scheme",
            ));
        }
        Ok(leeway)
    }

    fn validate(self, base: &Path, leeway: Duration) -> Result<Auth, ConfigError> {
        Ok(Auth {
            header_schemes: self.header_schemes,
            token_cookies: self.token_cookies,
            leeway,
            customer: self.customer.validate(base)?,
            staff: self.staff.validate(base)?,
            support: self.support.validate(base)?,
        })
    }
}

impl RawCustomer {
    fn validate(self, base: &Path) -> Result<CustomerAuth, ConfigError> {
        Ok(CustomerAuth {
            issuer: required("auth.customer.issuer", &self.issuer)?,
            audience: required("auth.customer.audience", &self.audience)?,
            key: key(base, "auth.customer.key", self.key)?,
            org_claim: required("auth.customer.org_claim", &self.org_claim)?,
            roles_claim: required("auth.customer.roles_claim", &self.roles_claim)?,
            admin_roles: self.admin_roles,
        })
    }
}

impl RawStaff {
    fn validate(self, base: &Path) -> Result<StaffAuth, ConfigError> {
        Ok(StaffAuth {
            issuer: required("auth.staff.issuer", &self.issuer)?,
            audience: required("auth.staff.audience", &self.audience)?,
            key: key(base, "auth.staff.key", self.key)?,
            roles_claim: required("auth.staff.roles_claim", &self.roles_claim)?,
            required_role: required("auth.staff.required_role", &self.required_role)?,
        })
    }
}

impl RawSupport {
    fn validate(self, base: &Path) -> Result<SupportAuth, ConfigError> {
        Ok(SupportAuth {
            issuer: required("auth.support.issuer", &self.issuer)?,
            audience: required("auth.support.audience", &self.audience)?,
            signing_key: path(
                base,
                &required("auth.support.signing_key", &self.signing_key)?,
            ),
            token_ttl: positive_duration("auth.support.token_ttl", &self.token_ttl)?,
            publish_ahead: duration("auth.support.publish_ahead", &self.publish_ahead)?,
        })
    }
}

impl RawApprovals {
    fn validate(&self) -> Result<Approvals, ConfigError> {
        Ok(Approvals {
            pending_ttl: positive_duration("approvals.pending_ttl", &self.pending_ttl)?,
            ttl: positive_duration("approvals.ttl", &self.ttl)?,
        })
    }
}

impl RawNotifications {
    fn validate(&self) -> Result<Notifications, ConfigError> {
        let key = |name: &str| format!("notifications.{name}");
        Ok(Notifications {
            max_age: positive_duration(&key("max_age"), &self.max_age)?,
            timeout: positive_duration(&key("timeout"), &self.timeout)?,
            expiry_warning: duration(&key("expiry_warning"), &self.expiry_warning)?,
            poll_interval: positive_duration(&key("poll_interval"), &self.poll_interval)?,
            allow_insecure_targets: self.allow_insecure_targets,
        })
    }
}

impl RawAudit {
    fn validate(&self, base: &Path) -> Result<Audit, ConfigError> {
        Ok(Audit {
            checkpoint_interval: positive_duration(
                "audit.checkpoint_interval",
                &self.checkpoint_interval,
            )?,
            key_file: path(base, &required("audit.key_file", &self.key_file)?),
            key_overlap: duration("audit.key_overlap", &self.key_overlap)?,
        })
    }
}

impl RawGrants {
    /// The shortest and longest grant: the shortest at least a day (the product
    /// promises at least a day of access), the longest not shorter than the shortest.
    fn durations(&self) -> Result<(Duration, Duration), ConfigError> {
        let min_duration = positive_duration("grants.min_duration", &self.min_duration)?;
        if min_duration < Duration::from_secs(86_400) {
            return Err(ConfigError::new(
                "grants.min_duration",
                "must be at least 1d (a grant opens access for at least a day)",
            ));
        }
        let max_duration = duration("grants.max_duration", &self.max_duration)?;
        if max_duration < min_duration {
            return Err(ConfigError::new(
                "grants.max_duration",
                "must not be shorter than grants.min_duration",
            ));
        }
        Ok((min_duration, max_duration))
    }
}

impl RawLimits {
    fn check_sizes(&self) -> Result<(), ConfigError> {
        if self.max_header_bytes < 1024 {
            return Err(ConfigError::new(
                "limits.max_header_bytes",
                "must be at least 1024",
            ));
        }
        if self.max_inspected_body_bytes == 0 {
            return Err(ConfigError::new(
                "limits.max_inspected_body_bytes",
                "must be greater than zero",
            ));
        }
        Ok(())
    }

    fn validate(&self) -> Result<Limits, ConfigError> {
        Ok(Limits {
            max_header_bytes: self.max_header_bytes,
            max_inspected_body_bytes: self.max_inspected_body_bytes,
            shutdown_grace: duration("limits.shutdown_grace", &self.shutdown_grace)?,
            store_timeout: positive_duration("limits.store_timeout", &self.store_timeout)?,
            body_read_timeout: positive_duration(
                "limits.body_read_timeout",
                &self.body_read_timeout,
            )?,
        })
    }
}

/// A duration that must be greater than zero.
fn positive_duration(key: &str, text: &str) -> Result<Duration, ConfigError> {
    positive(key, duration(key, text)?)
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
