//! Addresses (a user's, or forwarded ones with no user) and domain aliases.

use async_trait::async_trait;
use eider_service::model::{Address, AddressQuery, DomainAlias, Page, Paging};
use eider_service::{AddressStore, ObjectId, StoreError, StoreResult};
use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::ClientSession;

use crate::codec::{date, int, json_text, lowered, oid, DocExt};
use crate::error::{conflict, Error, Result};
use crate::names::{ADDRESSES, DOMAIN_ALIASES, USERS};
use crate::paging::{all_of, contains, tag_filters};
use crate::{txn, MongoStore};

fn mutable_fields(a: &Address) -> Result<Document> {
    Ok(doc! {
        "address": &a.address,
        "addrview": &a.addrview,
        "name": a.name.as_deref().map_or(Bson::Null, |n| Bson::String(n.to_string())),
        "main": a.main,
        "tags": &a.tags,
        "tagsview": lowered(&a.tags),
        "targets": &a.targets,
        "forwards": a.forwards.map_or(Bson::Null, |f| Bson::Int64(int(f))),
        "metaData": json_text(&a.meta_data)?,
        "internalData": json_text(&a.internal_data)?,
    })
}

pub(crate) fn address_doc(a: &Address) -> Result<Document> {
    let mut d = mutable_fields(a)?;
    d.insert("_id", oid(a.id));
    d.insert(
        "user",
        a.user.map_or(Bson::Null, |u| Bson::ObjectId(oid(u))),
    );
    d.insert("created", date(a.created));
    Ok(d)
}

pub(crate) fn address(d: &Document) -> Result<Address> {
    Ok(Address {
        id: d.id("_id")?,
        user: d.opt_id("user")?,
        address: d.str("address")?.to_string(),
        addrview: d.str("addrview")?.to_string(),
        name: d.opt_str("name")?,
        main: d.bool("main")?,
        tags: d.strings("tags")?,
        targets: d.strings("targets")?,
        forwards: d.opt_i64("forwards")?.map(|v| v.max(0) as u64),
        meta_data: d.json("metaData")?,
        internal_data: d.json("internalData")?,
        created: d.time("created")?,
    })
}

fn alias(d: &Document) -> Result<DomainAlias> {
    Ok(DomainAlias {
        id: d.id("_id")?,
        alias: d.str("alias")?.to_string(),
        domain: d.str("domain")?.to_string(),
        created: d.time("created")?,
    })
}

/// Make `a` its user's only main address and the user's displayed address.
async fn promote_main(store: &MongoStore, s: &mut ClientSession, a: &Address) -> Result<()> {
    let Some(user) = a.user else {
        return Ok(());
    };
    store
        .coll(ADDRESSES)
        .update_many(
            doc! { "user": oid(user), "_id": { "$ne": oid(a.id) } },
            doc! { "$set": { "main": false } },
        )
        .session(&mut *s)
        .await?;
    store
        .coll(USERS)
        .update_one(
            doc! { "_id": oid(user) },
            doc! { "$set": { "address": &a.address } },
        )
        .session(&mut *s)
        .await?;
    Ok(())
}

impl MongoStore {
    async fn create_address_inner(&self, a: &Address) -> Result<()> {
        let d = address_doc(a)?;
        txn!(self, |s| {
            if self
                .coll(ADDRESSES)
                .find_one(doc! { "addrview": &a.addrview })
                .session(&mut *s)
                .await?
                .is_some()
            {
                return Err(StoreError::Conflict("address").into());
            }
            if let Some(u) = a.user {
                if self
                    .coll(USERS)
                    .find_one(doc! { "_id": oid(u) })
                    .projection(doc! { "_id": 1 })
                    .session(&mut *s)
                    .await?
                    .is_none()
                {
                    return Err(StoreError::NotFound.into());
                }
            }
            self.coll(ADDRESSES)
                .insert_one(d.clone())
                .session(&mut *s)
                .await
                .map_err(|e| conflict(e, "address"))?;
            if a.main {
                promote_main(self, s, a).await?;
            }
            Ok(())
        })
    }

    async fn update_address_inner(&self, a: &Address) -> Result<()> {
        let set = mutable_fields(a)?;
        txn!(self, |s| {
            let stored = self
                .coll(ADDRESSES)
                .find_one_and_update(doc! { "_id": oid(a.id) }, doc! { "$set": set.clone() })
                .return_document(mongodb::options::ReturnDocument::After)
                .session(&mut *s)
                .await
                .map_err(|e| conflict(e, "address"))?
                .ok_or(Error::Store(StoreError::NotFound))?;
            if a.main {
                // The stored document decides whose address it is, not the caller's copy.
                promote_main(self, s, &address(&stored)?).await?;
            }
            Ok(())
        })
    }
}

