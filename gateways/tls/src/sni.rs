//! Certificates chosen by SNI: the certificates of the store (POST /certs), indexed
//! by name, in front of the `[tls]` certificate. The index is swapped whole when
//! the store's certificates change ([`crate::Tls::set_sni_certs`]); a handshake
//! only reads it, so choosing costs two hash lookups and no I/O.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::TlsError;

/// What a stored certificate is, read from its PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// The DNS names of its subjectAltName, else its common name; lower case,
    /// wildcards kept ("*.example.com").
    pub names: Vec<String>,
    /// The common name, lower case, if any.
    pub common_name: Option<String>,
    /// notAfter, seconds since the epoch.
    pub expires: i64,
    /// SHA-256 of the public key (SubjectPublicKeyInfo), hex pairs joined by ':'.
    pub fingerprint: String,
}

/// Check that `cert` (a PEM chain, the leaf first, plus `ca` PEMs) and `key` (PEM
/// PKCS#8, PKCS#1 or SEC1) belong together and can be served; read its names and expiry.
pub fn inspect_cert(cert: &str, key: &str, ca: &[String]) -> Result<CertInfo, TlsError> {
    let certified = certified_key(cert, key, ca)?;
    let leaf = certified
        .cert
        .first()
        .ok_or_else(|| TlsError::Invalid("no certificate found".into()))?;
    let (_, parsed) = X509Certificate::from_der(leaf.as_ref())
        .map_err(|e| TlsError::Invalid(format!("cannot parse the certificate: {e}")))?;
    let common_name = parsed
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(|s| s.trim().to_lowercase());
    let mut names = Vec::new();
    if let Ok(Some(san)) = parsed.subject_alternative_name() {
        for name in &san.value.general_names {
            if let GeneralName::DNSName(dns) = name {
                let n = dns.trim().to_lowercase();
                if !n.is_empty() && !names.contains(&n) {
                    names.push(n);
                }
            }
        }
    }
    if names.is_empty() {
        names.extend(common_name.clone());
    }
    let spki = parsed.public_key().raw;
    let digest = ring::digest::digest(&ring::digest::SHA256, spki);
    let fingerprint = digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    Ok(CertInfo {
        names,
        common_name,
        expires: parsed.validity().not_after.timestamp(),
        fingerprint,
    })
}

/// A servable certificate from PEM text; fails when the key is not the certificate's.
pub fn certified_key(cert: &str, key: &str, ca: &[String]) -> Result<Arc<CertifiedKey>, TlsError> {
    let mut chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Invalid(format!("cannot read the certificate: {e}")))?;
    if chain.is_empty() {
        return Err(TlsError::Invalid("no certificate found".into()));
    }
    for extra in ca {
        for c in CertificateDer::pem_slice_iter(extra.as_bytes()) {
            chain.push(
                c.map_err(|e| TlsError::Invalid(format!("cannot read a CA certificate: {e}")))?,
            );
        }
    }
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes())
        .map_err(|e| TlsError::Invalid(format!("cannot read the private key: {e}")))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&key)
        .map_err(|e| TlsError::Invalid(format!("unsupported private key: {e}")))?;
    let certified = CertifiedKey::new(chain, signing);
    check_keys_match(&certified)
        .map_err(|e| TlsError::Invalid(format!("the key does not match the certificate: {e}")))?;
    Ok(Arc::new(certified))
}

/// A key that is not the certificate's fails; a key whose public half the provider
/// cannot tell passes (the handshake would still fail, as with any broken pair).
pub(crate) fn check_keys_match(certified: &CertifiedKey) -> Result<(), rustls::Error> {
    match certified.keys_match() {
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(()),
        other => other,
    }
}

/// One stored certificate to serve.
#[derive(Clone)]
pub struct SniCert {
    /// The record's server name: matched before any alternative name.
    pub servername: String,
    /// Names it covers (wildcards as "*.example.com").
    pub alt_names: Vec<String>,
    /// notAfter (seconds): among alternative matches the latest wins.
    pub expires: i64,
    pub key: Arc<CertifiedKey>,
}

impl std::fmt::Debug for SniCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SniCert")
            .field("servername", &self.servername)
            .field("alt_names", &self.alt_names)
            .finish_non_exhaustive()
    }
}

/// Names in the form a ClientHello carries them (ASCII, lower case, no final dot).
fn sni_form(name: &str) -> Option<String> {
    let name = name.trim().trim_end_matches('.');
    if let Some(rest) = name.strip_prefix("*.") {
        return idna::domain_to_ascii(rest).ok().map(|a| format!("*.{a}"));
    }
    idna::domain_to_ascii(name).ok().filter(|a| !a.is_empty())
}

#[derive(Default)]
struct SniIndex {
    /// By the records' server names.
    servername: HashMap<String, Arc<CertifiedKey>>,
    /// By exact alternative names, with expiry for choosing among several.
    alt: HashMap<String, (i64, Arc<CertifiedKey>)>,
    /// By the parent domain of wildcard names ("example.com" for "*.example.com").
    wildcard: HashMap<String, (i64, Arc<CertifiedKey>)>,
}

