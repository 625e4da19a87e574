//! The client side of TLS to an `https://` upstream: rustls on aws-lc-rs, the platform's
//! roots and the webpki roots plus `upstream.ca_file`, SNI from the URL's host, ALPN
//! `h2` then `http/1.1`; and telling a refused certificate from an unreachable host.

use std::error::Error;
use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::tokens::KeyError;

/// The process's one crypto provider.
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The TLS settings for the upstream; `ca_file` is read here, so a bad one stops the
/// start naming `upstream.ca_file`.
pub(crate) fn client_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, KeyError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let native = rustls_native_certs::load_native_certs();
    let (added, _ignored) = roots.add_parsable_certificates(native.certs);
    tracing::debug!(platform_roots = added, "upstream TLS roots loaded");
    if let Some(file) = ca_file {
        let certs = read_certs("upstream.ca_file", file)?;
        for cert in certs {
            roots.add(cert).map_err(|e| KeyError {
                key: "upstream.ca_file".into(),
                message: format!("{}: not a usable CA certificate: {e}", file.display()),
            })?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| KeyError {
            key: "upstream.url".into(),
            message: format!("no TLS protocol version: {e}"),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

/// Every certificate of a PEM file; at least one, else an error naming `key`.
pub(crate) fn read_certs(key: &str, file: &Path) -> Result<Vec<CertificateDer<'static>>, KeyError> {
    let error = |message: String| KeyError {
        key: key.into(),
        message: format!("{}: {message}", file.display()),
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(file)
        .map_err(|e| error(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| error(e.to_string()))?;
    if certs.is_empty() {
        return Err(error("holds no PEM certificate".into()));
    }
    Ok(certs)
}

/// Whether a client error is TLS's: a refused certificate, a failed handshake.
pub(crate) fn is_tls_failure(error: &(dyn Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if is_rustls(e) {
            return true;
        }
        cause = e.source();
    }
    false
}

/// `io::Error` and `Box<dyn Error>` give their wrapped error's *source*, skipping the
/// wrapped error itself: look through them here.
fn is_rustls(e: &(dyn Error + 'static)) -> bool {
    if e.downcast_ref::<rustls::Error>().is_some() {
        return true;
    }
    if let Some(io) = e.downcast_ref::<std::io::Error>() {
        return io.get_ref().is_some_and(|inner| is_rustls(inner));
    }
    false
}
