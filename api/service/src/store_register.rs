//! Persistence of the address register: the addresses a user has written to
//! (GET /users/{user}/addressregister), so that clients can complete recipients.
//!
//! Every call names the user; entries are per user and unique by the normalized
//! address. The service decides what is recorded and how names are split into
//! search terms ([`register_terms`]); stores only keep and find entries.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{ObjectId, StoreResult};

/// One address of a user's register.
#[derive(Debug, Clone, PartialEq)]
pub struct RegisteredAddress {
    pub id: ObjectId,
    pub user: ObjectId,
    /// Normalized key: lower-case local part, lower-case unicode domain.
    pub addrview: String,
    /// The address as last written (unicode domain).
    pub address: String,
    /// The latest non-empty display name seen with it ("" when none ever was).
    pub name: String,
    /// How many times it was recorded.
    pub uses: u64,
    /// When it was last recorded.
    pub updated: DateTime<Utc>,
    pub created: DateTime<Utc>,
}

/// An address seen in a message the user sent.
#[derive(Debug, Clone, PartialEq)]
pub struct SeenAddress {
    pub addrview: String,
    pub address: String,
    /// Empty: keep the name the entry already has.
    pub name: String,
}

/// Lower-cased prefixes a register entry is found by: the address, the whole
/// name, and each word of the name. Stores keep them with the entry and match a
/// query against their starts.
pub fn register_terms(addrview: &str, name: &str) -> Vec<String> {
    let mut terms = vec![addrview.to_lowercase()];
    let name = name.trim().to_lowercase();
    if !name.is_empty() {
        terms.push(name.clone());
        for word in name
            .split(|c: char| {
                c.is_whitespace() || matches!(c, ',' | '"' | '\'' | '(' | ')' | '<' | '>')
            })
            .filter(|w| !w.is_empty())
        {
            let w = word.to_string();
            if !terms.contains(&w) {
                terms.push(w);
            }
        }
    }
    terms
}

#[async_trait]
pub trait AddressRegisterStore: Send + Sync {
    /// Record addresses seen at `when`: a new address gets an entry (a fresh id),
    /// a known one (same `addrview`) counts one more use, takes `address`, `when`
    /// and, when the new name is not empty, the name. Each address is one atomic
    /// upsert; `NotFound` is never returned (a deleted user's late records are
    /// harmless and go with the next cleanup).
    async fn record_addresses(
        &self,
        user: ObjectId,
        seen: &[SeenAddress],
        when: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// Entries one of whose terms ([`register_terms`]) starts with `prefix`
    /// (already lower-cased by the caller), most recently used first (then most
    /// used), at most `limit`.
    async fn search_address_register(
        &self,
        user: ObjectId,
        prefix: &str,
        limit: u32,
    ) -> StoreResult<Vec<RegisteredAddress>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_cover_address_name_and_words() {
        assert_eq!(
            register_terms("ann@example.com", " Ann  \"Banana\" Smith "),
            vec![
                "ann@example.com".to_string(),
                "ann  \"banana\" smith".to_string(),
                "ann".to_string(),
                "banana".to_string(),
                "smith".to_string(),
            ]
        );
        assert_eq!(
            register_terms("X@EXAMPLE.com", ""),
            vec!["x@example.com".to_string()]
        );
    }
}
