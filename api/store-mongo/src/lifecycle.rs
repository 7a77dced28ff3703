//! The mail lifecycle on MongoDB: leases (`leases`, one document per name), the
//! archive of deleted messages (`archived`: the message document as it was plus
//! `aid`, the per-user archive id from the user's `archiveSeq`, `archived`, `rdate`,
//! keeping its content reference) and users deleted with a grace period (the user
//! document hidden by `deleted`, its record in `deletedusers`).

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use eider_service::model::{JournalKind, Page, SortOrder, StoredMessage, UidSet};
use eider_service::{
    ArchivePaging, ArchiveStore, ArchivedMessage, DeletedUser, DeletedUserStore, LeaseStore,
    ObjectId, RestoredMessage, RestoredUser, StoreError, StoreResult,
};
use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::ReturnDocument;
use mongodb::ClientSession;

use crate::addresses::{address, address_doc};
use crate::codec::{date, int, oid, DocExt};
use crate::error::{Error, Result};
use crate::journal::{self, Entry};
use crate::mailboxes::{self, Delta};
use crate::messages::{content_counts, meta, retention_expiry};
use crate::names::{ADDRESSES, ARCHIVED, DELETED_USERS, LEASES, MESSAGES, USERS};
use crate::users::user;
use crate::{content, txn, MongoStore};

/// Archive entries purged per transaction.
const PURGE_BATCH: i64 = 200;

fn ttl_ms(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)
}

fn at(ms: i64) -> mongodb::bson::DateTime {
    mongodb::bson::DateTime::from_millis(ms)
}

#[async_trait]
impl LeaseStore for MongoStore {
    async fn try_acquire(&self, name: &str, holder: &str, ttl: Duration) -> StoreResult<bool> {
        let now = Utc::now().timestamp_millis();
        // Matches a lease that is expired or ours; when none matches the upsert tries
        // to insert `name` again, which the unique _id refuses while another holds it.
        let r = self
            .coll(LEASES)
            .update_one(
                doc! { "_id": name, "$or": [ { "expires": { "$lte": at(now) } }, { "holder": holder } ] },
                doc! { "$set": { "holder": holder, "expires": at(now.saturating_add(ttl_ms(ttl))) } },
            )
            .upsert(true)
            .await;
        match r {
            Ok(_) => Ok(true),
            Err(e) => {
                let e = Error::from(e);
                if e.is_duplicate_key() {
                    Ok(false)
                } else {
                    Err(e.into())
                }
            }
        }
    }

    async fn renew(&self, name: &str, holder: &str, ttl: Duration) -> StoreResult<bool> {
        let until = Utc::now().timestamp_millis().saturating_add(ttl_ms(ttl));
        let r = self
            .coll(LEASES)
            .update_one(
                doc! { "_id": name, "holder": holder },
                doc! { "$set": { "expires": at(until) } },
            )
            .await
            .map_err(Error::from)?;
        Ok(r.matched_count == 1)
    }

    async fn release(&self, name: &str, holder: &str) -> StoreResult<bool> {
        let r = self
            .coll(LEASES)
            .delete_one(doc! { "_id": name, "holder": holder })
            .await
            .map_err(Error::from)?;
        Ok(r.deleted_count == 1)
    }
}

/// Move `docs` (message documents of `user`, already counted out of their mailbox by
/// the caller) into the archive, in the caller's transaction.
pub(crate) async fn archive_docs(
    store: &MongoStore,
    s: &mut ClientSession,
    user: ObjectId,
    docs: Vec<Document>,
    archived: DateTime<Utc>,
    purge_after: DateTime<Utc>,
) -> Result<()> {
    if docs.is_empty() {
        return Ok(());
    }
    let n = docs.len() as i64;
    let after = store
        .coll(USERS)
        .find_one_and_update(
            doc! { "_id": oid(user) },
            doc! { "$inc": { "archiveSeq": n } },
        )
        .projection(doc! { "archiveSeq": 1 })
        .return_document(ReturnDocument::After)
        .session(&mut *s)
        .await?
        .ok_or(Error::Store(StoreError::NotFound))?;
    let first = after.i64("archiveSeq")? - n + 1;
    let entries: Vec<Document> = docs
        .into_iter()
        .enumerate()
        .map(|(i, mut d)| {
            // The archive document gets an _id of its own; the message's stays in `mid`.
            if let Some(id) = d.remove("_id") {
                d.insert("mid", id);
            }
            d.insert("_id", oid(ObjectId::new()));
            d.insert("aid", first + i as i64);
            d.insert("archived", date(archived));
            d.insert("rdate", date(purge_after));
            d
        })
        .collect();
    store
        .coll(ARCHIVED)
        .insert_many(entries)
        .session(&mut *s)
        .await?;
    Ok(())
}

