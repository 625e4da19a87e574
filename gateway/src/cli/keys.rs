//! `keys rotate` and `keys list` (SPEC §2, key rotation) on the shared key store of
//! `[storage] url`. A rotation adds a key that every instance publishes at once (they
//! re-read the keys every few seconds) and that signs from `auth.support.publish_ahead`
//! on; the previous key stays published and accepted until the last token it signed
//! has expired (token lifetime + leeway after the new key took over), then is retired.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Subcommand;

use support_access_core::Clock;
use support_access_core::keys::SigningKeyStore;
use support_access_memory::SystemClock;

use super::{EXIT_CONFIG, EXIT_UNAVAILABLE};
use crate::config::Config;
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
    },
    /// Show each support key's kid, state (next, active, retiring, retired) and dates.
    List {
        /// The config file.
        #[arg(long, default_value = "config/gateway.toml")]
        config: PathBuf,
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

fn lifetime(config: &Config) -> chrono::Duration {
    chrono::Duration::from_std(
        config
            .auth
            .support
            .token_ttl
            .saturating_add(config.auth.leeway),
    )
    .unwrap_or(chrono::Duration::hours(1))
}

/// `keys rotate`: adds a key that signs from now + `publish_ahead`.
pub(super) async fn rotate(path: &Path) -> ExitCode {
    let (config, store) = match store(path).await {
        Ok(found) => found,
        Err(code) => return code,
    };
    let now = SystemClock.now();
    let file = config.auth.support.signing_key.clone();
    // The keys as a start would find them: on a fresh store the key file's key is the
    // first, so that rotating before the first start does not drop the current key.
    let file_key = || key_file::load_or_create(&file, "auth.support.signing_key");
    if let Err(e) = keyring::ensure_stored(&*store, file_key, now).await {
        return keyring_failure(&e);
    }
    let ahead = chrono::Duration::from_std(config.auth.support.publish_ahead)
        .unwrap_or(chrono::Duration::minutes(5));
    let key = match keyring::generate()
        .and_then(|document| keyring::stored_key(&document, now, now + ahead))
    {
        Ok(key) => key,
        Err(e) => return keyring_failure(&KeyringError::Key(e)),
    };
    if let Err(e) = store.add(&key).await {
        return keyring_failure(&KeyringError::Store(e));
    }
    println!(
        "added support key {}: published now, signs from {} (auth.support.publish_ahead {})",
        key.kid,
        time(key.activates_at),
        humantime::format_duration(config.auth.support.publish_ahead)
    );
    list_keys(&*store, now, lifetime(&config)).await
}

/// `keys list`: each key's kid, state and dates.
pub(super) async fn list(path: &Path) -> ExitCode {
    let (config, store) = match store(path).await {
        Ok(found) => found,
        Err(code) => return code,
    };
    list_keys(&*store, SystemClock.now(), lifetime(&config)).await
}

async fn list_keys(
    store: &dyn SigningKeyStore,
    now: chrono::DateTime<chrono::Utc>,
    lifetime: chrono::Duration,
) -> ExitCode {
    let statuses = match keyring::statuses(store, now, lifetime).await {
        Ok(statuses) => statuses,
        Err(e) => return keyring_failure(&KeyringError::Store(e)),
    };
    if statuses.is_empty() {
        println!("no support keys stored yet: the first start stores the key file's key");
        return ExitCode::SUCCESS;
    }
    println!(
        "{:<44}  {:<8}  {:<20}  {:<20}  retires",
        "kid", "state", "created", "signs from"
    );
    for status in statuses {
        println!(
            "{:<44}  {:<8}  {:<20}  {:<20}  {}",
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
