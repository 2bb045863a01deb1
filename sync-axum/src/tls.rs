//! TLS for [`serve`](crate::serve): a rustls server configuration from PEM files.
//!
//! ```no_run
//! # async fn run(router: axum::Router) -> Result<(), Box<dyn std::error::Error>> {
//! let config = sync_axum::tls::server_config("cert.pem".as_ref(), "key.pem".as_ref())?;
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:443").await?;
//! // HTTPS and WSS on the same port.
//! sync_axum::serve(listener, router).tls(config).await?;
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("{path}: {detail}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// rustls refused the certificate and key (e.g. the key does not match).
    #[error("the certificate and key do not make a TLS configuration: {0}")]
    Config(String),
}

/// A server configuration (ring provider, TLS 1.2 and 1.3, HTTP/1.1 by ALPN) from a PEM
/// certificate chain (leaf first) and a PEM private key (PKCS#8, PKCS#1 or SEC1).
///
/// # Errors
///
/// A file that cannot be read, holds no certificate or key, or a key that does not fit.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let pem = |path: &Path, detail: String| TlsError::Pem {
        path: path.to_path_buf(),
        detail,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|error| pem(cert, error.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| pem(cert, error.to_string()))?;
    if chain.is_empty() {
        return Err(pem(cert, "no CERTIFICATE block".to_owned()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|error| pem(key, error.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| TlsError::Config(error.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|error| TlsError::Config(error.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