impl MongoStore {
    async fn entry(&self, d: &Document) -> Result<ArchivedMessage> {
        let mut m = d.clone();
        if let Some(id) = m.remove("mid") {
            m.insert("_id", id);
        }
        let meta = meta(&m)?;
        let (index, layout, skeleton) = self.load_content(meta.content).await?;
        Ok(ArchivedMessage {
            id: d.u64("aid")?,
            message: StoredMessage {
                meta,
                index,
                layout,
                skeleton,
            },
            archived: d.time("archived")?,
            purge_after: d.time("rdate")?,
        })
    }

    async fn list_archived_inner(
        &self,
        user: ObjectId,
        p: &ArchivePaging,
    ) -> Result<Page<ArchivedMessage>> {
        let total = self
            .coll(ARCHIVED)
            .count_documents(doc! { "user": oid(user) })
            .await?;
        let desc = p.order == SortOrder::Descending;
        let backwards = p.next.is_none() && p.previous.is_some();
        let mut filter = doc! { "user": oid(user) };
        let bound = match (p.next, p.previous) {
            (Some(c), _) => Some((if desc { "$lt" } else { "$gt" }, c)),
            (None, Some(c)) => Some((if desc { "$gt" } else { "$lt" }, c)),
            (None, None) => None,
        };
        if let Some((op, c)) = bound {
            let mut cond = Document::new();
            cond.insert(op, int(c));
            filter.insert("aid", cond);
        }
        let dir = if desc != backwards { -1 } else { 1 };
        // A limit of 0 is no limit to the server too.
        let limit = if p.limit == 0 {
            0
        } else {
            i64::from(p.limit) + 1
        };
        let docs: Vec<Document> = self
            .coll(ARCHIVED)
            .find(filter)
            .sort(doc! { "aid": dir })
            .limit(limit)
            .await?
            .try_collect()
            .await?;
        let mut out = Vec::with_capacity(docs.len());
        for d in &docs {
            out.push(self.entry(d).await?);
        }
        let more = p.limit != 0 && out.len() > p.limit as usize;
        if more {
            out.truncate(p.limit as usize);
        }
        if backwards {
            out.reverse();
        }
        let (has_next, has_prev) = if backwards {
            (true, more)
        } else {
            (more, p.next.is_some())
        };
        Ok(Page {
            next: has_next
                .then(|| out.last().map(|e| e.id.to_string()))
                .flatten(),
            previous: has_prev
                .then(|| out.first().map(|e| e.id.to_string()))
                .flatten(),
            results: out,
            total,
        })
    }

