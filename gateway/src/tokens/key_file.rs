//! The gateway's own Ed25519 private keys (the support signing key, the audit key): a
//! PKCS#8 PEM file created on first start (mode 0600, folder 0700) and refused when
//! group or others can read it.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::Ed25519KeyPair;

use support_access_core::tlog::{NoteSigner, audit_key_name};

use super::keys::KeyError;

/// The PKCS#8 document of the Ed25519 key at `path`, creating the file when absent.
/// Errors name `config_key`.
pub(crate) fn load_or_create(path: &Path, config_key: &str) -> Result<Vec<u8>, KeyError> {
    let error = |message: String| KeyError {
        key: config_key.into(),
        message,
    };
    if !path.exists() {
        create(path).map_err(error)?;
    }
    read_existing(path, config_key)
}

/// The PKCS#8 document of the Ed25519 key at `path`, or `None` when there is no file
/// (a start would create one); never creates it. Errors name `config_key`.
pub(crate) fn check(path: &Path, config_key: &str) -> Result<Option<Vec<u8>>, KeyError> {
    if !path.exists() {
        return Ok(None);
    }
    let document = read_existing(path, config_key)?;
    Ed25519KeyPair::from_pkcs8_maybe_unchecked(&document).map_err(|_| KeyError {
        key: config_key.into(),
        message: format!("{} is not an Ed25519 PKCS#8 key", path.display()),
    })?;
    Ok(Some(document))
}

fn read_existing(path: &Path, config_key: &str) -> Result<Vec<u8>, KeyError> {
    let error = |message: String| KeyError {
        key: config_key.into(),
        message,
    };
    let mode = std::fs::metadata(path)
        .map_err(|e| error(format!("cannot read {}: {e}", path.display())))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(error(format!(
            "{} is readable by group or others (mode {:o}); run chmod 600 on it",
            path.display(),
            mode & 0o777
        )));
    }
    let text =
        std::fs::read(path).map_err(|e| error(format!("cannot read {}: {e}", path.display())))?;
    let parsed = pem::parse(&text)
        .map_err(|e| error(format!("{} is not a PEM file: {e}", path.display())))?;
    if parsed.tag() != "PRIVATE KEY" {
        return Err(error(format!(
            "{} is not a PKCS#8 private key",
            path.display()
        )));
    }
    Ok(parsed.into_contents())
}

fn create(path: &Path) -> Result<(), String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let rng = SystemRandom::new();
    let document = Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|_| "cannot generate an Ed25519 key".to_owned())?;
    let text = pem::encode(&pem::Pem::new("PRIVATE KEY", document.as_ref().to_vec()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The audit key at `path` (`audit.key_file`), created when absent, as the C2SP note
/// signer named `<issuer>/audit` (docs/tlog.md).
pub fn audit_signer(path: &Path, issuer: &str) -> Result<NoteSigner, KeyError> {
    const CONFIG_KEY: &str = "audit.key_file";
    let document = load_or_create(path, CONFIG_KEY)?;
    NoteSigner::from_pkcs8(&audit_key_name(issuer), &document).map_err(|e| KeyError {
        key: CONFIG_KEY.into(),
        message: format!("{}: {e}", path.display()),
    })
}
