//! Filters and autoreplies: per-user delivery rules. A filter's query and action are
//! kept as JSON text (read whole by delivery and the API), with the forwarding
//! targets copied into `fwd` for GET /filters?forward=. One autoreply per user,
//! keyed by the user's id.

use async_trait::async_trait;
use eider_service::model::Page;
use eider_service::{
    Autoreply, Filter, FilterSearch, FilterStore, ObjectId, StoreError, StoreResult,
};
use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};

use crate::codec::{date, json_text, oid, DocExt};
use crate::error::{Error, Result};
use crate::names::{AUTOREPLIES, FILTERS, USERS};
use crate::paging::{all_of, literal_contains_cs};
use crate::{txn, MongoStore};

fn opt_str(v: &Option<String>) -> Bson {
    v.as_deref()
        .map_or(Bson::Null, |s| Bson::String(s.to_string()))
}

fn mutable_fields(f: &Filter) -> Result<Document> {
    Ok(doc! {
        "name": opt_str(&f.name),
        "query": json_text(&f.query)?,
        "action": json_text(&f.action)?,
        "fwd": f.action.targets.clone(),
        "disabled": f.disabled,
        "metaData": json_text(&f.meta_data)?,
    })
}

fn filter(d: &Document) -> Result<Filter> {
    Ok(Filter {
        id: d.id("_id")?,
        user: d.id("user")?,
        name: d.opt_str("name")?,
        query: d.json("query")?,
        action: d.json("action")?,
        disabled: d.bool("disabled")?,
        meta_data: d.json("metaData")?,
        created: d.time("created")?,
    })
}

fn autoreply(d: &Document) -> Result<Autoreply> {
    Ok(Autoreply {
        id: d.opt_id("id")?,
        status: d.bool("status")?,
        name: d.opt_str("name")?,
        subject: d.opt_str("subject")?,
        text: d.opt_str("text")?,
        html: d.opt_str("html")?,
        start: d.opt_time("start")?,
        end: d.opt_time("end")?,
        created: d.opt_time("created")?,
    })
}

fn opt_date(v: Option<chrono::DateTime<chrono::Utc>>) -> Bson {
    v.map_or(Bson::Null, |t| Bson::DateTime(date(t)))
}

impl MongoStore {
    async fn create_filter_inner(&self, f: &Filter, max: u64) -> Result<()> {
        let mut d = mutable_fields(f)?;
        d.insert("_id", oid(f.id));
        d.insert("user", oid(f.user));
        d.insert("created", date(f.created));
        txn!(self, |s| {
            // Writing the user's document serializes concurrent creations, so the
            // count below cannot be passed by two of them at once.
            let r = self
                .coll(USERS)
                .update_one(
                    doc! { "_id": oid(f.user) },
                    doc! { "$inc": { "filterWrites": 1i64 } },
                )
                .session(&mut *s)
                .await?;
            if r.matched_count == 0 {
                return Err(StoreError::NotFound.into());
            }
            let n = self
                .coll(FILTERS)
                .count_documents(doc! { "user": oid(f.user) })
                .session(&mut *s)
                .await?;
            if n >= max {
                return Err(StoreError::LimitReached("filters").into());
            }
            self.coll(FILTERS)
                .insert_one(d.clone())
                .session(&mut *s)
                .await?;
            Ok(())
        })
    }

    async fn set_autoreply_inner(&self, user: ObjectId, a: &Autoreply) -> Result<ObjectId> {
        let id = a.id.unwrap_or_default();
        txn!(self, |s| {
            if self
                .coll(USERS)
                .find_one(doc! { "_id": oid(user) })
                .projection(doc! { "_id": 1 })
                .session(&mut *s)
                .await?
                .is_none()
            {
                return Err(StoreError::NotFound.into());
            }
            let stored = self
                .coll(AUTOREPLIES)
                .find_one_and_update(
                    doc! { "_id": oid(user) },
                    doc! {
                        "$set": {
                            "status": a.status,
                            "name": opt_str(&a.name),
                            "subject": opt_str(&a.subject),
                            "text": opt_str(&a.text),
                            "html": opt_str(&a.html),
                            "start": opt_date(a.start),
                            "end": opt_date(a.end),
                            "created": opt_date(a.created),
                        },
                        "$setOnInsert": { "id": oid(id) },
                    },
                )
                .upsert(true)
                .return_document(mongodb::options::ReturnDocument::After)
                .session(&mut *s)
                .await?
                .ok_or_else(|| Error::corrupt("autoreply upsert returned nothing"))?;
            stored.id("id")
        })
    }

