//! Address operations of the REST API: resolving by id or text, updates and
//! renames, forwarded addresses, domain renames, domain alias search.

use crate::model::{Address, AddressQuery, DomainAlias, Page, Paging};
use crate::normalize::{domain_unicode, parse_address};
use crate::service::Service;
use crate::{Error, ForwardTarget, ObjectId, Result, StoreError};

use super::messages::json_object;
use super::paging::{window, PageRequest};

/// Changes to a user's address (PUT /users/{user}/addresses/{id}); None keeps a field.
#[derive(Debug, Clone, Default)]
pub struct AddressChange {
    /// Rename the address (not for wildcard addresses).
    pub address: Option<String>,
    pub name: Option<String>,
    /// Only `true` has an effect: make this the main address.
    pub main: Option<bool>,
    pub tags: Option<Vec<String>>,
    pub meta_data: Option<serde_json::Value>,
    pub internal_data: Option<serde_json::Value>,
}

/// Changes to a forwarded address (PUT /addresses/forwarded/{id}).
#[derive(Debug, Clone, Default)]
pub struct ForwardedChange {
    pub address: Option<String>,
    pub name: Option<String>,
    pub targets: Option<Vec<String>>,
    pub forwards: Option<u64>,
    pub tags: Option<Vec<String>>,
    pub meta_data: Option<serde_json::Value>,
    pub internal_data: Option<serde_json::Value>,
}

/// What a domain rename changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DomainRename {
    pub addresses: u64,
    pub users: u64,
    pub aliases: u64,
}

/// Largest number of records a whole-collection walk reads per call.
const WALK_PAGE: u32 = 250;

/// Forwarding targets: addresses (normalized for display) or URLs, each checked
/// by [`crate::ForwardTarget::parse`].
pub fn validate_targets(targets: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::with_capacity(targets.len());
    for t in targets {
        let t = t.trim();
        if t.is_empty() {
            continue;
        }
        match ForwardTarget::parse(t)? {
            ForwardTarget::Mail(_) => out.push(parse_address(t)?.display()),
            ForwardTarget::Relay(url) | ForwardTarget::Http(url) => out.push(url),
        }
    }
    Ok(out)
}

impl Service {
    /// Find an address by id, or by its text (exact; with `allow_wildcard` also
    /// through +labels, domain aliases and catch-alls, as delivery would).
    pub async fn resolve_address(&self, key: &str, allow_wildcard: bool) -> Result<Address> {
        if let Some(id) = ObjectId::parse(key) {
            return self
                .store()
                .get_address(id)
                .await?
                .ok_or(Error::AddressNotFound);
        }
        let parsed = parse_address(key).map_err(|_| Error::AddressNotFound)?;
        if let Some(a) = self.store().find_address(&parsed.view()).await? {
            return Ok(a);
        }
        if allow_wildcard {
            if let Some(a) = self.lookup_address(key).await? {
                return Ok(a);
            }
        }
        Err(Error::AddressNotFound)
    }

    /// Rename checks shared by user and forwarded addresses; returns the new record.
    async fn renamed(&self, mut record: Address, text: &str) -> Result<Address> {
        if record.address.contains('*') {
            return Err(Error::ChangeNotAllowed);
        }
        let parsed = parse_address(text)?;
        if parsed.is_wildcard() {
            return Err(Error::ChangeNotAllowed);
        }
        let view = parsed.view();
        if let Some(existing) = self.store().find_address(&view).await? {
            if existing.id != record.id {
                return Err(Error::AddressExists);
            }
        }
        record.address = parsed.display();
        record.addrview = view;
        Ok(record)
    }

