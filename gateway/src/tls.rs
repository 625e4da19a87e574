//! TLS on the proxy listener (`[listen.tls]`): the certificate chain and key read from
//! PEM files into a rustls config (HTTP/2 and HTTP/1.1 by ALPN), held in an
//! [`ArcSwap`] so that `SIGHUP` swaps in freshly read files without touching open
//! connections: each handshake takes the config current at its start, and a reload
//! that fails keeps the one in use.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::config::ListenTls;
use crate::tokens::KeyError;
use crate::upstream::tls::{provider, read_certs};

/// How long a client may take over its TLS handshake.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The listener's TLS config, swappable.
#[derive(Debug)]
pub struct ListenerTls {
    files: ListenTls,
    current: ArcSwap<ServerConfig>,
    reloads: watch::Sender<u64>,
}

impl ListenerTls {
    /// Reads the files; an error names the key of the file at fault.
    pub(crate) fn load(files: &ListenTls) -> Result<Self, KeyError> {
        Ok(Self {
            current: ArcSwap::from_pointee(server_config(files)?),
            files: files.clone(),
            reloads: watch::channel(0).0,
        })
    }

    /// An acceptor with the config current now.
    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.current.load_full())
    }

    /// Re-reads the files and serves them to new connections; on an error the config in
    /// use stays.
    pub fn reload(&self) -> Result<(), KeyError> {
        let config = server_config(&self.files)?;
        self.current.store(Arc::new(config));
        self.reloads.send_modify(|n| *n += 1);
        Ok(())
    }

    /// Counts the successful reloads, for tests and operators waiting for one.
    pub fn reloads(&self) -> watch::Receiver<u64> {
        self.reloads.subscribe()
    }
}

fn server_config(files: &ListenTls) -> Result<ServerConfig, KeyError> {
    let certs = read_certs("listen.tls.cert_file", &files.cert_file)?;
    let key_error = |message: String| KeyError {
        key: "listen.tls.key_file".into(),
        message: format!("{}: {message}", files.key_file.display()),
    };
    let key =
        PrivateKeyDer::from_pem_file(&files.key_file).map_err(|e| key_error(e.to_string()))?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| key_error(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| key_error(format!("does not go with listen.tls.cert_file: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Reloads `tls` on every `SIGHUP` until the task is cancelled.
#[cfg(unix)]
pub(crate) async fn reload_on_sighup(
    tls: Arc<ListenerTls>,
    mut hangups: tokio::signal::unix::Signal,
) {
    while hangups.recv().await.is_some() {
        match tls.reload() {
            Ok(()) => tracing::info!("SIGHUP: listener TLS certificate reloaded"),
            Err(e) => {
                tracing::error!(error = %e, "SIGHUP: listener TLS reload failed; the previous certificate stays")
            }
        }
    }
}