#[async_trait]
impl AddressStore for MongoStore {
    async fn create_address(&self, address: &Address) -> StoreResult<()> {
        Ok(self.create_address_inner(address).await?)
    }

    async fn get_address(&self, id: ObjectId) -> StoreResult<Option<Address>> {
        let d = self
            .coll(ADDRESSES)
            .find_one(doc! { "_id": oid(id) })
            .await
            .map_err(Error::from)?;
        Ok(d.as_ref().map(address).transpose()?)
    }

    async fn find_address(&self, addrview: &str) -> StoreResult<Option<Address>> {
        let d = self
            .coll(ADDRESSES)
            .find_one(doc! { "addrview": addrview })
            .await
            .map_err(Error::from)?;
        Ok(d.as_ref().map(address).transpose()?)
    }

    async fn list_user_addresses(&self, user: ObjectId) -> StoreResult<Vec<Address>> {
        let docs: Vec<Document> = self
            .coll(ADDRESSES)
            .find(doc! { "user": oid(user) })
            .sort(doc! { "_id": 1 })
            .await
            .map_err(Error::from)?
            .try_collect()
            .await
            .map_err(Error::from)?;
        Ok(docs.iter().map(address).collect::<Result<Vec<_>>>()?)
    }

    async fn list_addresses(&self, q: &AddressQuery) -> StoreResult<Page<Address>> {
        let mut conds = Vec::new();
        if let Some(text) = q.query.as_deref().filter(|t| !t.is_empty()) {
            conds.push(contains("address", text));
        }
        if q.forwarded_only {
            conds.push(doc! { "user": Bson::Null });
        }
        if let Some(user) = q.user {
            conds.push(doc! { "user": oid(user) });
        }
        if let Some(text) = q.forward.as_deref().filter(|t| !t.is_empty()) {
            conds.push(contains("targets", text));
        }
        tag_filters(&mut conds, &q.tags, &q.required_tags);
        Ok(self
            .page(ADDRESSES, all_of(conds), &q.paging, address, |a| a.id)
            .await?)
    }

    async fn update_address(&self, address: &Address) -> StoreResult<()> {
        Ok(self.update_address_inner(address).await?)
    }

    async fn delete_address(&self, id: ObjectId) -> StoreResult<bool> {
        let r = self
            .coll(ADDRESSES)
            .delete_one(doc! { "_id": oid(id) })
            .await
            .map_err(Error::from)?;
        Ok(r.deleted_count > 0)
    }

    async fn create_domain_alias(&self, a: &DomainAlias) -> StoreResult<()> {
        self.coll(DOMAIN_ALIASES)
            .insert_one(doc! {
                "_id": oid(a.id),
                "alias": &a.alias,
                "domain": &a.domain,
                "created": date(a.created),
            })
            .await
            .map_err(|e| conflict(e, "alias"))?;
        Ok(())
    }

    async fn find_domain_alias(&self, name: &str) -> StoreResult<Option<DomainAlias>> {
        let d = self
            .coll(DOMAIN_ALIASES)
            .find_one(doc! { "alias": name })
            .await
            .map_err(Error::from)?;
        Ok(d.as_ref().map(alias).transpose()?)
    }

    async fn get_domain_alias(&self, id: ObjectId) -> StoreResult<Option<DomainAlias>> {
        let d = self
            .coll(DOMAIN_ALIASES)
            .find_one(doc! { "_id": oid(id) })
            .await
            .map_err(Error::from)?;
        Ok(d.as_ref().map(alias).transpose()?)
    }

    async fn list_domain_aliases(&self, paging: &Paging) -> StoreResult<Page<DomainAlias>> {
        Ok(self
            .page(DOMAIN_ALIASES, Document::new(), paging, alias, |a| a.id)
            .await?)
    }

    async fn delete_domain_alias(&self, id: ObjectId) -> StoreResult<bool> {
        let r = self
            .coll(DOMAIN_ALIASES)
            .delete_one(doc! { "_id": oid(id) })
            .await
            .map_err(Error::from)?;
        Ok(r.deleted_count > 0)
    }
}
