//! The one place that picks adapters: storage from `[storage] url`, the clock, the grant
//! cache, the policy file and the keys — all as values handed to the core.

use std::sync::Arc;

use support_access_cache::{CacheConfig, CachedGrantStore, GrantChanges, LocalGrantChanges};
use support_access_core::approval::ApprovalTtl;
use support_access_core::approval::port::ApprovalStore;
use support_access_core::approval::service::Approvals;
use support_access_core::change::SupportChanges;
use support_access_core::grant::GrantBounds;
use support_access_core::keys::SigningKeyStore;
use support_access_core::notify::WebhookOutbox;
use support_access_core::notify::service::{Notifications, NotifyConfig, SystemJitter};
use support_access_core::tlog::{AuditSigner, AuditTree, Checkpointer, NoteSigner};
use support_access_core::{AuditLog, ChangeStore, Clock, GrantStore, StoreError, SupportAccess};
use support_access_memory::{InMemoryStore, SystemClock};
use support_access_policy::Policy;
use support_access_seaorm::SeaOrmStore;
use thiserror::Error;

use crate::config::{Config, Storage};
use crate::tokens::audit_keys::RotatingAuditSigner;
use crate::tokens::keyring::KeyringError;
use crate::tokens::{KeyError, SupportSigner, Verifier, audit_signer, load_keys};

/// Why the gateway could not be put together.
#[derive(Debug, Error)]
pub enum WiringError {
    /// A configured file is missing or unusable; names the config key.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The policy file is missing or invalid.
    #[error("policy.file: {0}")]
    Policy(String),
    /// The store could not be reached or migrated.
    #[error("storage.url: {0}")]
    Store(StoreError),
}

impl From<KeyringError> for WiringError {
    fn from(e: KeyringError) -> Self {
        match e {
            KeyringError::Key(e) => Self::Key(e),
            KeyringError::Store(e) => Self::Store(e),
        }
    }
}

impl WiringError {
    /// Whether the operator's configuration is at fault (exit 64) rather than the
    /// environment (exit 69).
    pub fn is_config(&self) -> bool {
        !matches!(self, Self::Store(StoreError::Unavailable(_)))
    }
}

/// Grant store, audit log and its tree, and the approval store (the same data as the
/// grant store: it checks the grant when an approval is used), chosen instead of
/// `[storage] url`.
pub type StoreOverride = (
    Arc<dyn GrantStore>,
    Arc<dyn AuditLog>,
    Arc<dyn AuditTree>,
    Arc<dyn ApprovalStore>,
);

/// Adapters a test or an embedding program chooses instead of the configured ones.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// The clock (default: the system clock).
    pub clock: Option<Arc<dyn Clock>>,
    /// Grant store, audit log and the audit log's Merkle tree (the same store as the
    /// audit log) (default: from `[storage] url`).
    pub store: Option<StoreOverride>,
    /// The shared store of the support signing keys (default: the `[storage] url`
    /// store; none — the key file — with memory storage or a store override).
    pub keys: Option<Arc<dyn SigningKeyStore>>,
    /// What support changed, in the same store as the overriding audit log (required
    /// with `store`: its `change.*` events go to that log).
    pub changes: Option<Arc<dyn ChangeStore>>,
    /// The webhook outbox, in the same store as the overriding audit log (its events
    /// queue their deliveries there); without it, a store override gets an outbox of
    /// its own in memory, which no audit event feeds.
    pub webhooks: Option<Arc<dyn WebhookOutbox>>,
}

/// The storage of a config, connected and migrated.
#[derive(Debug, Clone)]
pub struct Stores {
    /// Grants and seats.
    pub grants: Arc<dyn GrantStore>,
    /// The audit log.
    pub audit: Arc<dyn AuditLog>,
    /// The audit log's Merkle tree and checkpoints (the same store).
    pub tree: Arc<dyn AuditTree>,
    /// One-request approvals (the same store).
    pub approvals: Arc<dyn ApprovalStore>,
    /// Keeps the PostgreSQL change listener alive.
    pub changes: Option<Arc<dyn GrantChanges>>,
    /// The signing keys every instance shares (none for memory storage: the key file).
    pub keys: Option<Arc<dyn SigningKeyStore>>,
    /// What support changed (SPEC §11): the same store as the audit log.
    pub records: Arc<dyn ChangeStore>,
    /// Webhook endpoints and the outbox of their deliveries (the same store).
    pub webhooks: Arc<dyn WebhookOutbox>,
}

