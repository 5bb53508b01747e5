//! TLS for the listeners: rustls with the ring provider, PEM key and chain.

use std::path::Path;
use std::sync::Arc;

use axum_server::tls_rustls::RustlsConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::{Error, Result};

/// Server TLS configuration from a PEM certificate chain and private key.
pub fn rustls_config(certificate: &Path, private_key: &Path) -> Result<RustlsConfig> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(certificate)
        .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|e| Error::Config {
            path: certificate.to_path_buf(),
            detail: format!("expected PEM certificates: {e}"),
        })?;
    if certs.is_empty() {
        return Err(Error::Config {
            path: certificate.to_path_buf(),
            detail: "expected PEM certificates, found none".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(private_key).map_err(|e| Error::Config {
        path: private_key.to_path_buf(),
        detail: format!("expected a PEM private key: {e}"),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|e| Error::Config { path: certificate.to_path_buf(), detail: format!("TLS setup: {e}") })?;
    let mut config = config;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(RustlsConfig::from_config(Arc::new(config)))
}
