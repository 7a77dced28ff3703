//! Accounts: creation with address and mailboxes in one transaction, updates,
//! listing, deletion of everything a user owns, quota recount.

use async_trait::async_trait;
use eider_service::model::{Address, Mailbox, Page, User, UserProfile, UserQuery};
use eider_service::{ObjectId, StoreError, StoreResult, UserStore};
use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};

use crate::codec::{date, int, json_text, lowered, oid, DocExt};
use crate::error::{conflict, Error, Result};
use crate::names::{
    ADDRESSES, FILES, MAILBOXES, MESSAGES, SUBSCRIPTIONS, THREADS, THREAD_REFS, USERS,
};
use crate::paging::{all_of, contains, tag_filters};
use crate::{addresses, mailboxes, txn, MongoStore};

fn profile_bson(p: &UserProfile) -> Result<Bson> {
    mongodb::bson::to_bson(p).map_err(|e| Error::corrupt(format!("profile: {e}")))
}

/// The mutable fields, as `$set` takes them.
fn mutable_fields(u: &User) -> Result<Document> {
    Ok(doc! {
        "username": &u.username,
        "unameview": &u.unameview,
        "name": u.name.as_deref().map_or(Bson::Null, |n| Bson::String(n.to_string())),
        "address": &u.address,
        "password": u.password.as_deref().map_or(Bson::Null, |p| Bson::String(p.to_string())),
        "quota": int(u.quota),
        "disabled": u.disabled,
        "suspended": u.suspended,
        "tags": &u.tags,
        "tagsview": lowered(&u.tags),
        "metaData": json_text(&u.meta_data)?,
        "internalData": json_text(&u.internal_data)?,
        "profile": profile_bson(&u.profile)?,
    })
}

pub(crate) fn user(d: &Document) -> Result<User> {
    let profile = match d.get("profile") {
        Some(b @ Bson::Document(_)) => mongodb::bson::from_bson(b.clone())
            .map_err(|e| Error::corrupt(format!("profile: {e}")))?,
        _ => UserProfile::default(),
    };
    Ok(User {
        id: d.id("_id")?,
        username: d.str("username")?.to_string(),
        unameview: d.str("unameview")?.to_string(),
        name: d.opt_str("name")?,
        address: d.opt_str("address")?.unwrap_or_default(),
        password: d.opt_str("password")?,
        quota: d.u64("quota")?,
        storage_used: d.opt_i64("storageUsed")?.unwrap_or(0).max(0) as u64,
        disabled: d.bool("disabled")?,
        suspended: d.bool("suspended")?,
        tags: d.strings("tags")?,
        meta_data: d.json("metaData")?,
        internal_data: d.json("internalData")?,
        profile,
        created: d.time("created")?,
    })
}

impl MongoStore {
    async fn create_user_inner(
        &self,
        u: &User,
        address: Option<&Address>,
        boxes: &[Mailbox],
    ) -> Result<()> {
        let mut d = mutable_fields(u)?;
        d.insert("_id", oid(u.id));
        d.insert("storageUsed", 0i64);
        d.insert("created", date(u.created));
        txn!(self, |s| {
            let users = self.coll(USERS);
            if users
                .find_one(doc! { "unameview": &u.unameview })
                .session(&mut *s)
                .await?
                .is_some()
            {
                return Err(StoreError::Conflict("username").into());
            }
            if let Some(a) = address {
                if self
                    .coll(ADDRESSES)
                    .find_one(doc! { "addrview": &a.addrview })
                    .session(&mut *s)
                    .await?
                    .is_some()
                {
                    return Err(StoreError::Conflict("address").into());
                }
            }
            users
                .insert_one(d.clone())
                .session(&mut *s)
                .await
                .map_err(|e| conflict(e, "username"))?;
            if let Some(a) = address {
                self.coll(ADDRESSES)
                    .insert_one(addresses::address_doc(a)?)
                    .session(&mut *s)
                    .await
                    .map_err(|e| conflict(e, "address"))?;
            }
            if !boxes.is_empty() {
                let docs = boxes.iter().map(mailboxes::mailbox_doc).collect::<Vec<_>>();
                self.coll(MAILBOXES)
                    .insert_many(docs)
                    .session(&mut *s)
                    .await
                    .map_err(|e| conflict(e, "path"))?;
                let subs: Vec<Document> = boxes
                    .iter()
                    .filter(|m| m.subscribed)
                    .map(|m| doc! { "user": oid(m.user), "path": &m.path })
                    .collect();
                if !subs.is_empty() {
                    self.coll(SUBSCRIPTIONS)
                        .insert_many(subs)
                        .session(&mut *s)
                        .await?;
                }
            }
            Ok(())
        })
    }

