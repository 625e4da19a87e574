//! The real gateway on `127.0.0.1:0`, in front of a [`Stub`], on an SQLite database in a
//! temporary folder, with a [`ManualClock`].

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, DurationRound, Utc};
use support_access_core::audit::AuditEvent;
use support_access_core::ids::{OrgId, StaffId};
use support_access_core::service::{GrantEnd, GrantRequest};
use support_access_core::{AuditLog, Clock, Grant};
use support_access_memory::{ManualClock, SystemClock};
use support_access_seaorm::SeaOrmStore;
use support_gateway::config::Config;
use support_gateway::wiring::Overrides;
use support_gateway::{Binds, Running};
use tempfile::TempDir;

use crate::client::HttpClient;
use crate::stub::Stub;

/// The repository's `config/` folder.
pub fn config_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../config")
}

/// A running gateway and everything around it.
#[derive(Debug)]
pub struct Harness {
    /// The gateway.
    pub gateway: Running,
    /// The recording upstream.
    pub stub: Stub,
    /// The gateway's clock.
    pub clock: ManualClock,
    /// A client of the proxy listener.
    pub http: HttpClient,
    /// The store the gateway keeps grants in (a second handle).
    pub store: SeaOrmStore,
    /// The store the gateway's audit log is in (the same as `store` unless split).
    pub audit: SeaOrmStore,
    url: String,
    _dir: TempDir,
}

/// How to start a [`Harness`] beyond the defaults.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Appended to the configuration, as [`Harness::start_with`]'s `extra`.
    pub extra: String,
    /// `[audit] checkpoint_interval` (default: the config's default, `60s`). The
    /// checkpointer task runs at start and then on real time; tests that want a run
    /// call `audit_log().checkpoint_due()` after advancing the [`ManualClock`].
    pub checkpoint_interval: Option<String>,
    /// A PostgreSQL URL (e.g. a `support_access_pgtest` schema) to store grants and
    /// the audit log in instead of a fresh SQLite file.
    pub postgres: Option<String>,
}

/// The test configuration; `extra` is appended right after the `[limits]` table, so
/// keys before its first table header are limits (`body_read_timeout = "300ms"`).
pub fn config_text(upstream: &str, dir: &std::path::Path, extra: &str) -> String {
    config_text_timed(upstream, "2s", dir, extra)
}

fn config_text_timed(
    upstream: &str,
    request_timeout: &str,
    dir: &std::path::Path,
    extra: &str,
) -> String {
    config_text_full(upstream, request_timeout, dir, extra, "60s")
}

fn config_text_full(
    upstream: &str,
    request_timeout: &str,
    dir: &std::path::Path,
    extra: &str,
    checkpoint_interval: &str,
) -> String {
    format!(
        r#"
[upstream]
url = "http://{upstream}"
connect_timeout = "1s"
request_timeout = "{request_timeout}"
[storage]
url = "memory"
[auth.customer]
issuer = "https://accounts.crm.example"
audience = "crm"
key = {{ jwks_file = "keys/customer.jwks.json" }}
[auth.staff]
issuer = "https://staff.vendor.example"
audience = "support-gateway"
key = {{ pem_file = "keys/staff.pub.pem" }}
[auth.support]
signing_key = "{0}/support-signing.pem"
[audit]
key_file = "{0}/audit-signing.pem"
checkpoint_interval = "{checkpoint_interval}"
[limits]
max_inspected_body_bytes = 65536
shutdown_grace = "5s"
{extra}
"#,
        dir.display()
    )
}

impl Harness {
    /// A gateway with the default test configuration.
    pub async fn start() -> Self {
        Self::start_with("").await
    }

    /// A gateway whose configuration has `extra` appended.
    pub async fn start_with(extra: &str) -> Self {
        let stub = Stub::start().await;
        Self::start_in_front_of(stub, extra).await
    }

    /// A gateway in front of a given upstream.
    pub async fn start_in_front_of(stub: Stub, extra: &str) -> Self {
        let upstream = stub.addr;
        Self::start_full(stub, upstream, "2s", extra, false).await
    }

    /// A gateway started with `options`.
    pub async fn start_opts(options: Options) -> Self {
        let stub = Stub::start().await;
        let upstream = stub.addr;
        let dir = tempfile::tempdir().expect("temp dir");
        let interval = options.checkpoint_interval.as_deref().unwrap_or("60s");
        let text = config_text_full(
            &upstream.to_string(),
            "2s",
            dir.path(),
            &options.extra,
            interval,
        );
        let url = match options.postgres {
            Some(url) => url,
            None => format!("sqlite://{}/gateway.db?mode=rwc", dir.path().display()),
        };
        Self::start_on(stub, dir, &text, &url, false).await
    }

