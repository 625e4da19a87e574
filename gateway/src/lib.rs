//! The Support Access gateway.
//!
//! `support-gateway serve` runs a reverse proxy in front of a CRM. Ordinary traffic is
//! forwarded untouched (bar two guards); support traffic — requests carrying a support
//! token the gateway issued — is verified, checked against the grant and the route
//! policy, audited durably, and only then forwarded.
//!
//! [`build`] starts the real gateway on given addresses and returns them, so tests run
//! it on `127.0.0.1:0`.

mod access_log;
pub mod app;
pub mod audit_log;
pub mod body;
pub mod cli;
mod completions;
pub mod config;
pub mod conn;
pub mod demo;
pub mod identify;
mod inflight;
pub mod live;
mod main_runtime;
pub mod management;
pub mod metrics;
pub mod notify;
mod ops;
mod ordinary;
mod pipeline;
mod read;
mod record_read;
pub mod refusal;
mod request_id;
mod seat;
mod server;
mod state;
mod store_call;
pub mod support_users;
mod sweeper;
mod target;
pub mod tls;
pub mod tokens;
pub mod upstream;
pub mod wiring;

use std::net::SocketAddr;
use std::sync::Arc;

use support_access_core::GrantChanges;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::state::App;
use crate::wiring::{Overrides, WiringError};

/// Where the listeners bind; port 0 picks a free port.
#[derive(Debug, Clone, Copy)]
pub struct Binds {
    /// The proxy and management API.
    pub proxy: SocketAddr,
    /// `/healthz`, `/readyz`, `/metrics`.
    pub ops: SocketAddr,
}

impl Binds {
    /// The addresses of the config's `[listen]`.
    pub fn from_config(config: &Config) -> Self {
        Self {
            proxy: config.listen.proxy,
            ops: config.listen.ops,
        }
    }
}