    async fn restore_inner(
        &self,
        user: ObjectId,
        id: u64,
        mailbox: ObjectId,
    ) -> Result<Option<RestoredMessage>> {
        txn!(self, |s| {
            let Some(d) = self
                .coll(ARCHIVED)
                .find_one(doc! { "user": oid(user), "aid": int(id) })
                .session(&mut *s)
                .await?
            else {
                return Ok(None);
            };
            let tgt = mailboxes::require(self, s, mailbox, Some(user)).await?;
            journal::user_doc(self, s, user)
                .await?
                .ok_or(Error::Store(StoreError::NotFound))?;
            let size = d.u64("size")?;
            let (uid, modseq) = mailboxes::apply(
                self,
                s,
                mailbox,
                &Delta {
                    uids: 1,
                    bump: true,
                    total: 1,
                    unseen: i64::from(!d.bool("seen")?),
                    size: int(size),
                },
            )
            .await?;
            let new_id = ObjectId::new();
            let mut m = d.clone();
            for k in ["mid", "aid", "archived", "rdate"] {
                m.remove(k);
            }
            m.insert("_id", oid(new_id));
            m.insert("mailbox", oid(mailbox));
            m.insert("uid", i64::from(uid));
            m.insert("modseq", int(modseq));
            match retention_expiry(tgt.retention, d.time("idate")?) {
                Some(e) => m.insert("exp", date(e)),
                None => m.remove("exp"),
            };
            // The content reference moves back with the document: no refcount change.
            self.coll(MESSAGES).insert_one(m).session(&mut *s).await?;
            self.coll(ARCHIVED)
                .delete_one(doc! { "_id": d.get("_id").cloned().unwrap_or(Bson::Null) })
                .session(&mut *s)
                .await?;
            let entry = Entry::message(
                mailbox,
                modseq,
                JournalKind::Exists,
                uid,
                new_id,
                d.strings("flags")?,
            );
            journal::write(self, s, user, vec![entry], int(size)).await?;
            Ok(Some(RestoredMessage {
                id: new_id,
                mailbox,
                uid,
                modseq,
            }))
        })
    }

    /// Drop archive documents matching `filter` in bounded transactions, releasing
    /// their content; at most `limit` (0: all).
    async fn drop_archived(&self, filter: Document, limit: u64) -> Result<u64> {
        let mut dropped = 0u64;
        loop {
            let batch = if limit == 0 {
                PURGE_BATCH
            } else {
                PURGE_BATCH.min((limit - dropped) as i64)
            };
            if batch <= 0 {
                return Ok(dropped);
            }
            let n: u64 = txn!(self, |s| {
                let docs: Vec<Document> = self
                    .coll(ARCHIVED)
                    .find(filter.clone())
                    .projection(doc! { "_id": 1, "content": 1 })
                    .limit(batch)
                    .session(&mut *s)
                    .await?
                    .stream(&mut *s)
                    .try_collect()
                    .await?;
                if docs.is_empty() {
                    return Ok(0);
                }
                let ids: Vec<Bson> = docs.iter().filter_map(|d| d.get("_id").cloned()).collect();
                self.coll(ARCHIVED)
                    .delete_many(doc! { "_id": { "$in": ids } })
                    .session(&mut *s)
                    .await?;
                for (c, k) in content_counts(&docs)? {
                    content::release(self, s, c, k).await?;
                }
                Ok(docs.len() as u64)
            })?;
            if n == 0 {
                return Ok(dropped);
            }
            dropped += n;
        }
    }

    /// A user's archive and deleted-user record go with the user.
    pub(crate) async fn delete_user_lifecycle(&self, id: ObjectId) -> Result<()> {
        self.drop_archived(doc! { "user": oid(id) }, 0).await?;
        self.coll(DELETED_USERS)
            .delete_one(doc! { "_id": oid(id) })
            .await?;
        Ok(())
    }

    async fn deleted_record(
        &self,
        s: Option<&mut ClientSession>,
        id: ObjectId,
    ) -> Result<Option<DeletedUser>> {
        let (rec, u) = match s {
            Some(s) => {
                let rec = self
                    .coll(DELETED_USERS)
                    .find_one(doc! { "_id": oid(id) })
                    .session(&mut *s)
                    .await?;
                let u = self
                    .coll(USERS)
                    .find_one(doc! { "_id": oid(id) })
                    .session(&mut *s)
                    .await?;
                (rec, u)
            }
            None => {
                let rec = self
                    .coll(DELETED_USERS)
                    .find_one(doc! { "_id": oid(id) })
                    .await?;
                let u = self.coll(USERS).find_one(doc! { "_id": oid(id) }).await?;
                (rec, u)
            }
        };
        let (Some(rec), Some(u)) = (rec, u) else {
            return Ok(None);
        };
        let mut account = user(&u)?;
        account.unameview = rec.str("unameview")?.to_string();
        let addresses = match rec.get("addresses") {
            Some(Bson::Array(a)) => a
                .iter()
                .filter_map(|b| b.as_document())
                .map(address)
                .collect::<Result<Vec<_>>>()?,
            _ => Vec::new(),
        };
        Ok(Some(DeletedUser {
            user: account,
            deleted: rec.time("deleted")?,
            delete_after: rec.time("deleteAfter")?,
            addresses,
        }))
    }

