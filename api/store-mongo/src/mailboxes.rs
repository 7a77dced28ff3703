//! Folders: creation, renames (several at once), settings, deletion with their
//! messages, and the counters kept on the mailbox document (`total`, `unseen`,
//! `size`), which every message change updates in the same transaction.
//!
//! Subscriptions are their own collection (`user`, `path`), so that a name outlives
//! its mailbox (RFC 3501 6.3.6). The mailbox document's `subscribed` (WildDuck's
//! field) mirrors whether its path is there and is written in the same transaction
//! as the subscription, so that reading a mailbox costs no second query.

use async_trait::async_trait;
use eider_service::model::{JournalKind, Mailbox, MailboxCounters, SpecialUse};
use eider_service::{MailboxStore, ObjectId, StoreError, StoreResult};
use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::ReturnDocument;
use mongodb::ClientSession;

use crate::codec::{date, int, oid, DocExt};
use crate::error::{conflict, only_duplicates, Error, Result};
use crate::journal::{self, Entry};
use crate::names::{COUNTERS, MAILBOXES, SUBSCRIPTIONS};
use crate::{txn, MongoStore};

pub(crate) fn mailbox_doc(m: &Mailbox) -> Document {
    doc! {
        "_id": oid(m.id),
        "user": oid(m.user),
        "path": &m.path,
        "specialUse": m.special_use.map_or(Bson::Null, |s| Bson::String(s.as_str().into())),
        "uidValidity": i64::from(m.uid_validity),
        "uidNext": i64::from(m.uid_next.max(1)),
        "modifyIndex": int(m.modify_index),
        "subscribed": m.subscribed,
        "retention": int(m.retention),
        "hidden": m.hidden,
        "created": date(m.created),
        "total": 0i64,
        "unseen": 0i64,
        "size": 0i64,
    }
}

pub(crate) fn mailbox(d: &Document) -> Result<Mailbox> {
    Ok(Mailbox {
        id: d.id("_id")?,
        user: d.id("user")?,
        path: d.str("path")?.to_string(),
        special_use: d
            .opt_str("specialUse")?
            .as_deref()
            .and_then(SpecialUse::parse),
        uid_validity: d.u32("uidValidity")?,
        uid_next: d.u32("uidNext")?,
        modify_index: d.u64("modifyIndex")?,
        subscribed: d.bool("subscribed")?,
        retention: d.u64("retention")?,
        hidden: d.bool("hidden")?,
        created: d.time("created")?,
    })
}

/// What message writes need from a mailbox document.
pub(crate) struct State {
    pub(crate) user: ObjectId,
    pub(crate) uid_validity: u32,
    pub(crate) modify_index: u64,
    pub(crate) retention: u64,
}

/// The mailbox's state read in the transaction; NotFound when it does not exist
/// (or is not `user`'s).
pub(crate) async fn require(
    store: &MongoStore,
    s: &mut ClientSession,
    id: ObjectId,
    user: Option<ObjectId>,
) -> Result<State> {
    // By `_id` alone, then the owner: SecantusDB scans the collection when `_id`
    // comes with another predicate.
    let d = store
        .coll(MAILBOXES)
        .find_one(doc! { "_id": oid(id) })
        .projection(doc! { "user": 1, "uidValidity": 1, "modifyIndex": 1, "retention": 1 })
        .session(&mut *s)
        .await?
        .filter(|d| user.is_none_or(|u| d.get("user") == Some(&Bson::ObjectId(oid(u)))))
        .ok_or(Error::Store(StoreError::NotFound))?;
    Ok(State {
        user: d.id("user")?,
        uid_validity: d.u32("uidValidity")?,
        modify_index: d.u64("modifyIndex")?,
        retention: d.u64("retention")?,
    })
}

/// Changes to a mailbox document made by one message operation.
#[derive(Default)]
pub(crate) struct Delta {
    /// UIDs taken (uidNext grows by this much).
    pub(crate) uids: u32,
    /// Whether the operation takes a new MODSEQ.
    pub(crate) bump: bool,
    pub(crate) total: i64,
    pub(crate) unseen: i64,
    pub(crate) size: i64,
}

