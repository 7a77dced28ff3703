//! Persistence of TLS certificates served by SNI (POST /certs): one record per
//! server name, its private key sealed by the service. Every change bumps a
//! store-wide version so each instance's SNI cache knows when to reload.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::model::{Page, Paging};
use crate::{ObjectId, StoreResult};

/// One server name's certificate as stored.
#[derive(Clone, PartialEq)]
pub struct TlsCert {
    pub id: ObjectId,
    /// Unicode, lower case.
    pub servername: String,
    pub description: Option<String>,
    /// PEM chain: the certificate first, then its CA chain.
    pub cert: String,
    /// PEM private key, sealed by the service's secret box when one is configured.
    pub private_key: String,
    pub fingerprint: String,
    /// The names the certificate covers (SAN, else the CN), lower case, wildcards kept.
    pub alt_names: Vec<String>,
    pub expires: DateTime<Utc>,
    pub acme: bool,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
}

impl std::fmt::Debug for TlsCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsCert")
            .field("id", &self.id)
            .field("servername", &self.servername)
            .field("alt_names", &self.alt_names)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

#[async_trait]
pub trait CertStore: Send + Sync {
    /// Insert the certificate of `cert.servername`, or replace that name's record
    /// keeping its id and created date; bumps the version. Returns the stored record
    /// and whether it was created.
    async fn set_cert(&self, cert: &TlsCert) -> StoreResult<(TlsCert, bool)>;
    async fn get_cert(&self, id: ObjectId) -> StoreResult<Option<TlsCert>>;
    async fn find_cert(&self, servername: &str) -> StoreResult<Option<TlsCert>>;
    /// Certificates by id; with `query`, those whose servername contains it, or
    /// (with `alt_names`) one of whose names contains it or is the wildcard of its
    /// parent domain ("*.example.com" for "mail.example.com").
    async fn list_certs(
        &self,
        query: Option<&str>,
        alt_names: bool,
        paging: &Paging,
    ) -> StoreResult<Page<TlsCert>>;
    /// Removes the record; bumps the version.
    async fn delete_cert(&self, id: ObjectId) -> StoreResult<bool>;
    /// A number that changes with every set or delete (0 before the first).
    async fn certs_version(&self) -> StoreResult<u64>;
}
