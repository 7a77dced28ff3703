//! Persistence of domain access lists (WildDuck's `domainaccess` collection): per tag,
//! sender domains or addresses whose mail is always (block) or never (allow) spam.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{ObjectId, StoreResult};

/// What a listing does to mail from its domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DomainAction {
    /// Never spam: the spam header test is skipped.
    Allow,
    /// Always spam: the message goes to Junk.
    Block,
}

impl DomainAction {
    pub fn as_str(self) -> &'static str {
        match self {
            DomainAction::Allow => "allow",
            DomainAction::Block => "block",
        }
    }

    pub fn parse(s: &str) -> Option<DomainAction> {
        match s {
            "allow" => Some(DomainAction::Allow),
            "block" => Some(DomainAction::Block),
            _ => None,
        }
    }
}

/// One listing: a sender domain (or address) for users tagged `tag`.
#[derive(Debug, Clone, PartialEq)]
pub struct DomainAccess {
    pub id: ObjectId,
    /// The tag as first given.
    pub tag: String,
    /// The tag lower-cased: what users' tags are compared with.
    pub tagview: String,
    /// A normalized domain (`example.com`) or address (`user@example.com`).
    pub domain: String,
    pub action: DomainAction,
    pub created: DateTime<Utc>,
}

#[async_trait]
pub trait DomainAccessStore: Send + Sync {
    /// Insert `entry`, or when (tagview, domain) is listed already set that listing's
    /// action (it keeps its id, tag and created). Returns the listing as stored.
    async fn upsert_domain_access(&self, entry: &DomainAccess) -> StoreResult<DomainAccess>;
    /// Listings of a tag with an action, ordered by domain.
    async fn list_domain_access(
        &self,
        tagview: &str,
        action: DomainAction,
    ) -> StoreResult<Vec<DomainAccess>>;
    async fn get_domain_access(&self, id: ObjectId) -> StoreResult<Option<DomainAccess>>;
    async fn delete_domain_access(&self, id: ObjectId) -> StoreResult<bool>;
    /// Listings whose tagview is one of `tagviews` and whose domain is one of `domains`
    /// (delivery's lookup; both lists are short).
    async fn match_domain_access(
        &self,
        tagviews: &[String],
        domains: &[String],
    ) -> StoreResult<Vec<DomainAccess>>;
}
