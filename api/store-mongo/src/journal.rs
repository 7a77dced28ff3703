//! The write-ahead journal: one document per change, written in the transaction that
//! makes the change. Sessions read it by (mailbox, modseq); the SSE stream by (user, _id).
//!
//! Entry ids (`_id`) come from one store-wide counter (`counters._id = "journal"`),
//! incremented outside the transaction so that it never becomes a point where all
//! writers conflict. Ids of one user are still written in increasing order: every
//! journaling transaction first reads the user's document (fixing its snapshot),
//! then takes its ids (necessarily above any id committed before that snapshot), and
//! writes the user's document (so a transaction of the same user committing after
//! the snapshot makes this one conflict and start again, with new ids).

use chrono::{DateTime, Utc};
use eider_service::model::{JournalEntry, JournalKind};
use eider_service::ObjectId;
use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::ReturnDocument;
use mongodb::ClientSession;

use crate::codec::{date, int, oid, DocExt};
use crate::error::{Error, Result};
use crate::names::{COUNTERS, JOURNAL, MAILBOXES, USERS};
use crate::MongoStore;

/// One journal entry to write.
pub(crate) struct Entry {
    pub(crate) mailbox: ObjectId,
    pub(crate) modseq: u64,
    pub(crate) kind: JournalKind,
    pub(crate) uid: Option<u32>,
    pub(crate) message: Option<ObjectId>,
    pub(crate) flags: Vec<String>,
    pub(crate) path: Option<String>,
}

impl Entry {
    /// A mailbox-level event (no modseq, no message).
    pub(crate) fn mailbox(mailbox: ObjectId, kind: JournalKind, path: &str) -> Self {
        Self {
            mailbox,
            modseq: 0,
            kind,
            uid: None,
            message: None,
            flags: Vec::new(),
            path: Some(path.to_string()),
        }
    }

    pub(crate) fn message(
        mailbox: ObjectId,
        modseq: u64,
        kind: JournalKind,
        uid: u32,
        message: ObjectId,
        flags: Vec<String>,
    ) -> Self {
        Self {
            mailbox,
            modseq,
            kind,
            uid: Some(uid),
            message: Some(message),
            flags,
            path: None,
        }
    }
}

fn kind_name(k: JournalKind) -> &'static str {
    match k {
        JournalKind::Exists => "EXISTS",
        JournalKind::Expunge => "EXPUNGE",
        JournalKind::Flags => "FLAGS",
        JournalKind::MailboxCreate => "MAILBOXCREATE",
        JournalKind::MailboxRename => "MAILBOXRENAME",
        JournalKind::MailboxDelete => "MAILBOXDELETE",
    }
}

fn kind_of(s: &str) -> Option<JournalKind> {
    Some(match s {
        "EXISTS" => JournalKind::Exists,
        "EXPUNGE" => JournalKind::Expunge,
        "FLAGS" => JournalKind::Flags,
        "MAILBOXCREATE" => JournalKind::MailboxCreate,
        "MAILBOXRENAME" => JournalKind::MailboxRename,
        "MAILBOXDELETE" => JournalKind::MailboxDelete,
        _ => return None,
    })
}

/// Take `n` consecutive ids from the store-wide counter; returns the first.
async fn alloc(store: &MongoStore, n: u64) -> Result<u64> {
    let d = store
        .coll(COUNTERS)
        .find_one_and_update(
            doc! { "_id": "journal" },
            doc! { "$inc": { "seq": int(n) } },
        )
        .upsert(true)
        .return_document(ReturnDocument::After)
        .await?
        .ok_or_else(|| Error::corrupt("journal counter upsert returned nothing"))?;
    Ok(d.u64("seq")? + 1 - n)
}

/// Write `entries` for `user` and apply `storage_delta` to the user's storage, in the
/// caller's transaction. The user's document must have been read (or written) earlier
/// in the transaction (see the module notes); `user_touched` asserts that.
pub(crate) async fn write(
    store: &MongoStore,
    s: &mut ClientSession,
    user: ObjectId,
    entries: Vec<Entry>,
    storage_delta: i64,
) -> Result<()> {
    let n = entries.len() as u64;
    if n == 0 {
        if storage_delta != 0 {
            store
                .coll(USERS)
                .update_one(
                    doc! { "_id": oid(user) },
                    doc! { "$inc": { "storageUsed": storage_delta } },
                )
                .session(&mut *s)
                .await?;
        }
        return Ok(());
    }
    let first = alloc(store, n).await?;
    let now = date(Utc::now());
    let docs: Vec<Document> = entries
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let mut d = doc! {
                "_id": int(first + i as u64),
                "user": oid(user),
                "mailbox": oid(e.mailbox),
                "modseq": int(e.modseq),
                "kind": kind_name(e.kind),
                "created": now,
            };
            if let Some(uid) = e.uid {
                d.insert("uid", i64::from(uid));
            }
            if let Some(m) = e.message {
                d.insert("message", oid(m));
            }
            if !e.flags.is_empty() {
                d.insert("flags", e.flags);
            }
            if let Some(p) = e.path {
                d.insert("path", p);
            }
            d
        })
        .collect();
    store
        .coll(JOURNAL)
        .insert_many(docs)
        .session(&mut *s)
        .await?;
    store
        .coll(USERS)
        .update_one(
            doc! { "_id": oid(user) },
            doc! {
                "$inc": { "storageUsed": storage_delta },
                "$set": { "jlast": int(first + n - 1) },
            },
        )
        .session(&mut *s)
        .await?;
    Ok(())
}