    async fn mark_deleted_inner(
        &self,
        id: ObjectId,
        deleted: DateTime<Utc>,
        delete_after: DateTime<Utc>,
    ) -> Result<Option<DeletedUser>> {
        txn!(self, |s| {
            let Some(u) = self
                .coll(USERS)
                .find_one(doc! { "_id": oid(id), "deleted": Bson::Null })
                .session(&mut *s)
                .await?
            else {
                return Ok(None);
            };
            let account = user(&u)?;
            let docs: Vec<Document> = self
                .coll(ADDRESSES)
                .find(doc! { "user": oid(id) })
                .sort(doc! { "_id": 1 })
                .session(&mut *s)
                .await?
                .stream(&mut *s)
                .try_collect()
                .await?;
            let addresses = docs.iter().map(address).collect::<Result<Vec<_>>>()?;
            let stored = addresses
                .iter()
                .map(address_doc)
                .collect::<Result<Vec<_>>>()?;
            self.coll(DELETED_USERS)
                .replace_one(
                    doc! { "_id": oid(id) },
                    doc! {
                        "_id": oid(id),
                        "unameview": &account.unameview,
                        "deleted": date(deleted),
                        "deleteAfter": date(delete_after),
                        "addresses": stored,
                    },
                )
                .upsert(true)
                .session(&mut *s)
                .await?;
            self.coll(USERS)
                .update_one(
                    doc! { "_id": oid(id) },
                    doc! { "$set": {
                        "deleted": date(deleted),
                        // No username normalizes to this: the name is free meanwhile.
                        "unameview": format!("\u{0}deleted:{}", id.to_hex()),
                    } },
                )
                .session(&mut *s)
                .await?;
            self.coll(ADDRESSES)
                .delete_many(doc! { "user": oid(id) })
                .session(&mut *s)
                .await?;
            Ok(Some(DeletedUser {
                user: account,
                deleted,
                delete_after,
                addresses,
            }))
        })
    }

    async fn restore_user_inner(&self, id: ObjectId) -> Result<Option<RestoredUser>> {
        txn!(self, |s| {
            let Some(d) = self.deleted_record(Some(&mut *s), id).await? else {
                return Ok(None);
            };
            if self
                .coll(USERS)
                .find_one(doc! { "unameview": &d.user.unameview })
                .projection(doc! { "_id": 1 })
                .session(&mut *s)
                .await?
                .is_some()
            {
                return Err(StoreError::Conflict("username").into());
            }
            let (mut recovered, mut lost) = (Vec::new(), Vec::new());
            for a in &d.addresses {
                let taken = self
                    .coll(ADDRESSES)
                    .find_one(doc! { "addrview": &a.addrview })
                    .projection(doc! { "_id": 1 })
                    .session(&mut *s)
                    .await?
                    .is_some();
                if taken {
                    lost.push(a.clone());
                } else {
                    recovered.push(a.clone());
                }
            }
            // As WildDuck: the old main address when it came back, else the first that did.
            let main = recovered
                .iter()
                .find(|a| a.address == d.user.address)
                .or(recovered.first())
                .map(|a| a.address.clone())
                .unwrap_or_default();
            for a in &mut recovered {
                a.main = a.address == main;
            }
            if !recovered.is_empty() {
                let docs = recovered
                    .iter()
                    .map(address_doc)
                    .collect::<Result<Vec<_>>>()?;
                self.coll(ADDRESSES)
                    .insert_many(docs)
                    .session(&mut *s)
                    .await?;
            }
            self.coll(USERS)
                .update_one(
                    doc! { "_id": oid(id) },
                    doc! {
                        "$set": { "unameview": &d.user.unameview, "address": &main },
                        "$unset": { "deleted": "" },
                    },
                )
                .session(&mut *s)
                .await?;
            self.coll(DELETED_USERS)
                .delete_one(doc! { "_id": oid(id) })
                .session(&mut *s)
                .await?;
            let mut account = d.user.clone();
            account.address = main;
            Ok(Some(RestoredUser {
                user: account,
                recovered,
                lost,
            }))
        })
    }
}

