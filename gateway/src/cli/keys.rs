//! `keys rotate` and `keys list` (SPEC §2, key rotation) on the shared key store of
//! `[storage] url`. A rotation adds a key that every instance publishes at once (they
//! re-read the keys every few seconds) and that signs from `auth.support.publish_ahead`
//! on; the previous key stays published and accepted until the last token it signed
//! has expired (token lifetime + leeway after the new key took over), then is retired.
//! With `--audit`, the same for the audit key that signs checkpoints: the new key
//! co-signs from the rotation on, the superseded one co-signs for `audit.key_overlap`
//! after the new one took over and then signs nothing more; the checkpoints it signed
//! keep verifying with its verifier key, which `keys list --audit` prints.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Subcommand;

use support_access_core::keys::{KeyPurpose, SigningKeyStore, key_states};
use support_access_core::{Clock, StoreError};
use support_access_memory::SystemClock;

use super::{EXIT_CONFIG, EXIT_UNAVAILABLE};
use crate::config::Config;
use crate::tokens::audit_keys::stored_audit_key;
use crate::tokens::key_file;
use crate::tokens::keyring::{self, KeyringError};
use crate::wiring;

/// `keys …`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add a support signing key: published at once, signing after
    /// `auth.support.publish_ahead`; the previous key retires once its tokens expired.
    Rotate {
        /// The config file.
        #[arg(long, default_value = "config/gateway.toml")]
        config: PathBuf,
        /// Rotate the audit key (checkpoints) instead of the support signing key.
        #[arg(long)]
        audit: bool,
    },
    /// Show each support key's kid, state (next, active, retiring, retired) and dates.
    List {
        /// The config file.
        #[arg(long, default_value = "config/gateway.toml")]
        config: PathBuf,
        /// List the audit keys (with their verifier keys) instead.
        #[arg(long)]
        audit: bool,
    },
}

/// The shared key store of the config, or the exit code saying why there is none.
async fn store(path: &Path) -> Result<(Config, Arc<dyn SigningKeyStore>), ExitCode> {
    let config = super::load(path)?;
    let stores = wiring::connect(&config.storage)
        .await
        .map_err(|e| super::wiring_failure(&e))?;
    match stores.keys {
        Some(keys) => Ok((config, keys)),
        None => {
            eprintln!(
                "support-gateway keys: storage.url: memory storage keeps no keys to rotate; \
                 the gateway signs with the key file auth.support.signing_key"
            );
            Err(ExitCode::from(EXIT_CONFIG))
        }
    }
}

fn keyring_failure(e: &KeyringError) -> ExitCode {
    eprintln!("support-gateway keys: {e}");
    ExitCode::from(match e {
        KeyringError::Key(_) => EXIT_CONFIG,
        KeyringError::Store(_) => EXIT_UNAVAILABLE,
    })
}

/// How long a superseded key stays published: a support key until its last token
/// expired; an audit key for `audit.key_overlap`, co-signing checkpoints with its
/// successor (the checkpoints it signed keep their verifier key after that).
fn lifetime(config: &Config, audit: bool) -> chrono::Duration {
    if audit {
        return wiring::audit_key_overlap(config);
    }
    chrono::Duration::from_std(
        config
            .auth
            .support
            .token_ttl
            .saturating_add(config.auth.leeway),
    )
    .unwrap_or(chrono::Duration::hours(1))
}

/// `keys rotate [--audit]`: adds a key that signs from now + `publish_ahead`.
pub(super) async fn rotate(path: &Path, audit: bool) -> ExitCode {
    let (config, store) = match store(path).await {
        Ok(found) => found,
        Err(code) => return code,
    };
    let now = SystemClock.now();
    // The keys as a start would find them: on a fresh store the key file's key is the
    // first, so that rotating before the first start does not drop the current key.
    if let Err(e) = ensure_first(&config, &*store, audit, now).await {
        return keyring_failure(&e);
    }
    let ahead = chrono::Duration::from_std(config.auth.support.publish_ahead)
        .unwrap_or(chrono::Duration::minutes(5));
    let issuer = &config.auth.support.issuer;
    let key = keyring::generate().and_then(|document| {
        if audit {
            stored_audit_key(&document, issuer, now, now + ahead)
        } else {
            keyring::stored_key(&document, now, now + ahead)
        }
    });
    let key = match key {
        Ok(key) => key,
        Err(e) => return keyring_failure(&KeyringError::Key(e)),
    };
    if let Err(e) = store.add(&key).await {
        return keyring_failure(&KeyringError::Store(e));
    }
    println!(
        "added {} key {}: published now, signs from {} (auth.support.publish_ahead {})",
        if audit { "audit" } else { "support" },
        key.kid,
        time(key.activates_at),
        humantime::format_duration(config.auth.support.publish_ahead)
    );
    list_keys(&*store, purpose(audit), now, lifetime(&config, audit)).await
}

fn purpose(audit: bool) -> KeyPurpose {
    if audit {
        KeyPurpose::Audit
    } else {
        KeyPurpose::Support
    }
}

/// Stores the key file's key as the first of its purpose when the store has none.
async fn ensure_first(
    config: &Config,
    store: &dyn SigningKeyStore,
    audit: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), KeyringError> {
    if !audit {
        let file = &config.auth.support.signing_key;
        let file_key = || key_file::load_or_create(file, "auth.support.signing_key");
        keyring::ensure_stored(store, file_key, now).await?;
        return Ok(());
    }
    if store.keys(KeyPurpose::Audit).await?.is_empty() {
        let document = key_file::load_or_create(&config.audit.key_file, "audit.key_file")?;
        let first = stored_audit_key(&document, &config.auth.support.issuer, now, now)?;
        match store.add(&first).await {
            Ok(()) | Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// `keys list [--audit]`: each key's kid, state and dates.
pub(super) async fn list(path: &Path, audit: bool) -> ExitCode {
    let (config, store) = match store(path).await {
        Ok(found) => found,
        Err(code) => return code,
    };
    list_keys(
        &*store,
        purpose(audit),
        SystemClock.now(),
        lifetime(&config, audit),
    )
    .await
}

async fn list_keys(
    store: &dyn SigningKeyStore,
    purpose: KeyPurpose,
    now: chrono::DateTime<chrono::Utc>,
    lifetime: chrono::Duration,
) -> ExitCode {
    let statuses = match store.keys(purpose).await {
        Ok(keys) => key_states(keys, now, lifetime),
        Err(e) => return keyring_failure(&KeyringError::Store(e)),
    };
    if statuses.is_empty() {
        println!(
            "no {} keys stored yet: the first start stores the key file's key",
            purpose.as_str()
        );
        return ExitCode::SUCCESS;
    }
    println!(
        "{:<44}  {:<8}  {:<20}  {:<20}  retires",
        "kid", "state", "created", "signs from"
    );
    for status in statuses {
        let vkey = (purpose == KeyPurpose::Audit)
            .then(|| serde_json::from_str::<serde_json::Value>(&status.key.public_jwk).ok())
            .flatten()
            .and_then(|jwk| jwk["vkey"].as_str().map(|v| format!("  vkey {v}")))
            .unwrap_or_default();
        println!(
            "{:<44}  {:<8}  {:<20}  {:<20}  {}{vkey}",
            status.key.kid,
            status.state.as_str(),
            time(status.key.created_at),
            time(status.key.activates_at),
            status.retires_at.map(time).unwrap_or_else(|| "-".into()),
        );
    }
    ExitCode::SUCCESS
}

/// An instant to the second, as `keys list` shows it.
fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}
