//! Addresses, forwarded addresses, domain aliases and recipient resolution.

use chrono::Utc;

use super::Service;
use crate::model::{Address, AddressQuery, DomainAlias, Page, Paging};
use crate::normalize::{domain_unicode, parse_address, ParsedAddress};
use crate::{Error, ObjectId, Result, StoreError};

#[derive(Debug, Clone, Default)]
pub struct NewAddress {
    pub address: String,
    pub name: Option<String>,
    pub main: bool,
    pub tags: Vec<String>,
    pub meta_data: Option<serde_json::Value>,
    pub internal_data: Option<serde_json::Value>,
}

/// Where mail for an address goes.
#[derive(Debug, Clone, PartialEq)]
pub enum ResolvedRecipient {
    /// A local user (the matched address record tells which address matched).
    User { user: ObjectId, address: Address },
    /// A forwarded address: deliver to these external targets.
    Forward { address: Address },
}

impl Service {
    pub async fn add_address(&self, user: ObjectId, new: NewAddress) -> Result<Address> {
        let owner = self.get_user(user).await?;
        let parsed = parse_address(&new.address)?;
        if parsed.is_wildcard() && new.main {
            return Err(Error::WildcardNotPermitted);
        }
        let address = Address {
            id: ObjectId::new(),
            user: Some(owner.id),
            address: parsed.display(),
            addrview: parsed.view(),
            name: new.name,
            main: new.main,
            tags: new.tags,
            targets: Vec::new(),
            forwards: None,
            meta_data: new.meta_data.unwrap_or_else(|| serde_json::json!({})),
            internal_data: new.internal_data.unwrap_or_else(|| serde_json::json!({})),
            created: Utc::now(),
        };
        match self.store().create_address(&address).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Err(Error::AddressExists),
            Err(e) => return Err(e.into()),
        }
        if address.main {
            self.store().update_address(&address).await?;
        }
        self.emit(
            super::webhooks::events::ADDRESS_USER_CREATED,
            address.user,
            serde_json::json!({ "addr": address.id.to_hex(), "address": address.address }),
        )
        .await;
        Ok(address)
    }

    /// Create a forwarded address (no mailbox, delivered to `targets`).
    pub async fn add_forwarded_address(
        &self,
        text: &str,
        name: Option<String>,
        targets: Vec<String>,
        forwards: Option<u64>,
        tags: Vec<String>,
    ) -> Result<Address> {
        let parsed = parse_address(text)?;
        let address = Address {
            id: ObjectId::new(),
            user: None,
            address: parsed.display(),
            addrview: parsed.view(),
            name,
            main: false,
            tags,
            targets,
            forwards,
            meta_data: serde_json::json!({}),
            internal_data: serde_json::json!({}),
            created: Utc::now(),
        };
        match self.store().create_address(&address).await {
            Ok(()) => Ok(address),
            Err(StoreError::Conflict(_)) => Err(Error::AddressExists),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn list_user_addresses(&self, user: ObjectId) -> Result<Vec<Address>> {
        self.get_user(user).await?;
        Ok(self.store().list_user_addresses(user).await?)
    }

    pub async fn list_addresses(&self, query: &AddressQuery) -> Result<Page<Address>> {
        Ok(self.store().list_addresses(query).await?)
    }

    pub async fn get_user_address(&self, user: ObjectId, id: ObjectId) -> Result<Address> {
        match self.store().get_address(id).await? {
            Some(a) if a.user == Some(user) => Ok(a),
            _ => Err(Error::AddressNotFound),
        }
    }

    /// Make an address the user's main address.
    pub async fn set_main_address(&self, user: ObjectId, id: ObjectId) -> Result<Address> {
        let mut a = self.get_user_address(user, id).await?;
        if a.address.starts_with("*@") {
            return Err(Error::WildcardNotPermitted);
        }
        a.main = true;
        self.store().update_address(&a).await?;
        Ok(a)
    }

    pub async fn update_address(&self, address: &Address) -> Result<()> {
        Ok(self.store().update_address(address).await?)
    }

    pub async fn delete_user_address(&self, user: ObjectId, id: ObjectId) -> Result<()> {
        let a = self.get_user_address(user, id).await?;
        if a.main {
            return Err(Error::NotPermitted("Can not delete main address"));
        }
        self.store().delete_address(a.id).await?;
        self.emit(
            super::webhooks::events::ADDRESS_USER_DELETED,
            Some(user),
            serde_json::json!({ "addr": a.id.to_hex(), "address": a.address }),
        )
        .await;
        Ok(())
    }

    pub async fn delete_forwarded_address(&self, id: ObjectId) -> Result<()> {
        match self.store().get_address(id).await? {
            Some(a) if a.is_forwarded() => {
                self.store().delete_address(a.id).await?;
                Ok(())
            }
            _ => Err(Error::AddressNotFound),
        }
    }

    /// Find the address record mail for `text` belongs to: the exact address, the
    /// address without its `+label`, then the same through a domain alias, then
    /// the domain's catch-all `*@domain`. Case and dots in the local part never matter.
    pub async fn lookup_address(&self, text: &str) -> Result<Option<Address>> {
        let parsed = match parse_address(text) {
            Ok(p) => p,
            Err(_) => return Ok(None),
        };
        if let Some(a) = self.lookup_in_domain(&parsed).await? {
            return Ok(Some(a));
        }
        if let Some(alias) = self.store().find_domain_alias(&parsed.domain).await? {
            let aliased = ParsedAddress {
                local: parsed.local.clone(),
                domain: alias.domain,
            };
            return self.lookup_in_domain(&aliased).await;
        }
        Ok(None)
    }

    async fn lookup_in_domain(&self, parsed: &ParsedAddress) -> Result<Option<Address>> {
        let store = self.store();
        if let Some(a) = store.find_address(&parsed.view()).await? {
            return Ok(Some(a));
        }
        let without = parsed.view_without_label();
        if without != parsed.view() {
            if let Some(a) = store.find_address(&without).await? {
                return Ok(Some(a));
            }
        }
        Ok(store.find_address(&format!("*@{}", parsed.domain)).await?)
    }

    /// Resolve a delivery recipient.
    pub async fn resolve_recipient(&self, text: &str) -> Result<Option<ResolvedRecipient>> {
        Ok(self
            .lookup_address(text)
            .await?
            .map(|address| match address.user {
                Some(user) => ResolvedRecipient::User { user, address },
                None => ResolvedRecipient::Forward { address },
            }))
    }

    pub async fn create_domain_alias(&self, alias: &str, domain: &str) -> Result<DomainAlias> {
        let alias_u = domain_unicode(alias)
            .ok_or_else(|| Error::Validation(format!("invalid domain {alias:?}")))?;
        let domain_u = domain_unicode(domain)
            .ok_or_else(|| Error::Validation(format!("invalid domain {domain:?}")))?;
        let record = DomainAlias {
            id: ObjectId::new(),
            alias: alias_u,
            domain: domain_u,
            created: Utc::now(),
        };
        match self.store().create_domain_alias(&record).await {
            Ok(()) => Ok(record),
            Err(StoreError::Conflict(_)) => Err(Error::AliasExists),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn resolve_domain_alias(&self, alias: &str) -> Result<DomainAlias> {
        let a = domain_unicode(alias).ok_or(Error::AliasNotFound)?;
        self.store()
            .find_domain_alias(&a)
            .await?
            .ok_or(Error::AliasNotFound)
    }

    pub async fn get_domain_alias(&self, id: ObjectId) -> Result<DomainAlias> {
        self.store()
            .get_domain_alias(id)
            .await?
            .ok_or(Error::AliasNotFound)
    }

    pub async fn list_domain_aliases(&self, paging: &Paging) -> Result<Page<DomainAlias>> {
        Ok(self.store().list_domain_aliases(paging).await?)
    }

    pub async fn delete_domain_alias(&self, id: ObjectId) -> Result<()> {
        if self.store().delete_domain_alias(id).await? {
            Ok(())
        } else {
            Err(Error::AliasNotFound)
        }
    }
}