    async fn delete_user_inner(&self, id: ObjectId) -> Result<bool> {
        // First the records that make the account visible, atomically; then the
        // messages, mailbox by mailbox in bounded transactions; then the history.
        let boxes: Option<Vec<ObjectId>> = txn!(self, |s| {
            let users = self.coll(USERS);
            if users
                .find_one(doc! { "_id": oid(id) })
                .projection(doc! { "_id": 1 })
                .session(&mut *s)
                .await?
                .is_none()
            {
                return Ok(None);
            }
            let docs: Vec<Document> = self
                .coll(MAILBOXES)
                .find(doc! { "user": oid(id) })
                .projection(doc! { "_id": 1 })
                .session(&mut *s)
                .await?
                .stream(&mut *s)
                .try_collect()
                .await?;
            let boxes = docs
                .iter()
                .map(|d| d.id("_id"))
                .collect::<Result<Vec<_>>>()?;
            self.coll(MAILBOXES)
                .delete_many(doc! { "user": oid(id) })
                .session(&mut *s)
                .await?;
            self.coll(ADDRESSES)
                .delete_many(doc! { "user": oid(id) })
                .session(&mut *s)
                .await?;
            users
                .delete_one(doc! { "_id": oid(id) })
                .session(&mut *s)
                .await?;
            Ok(Some(boxes))
        })?;
        let Some(boxes) = boxes else {
            return Ok(false);
        };
        for m in boxes {
            self.remove_all(m, None).await?;
        }
        for coll in [THREADS, THREAD_REFS, SUBSCRIPTIONS] {
            self.coll(coll)
                .delete_many(doc! { "user": oid(id) })
                .await?;
        }
        self.delete_user_rules(id).await?;
        self.delete_user_register(id).await?;
        self.delete_user_files(id).await?;
        self.delete_user_lifecycle(id).await?;
        self.delete_metadata(id, None).await?;
        self.journal_delete(doc! { "user": oid(id) }).await?;
        Ok(true)
    }

    async fn list_users_inner(&self, q: &UserQuery) -> Result<Page<User>> {
        // Users deleted with a grace period are invisible (see lifecycle.rs).
        let mut conds = vec![doc! { "deleted": Bson::Null }];
        if let Some(text) = q.query.as_deref().filter(|t| !t.is_empty()) {
            conds.push(doc! { "$or": [contains("username", text), contains("address", text)] });
        }
        if let Some(text) = q.forward.as_deref().filter(|t| !t.is_empty()) {
            // An array field matches when one of its elements does.
            conds.push(contains("profile.targets", text));
        }
        tag_filters(&mut conds, &q.tags, &q.required_tags);
        self.page(USERS, all_of(conds), &q.paging, user, |u| u.id)
            .await
    }

    async fn recalculate_inner(&self, id: ObjectId) -> Result<u64> {
        txn!(self, |s| {
            if crate::journal::user_doc(self, s, id).await?.is_none() {
                return Err(StoreError::NotFound.into());
            }
            // Messages and storage files both count.
            let mut used = 0i64;
            for coll in [MESSAGES, FILES] {
                let rows: Vec<Document> = self
                    .coll(coll)
                    .aggregate(vec![
                        doc! { "$match": { "user": oid(id) } },
                        doc! { "$group": { "_id": Bson::Null, "size": { "$sum": "$size" } } },
                    ])
                    .session(&mut *s)
                    .await?
                    .stream(&mut *s)
                    .try_collect()
                    .await?;
                if let Some(d) = rows.first() {
                    used += d.i64("size")?.max(0);
                }
            }
            self.coll(USERS)
                .update_one(
                    doc! { "_id": oid(id) },
                    doc! { "$set": { "storageUsed": used } },
                )
                .session(&mut *s)
                .await?;
            Ok(used as u64)
        })
    }
}

#[async_trait]
impl UserStore for MongoStore {
    async fn create_user(
        &self,
        user: &User,
        address: Option<&Address>,
        mailboxes: &[Mailbox],
    ) -> StoreResult<()> {
        Ok(self.create_user_inner(user, address, mailboxes).await?)
    }

    async fn get_user(&self, id: ObjectId) -> StoreResult<Option<User>> {
        let d = self
            .coll(USERS)
            .find_one(doc! { "_id": oid(id) })
            .await
            .map_err(Error::from)?
            // By `_id` alone: SecantusDB scans the collection when `_id` comes with
            // another predicate (see docs/scale-out.md).
            .filter(|d| matches!(d.get("deleted"), None | Some(Bson::Null)));
        Ok(d.as_ref().map(user).transpose()?)
    }

    async fn find_user_by_unameview(&self, unameview: &str) -> StoreResult<Option<User>> {
        let d = self
            .coll(USERS)
            .find_one(doc! { "unameview": unameview, "deleted": Bson::Null })
            .await
            .map_err(Error::from)?;
        Ok(d.as_ref().map(user).transpose()?)
    }

    async fn update_user(&self, u: &User) -> StoreResult<()> {
        let set = mutable_fields(u)?;
        let r = self
            .coll(USERS)
            .update_one(doc! { "_id": oid(u.id) }, doc! { "$set": set })
            .await
            .map_err(|e| conflict(e, "username"))?;
        if r.matched_count == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_user(&self, id: ObjectId) -> StoreResult<bool> {
        Ok(self.delete_user_inner(id).await?)
    }

    async fn list_users(&self, query: &UserQuery) -> StoreResult<Page<User>> {
        Ok(self.list_users_inner(query).await?)
    }

    async fn recalculate_storage(&self, user: ObjectId) -> StoreResult<u64> {
        Ok(self.recalculate_inner(user).await?)
    }
}
