//! DKIM keys (POST/GET/DELETE /dkim): one key per domain, generated (RSA 2048 or
//! Ed25519) or imported, the private key sealed at rest, and the lookup the
//! outbound signer uses (`dkim_key_for_domain`).

use chrono::Utc;

use crate::model::{Page, Paging};
use crate::normalize::domain_unicode;
use crate::store_dkim::{DkimAlgorithm, DkimKey};
use crate::{Error, ObjectId, Result, Service};

/// What POST /dkim asks for.
#[derive(Debug, Clone, Default)]
pub struct NewDkimKey {
    /// A domain name or "*" (the key for domains without their own).
    pub domain: String,
    pub selector: String,
    /// PEM (PKCS#8 or PKCS#1) or a base64 Ed25519 seed; None generates a key.
    pub private_key: Option<String>,
    /// What to generate when no key is given (default RSA, as WildDuck).
    pub algorithm: Option<DkimAlgorithm>,
    pub description: Option<String>,
}

/// A key the outbound path signs with: the key of the longest domain the sender's
/// domain ends with, else the "*" key.
#[derive(Clone, PartialEq, Eq)]
pub struct DkimSigningKey {
    /// The signing domain (`d=`): the key's domain, or the sender's for the "*" key.
    pub domain: String,
    pub selector: String,
    pub algorithm: DkimAlgorithm,
    /// PKCS#8 PEM, unsealed.
    pub private_key_pem: String,
}

impl std::fmt::Debug for DkimSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DkimSigningKey")
            .field("domain", &self.domain)
            .field("selector", &self.selector)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl DkimKey {
    /// The name of the DNS TXT record to publish (`selector._domainkey.domain`, the
    /// domain in its ASCII form as DNS holds it).
    pub fn dns_txt_name(&self) -> String {
        let domain = idna::domain_to_ascii(&self.domain).unwrap_or_else(|_| self.domain.clone());
        format!("{}._domainkey.{domain}", self.selector)
    }

    /// The value of that record (RFC 6376; RFC 8463 `k=ed25519`).
    pub fn dns_txt_value(&self) -> String {
        match self.algorithm {
            DkimAlgorithm::Rsa => format!("v=DKIM1;t=s;p={}", self.dns_public_key),
            DkimAlgorithm::Ed25519 => format!("v=DKIM1;k=ed25519;t=s;p={}", self.dns_public_key),
        }
    }
}

/// The domain as stored: "*" or the Unicode lower-case name.
fn dkim_domain(domain: &str) -> Option<String> {
    let d = domain.trim();
    if d == "*" {
        return Some(d.to_string());
    }
    domain_unicode(d)
}

/// Sealing context of a domain's private key: a sealed key moved to another domain's
/// record does not open.
fn seal_context(domain: &str) -> String {
    format!("dkim:{domain}")
}