/// Apply `d` atomically; returns (first UID taken, the new MODSEQ).
pub(crate) async fn apply(
    store: &MongoStore,
    s: &mut ClientSession,
    id: ObjectId,
    d: &Delta,
) -> Result<(u32, u64)> {
    let after = store
        .coll(MAILBOXES)
        .find_one_and_update(
            doc! { "_id": oid(id) },
            doc! { "$inc": {
                "uidNext": i64::from(d.uids),
                "modifyIndex": i64::from(d.bump),
                "total": d.total,
                "unseen": d.unseen,
                "size": d.size,
            } },
        )
        .projection(doc! { "uidNext": 1, "modifyIndex": 1 })
        .return_document(mongodb::options::ReturnDocument::After)
        .session(&mut *s)
        .await?
        .ok_or(Error::Store(StoreError::NotFound))?;
    let next = after.i64("uidNext")?;
    if next > i64::from(u32::MAX) {
        return Err(Error::corrupt("mailbox UID space exhausted"));
    }
    Ok(((next - i64::from(d.uids)) as u32, after.u64("modifyIndex")?))
}

/// Whether `path` is among `user`'s subscriptions, read in the transaction.
async fn is_subscribed(
    store: &MongoStore,
    s: &mut ClientSession,
    user: ObjectId,
    path: &str,
) -> Result<bool> {
    Ok(store
        .coll(SUBSCRIPTIONS)
        .find_one(doc! { "user": oid(user), "path": path })
        .projection(doc! { "_id": 1 })
        .session(&mut *s)
        .await?
        .is_some())
}

/// Add or remove a subscription in the transaction; true when the set changed. The
/// mailbox document with that path (if any) is left to the caller.
pub(crate) async fn subscribe(
    store: &MongoStore,
    s: &mut ClientSession,
    user: ObjectId,
    path: &str,
    on: bool,
) -> Result<bool> {
    let coll = store.coll(SUBSCRIPTIONS);
    let filter = doc! { "user": oid(user), "path": path };
    if !on {
        let r = coll.delete_one(filter).session(&mut *s).await?;
        return Ok(r.deleted_count > 0);
    }
    if is_subscribed(store, s, user, path).await? {
        return Ok(false);
    }
    coll.insert_one(filter).session(&mut *s).await?;
    Ok(true)
}

/// Set the mirror flag of the mailbox with `path`, if one exists.
async fn mirror(
    store: &MongoStore,
    s: &mut ClientSession,
    user: ObjectId,
    path: &str,
    on: bool,
) -> Result<()> {
    store
        .coll(MAILBOXES)
        .update_one(
            doc! { "user": oid(user), "path": path },
            doc! { "$set": { "subscribed": on } },
        )
        .session(&mut *s)
        .await?;
    Ok(())
}

impl MongoStore {
    async fn create_mailbox_inner(&self, m: &Mailbox) -> Result<()> {
        let d = mailbox_doc(m);
        txn!(self, |s| {
            if journal::user_doc(self, s, m.user).await?.is_none() {
                return Err(StoreError::NotFound.into());
            }
            let mut d = d.clone();
            if m.subscribed {
                subscribe(self, s, m.user, &m.path, true).await?;
            } else if is_subscribed(self, s, m.user, &m.path).await? {
                // An unsubscribed new mailbox leaves an earlier subscription in place.
                d.insert("subscribed", true);
            }
            self.coll(MAILBOXES)
                .insert_one(d)
                .session(&mut *s)
                .await
                .map_err(|e| conflict(e, "path"))?;
            journal::write(
                self,
                s,
                m.user,
                vec![Entry::mailbox(m.id, JournalKind::MailboxCreate, &m.path)],
                0,
            )
            .await
        })
    }