impl SniIndex {
    fn build(certs: Vec<SniCert>) -> Self {
        let mut index = SniIndex::default();
        let keep_latest = |map: &mut HashMap<String, (i64, Arc<CertifiedKey>)>,
                           name: String,
                           expires: i64,
                           key: &Arc<CertifiedKey>| {
            match map.get(&name) {
                Some((e, _)) if *e >= expires => {}
                _ => {
                    map.insert(name, (expires, key.clone()));
                }
            }
        };
        for c in certs {
            if let Some(name) = sni_form(&c.servername) {
                index.servername.insert(name, c.key.clone());
            }
            for alt in &c.alt_names {
                let Some(name) = sni_form(alt) else { continue };
                match name.strip_prefix("*.") {
                    Some(parent) => {
                        keep_latest(&mut index.wildcard, parent.to_string(), c.expires, &c.key)
                    }
                    None => keep_latest(&mut index.alt, name, c.expires, &c.key),
                }
            }
        }
        index
    }

    fn find(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(k) = self.servername.get(&name) {
            return Some(k.clone());
        }
        if let Some((_, k)) = self.alt.get(&name) {
            return Some(k.clone());
        }
        // A wildcard covers one label (RFC 6125 6.4.3).
        let (_, parent) = name.split_once('.')?;
        self.wildcard.get(parent).map(|(_, k)| k.clone())
    }
}

/// rustls's certificate choice: the store's certificate for the SNI name, else the
/// `[tls]` one.
pub(crate) struct SniResolver {
    fallback: RwLock<Arc<CertifiedKey>>,
    index: RwLock<Arc<SniIndex>>,
}

impl std::fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SniResolver")
    }
}

impl SniResolver {
    pub(crate) fn new(fallback: Arc<CertifiedKey>) -> Self {
        Self {
            fallback: RwLock::new(fallback),
            index: RwLock::new(Arc::new(SniIndex::default())),
        }
    }

    pub(crate) fn set_fallback(&self, key: Arc<CertifiedKey>) {
        *self.fallback.write().unwrap_or_else(|e| e.into_inner()) = key;
    }

    pub(crate) fn set_certs(&self, certs: Vec<SniCert>) {
        let index = Arc::new(SniIndex::build(certs));
        *self.index.write().unwrap_or_else(|e| e.into_inner()) = index;
    }

    pub(crate) fn choose(&self, server_name: Option<&str>) -> Arc<CertifiedKey> {
        if let Some(name) = server_name {
            let index = self.index.read().unwrap_or_else(|e| e.into_inner()).clone();
            if let Some(k) = index.find(name) {
                return k;
            }
        }
        self.fallback
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.choose(hello.server_name()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make(names: &[&str]) -> (String, String) {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let c = rcgen::generate_simple_self_signed(names).expect("generate");
        (c.cert.pem(), c.signing_key.serialize_pem())
    }

    fn entry(servername: &str, names: &[&str]) -> (SniCert, Arc<CertifiedKey>) {
        let (cert, key) = make(names);
        let info = inspect_cert(&cert, &key, &[]).expect("inspect");
        let k = certified_key(&cert, &key, &[]).expect("certified");
        (
            SniCert {
                servername: servername.into(),
                alt_names: info.names,
                expires: info.expires,
                key: k.clone(),
            },
            k,
        )
    }

    #[test]
    fn inspects_names_expiry_and_mismatch() {
        let (cert, key) = make(&["Mail.Example.com", "*.example.org"]);
        let info = inspect_cert(&cert, &key, &[]).expect("inspect");
        assert_eq!(info.names, vec!["mail.example.com", "*.example.org"]);
        assert!(info.expires > 0);
        assert_eq!(info.fingerprint.len(), 95);
        let (_, other_key) = make(&["x.example"]);
        let err = inspect_cert(&cert, &other_key, &[]).expect_err("mismatch");
        assert!(err.to_string().contains("does not match"), "{err}");
        assert!(inspect_cert("garbage", &key, &[]).is_err());
        assert!(inspect_cert(&cert, "garbage", &[]).is_err());
    }

    #[test]
    fn chooses_by_servername_alt_name_and_wildcard() {
        let (fallback, fallback_key) = make(&["localhost"]);
        let resolver =
            SniResolver::new(certified_key(&fallback, &fallback_key, &[]).expect("fallback"));
        let (a, ka) = entry("a.example.com", &["a.example.com"]);
        let (b, kb) = entry("b.example.com", &["b.example.com", "alias.example.net"]);
        let (w, kw) = entry("wild.example.org", &["*.wild.example.org"]);
        let (u, ku) = entry("bücher.example", &["xn--bcher-kva.example"]);
        resolver.set_certs(vec![a, b, w, u]);
        let same = |name: &str, k: &Arc<CertifiedKey>| {
            assert!(Arc::ptr_eq(&resolver.choose(Some(name)), k), "{name}");
        };
        same("a.example.com", &ka);
        same("A.Example.COM", &ka);
        same("b.example.com", &kb);
        same("alias.example.net", &kb);
        same("imap.wild.example.org", &kw);
        same("xn--bcher-kva.example", &ku);
        // A wildcard covers one label only; unknown names get the [tls] certificate.
        let fb = resolver.choose(None);
        assert!(Arc::ptr_eq(
            &resolver.choose(Some("a.b.wild.example.org")),
            &fb
        ));
        assert!(Arc::ptr_eq(&resolver.choose(Some("c.example.com")), &fb));
        // A new set replaces the old one.
        resolver.set_certs(Vec::new());
        assert!(Arc::ptr_eq(&resolver.choose(Some("a.example.com")), &fb));
    }
}
