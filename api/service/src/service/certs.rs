//! TLS certificates served by SNI (POST/GET/DELETE /certs): one PEM certificate and
//! key per server name, the key sealed at rest; what every TLS listener loads into
//! its SNI index (`sni_certificates`), and the version it polls to know when.

use chrono::{DateTime, TimeZone, Utc};

use crate::model::{Page, Paging};
use crate::normalize::domain_unicode;
use crate::store_certs::TlsCert;
use crate::{Error, ObjectId, Result, Service};

/// What POST /certs asks for.
#[derive(Debug, Clone, Default)]
pub struct NewCert {
    pub servername: String,
    /// PEM private key.
    pub private_key: Option<String>,
    /// PEM certificate, or a bundle (certificate then CA chain).
    pub cert: Option<String>,
    /// CA chain certificates (PEM), when `cert` is not a bundle.
    pub ca: Vec<String>,
    pub description: Option<String>,
    /// Managed by ACME: not available in this build.
    pub acme: bool,
}

/// A stored certificate ready to serve: PEM chain and unsealed key.
#[derive(Clone)]
pub struct ServedCert {
    pub servername: String,
    pub alt_names: Vec<String>,
    pub expires: DateTime<Utc>,
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for ServedCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServedCert")
            .field("servername", &self.servername)
            .field("alt_names", &self.alt_names)
            .finish_non_exhaustive()
    }
}

fn seal_context(servername: &str) -> String {
    format!("cert:{servername}")
}

/// A certificate's name as stored: a wildcard keeps its "*." and the rest is the
/// Unicode form (as WildDuck's normalizeDomain).
fn cert_name(name: &str) -> Option<String> {
    match name.trim().strip_prefix("*.") {
        Some(rest) => domain_unicode(rest).map(|d| format!("*.{d}")),
        None => domain_unicode(name),
    }
}

impl Service {
    /// Create or replace the certificate of a server name. The key must be the
    /// certificate's; the chain must parse. Every TLS listener serves it to new
    /// connections once its SNI index reloads (at once on this instance).
    pub async fn set_cert(&self, new: NewCert) -> Result<TlsCert> {
        let servername = domain_unicode(&new.servername).ok_or_else(|| {
            Error::InvalidField(
                "servername",
                "\"servername\" must be a valid hostname".into(),
            )
        })?;
        if new.acme {
            return Err(Error::InvalidField(
                "acme",
                "\"acme\" certificates are not supported by this server".into(),
            ));
        }
        let (Some(key), Some(cert)) = (
            new.private_key.filter(|k| !k.trim().is_empty()),
            new.cert.filter(|c| !c.trim().is_empty()),
        ) else {
            return Err(Error::Validation(
                "\"privateKey\" and \"cert\" are required".into(),
            ));
        };
        let ca = new.ca;
        let (key, cert, ca, info) = tokio::task::spawn_blocking(move || {
            let info = eider_tls::inspect_cert(&cert, &key, &ca);
            (key, cert, ca, info)
        })
        .await
        .map_err(|e| Error::Internal(format!("certificate check: {e}")))?;
        let info = info.map_err(|e| {
            Error::Validation(format!("Invalid or incompatible key and certificate. {e}"))
        })?;
        // The chain as served: the bundle, then any CA certificates given apart.
        let mut chain = cert.trim().to_string();
        chain.push('\n');
        for c in &ca {
            chain.push_str(c.trim());
            chain.push('\n');
        }
        let private_key = match &self.security().secrets {
            Some(secrets) => secrets
                .seal(key.trim(), &seal_context(&servername))
                .map_err(|e| Error::Internal(format!("key of {servername}: {e}")))?,
            None => key.trim().to_string(),
        };
        let mut alt_names: Vec<String> = info.names.iter().filter_map(|n| cert_name(n)).collect();
        if alt_names.is_empty() {
            alt_names.push(servername.clone());
        }
        let now = Utc::now();
        let record = TlsCert {
            id: ObjectId::new(),
            servername,
            description: new
                .description
                .map(|d| d.trim().to_string())
                .filter(|d| !d.is_empty()),
            cert: chain,
            private_key,
            fingerprint: info.fingerprint,
            alt_names,
            expires: Utc.timestamp_opt(info.expires, 0).single().unwrap_or(now),
            acme: false,
            created: now,
            updated: now,
        };
        let (stored, _) = self.store().set_cert(&record).await?;
        self.inner.certs_changed.notify_one();
        Ok(stored)
    }

    pub async fn get_cert(&self, id: ObjectId) -> Result<TlsCert> {
        self.store().get_cert(id).await?.ok_or(Error::CertNotFound)
    }

    /// The certificate stored for exactly this server name (GET /certs/resolve).
    pub async fn resolve_cert(&self, servername: &str) -> Result<TlsCert> {
        let name = domain_unicode(servername).ok_or(Error::CertServernameNotFound)?;
        self.store()
            .find_cert(&name)
            .await?
            .ok_or(Error::CertServernameNotFound)
    }

    pub async fn list_certs(
        &self,
        query: Option<&str>,
        alt_names: bool,
        paging: &Paging,
    ) -> Result<Page<TlsCert>> {
        let q = query
            .map(|q| q.trim().to_lowercase())
            .filter(|q| !q.is_empty());
        Ok(self
            .store()
            .list_certs(q.as_deref(), alt_names, paging)
            .await?)
    }

    pub async fn delete_cert(&self, id: ObjectId) -> Result<()> {
        if self.store().delete_cert(id).await? {
            self.inner.certs_changed.notify_one();
            Ok(())
        } else {
            Err(Error::CertNotFound)
        }
    }

    /// Changes with every certificate set or deleted on any instance.
    pub async fn certs_version(&self) -> Result<u64> {
        Ok(self.store().certs_version().await?)
    }

    /// Wakes when this instance changed a certificate (others are seen by polling
    /// [`Service::certs_version`]).
    pub async fn certs_changed(&self) {
        self.inner.certs_changed.notified().await;
    }

    /// Every stored certificate with its key unsealed, for the SNI index. A record
    /// whose key does not open is left out (and logged), not fatal.
    pub async fn sni_certificates(&self) -> Result<Vec<ServedCert>> {
        let all = self
            .store()
            .list_certs(None, false, &Paging::default())
            .await?;
        let mut out = Vec::with_capacity(all.results.len());
        for c in all.results {
            let key = match &self.security().secrets {
                Some(secrets) => match secrets.open(&c.private_key, &seal_context(&c.servername)) {
                    Ok(k) => k,
                    Err(e) => {
                        tracing::warn!(servername = %c.servername, "stored TLS key does not open: {e}");
                        continue;
                    }
                },
                None if eider_auth::is_sealed(&c.private_key) => {
                    tracing::warn!(servername = %c.servername, "stored TLS key is sealed but no secret is configured");
                    continue;
                }
                None => c.private_key.clone(),
            };
            out.push(ServedCert {
                servername: c.servername,
                alt_names: c.alt_names,
                expires: c.expires,
                cert_pem: c.cert,
                key_pem: key,
            });
        }
        Ok(out)
    }
}