    async fn rename_inner(&self, user: ObjectId, renames: &[(ObjectId, String)]) -> Result<()> {
        txn!(self, |s| {
            if journal::user_doc(self, s, user).await?.is_none() {
                return Err(StoreError::NotFound.into());
            }
            // RENAME moves the subscriptions of the renamed mailboxes with them, as
            // Dovecot does: a subscribed folder stays subscribed under its new name and
            // no subscription is left on a name that no longer exists. Subscriptions of
            // names below the old one that have no mailbox are not renamed (nothing is).
            let mut moved = Vec::new();
            for (id, new_path) in renames {
                require(self, s, *id, Some(user)).await?;
                let old = self
                    .coll(MAILBOXES)
                    .find_one(doc! { "_id": oid(*id) })
                    .projection(doc! { "path": 1 })
                    .session(&mut *s)
                    .await?
                    .ok_or(Error::Store(StoreError::NotFound))?;
                let old = old.str("path")?.to_string();
                if is_subscribed(self, s, user, &old).await? {
                    moved.push((old, new_path.clone()));
                }
            }
            for (old, _) in &moved {
                subscribe(self, s, user, old, false).await?;
            }
            for (_, new) in &moved {
                subscribe(self, s, user, new, true).await?;
            }
            let coll = self.coll(MAILBOXES);
            // Park every renamed mailbox on a unique placeholder first, so that renames
            // among themselves never collide halfway; only a clash with a mailbox outside
            // the set (or two equal targets) is a conflict.
            for (id, _) in renames {
                coll.update_one(
                    doc! { "_id": oid(*id) },
                    doc! { "$set": { "path": format!("\u{0}rename\u{0}{}", id.to_hex()) } },
                )
                .session(&mut *s)
                .await?;
            }
            let mut entries = Vec::with_capacity(renames.len());
            for (id, path) in renames {
                let on = is_subscribed(self, s, user, path).await?;
                // A rename takes the next MODSEQ so that readers of the mailbox's
                // journal (journal_since) see it.
                let after = coll
                    .find_one_and_update(
                        doc! { "_id": oid(*id) },
                        doc! {
                            "$set": { "path": path, "subscribed": on },
                            "$inc": { "modifyIndex": 1_i64 },
                        },
                    )
                    .return_document(ReturnDocument::After)
                    .projection(doc! { "modifyIndex": 1 })
                    .session(&mut *s)
                    .await
                    .map_err(|e| conflict(e, "path"))?
                    .ok_or(Error::Store(StoreError::NotFound))?;
                let mut e = Entry::mailbox(*id, JournalKind::MailboxRename, path);
                e.modseq = after.u64("modifyIndex")?;
                entries.push(e);
            }
            journal::write(self, s, user, entries, 0).await
        })
    }

    async fn update_mailbox_inner(&self, m: &Mailbox) -> Result<()> {
        txn!(self, |s| {
            // The stored path, not the caller's copy (which may predate a rename).
            let current = self
                .coll(MAILBOXES)
                .find_one(doc! { "_id": oid(m.id), "user": oid(m.user) })
                .projection(doc! { "path": 1 })
                .session(&mut *s)
                .await?
                .ok_or(Error::Store(StoreError::NotFound))?;
            let path = current.str("path")?.to_string();
            subscribe(self, s, m.user, &path, m.subscribed).await?;
            self.coll(MAILBOXES)
                .update_one(
                    doc! { "_id": oid(m.id) },
                    doc! { "$set": {
                        "subscribed": m.subscribed,
                        "retention": int(m.retention),
                        "hidden": m.hidden,
                        "specialUse": m.special_use.map_or(Bson::Null, |s| Bson::String(s.as_str().into())),
                    } },
                )
                .session(&mut *s)
                .await?;
            Ok(())
        })
    }

