//! TLS for Eider's listeners (IMAP, POP3, ...), shared so every listener serves the
//! same certificate and picks up a renewed one at the same time.
//!
//! The certificate comes from the `[tls]` section (`cert`, `key`: PEM files). When
//! none is configured, a self-signed certificate is generated once and kept under
//! the storage path (`tls/selfsigned.crt`, `tls/selfsigned.key`), so clients that
//! pinned it keep working across restarts. [`Tls::reload`] re-reads the files; the
//! binary calls it on SIGHUP. Connections already established keep their session;
//! new handshakes use the new certificate.
//!
//! Certificates stored through the API (POST /certs) are served by SNI in front of
//! that one ([`sni`]): the binary hands the current set to [`Tls::set_sni_certs`]
//! whenever the store's certificates change, and every handshake picks from it.
//!
//! rustls is built with the ring provider only (no aws-lc).

pub mod sni;

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use serde::Deserialize;
use thiserror::Error;
use tracing::info;

pub use tokio_rustls::server::TlsStream;
pub use tokio_rustls::TlsAcceptor;

/// The `[tls]` section of the configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TlsConfig {
    /// PEM certificate chain file; empty for a generated self-signed certificate.
    pub cert: String,
    /// PEM private key file (PKCS#8, PKCS#1 or SEC1).
    pub key: String,
    /// Seconds between checks of the store's certificates (POST /certs) for changes
    /// made on other instances; this instance's own changes apply at once. Default 10.
    pub sni_refresh: Option<u64>,
}

#[derive(Debug, Error)]
pub enum TlsError {
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, String),
    #[error("no certificate found in {0}")]
    NoCertificate(PathBuf),
    #[error("no private key found in {0}")]
    NoKey(PathBuf),
    #[error("[tls] needs both cert and key (or neither, for a self-signed certificate)")]
    Incomplete,
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(String),
    #[error("cannot write {0}: {1}")]
    Write(PathBuf, std::io::Error),
    #[error("invalid certificate or key: {0}")]
    Rustls(#[from] rustls::Error),
    /// A stored (API) certificate or key that cannot be served.
    #[error("{0}")]
    Invalid(String),
}

pub use sni::{certified_key, inspect_cert, CertInfo, SniCert};

/// Where the certificate comes from.
#[derive(Debug, Clone)]
enum Source {
    Files { cert: PathBuf, key: PathBuf },
    SelfSigned { dir: PathBuf },
}

/// The shared TLS state: the current server configuration, swappable at run time.
#[derive(Clone)]
pub struct Tls {
    source: Source,
    /// Chooses the certificate of each handshake (by SNI, else the `[tls]` one).
    resolver: Arc<sni::SniResolver>,
    current: Arc<RwLock<Arc<ServerConfig>>>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").field("source", &self.source).finish()
    }
}

impl Tls {
    /// Load the configured certificate, or generate/load the self-signed one kept
    /// under `storage_path`.
    pub fn load(config: &TlsConfig, storage_path: &Path) -> Result<Self, TlsError> {
        let source = match (config.cert.trim(), config.key.trim()) {
            ("", "") => Source::SelfSigned {
                dir: storage_path.join("tls"),
            },
            ("", _) | (_, "") => return Err(TlsError::Incomplete),
            (cert, key) => Source::Files {
                cert: PathBuf::from(cert),
                key: PathBuf::from(key),
            },
        };
        let resolver = Arc::new(sni::SniResolver::new(load_key(&source)?));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(resolver.clone());
        Ok(Self {
            source,
            resolver,
            current: Arc::new(RwLock::new(Arc::new(config))),
        })
    }

    /// Re-read the `[tls]` certificate and key; on failure the previous ones stay in use.
    pub fn reload(&self) -> Result<(), TlsError> {
        self.resolver.set_fallback(load_key(&self.source)?);
        info!("TLS certificate reloaded");
        Ok(())
    }

    /// Serve these stored certificates by SNI from the next handshake on (replacing
    /// the previous set).
    pub fn set_sni_certs(&self, certs: Vec<SniCert>) {
        self.resolver.set_certs(certs);
    }

    /// The certificate a handshake naming `server_name` gets.
    pub fn certificate_for(&self, server_name: Option<&str>) -> Arc<CertifiedKey> {
        self.resolver.choose(server_name)
    }

