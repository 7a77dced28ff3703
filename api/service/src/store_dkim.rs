//! Persistence of DKIM keys (POST /dkim): one key per domain ("*" is the key for
//! domains without their own), its private half sealed by the service.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use eider_auth::DkimAlgorithm;

use crate::model::{Page, Paging};
use crate::{ObjectId, StoreResult};

/// One domain's DKIM key as stored.
#[derive(Clone, PartialEq)]
pub struct DkimKey {
    pub id: ObjectId,
    /// Unicode, lower case; "*" for the fallback key.
    pub domain: String,
    pub selector: String,
    pub description: Option<String>,
    pub algorithm: DkimAlgorithm,
    /// PKCS#8 PEM, sealed by the service's secret box when one is configured.
    pub private_key: String,
    /// SubjectPublicKeyInfo PEM.
    pub public_key: String,
    /// The DNS record's `p=` value.
    pub dns_public_key: String,
    pub fingerprint: String,
    pub created: DateTime<Utc>,
}

impl std::fmt::Debug for DkimKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DkimKey")
            .field("id", &self.id)
            .field("domain", &self.domain)
            .field("selector", &self.selector)
            .field("algorithm", &self.algorithm)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

#[async_trait]
pub trait DkimStore: Send + Sync {
    /// Insert the key of `key.domain`, or replace that domain's key keeping its id.
    /// Returns the stored record and whether it was created.
    async fn set_dkim_key(&self, key: &DkimKey) -> StoreResult<(DkimKey, bool)>;
    async fn get_dkim_key(&self, id: ObjectId) -> StoreResult<Option<DkimKey>>;
    async fn find_dkim_key(&self, domain: &str) -> StoreResult<Option<DkimKey>>;
    /// Keys by id; those whose domain contains `query` (case-sensitive, the domains
    /// are stored lower case) when given.
    async fn list_dkim_keys(
        &self,
        query: Option<&str>,
        paging: &Paging,
    ) -> StoreResult<Page<DkimKey>>;
    async fn delete_dkim_key(&self, id: ObjectId) -> StoreResult<bool>;
}