    /// Remove a user's delivery rules (part of deleting the user).
    pub(crate) async fn delete_user_rules(&self, user: ObjectId) -> Result<()> {
        self.coll(FILTERS)
            .delete_many(doc! { "user": oid(user) })
            .await?;
        self.coll(AUTOREPLIES)
            .delete_one(doc! { "_id": oid(user) })
            .await?;
        Ok(())
    }
}

#[async_trait]
impl FilterStore for MongoStore {
    async fn create_filter(&self, filter: &Filter, max: u64) -> StoreResult<()> {
        Ok(self.create_filter_inner(filter, max).await?)
    }

    async fn get_filter(&self, user: ObjectId, id: ObjectId) -> StoreResult<Option<Filter>> {
        let d = self
            .coll(FILTERS)
            .find_one(doc! { "_id": oid(id), "user": oid(user) })
            .await
            .map_err(Error::from)?;
        Ok(d.as_ref().map(filter).transpose()?)
    }

    async fn list_user_filters(&self, user: ObjectId) -> StoreResult<Vec<Filter>> {
        let docs: Vec<Document> = self
            .coll(FILTERS)
            .find(doc! { "user": oid(user) })
            .sort(doc! { "_id": 1 })
            .await
            .map_err(Error::from)?
            .try_collect()
            .await
            .map_err(Error::from)?;
        Ok(docs.iter().map(filter).collect::<Result<Vec<_>>>()?)
    }

    async fn count_user_filters(&self, user: ObjectId) -> StoreResult<u64> {
        Ok(self
            .coll(FILTERS)
            .count_documents(doc! { "user": oid(user) })
            .await
            .map_err(Error::from)?)
    }

    async fn list_filters(&self, search: &FilterSearch) -> StoreResult<Page<Filter>> {
        let mut conds = Vec::new();
        if let Some(u) = search.user {
            conds.push(doc! { "user": oid(u) });
        }
        if let Some(text) = search.forward.as_deref().filter(|t| !t.is_empty()) {
            conds.push(literal_contains_cs("fwd", text));
        }
        Ok(self
            .page(FILTERS, all_of(conds), &search.paging, filter, |f| f.id)
            .await?)
    }

    async fn update_filter(&self, f: &Filter) -> StoreResult<bool> {
        let set = mutable_fields(f)?;
        let r = self
            .coll(FILTERS)
            .update_one(
                doc! { "_id": oid(f.id), "user": oid(f.user) },
                doc! { "$set": set },
            )
            .await
            .map_err(Error::from)?;
        Ok(r.matched_count > 0)
    }

    async fn delete_filter(&self, user: ObjectId, id: ObjectId) -> StoreResult<bool> {
        let r = self
            .coll(FILTERS)
            .delete_one(doc! { "_id": oid(id), "user": oid(user) })
            .await
            .map_err(Error::from)?;
        Ok(r.deleted_count > 0)
    }

    async fn get_autoreply(&self, user: ObjectId) -> StoreResult<Option<Autoreply>> {
        let d = self
            .coll(AUTOREPLIES)
            .find_one(doc! { "_id": oid(user) })
            .await
            .map_err(Error::from)?;
        Ok(d.as_ref().map(autoreply).transpose()?)
    }

    async fn set_autoreply(&self, user: ObjectId, a: &Autoreply) -> StoreResult<ObjectId> {
        Ok(self.set_autoreply_inner(user, a).await?)
    }

    async fn delete_autoreply(&self, user: ObjectId) -> StoreResult<bool> {
        let r = self
            .coll(AUTOREPLIES)
            .delete_one(doc! { "_id": oid(user) })
            .await
            .map_err(Error::from)?;
        Ok(r.deleted_count > 0)
    }
}
