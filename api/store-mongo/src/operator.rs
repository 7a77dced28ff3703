//! Operator records: `settings` (WildDuck's: the value JSON-encoded), `domainaccess`
//! (unique on tagview + domain) and `webhooks` (type patterns as an array).

use async_trait::async_trait;
use eider_service::model::Page;
use eider_service::{
    DomainAccess, DomainAccessStore, DomainAction, ObjectId, SettingsStore, StoreResult,
    StoredSetting, Webhook, WebhookQuery, WebhookStore,
};
use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::ReturnDocument;

use crate::codec::{date, json_text, oid, DocExt};
use crate::error::{Error, Result};
use crate::names::{DOMAIN_ACCESS, SETTINGS, WEBHOOKS};
use crate::MongoStore;

#[async_trait]
impl SettingsStore for MongoStore {
    async fn list_settings(&self) -> StoreResult<Vec<StoredSetting>> {
        let docs: Vec<Document> = self
            .coll(SETTINGS)
            .find(doc! {})
            .sort(doc! { "key": 1 })
            .await
            .map_err(Error::from)?
            .try_collect()
            .await
            .map_err(Error::from)?;
        let mut out = Vec::with_capacity(docs.len());
        for d in &docs {
            out.push(StoredSetting {
                key: d.str("key")?.to_string(),
                value: d.json("value")?,
            });
        }
        Ok(out)
    }

    async fn set_setting(&self, key: &str, value: &serde_json::Value) -> StoreResult<()> {
        self.coll(SETTINGS)
            .update_one(
                doc! { "key": key },
                doc! {
                    "$set": { "value": json_text(value)?, "encrypted": false },
                    "$setOnInsert": { "created": date(chrono::Utc::now()), "enumerable": true },
                },
            )
            .upsert(true)
            .await
            .map_err(Error::from)?;
        Ok(())
    }
}

fn access(d: &Document) -> Result<DomainAccess> {
    Ok(DomainAccess {
        id: d.id("_id")?,
        tag: d.str("tag")?.to_string(),
        tagview: d.str("tagview")?.to_string(),
        domain: d.str("domain")?.to_string(),
        action: DomainAction::parse(d.str("action")?)
            .ok_or_else(|| Error::corrupt("unknown domain access action"))?,
        created: d.time("created")?,
    })
}

async fn collect(cursor: mongodb::Cursor<Document>) -> Result<Vec<Document>> {
    Ok(cursor.try_collect().await?)
}

#[async_trait]
impl DomainAccessStore for MongoStore {
    async fn upsert_domain_access(&self, e: &DomainAccess) -> StoreResult<DomainAccess> {
        let found = self
            .coll(DOMAIN_ACCESS)
            .find_one_and_update(
                doc! { "tagview": &e.tagview, "domain": &e.domain },
                doc! {
                    "$set": { "action": e.action.as_str() },
                    "$setOnInsert": {
                        "_id": oid(e.id),
                        "tag": &e.tag,
                        "created": date(e.created),
                    },
                },
            )
            .upsert(true)
            .return_document(ReturnDocument::After)
            .await
            .map_err(Error::from)?
            .ok_or_else(|| Error::corrupt("upserted domain access not returned"))?;
        Ok(access(&found)?)
    }

    async fn list_domain_access(
        &self,
        tagview: &str,
        action: DomainAction,
    ) -> StoreResult<Vec<DomainAccess>> {
        let cursor = self
            .coll(DOMAIN_ACCESS)
            .find(doc! { "tagview": tagview, "action": action.as_str() })
            .sort(doc! { "domain": 1 })
            .await
            .map_err(Error::from)?;
        let docs = collect(cursor).await?;
        Ok(docs.iter().map(access).collect::<Result<Vec<_>>>()?)
    }

    async fn get_domain_access(&self, id: ObjectId) -> StoreResult<Option<DomainAccess>> {
        let found = self
            .coll(DOMAIN_ACCESS)
            .find_one(doc! { "_id": oid(id) })
            .await
            .map_err(Error::from)?;
        Ok(found.as_ref().map(access).transpose()?)
    }

    async fn delete_domain_access(&self, id: ObjectId) -> StoreResult<bool> {
        let r = self
            .coll(DOMAIN_ACCESS)
            .delete_one(doc! { "_id": oid(id) })
            .await
            .map_err(Error::from)?;
        Ok(r.deleted_count > 0)
    }

    async fn match_domain_access(
        &self,
        tagviews: &[String],
        domains: &[String],
    ) -> StoreResult<Vec<DomainAccess>> {
        if tagviews.is_empty() || domains.is_empty() {
            return Ok(Vec::new());
        }
        let cursor = self
            .coll(DOMAIN_ACCESS)
            .find(doc! { "domain": { "$in": domains }, "tagview": { "$in": tagviews } })
            .sort(doc! { "_id": 1 })
            .await
            .map_err(Error::from)?;
        let docs = collect(cursor).await?;
        Ok(docs.iter().map(access).collect::<Result<Vec<_>>>()?)
    }
}

fn hook(d: &Document) -> Result<Webhook> {
    Ok(Webhook {
        id: d.id("_id")?,
        types: d.strings("type")?,
        user: d.opt_id("user")?,
        url: d.str("url")?.to_string(),
        created: d.time("created")?,
    })
}

#[async_trait]
impl WebhookStore for MongoStore {
    async fn create_webhook(&self, h: &Webhook) -> StoreResult<()> {
        self.coll(WEBHOOKS)
            .insert_one(doc! {
                "_id": oid(h.id),
                "type": &h.types,
                "user": h.user.map_or(Bson::Null, |u| Bson::ObjectId(oid(u))),
                "url": &h.url,
                "created": date(h.created),
            })
            .await
            .map_err(Error::from)?;
        Ok(())
    }

    async fn get_webhook(&self, id: ObjectId) -> StoreResult<Option<Webhook>> {
        let found = self
            .coll(WEBHOOKS)
            .find_one(doc! { "_id": oid(id) })
            .await
            .map_err(Error::from)?;
        Ok(found.as_ref().map(hook).transpose()?)
    }

    async fn delete_webhook(&self, id: ObjectId) -> StoreResult<bool> {
        let r = self
            .coll(WEBHOOKS)
            .delete_one(doc! { "_id": oid(id) })
            .await
            .map_err(Error::from)?;
        Ok(r.deleted_count > 0)
    }

    async fn list_webhooks(&self, q: &WebhookQuery) -> StoreResult<Page<Webhook>> {
        let mut filter = Document::new();
        if let Some(user) = q.user {
            filter.insert("user", oid(user));
        }
        if let Some(p) = &q.pattern {
            filter.insert("type", p.as_str());
        }
        Ok(self
            .page(WEBHOOKS, filter, &q.paging, hook, |h| h.id)
            .await?)
    }

    async fn matching_webhooks(
        &self,
        patterns: &[String],
        user: Option<ObjectId>,
    ) -> StoreResult<Vec<Webhook>> {
        if patterns.is_empty() {
            return Ok(Vec::new());
        }
        let mut filter = doc! { "type": { "$in": patterns } };
        if let Some(u) = user {
            filter.insert("user", doc! { "$in": [Bson::ObjectId(oid(u)), Bson::Null] });
        }
        let cursor = self
            .coll(WEBHOOKS)
            .find(filter)
            .sort(doc! { "_id": 1 })
            .await
            .map_err(Error::from)?;
        let docs = collect(cursor).await?;
        Ok(docs.iter().map(hook).collect::<Result<Vec<_>>>()?)
    }
}