    async fn save_address(&self, record: &Address) -> Result<()> {
        match self.store().update_address(record).await {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict(_)) => Err(Error::AddressExists),
            Err(StoreError::NotFound) => Err(Error::AddressNotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// Update one of a user's addresses.
    pub async fn update_user_address(
        &self,
        user: ObjectId,
        id: ObjectId,
        change: AddressChange,
    ) -> Result<Address> {
        let mut record = self.get_user_address(user, id).await?;
        if let Some(text) = change.address.as_deref() {
            record = self.renamed(record, text).await?;
        }
        if let Some(name) = change.name {
            record.name = Some(name).filter(|n| !n.is_empty());
        }
        if let Some(tags) = change.tags {
            record.tags = normalize_tags(tags);
        }
        if let Some(m) = change.meta_data {
            record.meta_data = json_object(&m)?;
        }
        if let Some(m) = change.internal_data {
            record.internal_data = json_object(&m)?;
        }
        if change.main == Some(true) {
            if record.address.starts_with("*@") || record.address.ends_with("@*") {
                return Err(Error::WildcardNotPermitted);
            }
            record.main = true;
        } else if change.main == Some(false) && record.main {
            return Err(Error::ChangeNotAllowed);
        }
        self.save_address(&record).await?;
        Ok(record)
    }

    /// A forwarded address by id.
    pub async fn get_forwarded_address(&self, id: ObjectId) -> Result<Address> {
        match self.store().get_address(id).await? {
            Some(a) if a.is_forwarded() => Ok(a),
            _ => Err(Error::AddressNotFound),
        }
    }

    /// Update a forwarded address.
    pub async fn update_forwarded_address(
        &self,
        id: ObjectId,
        change: ForwardedChange,
    ) -> Result<Address> {
        let mut record = self.get_forwarded_address(id).await?;
        if let Some(text) = change.address.as_deref() {
            record = self.renamed(record, text).await?;
        }
        if let Some(name) = change.name {
            record.name = Some(name).filter(|n| !n.is_empty());
        }
        if let Some(targets) = change.targets {
            record.targets = validate_targets(&targets)?;
        }
        if let Some(f) = change.forwards {
            record.forwards = Some(f).filter(|f| *f > 0);
        }
        if let Some(tags) = change.tags {
            record.tags = normalize_tags(tags);
        }
        if let Some(m) = change.meta_data {
            record.meta_data = json_object(&m)?;
        }
        if let Some(m) = change.internal_data {
            record.internal_data = json_object(&m)?;
        }
        self.save_address(&record).await?;
        Ok(record)
    }

    /// Every address whose domain is `domain` (unicode, lower-case).
    async fn addresses_in_domain(&self, domain: &str) -> Result<Vec<Address>> {
        let suffix = format!("@{domain}");
        let mut out = Vec::new();
        let mut next = None;
        loop {
            let query = AddressQuery {
                query: Some(suffix.clone()),
                paging: Paging {
                    limit: WALK_PAGE,
                    next: next.take(),
                    ..Default::default()
                },
                ..Default::default()
            };
            let page = self.store().list_addresses(&query).await?;
            let done = page.results.is_empty() || page.next.is_none();
            out.extend(
                page.results
                    .into_iter()
                    .filter(|a| a.addrview.ends_with(&suffix)),
            );
            if done {
                return Ok(out);
            }
            next = page.next;
        }
    }

    /// Every domain alias, in id order.
    async fn all_domain_aliases(&self) -> Result<Vec<DomainAlias>> {
        let mut out = Vec::new();
        let mut next = None;
        loop {
            let paging = Paging {
                limit: WALK_PAGE,
                next: next.take(),
                ..Default::default()
            };
            let page = self.store().list_domain_aliases(&paging).await?;
            let done = page.results.is_empty() || page.next.is_none();
            out.extend(page.results);
            if done {
                return Ok(out);
            }
            next = page.next;
        }
    }

    /// Move every address (and alias target) from one domain to another
    /// (PUT /addresses/renameDomain).
    pub async fn rename_domain(&self, old: &str, new: &str) -> Result<DomainRename> {
        let old_d = domain_unicode(old)
            .ok_or_else(|| Error::Validation(format!("invalid domain {old:?}")))?;
        let new_d = domain_unicode(new)
            .ok_or_else(|| Error::Validation(format!("invalid domain {new:?}")))?;
        let mut outcome = DomainRename::default();
        if old_d == new_d {
            return Ok(outcome);
        }
        for mut a in self.addresses_in_domain(&old_d).await? {
            let Some((local, _)) = a.address.rsplit_once('@') else {
                continue;
            };
            let Some((local_view, _)) = a.addrview.rsplit_once('@') else {
                continue;
            };
            a.address = format!("{local}@{new_d}");
            a.addrview = format!("{local_view}@{new_d}");
            self.save_address(&a).await?;
            outcome.addresses += 1;
            if a.main && a.user.is_some() {
                outcome.users += 1;
            }
        }
        for alias in self.all_domain_aliases().await? {
            if alias.domain == old_d {
                self.store().delete_domain_alias(alias.id).await?;
                let moved = DomainAlias {
                    domain: new_d.clone(),
                    ..alias
                };
                self.store().create_domain_alias(&moved).await?;
                outcome.aliases += 1;
            }
        }
        Ok(outcome)
    }

    /// Domain aliases whose alias or domain contains `query` (GET /domainaliases).
    pub async fn search_domain_aliases(
        &self,
        query: Option<&str>,
        page: &PageRequest,
    ) -> Result<Page<DomainAlias>> {
        let needle = query
            .map(|q| q.trim().to_lowercase())
            .filter(|q| !q.is_empty());
        let all: Vec<DomainAlias> = self
            .all_domain_aliases()
            .await?
            .into_iter()
            .filter(|a| {
                needle
                    .as_deref()
                    .is_none_or(|n| a.alias.contains(n) || a.domain.contains(n))
            })
            .collect();
        let ids: Vec<ObjectId> = all.iter().map(|a| a.id).collect();
        let (start, end) = window(&ids, page, ObjectId::parse, |a, b| a < b)?;
        Ok(Page {
            total: all.len() as u64,
            next: (end < ids.len() && end > start).then(|| ids[end - 1].to_hex()),
            previous: (start > 0 && start < ids.len()).then(|| ids[start].to_hex()),
            results: all[start..end].to_vec(),
        })
    }
}

/// Tags are trimmed and de-duplicated ignoring case; the first spelling stays.
pub fn normalize_tags(tags: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    for t in tags {
        let t = t.trim();
        if !t.is_empty() && !out.iter().any(|o| o.to_lowercase() == t.to_lowercase()) {
            out.push(t.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_targets() {
        assert_eq!(
            normalize_tags(vec![" A".into(), "a".into(), "".into(), "b".into()]),
            vec!["A".to_string(), "b".to_string()]
        );
        assert!(validate_targets(&["smtp://mx.example.com:25".into()]).is_ok());
        assert_eq!(
            validate_targets(&["User@Example.COM".into()]).ok(),
            Some(vec!["User@example.com".to_string()])
        );
        assert!(validate_targets(&["not an address".into()]).is_err());
    }
}
