use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ObjectId;

/// An address: a user's (main or extra), or a forwarded one (no user, `targets` set).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Address {
    pub id: ObjectId,
    /// None for forwarded addresses.
    pub user: Option<ObjectId>,
    /// Display form as given, domain in unicode form.
    pub address: String,
    /// Normalized key: local part lower-cased without dots, domain unicode lower-case.
    pub addrview: String,
    pub name: Option<String>,
    pub main: bool,
    pub tags: Vec<String>,
    /// Forwarding targets (forwarded addresses only).
    pub targets: Vec<String>,
    /// Daily forward limit for forwarded addresses.
    pub forwards: Option<u64>,
    pub meta_data: serde_json::Value,
    pub internal_data: serde_json::Value,
    pub created: DateTime<Utc>,
}

impl Address {
    pub fn is_forwarded(&self) -> bool {
        self.user.is_none()
    }
}

/// `alias` domain delivers as if it were `domain`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainAlias {
    pub id: ObjectId,
    /// Unicode, lower-case.
    pub alias: String,
    /// Unicode, lower-case.
    pub domain: String,
    pub created: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct AddressQuery {
    /// Substring of the address.
    pub query: Option<String>,
    pub tags: Vec<String>,
    pub required_tags: Vec<String>,
    /// Only forwarded addresses.
    pub forwarded_only: bool,
    /// Only addresses with a forwarding target containing this text (any case).
    pub forward: Option<String>,
    /// Only this user's addresses (a user token's own listing).
    pub user: Option<ObjectId>,
    pub paging: super::Paging,
}