/// Connects the configured store and applies migrations.
pub async fn connect(storage: &Storage) -> Result<Stores, WiringError> {
    match storage {
        Storage::Memory => {
            let store = InMemoryStore::new();
            Ok(Stores {
                grants: Arc::new(store.clone()),
                audit: Arc::new(store.clone()),
                tree: Arc::new(store.clone()),
                approvals: Arc::new(store.clone()),
                changes: None,
                keys: None,
                records: Arc::new(store.clone()),
                webhooks: Arc::new(store),
            })
        }
        Storage::Sqlite(url) | Storage::Postgres(url) => {
            let store = SeaOrmStore::connect(url)
                .await
                .map_err(WiringError::Store)?;
            store.migrate().await.map_err(WiringError::Store)?;
            let changes: Arc<dyn GrantChanges> = match storage {
                Storage::Postgres(_) => {
                    Arc::new(store.grant_changes().await.map_err(WiringError::Store)?)
                }
                _ => Arc::new(LocalGrantChanges::new()),
            };
            let cached =
                CachedGrantStore::new(store.clone(), changes.clone(), CacheConfig::default());
            Ok(Stores {
                grants: Arc::new(cached),
                audit: Arc::new(store.clone()),
                tree: Arc::new(store.clone()),
                approvals: Arc::new(store.clone()),
                changes: Some(changes),
                keys: Some(Arc::new(store.clone())),
                records: Arc::new(store.clone()),
                webhooks: Arc::new(store),
            })
        }
    }
}

/// Only applies migrations (`support-gateway migrate`).
pub async fn migrate(storage: &Storage) -> Result<(), WiringError> {
    match storage {
        Storage::Memory => Ok(()),
        Storage::Sqlite(url) | Storage::Postgres(url) => {
            let store = SeaOrmStore::connect(url)
                .await
                .map_err(WiringError::Store)?;
            store.migrate().await.map_err(WiringError::Store)
        }
    }
}

/// Loads and compiles the policy file.
pub fn policy(config: &Config) -> Result<Policy, WiringError> {
    let path = &config.policy.file;
    let text = std::fs::read_to_string(path)
        .map_err(|e| WiringError::Policy(format!("cannot read {}: {e}", path.display())))?;
    Policy::from_toml_str(&text)
        .map_err(|e| WiringError::Policy(format!("{}: {e}", path.display())))
}