    /// A gateway in front of `upstream` (which may be closed or slow) with the given
    /// upstream request timeout; `stub` is then an unused stub.
    pub async fn start_with_upstream(
        upstream: std::net::SocketAddr,
        request_timeout: &str,
    ) -> Self {
        Self::start_full(Stub::start().await, upstream, request_timeout, "", false).await
    }

    /// A gateway whose audit log lives in its own database, so a test can take the
    /// audit store down while the grant store stays up.
    pub async fn start_with_separate_audit_store() -> Self {
        let stub = Stub::start().await;
        let upstream = stub.addr;
        Self::start_full(stub, upstream, "2s", "", true).await
    }

    async fn start_full(
        stub: Stub,
        upstream: std::net::SocketAddr,
        request_timeout: &str,
        extra: &str,
        separate_audit: bool,
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let text = config_text_timed(&upstream.to_string(), request_timeout, dir.path(), extra);
        let url = format!("sqlite://{}/gateway.db?mode=rwc", dir.path().display());
        Self::start_on(stub, dir, &text, &url, separate_audit).await
    }

    async fn start_on(
        stub: Stub,
        dir: TempDir,
        text: &str,
        url: &str,
        separate_audit: bool,
    ) -> Self {
        let config = Config::from_toml(text, &config_dir()).expect("test config");
        let store = SeaOrmStore::connect(url).await.expect("the database");
        store.migrate().await.expect("migrate");
        let audit = if separate_audit {
            let url = format!("sqlite://{}/audit.db?mode=rwc", dir.path().display());
            let audit = SeaOrmStore::connect(&url).await.expect("sqlite");
            audit.migrate().await.expect("migrate");
            audit
        } else {
            store.clone()
        };
        let now = SystemClock
            .now()
            .duration_trunc(chrono::Duration::seconds(1))
            .expect("a whole second");
        let clock = ManualClock::new(now);
        let overrides = Overrides {
            clock: Some(Arc::new(clock.clone())),
            store: Some((
                Arc::new(store.clone()),
                Arc::new(audit.clone()),
                Arc::new(audit.clone()),
                Arc::new(store.clone()),
            )),
            // The key file's one key, which tests read to sign tokens as the gateway.
            keys: None,
            changes: Some(Arc::new(audit.clone())),
            webhooks: Some(Arc::new(audit.clone())),
        };
        let binds = Binds {
            proxy: "127.0.0.1:0".parse().expect("addr"),
            ops: "127.0.0.1:0".parse().expect("addr"),
        };
        let gateway = support_gateway::build_with(config, binds, overrides)
            .await
            .expect("the gateway starts");
        Self {
            http: HttpClient::new(gateway.proxy),
            gateway,
            stub,
            clock,
            store,
            audit,
            url: url.to_owned(),
            _dir: dir,
        }
    }

    /// The folder holding this gateway's database and signing key.
    pub fn dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// The URL of the grant store (also the audit log unless split): the SQLite file,
    /// or the PostgreSQL URL of [`Options::postgres`].
    pub fn database_url(&self) -> String {
        self.url.trim_end_matches("?mode=rwc").to_owned()
    }

    /// The gateway's support signing key (Ed25519 PKCS#8 PEM), for tests that must
    /// sign tokens with arbitrary claims as the gateway would.
    pub fn support_signing_key_path(&self) -> PathBuf {
        self._dir.path().join("support-signing.pem")
    }

    /// Now, by the gateway's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Grants `org` access for `days`, lets `staff` claim the seat, and issues a support
    /// token for them.
    pub async fn grant_and_token(&self, org: &str, staff: &str, days: u32) -> (Grant, String) {
        let access = self.gateway.app().access();
        let org = OrgId::from(org);
        access
            .grant(
                &org,
                "admin-1",
                GrantRequest {
                    end: GrantEnd::Days(days),
                    reason: Some("e2e".into()),
                    ticket: Some("T-1".into()),
                },
            )
            .await
            .expect("grant");
        let staff = StaffId::from(staff);
        let grant = access.claim_seat(&org, &staff).await.expect("claim");
        let (token, _) = self
            .gateway
            .app()
            .signer()
            .issue(&grant, &staff, self.now())
            .expect("issue");
        self.gateway.app().sweep().await;
        (grant, token)
    }

    /// Waits until the `request.completed` events of the support requests answered so
    /// far are stored (the gateway answers without waiting for them).
    pub async fn settled(&self) {
        self.gateway.app().audit_settled().await;
    }

    /// Every audit event of `org`, oldest first, once the requests answered so far
    /// have their `request.completed` stored.
    pub async fn events(&self, org: &str) -> Vec<AuditEvent> {
        self.settled().await;
        self.audit
            .scan(&OrgId::from(org), 0, 10_000)
            .await
            .expect("scan the audit log")
    }
}
