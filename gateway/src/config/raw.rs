//! The file as written, before validation (see `validate`).

use serde::Deserialize;

mod validate;

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
    audit: RawAudit,
    approvals: RawApprovals,
    notifications: RawNotifications,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawListen {
    proxy: String,
    ops: String,
    tls: Option<RawListenTls>,
    runtime_per_core: bool,
}

impl Default for RawListen {
    fn default() -> Self {
        Self {
            proxy: "127.0.0.1:8080".into(),
            ops: "127.0.0.1:9090".into(),
            tls: None,
            runtime_per_core: false,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawListenTls {
    cert_file: String,
    key_file: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawUpstream {
    url: String,
    connect_timeout: String,
    request_timeout: String,
    max_idle_connections: usize,
    idle_timeout: String,
    ca_file: String,
}

impl Default for RawUpstream {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8081".into(),
            connect_timeout: "2s".into(),
            request_timeout: "30s".into(),
            max_idle_connections: 256,
            idle_timeout: "90s".into(),
            ca_file: String::new(),
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
    publish_ahead: String,
}

impl Default for RawSupport {
    fn default() -> Self {
        Self {
            issuer: "support-gateway".into(),
            audience: "crm".into(),
            signing_key: "keys/support-signing.pem".into(),
            token_ttl: "15m".into(),
            publish_ahead: "5m".into(),
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
    access: bool,
}

impl Default for RawLog {
    fn default() -> Self {
        Self {
            format: "text".into(),
            level: "info".into(),
            access: true,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawAudit {
    checkpoint_interval: String,
    key_file: String,
    key_overlap: String,
}

impl Default for RawAudit {
    fn default() -> Self {
        Self {
            checkpoint_interval: "60s".into(),
            key_file: "keys/audit-signing.pem".into(),
            key_overlap: "7d".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawApprovals {
    pending_ttl: String,
    ttl: String,
}

impl Default for RawApprovals {
    fn default() -> Self {
        Self {
            pending_ttl: "1h".into(),
            ttl: "15m".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawNotifications {
    max_age: String,
    timeout: String,
    expiry_warning: String,
    poll_interval: String,
    allow_insecure_targets: bool,
}

impl Default for RawNotifications {
    fn default() -> Self {
        Self {
            max_age: "3d".into(),
            timeout: "10s".into(),
            expiry_warning: "24h".into(),
            poll_interval: "1s".into(),
            allow_insecure_targets: false,
        }
    }
}