/// Read the user's document in the transaction (fixing its snapshot before journal ids
/// are taken); None when the user does not exist.
pub(crate) async fn user_doc(
    store: &MongoStore,
    s: &mut ClientSession,
    user: ObjectId,
) -> Result<Option<Document>> {
    Ok(store
        .coll(USERS)
        .find_one(doc! { "_id": oid(user) })
        .projection(doc! { "storageUsed": 1, "jlast": 1 })
        .session(&mut *s)
        .await?)
}

fn entry(d: &Document) -> Result<JournalEntry> {
    let kind = kind_of(d.str("kind")?)
        .ok_or_else(|| Error::corrupt(format!("unknown journal kind {:?}", d.get("kind"))))?;
    Ok(JournalEntry {
        id: d.u64("_id")?,
        user: d.id("user")?,
        mailbox: d.id("mailbox")?,
        modseq: d.u64("modseq")?,
        kind,
        uid: d.opt_i64("uid")?.and_then(|v| u32::try_from(v).ok()),
        message: d.opt_id("message")?,
        flags: d.strings("flags")?,
        path: d.opt_str("path")?,
        created: d.time("created")?,
    })
}

impl MongoStore {
    /// Message entries of a mailbox with modseq > `since`, in the order they were written.
    pub(crate) async fn journal_entries_since(
        &self,
        mailbox: ObjectId,
        since: u64,
    ) -> Result<Vec<JournalEntry>> {
        let docs: Vec<Document> = self
            .coll(JOURNAL)
            .find(doc! { "mailbox": oid(mailbox), "modseq": { "$gt": int(since) } })
            .sort(doc! { "modseq": 1, "_id": 1 })
            .await?
            .try_collect()
            .await?;
        docs.iter().map(entry).collect()
    }

    /// A user's entries with id > `after`, at most `limit` (0 = no limit).
    pub(crate) async fn journal_user_after(
        &self,
        user: ObjectId,
        after: u64,
        limit: u32,
    ) -> Result<Vec<JournalEntry>> {
        let coll = self.coll(JOURNAL);
        let mut find = coll
            .find(doc! { "user": oid(user), "_id": { "$gt": int(after) } })
            .sort(doc! { "_id": 1 });
        if limit > 0 {
            find = find.limit(i64::from(limit));
        }
        let docs: Vec<Document> = find.await?.try_collect().await?;
        docs.iter().map(entry).collect()
    }

    /// The highest id handed out so far (ids are never reused).
    pub(crate) async fn journal_last_id(&self) -> Result<u64> {
        let d = self
            .coll(COUNTERS)
            .find_one(doc! { "_id": "journal" })
            .await?;
        match d {
            None => Ok(0),
            Some(d) => match d.get("seq") {
                Some(Bson::Null) | None => Ok(0),
                _ => d.u64("seq"),
            },
        }
    }

    /// The highest MODSEQ pruned from the mailbox's journal (`jfloor` on its document).
    pub(crate) async fn journal_floor_of(&self, mailbox: ObjectId) -> Result<u64> {
        let d = self
            .coll(MAILBOXES)
            .find_one(doc! { "_id": oid(mailbox) })
            .projection(doc! { "jfloor": 1 })
            .await?;
        Ok(d.and_then(|d| d.opt_i64("jfloor").ok().flatten())
            .unwrap_or(0)
            .max(0) as u64)
    }

    /// One pruning batch (see `MessageStore::prune_journal`). No transaction: each
    /// mailbox's floor is raised before its entries go, so a crash in between only
    /// makes a reader resynchronize earlier than needed.
    pub(crate) async fn journal_prune(&self, before: DateTime<Utc>, limit: u32) -> Result<u64> {
        // The oldest entries store-wide (the `_id` index; ids grow with time): a
        // background scan without the shard key, on the shard-key allow-list.
        let oldest: Vec<Document> = self
            .coll(JOURNAL)
            .find(doc! {})
            .sort(doc! { "_id": 1 })
            .limit(i64::from(limit))
            .projection(doc! { "mailbox": 1, "modseq": 1, "created": 1 })
            .await?
            .try_collect()
            .await?;
        let mut tops: Vec<(ObjectId, u64)> = Vec::new();
        for d in &oldest {
            if d.time("created")? >= before {
                break;
            }
            let (mailbox, modseq) = (d.id("mailbox")?, d.u64("modseq")?);
            match tops.iter_mut().find(|(m, _)| *m == mailbox) {
                Some((_, top)) => *top = (*top).max(modseq),
                None => tops.push((mailbox, modseq)),
            }
        }
        let mut n = 0;
        for (mailbox, top) in tops {
            self.coll(MAILBOXES)
                .update_one(
                    doc! { "_id": oid(mailbox) },
                    doc! { "$max": { "jfloor": int(top) } },
                )
                .await?;
            n += self
                .coll(JOURNAL)
                .delete_many(doc! { "mailbox": oid(mailbox), "modseq": { "$lte": int(top) } })
                .await?
                .deleted_count;
        }
        Ok(n)
    }

    /// Drop the journal of a mailbox (it was deleted) or of a user.
    pub(crate) async fn journal_delete(&self, filter: Document) -> Result<()> {
        self.coll(JOURNAL).delete_many(filter).await?;
        Ok(())
    }
}