/// The support token signer: the keys of the shared key store when there is one (the
/// key file's key becomes the first on first start), else the key file's one key,
/// created on first start.
pub async fn signer(
    config: &Config,
    keys: Option<&Arc<dyn SigningKeyStore>>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<SupportSigner, WiringError> {
    let support = &config.auth.support;
    match keys {
        Some(store) => Ok(SupportSigner::shared(
            store.clone(),
            &support.signing_key,
            &support.issuer,
            &support.audience,
            support.token_ttl,
            config.auth.leeway,
            now,
        )
        .await?),
        None => Ok(SupportSigner::load_or_create(
            &support.signing_key,
            &support.issuer,
            &support.audience,
            support.token_ttl,
            config.auth.leeway,
        )?),
    }
}

/// The audit key (created on first start) as the note signer of checkpoints.
pub fn audit_key(config: &Config) -> Result<NoteSigner, WiringError> {
    Ok(audit_signer(
        &config.audit.key_file,
        &config.auth.support.issuer,
    )?)
}

/// The audit key(s): those of the shared key store when there is one (the key file's
/// key stored first; rotated with `keys rotate --audit`, the handle re-reads them),
/// else the key file's one key.
pub async fn audit_keys(
    config: &Config,
    keys: Option<&Arc<dyn SigningKeyStore>>,
    clock: Arc<dyn Clock>,
) -> Result<(Arc<dyn AuditSigner>, Option<Arc<RotatingAuditSigner>>), WiringError> {
    match keys {
        Some(store) => {
            let rotating = Arc::new(
                RotatingAuditSigner::shared(
                    store.clone(),
                    &config.audit.key_file,
                    &config.auth.support.issuer,
                    clock,
                    audit_key_overlap(config),
                )
                .await?,
            );
            Ok((rotating.clone(), Some(rotating)))
        }
        None => Ok((Arc::new(audit_key(config)?), None)),
    }
}

/// `audit.key_overlap`: how long a superseded audit key co-signs checkpoints.
pub fn audit_key_overlap(config: &Config) -> chrono::Duration {
    chrono::Duration::from_std(config.audit.key_overlap).unwrap_or(chrono::Duration::days(7))
}

/// The checkpointer of every org's log: one checkpoint per `audit.checkpoint_interval`
/// of each log that grew, signed with the audit key.
pub fn checkpointer(
    config: &Config,
    stores: &Stores,
    clock: Arc<dyn Clock>,
    key: Arc<dyn AuditSigner>,
) -> Checkpointer {
    Checkpointer::new(
        stores.tree.clone(),
        clock,
        key,
        config.auth.support.issuer.clone(),
        chrono::Duration::from_std(config.audit.checkpoint_interval)
            .unwrap_or(chrono::Duration::seconds(60)),
    )
}

/// Verifiers of customer (admin) and staff tokens.
pub fn verifiers(config: &Config) -> Result<(Verifier, Verifier), WiringError> {
    let customer = &config.auth.customer;
    let staff = &config.auth.staff;
    Ok((
        Verifier::new(
            load_keys(&customer.key, "auth.customer.key")?,
            &customer.issuer,
            &customer.audience,
            config.auth.leeway,
        ),
        Verifier::new(
            load_keys(&staff.key, "auth.staff.key")?,
            &staff.issuer,
            &staff.audience,
            config.auth.leeway,
        ),
    ))
}

/// The service over the chosen adapters.
pub fn service(config: &Config, stores: &Stores, clock: Arc<dyn Clock>) -> SupportAccess {
    let bounds = GrantBounds {
        min: chrono::Duration::from_std(config.grants.min_duration)
            .unwrap_or(chrono::Duration::days(1)),
        max: chrono::Duration::from_std(config.grants.max_duration)
            .unwrap_or(chrono::Duration::days(365)),
    };
    SupportAccess::new(stores.grants.clone(), stores.audit.clone(), clock, bounds)
}

/// The approvals service over the chosen adapters, lifetimes from `[approvals]`.
pub fn approvals(config: &Config, stores: &Stores, clock: Arc<dyn Clock>) -> Approvals {
    let ttl = |d: std::time::Duration, default| chrono::Duration::from_std(d).unwrap_or(default);
    let defaults = ApprovalTtl::default();
    let ttl = ApprovalTtl {
        pending: ttl(config.approvals.pending_ttl, defaults.pending),
        approved: ttl(config.approvals.ttl, defaults.approved),
    };
    Approvals::new(stores.approvals.clone(), stores.grants.clone(), clock, ttl)
}

/// What support changed, over the audit log's store.
pub fn changes(stores: &Stores, clock: Arc<dyn Clock>) -> SupportChanges {
    SupportChanges::new(stores.records.clone(), clock)
}

/// The webhook service over the outbox, with DNS from the system resolver, jitter
/// from the system's random source and `[notifications]`.
pub fn notifications(config: &Config, stores: &Stores, clock: Arc<dyn Clock>) -> Notifications {
    let settings = &config.notifications;
    let defaults = NotifyConfig::default();
    let max_age = chrono::Duration::from_std(settings.max_age).unwrap_or(defaults.retry.max_age);
    // A live worker never loses its lease: the attempt's timeout plus time to record it.
    let lease = chrono::Duration::from_std(settings.timeout)
        .map(|timeout| timeout + defaults.lease)
        .unwrap_or(defaults.lease);
    Notifications::new(
        stores.webhooks.clone(),
        Arc::new(crate::notify::SystemResolver),
        clock,
        Arc::new(SystemJitter),
        NotifyConfig {
            allow_insecure_targets: settings.allow_insecure_targets,
            retry: defaults.retry.with_max_age(max_age),
            lease,
        },
    )
}

/// The clock: the override, or the system clock.
pub fn clock(overrides: &Overrides) -> Arc<dyn Clock> {
    overrides
        .clock
        .clone()
        .unwrap_or_else(|| Arc::new(SystemClock))
}