/// Why the gateway did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Configuration, keys, policy or storage.
    #[error(transparent)]
    Wiring(#[from] WiringError),
    /// A listener could not bind (the address is in use, or not this host's).
    #[error("{key}: cannot listen on {addr}: {source}")]
    Bind {
        /// The config key of the address, `listen.proxy` or `listen.ops`.
        key: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// A running gateway.
#[derive(Debug)]
pub struct Running {
    /// Where the proxy listens.
    pub proxy: SocketAddr,
    /// Where the ops listener listens.
    pub ops: SocketAddr,
    app: Arc<App>,
    shutdown: watch::Sender<bool>,
    /// The listeners: each drains within `limits.shutdown_grace` of the shutdown.
    servers: Vec<JoinHandle<()>>,
    /// The proxy's serving threads (`server::cores::Threads`), gone once `servers` are.
    threads: server::cores::Threads,
    /// The expiry sweep, the live recheck and the checkpointer: they keep working while the listeners
    /// drain, and are cancelled once they have (at the latest at the deadline).
    background: Vec<JoinHandle<()>>,
    /// `[listen.tls]`, re-read on `SIGHUP`.
    tls: Option<Arc<tls::ListenerTls>>,
    /// The audit keys, when they come from the shared key store.
    audit_keys: Option<Arc<tokens::audit_keys::RotatingAuditSigner>>,
}

impl Running {
    /// The shared state (metrics, service), for tests and embedding.
    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// The proxy listener's TLS (`[listen.tls]`), to reload it or count its reloads.
    pub fn tls(&self) -> Option<&Arc<tls::ListenerTls>> {
        self.tls.as_ref()
    }

    /// Re-reads the shared support and audit keys now, as the background refresh does
    /// every few seconds (for tests and embedding).
    pub async fn refresh_keys(&self) -> Result<(), tokens::keyring::KeyringError> {
        self.app.signer.refresh(self.app.access.now()).await?;
        if let Some(audit) = &self.audit_keys {
            audit.refresh().await?;
        }
        Ok(())
    }

    /// Stops accepting, lets in-flight requests finish (with their `request.completed`
    /// events), and returns when all is done — within `limits.shutdown_grace`, whatever
    /// the store does: connections still open at the deadline are closed, and the
    /// background tasks are cancelled.
    pub async fn shutdown(self) {
        let deadline = tokio::time::Instant::now() + self.app.limits.shutdown_grace;
        let _ = self.shutdown.send(true);
        for server in self.servers {
            let _ = server.await;
        }
        // Nothing of the store runs on them (`main_runtime.rs`): they may end first.
        self.threads.stop().await;
        // The answered requests' `request.completed` events, still on their way.
        let settled = tokio::time::timeout_at(deadline, self.app.audit_settled()).await;
        if settled.is_err() {
            tracing::warn!("shutdown grace period over before every request.completed was stored");
        }
        for task in &self.background {
            task.abort();
        }
        for task in self.background {
            let _ = task.await;
        }
        let cut = self.app.metrics.support_requests_in_flight();
        if cut > 0 {
            tracing::warn!(
                requests = cut,
                "gave up on support requests still in flight at the end of the grace period; \
                 their request.completed events are missing"
            );
        }
        tracing::info!("drained");
    }

    /// Runs until `signal` completes, then shuts down gracefully.
    pub async fn run_until(self, signal: impl std::future::Future<Output = ()>) {
        signal.await;
        tracing::info!("shutting down: draining in-flight requests");
        self.shutdown().await;
    }
}

/// The shared state, the grant change feed if the store has one, and the rotating audit
/// keys if they come from a shared store.
type Wired = (
    Arc<App>,
    Option<Arc<dyn GrantChanges>>,
    Option<Arc<tokens::audit_keys::RotatingAuditSigner>>,
);

/// The shared state over the configured (or overridden) adapters, and the grant change
/// feed if the store has one.
async fn wire(config: &Config, overrides: &Overrides) -> Result<Wired, StartError> {
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    // rustls's one provider, for anything that asks for the process default.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let policy = Arc::new(wiring::policy(config)?);
    let (customer, staff) = wiring::verifiers(config)?;
    let stores = match &overrides.store {
        Some((grants, audit, tree, approvals)) => wiring::Stores {
            grants: grants.clone(),
            audit: audit.clone(),
            tree: tree.clone(),
            approvals: approvals.clone(),
            changes: None,
            keys: overrides.keys.clone(),
            records: overrides.changes.clone().ok_or_else(|| {
                WiringError::Store(support_access_core::StoreError::Backend(
                    "a store override needs its change store".into(),
                ))
            })?,
            webhooks: overrides
                .webhooks
                .clone()
                .unwrap_or_else(|| Arc::new(support_access_memory::InMemoryStore::new())),
        },
        None => wiring::connect(&config.storage).await?,
    };
    let clock = wiring::clock(overrides);
    let keys = overrides.keys.as_ref().or(stores.keys.as_ref());
    let signer = wiring::signer(config, keys, clock.now()).await?;
    let access = wiring::service(config, &stores, clock.clone());
    let approvals = wiring::approvals(config, &stores, clock.clone());
    let changes = wiring::changes(&stores, clock.clone());
    let notifications = wiring::notifications(config, &stores, clock.clone());
    let webhooks = notify::WebhookParts::new(
        notifications.clone(),
        stores.grants.clone(),
        clock.clone(),
        config.notifications,
    )
    .map_err(WiringError::from)?;
    let (key, rotating_audit) = wiring::audit_keys(config, keys, clock.clone()).await?;
    let audit_log = audit_log::AuditLogService::new(
        stores.tree.clone(),
        wiring::checkpointer(config, &stores, clock, key.clone()),
        key,
        notifications,
    );
    let mut app = App::new(
        access,
        signer,
        customer,
        staff,
        policy,
        upstream::Upstream::new(&config.upstream).map_err(WiringError::from)?,
        config.auth.clone(),
        config.limits,
        audit_log,
        approvals,
        changes,
        webhooks,
    );
    app.access_log = config.log.access;
    Ok((Arc::new(app), stores.changes, rotating_audit))
}

/// A listener on `addr` and the address it got.
async fn listen(
    addr: SocketAddr,
    key: &'static str,
) -> Result<(TcpListener, SocketAddr), StartError> {
    let bind_error = |source| StartError::Bind { key, addr, source };
    let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
    let local = listener.local_addr().map_err(bind_error)?;
    Ok((listener, local))
}

/// Starts the gateway with the configured adapters.
pub async fn build(config: Config, binds: Binds) -> Result<Running, StartError> {
    build_with(config, binds, Overrides::default()).await
}

/// Starts the gateway, with some adapters chosen by the caller.
pub async fn build_with(
    config: Config,
    binds: Binds,
    overrides: Overrides,
) -> Result<Running, StartError> {
    let (app, changes, rotating_audit) = wire(&config, &overrides).await?;
    let tls = match &config.listen.tls {
        Some(files) => Some(Arc::new(
            tls::ListenerTls::load(files).map_err(WiringError::from)?,
        )),
        None => None,
    };
    #[cfg(unix)]
    let hangups = match &tls {
        Some(_) => Some(
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).map_err(
                |e| {
                    WiringError::from(tokens::KeyError {
                        key: "listen.tls".into(),
                        message: format!("cannot watch for SIGHUP: {e}"),
                    })
                },
            )?,
        ),
        None => None,
    };
    let threads = if config.listen.runtime_per_core {
        server::cores::threads()
    } else {
        0
    };
    let proxy_bind_error = |source| StartError::Bind {
        key: "listen.proxy",
        addr: binds.proxy,
        source,
    };
    let (proxy_listeners, proxy) =
        server::cores::bind(binds.proxy, threads.max(1)).map_err(proxy_bind_error)?;
    let (ops_listener, ops) = listen(binds.ops, "listen.ops").await?;
    let (shutdown, watcher) = watch::channel(false);
    let settings = server::Settings {
        max_header_bytes: config.limits.max_header_bytes,
        grace: config.limits.shutdown_grace,
    };
    app.sweep().await;
    let proxy_app = app.clone();
    let ops_app = app.clone();
    let (mut servers, threads) = server::cores::serve(
        proxy_listeners,
        threads,
        tls.clone(),
        settings,
        watcher.clone(),
        move |request, connection| proxy_app.clone().handle(request, connection),
    )
    .await
    .map_err(proxy_bind_error)?;
    servers.push(tokio::spawn(server::serve(
        ops_listener,
        None,
        settings,
        watcher,
        move |request, _connection| {
            let app = ops_app.clone();
            async move { ops::handle(&app, request).await }
        },
    )));
    let mut background = sweeper::spawn(&app, config.grants.sweep_interval, changes);
    if app.signer.is_shared() {
        let access = app.access.clone();
        background.push(tokens::keyring::spawn_refresh(
            app.signer.clone(),
            rotating_audit.clone(),
            move || access.now(),
        ));
    }
    background.push(audit_log::spawn(
        app.audit_log.clone(),
        config.audit.checkpoint_interval,
    ));
    background.push(notify::spawn(
        app.webhooks.clone(),
        config.notifications.poll_interval,
    ));
    #[cfg(unix)]
    if let (Some(tls), Some(hangups)) = (&tls, hangups) {
        background.push(tokio::spawn(tls::reload_on_sighup(tls.clone(), hangups)));
    }
    tracing::info!(%proxy, %ops, tls = tls.is_some(), "support gateway listening");
    Ok(Running {
        proxy,
        ops,
        app,
        shutdown,
        servers,
        threads,
        background,
        tls,
        audit_keys: rotating_audit,
    })
}