    /// Databases written before subscriptions had their own collection kept them only
    /// as the mailboxes' `subscribed` flag: copy those once (a marker in `counters`
    /// records that it was done, so later starts cost one read).
    pub(crate) async fn backfill_subscriptions(&self) -> Result<()> {
        let marker = doc! { "_id": "subscriptions-backfilled" };
        if self
            .coll(COUNTERS)
            .find_one(marker.clone())
            .await?
            .is_some()
        {
            return Ok(());
        }
        let docs: Vec<Document> = self
            .coll(MAILBOXES)
            .find(doc! { "subscribed": true })
            .projection(doc! { "user": 1, "path": 1 })
            .await?
            .try_collect()
            .await?;
        for d in docs {
            let filter = doc! { "user": oid(d.id("user")?), "path": d.str("path")? };
            if self
                .coll(SUBSCRIPTIONS)
                .find_one(filter.clone())
                .await?
                .is_some()
            {
                continue;
            }
            match self.coll(SUBSCRIPTIONS).insert_one(filter).await {
                // Another instance backfilling at the same time got there first.
                Ok(_) => {}
                Err(e) if only_duplicates(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        match self.coll(COUNTERS).insert_one(marker).await {
            Ok(_) => Ok(()),
            Err(e) if only_duplicates(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn delete_mailbox_inner(&self, user: ObjectId, id: ObjectId) -> Result<bool> {
        // The mailbox disappears (with a MailboxDelete entry) atomically; its messages
        // are then released in bounded transactions, each adjusting the user's storage.
        let deleted = txn!(self, |s| {
            let Some(d) = self
                .coll(MAILBOXES)
                .find_one_and_delete(doc! { "_id": oid(id), "user": oid(user) })
                .session(&mut *s)
                .await?
            else {
                return Ok(false);
            };
            journal::user_doc(self, s, user).await?;
            let path = d.str("path")?.to_string();
            // The mailbox's last MODSEQ, so that journal_since(mailbox, any seen
            // MODSEQ) ends with the deletion.
            let mut e = Entry::mailbox(id, JournalKind::MailboxDelete, &path);
            e.modseq = d.u64("modifyIndex")? + 1;
            journal::write(self, s, user, vec![e], 0).await?;
            Ok(true)
        })?;
        if !deleted {
            return Ok(false);
        }
        self.remove_all(id, Some(user)).await?;
        self.delete_metadata(user, Some(id)).await?;
        // The mailbox's message history goes with it; its deletion is the last word.
        self.journal_delete(doc! { "mailbox": oid(id), "kind": { "$ne": "MAILBOXDELETE" } })
            .await?;
        Ok(true)
    }
}

#[async_trait]
impl MailboxStore for MongoStore {
    async fn list_mailboxes(&self, user: ObjectId) -> StoreResult<Vec<Mailbox>> {
        let docs: Vec<Document> = self
            .coll(MAILBOXES)
            .find(doc! { "user": oid(user) })
            .sort(doc! { "_id": 1 })
            .await
            .map_err(Error::from)?
            .try_collect()
            .await
            .map_err(Error::from)?;
        Ok(docs.iter().map(mailbox).collect::<Result<Vec<_>>>()?)
    }

    async fn get_mailbox(&self, user: ObjectId, id: ObjectId) -> StoreResult<Option<Mailbox>> {
        let d = self
            .coll(MAILBOXES)
            .find_one(doc! { "_id": oid(id) })
            .await
            .map_err(Error::from)?
            // By `_id` alone (an index scan on every server), then the owner.
            .filter(|d| d.get("user") == Some(&Bson::ObjectId(oid(user))));
        Ok(d.as_ref().map(mailbox).transpose()?)
    }

    async fn find_mailbox(&self, user: ObjectId, path: &str) -> StoreResult<Option<Mailbox>> {
        let d = self
            .coll(MAILBOXES)
            .find_one(doc! { "user": oid(user), "path": path })
            .await
            .map_err(Error::from)?;
        Ok(d.as_ref().map(mailbox).transpose()?)
    }

    async fn create_mailbox(&self, m: &Mailbox) -> StoreResult<()> {
        Ok(self.create_mailbox_inner(m).await?)
    }

    async fn rename_mailboxes(
        &self,
        user: ObjectId,
        renames: &[(ObjectId, String)],
    ) -> StoreResult<()> {
        Ok(self.rename_inner(user, renames).await?)
    }

    async fn update_mailbox(&self, m: &Mailbox) -> StoreResult<()> {
        Ok(self.update_mailbox_inner(m).await?)
    }

    async fn delete_mailbox(&self, user: ObjectId, id: ObjectId) -> StoreResult<bool> {
        Ok(self.delete_mailbox_inner(user, id).await?)
    }

    async fn list_subscriptions(&self, user: ObjectId) -> StoreResult<Vec<String>> {
        let docs: Vec<Document> = self
            .coll(SUBSCRIPTIONS)
            .find(doc! { "user": oid(user) })
            .projection(doc! { "path": 1 })
            .await
            .map_err(Error::from)?
            .try_collect()
            .await
            .map_err(Error::from)?;
        let mut paths = docs
            .iter()
            .map(|d| d.str("path").map(str::to_string))
            .collect::<Result<Vec<_>>>()?;
        // Byte order, whatever collation the server sorts with.
        paths.sort();
        Ok(paths)
    }

    async fn set_subscription(&self, user: ObjectId, path: &str, on: bool) -> StoreResult<bool> {
        Ok(txn!(self, |s| {
            if journal::user_doc(self, s, user).await?.is_none() {
                return Err(StoreError::NotFound.into());
            }
            let changed = subscribe(self, s, user, path, on).await?;
            mirror(self, s, user, path, on).await?;
            Ok(changed)
        })?)
    }

    async fn raise_uid_next(
        &self,
        user: ObjectId,
        mailbox: ObjectId,
        uid_next: u32,
    ) -> StoreResult<()> {
        let r = self
            .coll(MAILBOXES)
            .update_one(
                doc! { "_id": oid(mailbox), "user": oid(user) },
                doc! { "$max": { "uidNext": i64::from(uid_next) } },
            )
            .await
            .map_err(Error::from)?;
        if r.matched_count == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn mailbox_counters(&self, id: ObjectId) -> StoreResult<MailboxCounters> {
        let d = self
            .coll(MAILBOXES)
            .find_one(doc! { "_id": oid(id) })
            .projection(doc! { "total": 1, "unseen": 1, "size": 1 })
            .await
            .map_err(Error::from)?
            .ok_or(StoreError::NotFound)?;
        Ok(MailboxCounters {
            total: d.u64("total")?,
            unseen: d.u64("unseen")?,
            size: d.u64("size")?,
        })
    }
}