    /// The server configuration in force now.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// An acceptor for one handshake with the current certificate.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.server_config())
    }

    /// True when the certificate was generated rather than configured.
    pub fn is_self_signed(&self) -> bool {
        matches!(self.source, Source::SelfSigned { .. })
    }
}

/// Reload `tls` on every SIGHUP until the process ends (Unix only; elsewhere it waits forever).
pub async fn reload_on_sighup(tls: Tls) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("cannot listen for SIGHUP: {e}");
                return std::future::pending().await;
            }
        };
        while hup.recv().await.is_some() {
            if let Err(e) = tls.reload() {
                tracing::warn!("TLS reload failed, keeping the previous certificate: {e}");
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tls;
        std::future::pending::<()>().await;
    }
}

fn load_key(source: &Source) -> Result<Arc<CertifiedKey>, TlsError> {
    let (certs, key) = match source {
        Source::Files { cert, key } => read_pem(cert, key)?,
        Source::SelfSigned { dir } => {
            let cert = dir.join("selfsigned.crt");
            let key = dir.join("selfsigned.key");
            if !cert.exists() || !key.exists() {
                generate(dir, &cert, &key)?;
            }
            read_pem(&cert, &key)?
        }
    };
    let signing = rustls::crypto::ring::sign::any_supported_type(&key)?;
    let certified = CertifiedKey::new(certs, signing);
    sni::check_keys_match(&certified)?;
    Ok(Arc::new(certified))
}

fn read_pem(
    cert: &Path,
    key: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| TlsError::Read(cert.to_path_buf(), e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Read(cert.to_path_buf(), e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(cert.to_path_buf()));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoKey(key.to_path_buf()),
        other => TlsError::Read(key.to_path_buf(), other.to_string()),
    })?;
    Ok((certs, key))
}

fn generate(dir: &Path, cert_path: &Path, key_path: &Path) -> Result<(), TlsError> {
    // Owner only, like the key inside it and the store around it.
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| TlsError::Write(dir.to_path_buf(), e))?;
    let names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    let certified =
        rcgen::generate_simple_self_signed(names).map_err(|e| TlsError::Generate(e.to_string()))?;
    write_private(key_path, certified.signing_key.serialize_pem().as_bytes())?;
    std::fs::write(cert_path, certified.cert.pem())
        .map_err(|e| TlsError::Write(cert_path.to_path_buf(), e))?;
    info!(path = %cert_path.display(), "generated a self-signed TLS certificate");
    Ok(())
}

fn write_private(path: &Path, data: &[u8]) -> Result<(), TlsError> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| TlsError::Write(path.to_path_buf(), e))?;
    f.write_all(data)
        .map_err(|e| TlsError::Write(path.to_path_buf(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_once_and_reloads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tls = Tls::load(&TlsConfig::default(), dir.path()).expect("load");
        assert!(tls.is_self_signed());
        let crt = dir.path().join("tls/selfsigned.crt");
        let first = std::fs::read(&crt).expect("cert written");
        // A second load keeps the same certificate.
        let again = Tls::load(&TlsConfig::default(), dir.path()).expect("load again");
        assert_eq!(std::fs::read(&crt).expect("cert"), first);
        again.reload().expect("reload");
        let _ = again.acceptor();
    }

    #[test]
    fn configured_files_and_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Generate a pair, then load it as configured files.
        Tls::load(&TlsConfig::default(), dir.path()).expect("generate");
        let cfg = TlsConfig {
            cert: dir.path().join("tls/selfsigned.crt").display().to_string(),
            key: dir.path().join("tls/selfsigned.key").display().to_string(),
            ..TlsConfig::default()
        };
        let tls = Tls::load(&cfg, Path::new("/nonexistent")).expect("files");
        assert!(!tls.is_self_signed());
        let half = TlsConfig {
            cert: cfg.cert.clone(),
            key: String::new(),
            ..TlsConfig::default()
        };
        assert!(matches!(
            Tls::load(&half, dir.path()),
            Err(TlsError::Incomplete)
        ));
        let bad = TlsConfig {
            cert: dir.path().join("missing.crt").display().to_string(),
            key: cfg.key.clone(),
            ..TlsConfig::default()
        };
        assert!(Tls::load(&bad, dir.path()).is_err());
        // A broken file on reload keeps the old config.
        std::fs::write(dir.path().join("tls/selfsigned.crt"), b"garbage").expect("write");
        assert!(tls.reload().is_err());
        let _ = tls.acceptor();
    }
}