impl Service {
    /// Create or replace the domain's key. RSA generation takes a moment: it runs off
    /// the async workers.
    pub async fn set_dkim_key(&self, new: NewDkimKey) -> Result<DkimKey> {
        let domain = dkim_domain(&new.domain).ok_or_else(|| {
            Error::InvalidField("domain", "\"domain\" must be a valid hostname".into())
        })?;
        let selector = new.selector.trim().to_string();
        let selector_ok = !selector.is_empty()
            && selector.len() <= 63
            && selector.split('.').all(|l| {
                !l.is_empty()
                    && l.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        if !selector_ok {
            return Err(Error::InvalidField(
                "selector",
                "\"selector\" must be a valid DNS label".into(),
            ));
        }
        let private = new.private_key.filter(|k| !k.trim().is_empty());
        let algorithm = new.algorithm.unwrap_or(DkimAlgorithm::Rsa);
        let material = tokio::task::spawn_blocking(move || match private {
            Some(pem) => eider_auth::parse_dkim_key(&pem).map_err(|e| match e {
                eider_auth::DkimKeyError::Generate => Error::KeyGenerateError,
                other => Error::InvalidField("privateKey", other.to_string()),
            }),
            None => eider_auth::generate_dkim_key(algorithm).map_err(|_| Error::KeyGenerateError),
        })
        .await
        .map_err(|e| Error::Internal(format!("DKIM key task: {e}")))??;
        let private_key = match &self.security().secrets {
            Some(secrets) => secrets
                .seal(&material.private_key_pem, &seal_context(&domain))
                .map_err(|e| Error::Internal(format!("DKIM key of {domain}: {e}")))?,
            None => material.private_key_pem.clone(),
        };
        let record = DkimKey {
            id: ObjectId::new(),
            domain,
            selector,
            description: new
                .description
                .map(|d| d.trim().to_string())
                .filter(|d| !d.is_empty()),
            algorithm: material.algorithm,
            private_key,
            public_key: material.public_key_pem,
            dns_public_key: material.dns_public_key,
            fingerprint: material.fingerprint,
            created: Utc::now(),
        };
        let (stored, _created) = self.store().set_dkim_key(&record).await?;
        Ok(stored)
    }

    pub async fn get_dkim_key(&self, id: ObjectId) -> Result<DkimKey> {
        self.store()
            .get_dkim_key(id)
            .await?
            .ok_or(Error::DkimNotFound)
    }

    /// The key registered for exactly this domain (GET /dkim/resolve/{domain}).
    pub async fn resolve_dkim_domain(&self, domain: &str) -> Result<DkimKey> {
        let d = dkim_domain(domain).ok_or(Error::DkimDomainNotFound)?;
        self.store()
            .find_dkim_key(&d)
            .await?
            .ok_or(Error::DkimDomainNotFound)
    }

    pub async fn list_dkim_keys(
        &self,
        query: Option<&str>,
        paging: &Paging,
    ) -> Result<Page<DkimKey>> {
        let q = query
            .map(|q| q.trim().to_lowercase())
            .filter(|q| !q.is_empty());
        Ok(self.store().list_dkim_keys(q.as_deref(), paging).await?)
    }

    pub async fn delete_dkim_key(&self, id: ObjectId) -> Result<()> {
        if self.store().delete_dkim_key(id).await? {
            Ok(())
        } else {
            Err(Error::DkimNotFound)
        }
    }

    /// The key to sign mail from `domain` with: that domain's key, else its nearest
    /// parent's (sub.example.com falls back to example.com), else the "*" key
    /// (signing as `domain` itself). None when there is none.
    pub async fn dkim_key_for_domain(&self, domain: &str) -> Result<Option<DkimSigningKey>> {
        let Some(domain) = domain_unicode(domain) else {
            return Ok(None);
        };
        let labels: Vec<&str> = domain.split('.').collect();
        let mut found = None;
        // Longest first; a bare top-level label is never a signing domain.
        for start in 0..labels.len().saturating_sub(1) {
            let candidate = labels[start..].join(".");
            if let Some(key) = self.store().find_dkim_key(&candidate).await? {
                found = Some((key.domain.clone(), key));
                break;
            }
        }
        if found.is_none() {
            if let Some(key) = self.store().find_dkim_key("*").await? {
                found = Some((domain.clone(), key));
            }
        }
        let Some((signing_domain, key)) = found else {
            return Ok(None);
        };
        let private_key_pem = match &self.security().secrets {
            Some(secrets) => secrets
                .open(&key.private_key, &seal_context(&key.domain))
                .map_err(|e| Error::Internal(format!("DKIM key of {}: {e}", key.domain)))?,
            None => {
                if eider_auth::is_sealed(&key.private_key) {
                    return Err(Error::Internal(format!(
                        "DKIM key of {} is sealed but no secret is configured",
                        key.domain
                    )));
                }
                key.private_key.clone()
            }
        };
        Ok(Some(DkimSigningKey {
            domain: signing_domain,
            selector: key.selector,
            algorithm: key.algorithm,
            private_key_pem,
        }))
    }
}
