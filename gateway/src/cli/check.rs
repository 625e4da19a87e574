//! `config check --config FILE`: everything `serve` would load and validate — the
//! config itself, the policy, the IdP keys, the gateway's own key files, the storage —
//! without binding a port, creating a key or migrating. Prints `OK` and exits 0, or
//! prints the error naming the key and exits 64.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;

use support_access_seaorm::SeaOrmStore;

use super::EXIT_CONFIG;
use crate::config::{Config, Storage};
use crate::tokens::KeyError;
use crate::tokens::key_file;
use crate::wiring;

/// `config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Load and validate everything `serve` would (keys readable, policy compiles,
    /// storage reachable) without starting; exit 0, or 64 naming the key at fault.
    Check {
        /// The config file.
        #[arg(long, default_value = "config/gateway.toml")]
        config: PathBuf,
    },
}

/// Runs the check; the exit code is 0 or [`EXIT_CONFIG`].
pub(super) async fn run(path: &Path) -> ExitCode {
    match check(path).await {
        Ok(notes) => {
            for note in notes {
                println!("note: {note}");
            }
            println!("OK: {} is a configuration serve accepts", path.display());
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("support-gateway config check: {message}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

/// What a start would do with the config, as far as can be known without starting:
/// `Ok` with notes on what a start would create, or the first error, naming its key.
async fn check(path: &Path) -> Result<Vec<String>, String> {
    let config = Config::load(path).map_err(|e| e.to_string())?;
    wiring::policy(&config).map_err(|e| e.to_string())?;
    wiring::verifiers(&config).map_err(|e| e.to_string())?;
    let mut notes = Vec::new();
    let own_keys = [
        ("auth.support.signing_key", &config.auth.support.signing_key),
        ("audit.key_file", &config.audit.key_file),
    ];
    for (key, file) in own_keys {
        if key_file::check(file, key)
            .map_err(|e: KeyError| e.to_string())?
            .is_none()
        {
            notes.push(format!(
                "{key}: {} does not exist yet; serve creates it",
                file.display()
            ));
        }
    }
    match &config.storage {
        Storage::Memory => notes.push("storage.url: memory (nothing is kept)".to_owned()),
        Storage::Sqlite(url) | Storage::Postgres(url) => {
            SeaOrmStore::connect(url)
                .await
                .map_err(|e| format!("storage.url: {e}"))?;
        }
    }
    Ok(notes)
}