#[async_trait]
impl ArchiveStore for MongoStore {
    async fn expunge_archiving(
        &self,
        mailbox: ObjectId,
        uids: &UidSet,
        only_deleted: bool,
        archived: DateTime<Utc>,
        purge_after: DateTime<Utc>,
    ) -> StoreResult<Vec<u32>> {
        Ok(self
            .expunge_inner(mailbox, uids, only_deleted, Some((archived, purge_after)))
            .await?)
    }

    async fn list_archived(
        &self,
        user: ObjectId,
        paging: &ArchivePaging,
    ) -> StoreResult<Page<ArchivedMessage>> {
        Ok(self.list_archived_inner(user, paging).await?)
    }

    async fn get_archived(&self, user: ObjectId, id: u64) -> StoreResult<Option<ArchivedMessage>> {
        let d = self
            .coll(ARCHIVED)
            .find_one(doc! { "user": oid(user), "aid": int(id) })
            .await
            .map_err(Error::from)?;
        match d {
            Some(d) => Ok(Some(self.entry(&d).await?)),
            None => Ok(None),
        }
    }

    async fn archived_between(
        &self,
        user: ObjectId,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<u64>> {
        let docs: Vec<Document> = self
            .coll(ARCHIVED)
            .find(
                doc! { "user": oid(user), "archived": { "$gte": date(start), "$lte": date(end) } },
            )
            .projection(doc! { "aid": 1 })
            .sort(doc! { "archived": 1, "aid": 1 })
            .limit(i64::from(limit))
            .await
            .map_err(Error::from)?
            .try_collect()
            .await
            .map_err(Error::from)?;
        Ok(docs
            .iter()
            .map(|d| d.u64("aid"))
            .collect::<Result<Vec<_>>>()?)
    }

    async fn restore_archived(
        &self,
        user: ObjectId,
        id: u64,
        mailbox: ObjectId,
    ) -> StoreResult<Option<RestoredMessage>> {
        Ok(self.restore_inner(user, id, mailbox).await?)
    }

    async fn purge_archived(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<u64> {
        Ok(self
            .drop_archived(doc! { "rdate": { "$lte": date(now) } }, u64::from(limit))
            .await?)
    }
}

#[async_trait]
impl DeletedUserStore for MongoStore {
    async fn mark_user_deleted(
        &self,
        id: ObjectId,
        deleted: DateTime<Utc>,
        delete_after: DateTime<Utc>,
    ) -> StoreResult<Option<DeletedUser>> {
        Ok(self.mark_deleted_inner(id, deleted, delete_after).await?)
    }

    async fn get_deleted_user(&self, id: ObjectId) -> StoreResult<Option<DeletedUser>> {
        Ok(self.deleted_record(None, id).await?)
    }

    async fn restore_deleted_user(&self, id: ObjectId) -> StoreResult<Option<RestoredUser>> {
        Ok(self.restore_user_inner(id).await?)
    }

    async fn deleted_users_due(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<ObjectId>> {
        let docs: Vec<Document> = self
            .coll(DELETED_USERS)
            .find(doc! { "deleteAfter": { "$lte": date(now) } })
            .projection(doc! { "_id": 1 })
            .sort(doc! { "deleteAfter": 1 })
            .limit(i64::from(limit))
            .await
            .map_err(Error::from)?
            .try_collect()
            .await
            .map_err(Error::from)?;
        Ok(docs
            .iter()
            .map(|d| d.id("_id"))
            .collect::<Result<Vec<_>>>()?)
    }
}
