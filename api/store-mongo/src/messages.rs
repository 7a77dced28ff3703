//! Message documents: append, copy, move, flag updates, expunge and reads. Every
//! change takes its UID and MODSEQ from the mailbox document (`$inc`), writes
//! journal entries, and keeps the mailbox counters and the user's storage in step,
//! all in one transaction. Every query names the mailbox (and UIDs where it has them).

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use eider_service::model::{
    AppendRequest, Appended, CopiedMessage, FetchWant, FetchedMessage, FlagOp, FlagUpdate,
    FlagsChanged, JournalEntry, JournalKind, MessageMeta, SearchQuery, SortKeys, SortOrder,
    SortRow, StoredMessage, ThreadRef, UidSet,
};
use eider_service::{MessageStore, ObjectId, StoreError, StoreResult};
use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::ClientSession;

use crate::codec::{date, flag_set, has_flag, int, json_text, lowered, oid, DocExt};
use crate::content::{self, PreparedContent};
use crate::error::{Error, Result};
use crate::journal::{self, Entry};
use crate::mailboxes::{self, Delta};
use crate::names::{MESSAGES, USERS};
use crate::{txn, MongoStore};

/// Blob bytes above which an append prepares its content on a blocking thread.
const OFFLOAD_BYTES: usize = 64 * 1024;
/// Messages removed per transaction when a whole mailbox goes.
const REMOVE_BATCH: i64 = 500;
/// UID sets with more ranges than this are read as one range and filtered here.
const RANGE_QUERIES: usize = 8;

pub(crate) fn meta(d: &Document) -> Result<MessageMeta> {
    Ok(MessageMeta {
        id: d.id("_id")?,
        user: d.id("user")?,
        mailbox: d.id("mailbox")?,
        uid: d.u32("uid")?,
        modseq: d.u64("modseq")?,
        flags: d.strings("flags")?,
        internal_date: d.time("idate")?,
        header_date: d.opt_time("hdate")?,
        size: d.u64("size")?,
        thread: d.id("thread")?,
        content: d.id("content")?,
        subject: d.opt_str("subject")?.unwrap_or_default(),
        message_id: d.opt_str("msgid")?,
        has_attachments: d.bool("ha")?,
        expires: d.opt_time("exp")?,
        meta_data: d.json("meta")?,
    })
}

/// The flag fields of a message document for a canonical flag set.
fn flag_fields(flags: &[String]) -> Document {
    doc! {
        "flags": flags,
        "fv": lowered(flags),
        "seen": has_flag(flags, "\\Seen"),
        "deleted": has_flag(flags, "\\Deleted"),
        "flagged": has_flag(flags, "\\Flagged"),
    }
}

/// Expiry of a message placed in a mailbox with `retention` ms (0 = keep forever).
pub(crate) fn retention_expiry(
    retention: u64,
    internal_date: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    (retention > 0).then(|| {
        let keep = Duration::milliseconds(i64::try_from(retention).unwrap_or(i64::MAX));
        internal_date
            .checked_add_signed(keep)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    })
}

/// SORT/THREAD keys as the `sortk` subdocument.
fn sort_doc(k: &SortKeys) -> Result<Document> {
    mongodb::bson::to_document(k).map_err(|e| Error::corrupt(format!("sort keys: {e}")))
}

fn uid_filter(mailbox: ObjectId, lo: u32, hi: u32) -> Document {
    doc! {
        "mailbox": oid(mailbox),
        "uid": { "$gte": i64::from(lo), "$lte": i64::from(hi) },
    }
}

fn uid_list(uids: impl IntoIterator<Item = u32>) -> Vec<Bson> {
    uids.into_iter()
        .map(|u| Bson::Int64(i64::from(u)))
        .collect()
}

/// One query per range for a few ranges; one query over the whole span, filtered
/// here, for many (a UID set from a client can have thousands of ranges).
fn plan(uids: &UidSet) -> Vec<(u32, u32, bool)> {
    let r = uids.ranges();
    if r.len() <= RANGE_QUERIES {
        r.iter().map(|&(lo, hi)| (lo, hi, false)).collect()
    } else {
        match (r.first(), r.last()) {
            (Some(&(lo, _)), Some(&(_, hi))) => vec![(lo, hi, true)],
            _ => Vec::new(),
        }
    }
}

/// Documents of `mailbox` with UIDs in `uids`, ascending, in the transaction.
async fn handles(
    store: &MongoStore,
    s: &mut ClientSession,
    mailbox: ObjectId,
    uids: &UidSet,
) -> Result<Vec<Document>> {
    let mut out = Vec::new();
    for (lo, hi, filter) in plan(uids) {
        let docs: Vec<Document> = store
            .coll(MESSAGES)
            .find(uid_filter(mailbox, lo, hi))
            .sort(doc! { "uid": 1 })
            .session(&mut *s)
            .await?
            .stream(&mut *s)
            .try_collect()
            .await?;
        for d in docs {
            if !filter || d.u32("uid").is_ok_and(|u| uids.contains(u)) {
                out.push(d);
            }
        }
    }
    Ok(out)
}

/// Change content reference counts by how many of `docs` point at each.
pub(crate) fn content_counts(docs: &[Document]) -> Result<BTreeMap<ObjectId, i64>> {
    let mut counts = BTreeMap::new();
    for d in docs {
        *counts.entry(d.id("content")?).or_insert(0) += 1;
    }
    Ok(counts)
}

fn apply_op(current: &[String], update: &FlagUpdate) -> Vec<String> {
    match update.op {
        FlagOp::Add => {
            let mut v = current.to_vec();
            v.extend(update.flags.iter().cloned());
            flag_set(&v)
        }
        FlagOp::Remove => flag_set(
            &current
                .iter()
                .filter(|f| !has_flag(&update.flags, f))
                .collect::<Vec<_>>(),
        ),
        FlagOp::Replace => flag_set(&update.flags),
    }
}

/// The append request minus its content (which is prepared separately).
struct NewMessage {
    id: ObjectId,
    user: ObjectId,
    mailbox: ObjectId,
    flags: Vec<String>,
    internal_date: DateTime<Utc>,
    thread: ObjectId,
    expires: Option<DateTime<Utc>>,
    meta_data: String,
    quota_limit: Option<u64>,
    dedupe_message_id: bool,
    /// The Date: header's day as written, for SENT* searches (`sday`).
    sent_day: Option<i32>,
    /// SORT/THREAD keys (`sortk`).
    sort_keys: Document,
}

fn over_quota(used: u64, size: u64, limit: Option<u64>) -> bool {
    limit.is_some_and(|l| used.saturating_add(size) > l)
}

impl MongoStore {
    async fn append_inner(&self, req: AppendRequest) -> Result<Appended> {
        let AppendRequest {
            id,
            user,
            mailbox,
            content,
            flags,
            internal_date,
            thread,
            expires,
            meta_data,
            quota_limit,
            dedupe_message_id,
        } = req;
        // Not inside the transaction: thread resolution in this backend is not
        // transactional anyway (see threads.rs).
        let thread = match thread {
            ThreadRef::Id(t) => t,
            ThreadRef::Resolve { subject, ids } => {
                self.resolve_thread_inner(user, &subject, &ids, Utc::now())
                    .await?
            }
        };
        let m = NewMessage {
            sent_day: content.index.sent_day(),
            sort_keys: sort_doc(&content.index.sort_keys())?,
            id,
            user,
            mailbox,
            flags: flag_set(&flags),
            internal_date,
            thread,
            expires,
            meta_data: json_text(&meta_data)?,
            quota_limit,
            dedupe_message_id,
        };
        // Cheap refusal before any bytes are written (checked again in the transaction).
        if let Some(limit) = quota_limit {
            let used = self
                .coll(USERS)
                .find_one(doc! { "_id": oid(user) })
                .projection(doc! { "storageUsed": 1 })
                .await?
                .ok_or(Error::Store(StoreError::NotFound))?
                .opt_i64("storageUsed")?
                .unwrap_or(0)
                .max(0) as u64;
            if over_quota(used, content.index.size, Some(limit)) {
                return Err(StoreError::OverQuota.into());
            }
        }
        let prepared = if content::blob_bytes(&content) < OFFLOAD_BYTES {
            content::prepare(content)?
        } else {
            tokio::task::spawn_blocking(move || content::prepare(content))
                .await
                .map_err(|e| Error::corrupt(format!("content preparation failed: {e}")))??
        };
        // Write the chunks of blobs not stored yet, outside the transaction.
        let hashes: Vec<_> = prepared.blobs.iter().map(|b| b.hash).collect();
        let known = self.known_blobs(&hashes).await?;
        let mut written: Vec<_> = Vec::new();
        let fresh: Vec<_> = prepared
            .blobs
            .iter()
            .filter(|b| !known.contains(&b.hash))
            .collect();
        self.write_chunks(&fresh).await?;
        written.extend(fresh.iter().map(|b| (b.hash, b.chunk_count())));
        let mut rewrites = 0;
        let result = loop {
            match self.append_txn(&m, &prepared).await {
                Err(Error::MissingChunks(h)) if rewrites < 5 => {
                    // Deleted with its last reference since we looked: write it again.
                    rewrites += 1;
                    if let Some(b) = prepared.blobs.iter().find(|b| b.hash == h) {
                        self.write_chunks(&[b]).await?;
                        written.push((h, b.chunk_count()));
                    }
                }
                other => break other,
            }
        };
        if !matches!(
            result,
            Ok(Appended {
                duplicate: false,
                ..
            })
        ) && !written.is_empty()
        {
            self.discard_unreferenced(&written).await;
        }
        result
    }

    async fn append_txn(&self, m: &NewMessage, c: &PreparedContent) -> Result<Appended> {
        txn!(self, |s| {
            let mbox = mailboxes::require(self, s, m.mailbox, Some(m.user)).await?;
            if m.dedupe_message_id {
                if let Some(mid) = &c.message_id {
                    let dup = self
                        .coll(MESSAGES)
                        .find_one(doc! { "mailbox": oid(m.mailbox), "msgid": mid })
                        .sort(doc! { "uid": 1 })
                        .projection(doc! { "uid": 1, "modseq": 1 })
                        .session(&mut *s)
                        .await?;
                    if let Some(d) = dup {
                        return Ok(Appended {
                            id: d.id("_id")?,
                            uid: d.u32("uid")?,
                            modseq: d.u64("modseq")?,
                            uid_validity: mbox.uid_validity,
                            duplicate: true,
                        });
                    }
                }
            }
            let u = journal::user_doc(self, s, m.user)
                .await?
                .ok_or(Error::Store(StoreError::NotFound))?;
            let used = u.opt_i64("storageUsed")?.unwrap_or(0).max(0) as u64;
            if over_quota(used, c.size, m.quota_limit) {
                return Err(StoreError::OverQuota.into());
            }
            content::insert(self, s, c).await?;
            let seen = has_flag(&m.flags, "\\Seen");
            let (uid, modseq) = mailboxes::apply(
                self,
                s,
                m.mailbox,
                &Delta {
                    uids: 1,
                    bump: true,
                    total: 1,
                    unseen: i64::from(!seen),
                    size: int(c.size),
                },
            )
            .await?;
            let mut d = doc! {
                "_id": oid(m.id),
                "user": oid(m.user),
                "mailbox": oid(m.mailbox),
                "uid": i64::from(uid),
                "modseq": int(modseq),
                "idate": date(m.internal_date),
                "size": int(c.size),
                "thread": oid(m.thread),
                "content": oid(c.oid),
                "subject": &c.subject,
                "ha": c.has_attachments,
                "meta": &m.meta_data,
                "sortk": m.sort_keys.clone(),
            };
            d.extend(flag_fields(&m.flags));
            if let Some(h) = c.header_date {
                d.insert("hdate", mongodb::bson::DateTime::from_millis(h));
            }
            if let Some(mid) = &c.message_id {
                d.insert("msgid", mid);
            }
            if let Some(day) = m.sent_day {
                d.insert("sday", day);
            }
            if let Some(e) = m.expires {
                d.insert("exp", date(e));
            }
            self.coll(MESSAGES).insert_one(d).session(&mut *s).await?;
            journal::write(
                self,
                s,
                m.user,
                vec![Entry::message(
                    m.mailbox,
                    modseq,
                    JournalKind::Exists,
                    uid,
                    m.id,
                    m.flags.clone(),
                )],
                int(c.size),
            )
            .await?;
            Ok(Appended {
                id: m.id,
                uid,
                modseq,
                uid_validity: mbox.uid_validity,
                duplicate: false,
            })
        })
    }

    /// Copy (or with `moving`, move) messages between two mailboxes of `user`.
    async fn transfer(
        &self,
        user: ObjectId,
        source: ObjectId,
        uids: &UidSet,
        target: ObjectId,
        quota_limit: Option<u64>,
        moving: bool,
    ) -> Result<Vec<CopiedMessage>> {
        txn!(self, |s| {
            mailboxes::require(self, s, source, Some(user)).await?;
            let tgt = mailboxes::require(self, s, target, Some(user)).await?;
            let u = journal::user_doc(self, s, user)
                .await?
                .ok_or(Error::Store(StoreError::NotFound))?;
            let rows = handles(self, s, source, uids).await?;
            if rows.is_empty() {
                return Ok(Vec::new());
            }
            let mut total_size = 0u64;
            let mut unseen = 0i64;
            for d in &rows {
                total_size += d.u64("size")?;
                unseen += i64::from(!d.bool("seen")?);
            }
            let used = u.opt_i64("storageUsed")?.unwrap_or(0).max(0) as u64;
            if !moving && over_quota(used, total_size, quota_limit) {
                return Err(StoreError::OverQuota.into());
            }
            let n = rows.len() as i64;
            let (first_uid, modseq) = mailboxes::apply(
                self,
                s,
                target,
                &Delta {
                    uids: rows.len() as u32,
                    bump: true,
                    total: n,
                    unseen,
                    size: int(total_size),
                },
            )
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            let mut entries = Vec::with_capacity(rows.len() * if moving { 2 } else { 1 });
            let mut docs = Vec::with_capacity(rows.len());
            for (i, row) in rows.iter().enumerate() {
                let id = ObjectId::new();
                let uid = first_uid + i as u32;
                let mut d = row.clone();
                d.insert("_id", oid(id));
                d.insert("mailbox", oid(target));
                d.insert("uid", i64::from(uid));
                d.insert("modseq", int(modseq));
                // The target's retention decides expiry, as for a delivery into it.
                match retention_expiry(tgt.retention, row.time("idate")?) {
                    Some(e) => d.insert("exp", date(e)),
                    None => d.remove("exp"),
                };
                docs.push(d);
                entries.push(Entry::message(
                    target,
                    modseq,
                    JournalKind::Exists,
                    uid,
                    id,
                    row.strings("flags")?,
                ));
                out.push(CopiedMessage {
                    source_uid: row.u32("uid")?,
                    uid,
                    id,
                });
            }
            self.coll(MESSAGES)
                .insert_many(docs)
                .session(&mut *s)
                .await?;
            if moving {
                let old: Vec<u32> = out.iter().map(|c| c.source_uid).collect();
                self.coll(MESSAGES)
                    .delete_many(doc! { "mailbox": oid(source), "uid": { "$in": uid_list(old) } })
                    .session(&mut *s)
                    .await?;
                let (_, smodseq) = mailboxes::apply(
                    self,
                    s,
                    source,
                    &Delta {
                        bump: true,
                        total: -n,
                        unseen: -unseen,
                        size: -int(total_size),
                        ..Delta::default()
                    },
                )
                .await?;
                for row in &rows {
                    entries.push(Entry::message(
                        source,
                        smodseq,
                        JournalKind::Expunge,
                        row.u32("uid")?,
                        row.id("_id")?,
                        Vec::new(),
                    ));
                }
                journal::write(self, s, user, entries, 0).await?;
            } else {
                for (c, k) in content_counts(&rows)? {
                    content::acquire(self, s, c, k).await?;
                }
                journal::write(self, s, user, entries, int(total_size)).await?;
            }
            Ok(out)
        })
    }

    async fn update_flags_inner(
        &self,
        mailbox: ObjectId,
        uids: &UidSet,
        update: &FlagUpdate,
    ) -> Result<FlagsChanged> {
        txn!(self, |s| {
            let mbox = mailboxes::require(self, s, mailbox, None).await?;
            let mut result = FlagsChanged {
                modseq: mbox.modify_index,
                ..FlagsChanged::default()
            };
            journal::user_doc(self, s, mbox.user).await?;
            let mut changes: Vec<(u32, ObjectId, bool, Vec<String>)> = Vec::new();
            for d in handles(self, s, mailbox, uids).await? {
                let uid = d.u32("uid")?;
                // RFC 7162: a message modified after UNCHANGEDSINCE fails the STORE,
                // even when the store would not change it.
                if update
                    .unchanged_since
                    .is_some_and(|since| d.u64("modseq").is_ok_and(|m| m > since))
                {
                    result.conflicts.push(uid);
                    continue;
                }
                let current = d.strings("flags")?;
                let new = apply_op(&current, update);
                if new != current {
                    changes.push((uid, d.id("_id")?, d.bool("seen")?, new));
                }
            }
            if changes.is_empty() {
                return Ok(result);
            }
            let unseen: i64 = changes
                .iter()
                .map(|(_, _, was, new)| i64::from(*was) - i64::from(has_flag(new, "\\Seen")))
                .sum();
            let (_, modseq) = mailboxes::apply(
                self,
                s,
                mailbox,
                &Delta {
                    bump: true,
                    unseen,
                    ..Delta::default()
                },
            )
            .await?;
            // One update per distinct resulting flag set (usually one or two).
            let mut groups: HashMap<Vec<String>, Vec<u32>> = HashMap::new();
            for (uid, _, _, new) in &changes {
                groups.entry(new.clone()).or_default().push(*uid);
            }
            for (flags, group) in groups {
                let mut set = flag_fields(&flags);
                set.insert("modseq", int(modseq));
                self.coll(MESSAGES)
                    .update_many(
                        doc! { "mailbox": oid(mailbox), "uid": { "$in": uid_list(group) } },
                        doc! { "$set": set },
                    )
                    .session(&mut *s)
                    .await?;
            }
            let mut entries = Vec::with_capacity(changes.len());
            for (uid, id, _, new) in changes {
                entries.push(Entry::message(
                    mailbox,
                    modseq,
                    JournalKind::Flags,
                    uid,
                    id,
                    new.clone(),
                ));
                result.changed.push((uid, new, modseq));
            }
            journal::write(self, s, mbox.user, entries, 0).await?;
            result.modseq = modseq;
            Ok(result)
        })
    }

    /// Remove messages; with `archive` (archived, purge_after), documents not flagged
    /// \\Draft are moved into the archive with their content reference.
    pub(crate) async fn expunge_inner(
        &self,
        mailbox: ObjectId,
        uids: &UidSet,
        only_deleted: bool,
        archive: Option<(DateTime<Utc>, DateTime<Utc>)>,
    ) -> Result<Vec<u32>> {
        txn!(self, |s| {
            let mbox = mailboxes::require(self, s, mailbox, None).await?;
            journal::user_doc(self, s, mbox.user).await?;
            let mut rows = Vec::new();
            for d in handles(self, s, mailbox, uids).await? {
                if !only_deleted || d.bool("deleted")? {
                    rows.push(d);
                }
            }
            if rows.is_empty() {
                return Ok(Vec::new());
            }
            let (mut size, mut unseen) = (0u64, 0i64);
            let mut gone = Vec::with_capacity(rows.len());
            for d in &rows {
                size += d.u64("size")?;
                unseen += i64::from(!d.bool("seen")?);
                gone.push(d.u32("uid")?);
            }
            self.coll(MESSAGES)
                .delete_many(
                    doc! { "mailbox": oid(mailbox), "uid": { "$in": uid_list(gone.clone()) } },
                )
                .session(&mut *s)
                .await?;
            let released: Vec<Document> = match archive {
                Some((at, until)) => {
                    let (kept, gone): (Vec<Document>, Vec<Document>) =
                        rows.iter().cloned().partition(|d| {
                            !has_flag(&d.strings("flags").unwrap_or_default(), "\\Draft")
                        });
                    crate::lifecycle::archive_docs(self, s, mbox.user, kept, at, until).await?;
                    gone
                }
                None => rows.clone(),
            };
            for (c, k) in content_counts(&released)? {
                content::release(self, s, c, k).await?;
            }
            let (_, modseq) = mailboxes::apply(
                self,
                s,
                mailbox,
                &Delta {
                    bump: true,
                    total: -(rows.len() as i64),
                    unseen: -unseen,
                    size: -int(size),
                    ..Delta::default()
                },
            )
            .await?;
            let mut entries = Vec::with_capacity(rows.len());
            for d in &rows {
                entries.push(Entry::message(
                    mailbox,
                    modseq,
                    JournalKind::Expunge,
                    d.u32("uid")?,
                    d.id("_id")?,
                    Vec::new(),
                ));
            }
            journal::write(self, s, mbox.user, entries, -int(size)).await?;
            Ok(gone)
        })
    }

    /// Delete every message of a mailbox (mailbox or user deletion) in bounded
    /// transactions, releasing contents and, when `user` is given, their storage.
    /// Writes no journal entries: the caller records the mailbox's end.
    pub(crate) async fn remove_all(
        &self,
        mailbox: ObjectId,
        user: Option<ObjectId>,
    ) -> Result<u64> {
        let mut freed = 0u64;
        loop {
            let batch: Option<u64> = txn!(self, |s| {
                let rows: Vec<Document> = self
                    .coll(MESSAGES)
                    .find(doc! { "mailbox": oid(mailbox) })
                    .projection(doc! { "uid": 1, "content": 1, "size": 1 })
                    .sort(doc! { "uid": 1 })
                    .limit(REMOVE_BATCH)
                    .session(&mut *s)
                    .await?
                    .stream(&mut *s)
                    .try_collect()
                    .await?;
                if rows.is_empty() {
                    return Ok(None);
                }
                let mut size = 0u64;
                let mut uids = Vec::with_capacity(rows.len());
                for d in &rows {
                    size += d.u64("size")?;
                    uids.push(d.u32("uid")?);
                }
                self.coll(MESSAGES)
                    .delete_many(doc! { "mailbox": oid(mailbox), "uid": { "$in": uid_list(uids) } })
                    .session(&mut *s)
                    .await?;
                for (c, k) in content_counts(&rows)? {
                    content::release(self, s, c, k).await?;
                }
                if let Some(u) = user {
                    self.coll(USERS)
                        .update_one(
                            doc! { "_id": oid(u) },
                            doc! { "$inc": { "storageUsed": -int(size) } },
                        )
                        .session(&mut *s)
                        .await?;
                }
                Ok(Some(size))
            })?;
            match batch {
                Some(size) => freed += size,
                None => return Ok(freed),
            }
        }
    }

    async fn sort_rows_inner(&self, mailbox: ObjectId, uids: &UidSet) -> Result<Vec<SortRow>> {
        let mut out = Vec::new();
        for (lo, hi, filter) in plan(uids) {
            let mut cursor = self
                .coll(MESSAGES)
                .find(uid_filter(mailbox, lo, hi))
                .projection(doc! { "uid": 1, "idate": 1, "size": 1, "msgid": 1, "sortk": 1 })
                .sort(doc! { "uid": 1 })
                .await?;
            while let Some(d) = cursor.try_next().await? {
                let uid = d.u32("uid")?;
                if filter && !uids.contains(uid) {
                    continue;
                }
                // Keys that do not decode count as missing: the service rewrites them.
                let keys = match d.get("sortk") {
                    Some(Bson::Document(k)) => mongodb::bson::from_document(k.clone()).ok(),
                    _ => None,
                };
                out.push(SortRow {
                    uid,
                    internal_date: d.time("idate")?,
                    size: d.u64("size")?,
                    message_id: d.opt_str("msgid")?,
                    keys,
                });
            }
        }
        Ok(out)
    }

    async fn set_sort_keys_inner(&self, mailbox: ObjectId, keys: &[(u32, SortKeys)]) -> Result<()> {
        for (uid, k) in keys {
            self.coll(MESSAGES)
                .update_one(
                    doc! { "mailbox": oid(mailbox), "uid": i64::from(*uid) },
                    doc! { "$set": { "sortk": sort_doc(k)? } },
                )
                .await?;
        }
        Ok(())
    }

    async fn list_inner(
        &self,
        mailbox: ObjectId,
        uids: &UidSet,
        order: SortOrder,
        limit: u32,
    ) -> Result<Vec<MessageMeta>> {
        let dir = match order {
            SortOrder::Ascending => 1,
            SortOrder::Descending => -1,
        };
        let cap = if limit == 0 {
            usize::MAX
        } else {
            limit as usize
        };
        let mut steps = plan(uids);
        if order == SortOrder::Descending {
            steps.reverse();
        }
        let mut out = Vec::new();
        for (lo, hi, filter) in steps {
            if out.len() >= cap {
                break;
            }
            let coll = self.coll(MESSAGES);
            let mut find = coll
                .find(uid_filter(mailbox, lo, hi))
                .sort(doc! { "uid": dir });
            if limit > 0 && !filter {
                find = find.limit((cap - out.len()) as i64);
            }
            let mut cursor = find.await?;
            while let Some(d) = cursor.try_next().await? {
                if filter && !d.u32("uid").is_ok_and(|u| uids.contains(u)) {
                    continue;
                }
                out.push(meta(&d)?);
                if out.len() >= cap {
                    break;
                }
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl MessageStore for MongoStore {
    async fn resolve_thread(
        &self,
        user: ObjectId,
        thread_subject: &str,
        ids: &[String],
    ) -> StoreResult<ObjectId> {
        Ok(self
            .resolve_thread_inner(user, thread_subject, ids, Utc::now())
            .await?)
    }

    async fn append(&self, req: AppendRequest) -> StoreResult<Appended> {
        Ok(self.append_inner(req).await?)
    }

    async fn copy_messages(
        &self,
        user: ObjectId,
        source: ObjectId,
        uids: &UidSet,
        target: ObjectId,
        quota_limit: Option<u64>,
    ) -> StoreResult<Vec<CopiedMessage>> {
        Ok(self
            .transfer(user, source, uids, target, quota_limit, false)
            .await?)
    }

    async fn move_messages(
        &self,
        user: ObjectId,
        source: ObjectId,
        uids: &UidSet,
        target: ObjectId,
    ) -> StoreResult<Vec<CopiedMessage>> {
        Ok(self
            .transfer(user, source, uids, target, None, true)
            .await?)
    }

    async fn update_flags(
        &self,
        mailbox: ObjectId,
        uids: &UidSet,
        update: &FlagUpdate,
    ) -> StoreResult<FlagsChanged> {
        Ok(self.update_flags_inner(mailbox, uids, update).await?)
    }

    async fn expunge(
        &self,
        mailbox: ObjectId,
        uids: &UidSet,
        only_deleted: bool,
    ) -> StoreResult<Vec<u32>> {
        Ok(self
            .expunge_inner(mailbox, uids, only_deleted, None)
            .await?)
    }

    async fn update_message_attributes(
        &self,
        mailbox: ObjectId,
        uid: u32,
        meta_data: Option<serde_json::Value>,
        expires: Option<Option<DateTime<Utc>>>,
    ) -> StoreResult<bool> {
        let mut set = Document::new();
        let mut unset = Document::new();
        if let Some(m) = meta_data {
            set.insert("meta", json_text(&m)?);
        }
        match expires {
            Some(Some(e)) => {
                set.insert("exp", date(e));
            }
            Some(None) => {
                unset.insert("exp", "");
            }
            None => {}
        }
        let filter = doc! { "mailbox": oid(mailbox), "uid": i64::from(uid) };
        let coll = self.coll(MESSAGES);
        if set.is_empty() && unset.is_empty() {
            let found = coll
                .find_one(filter)
                .projection(doc! { "_id": 1 })
                .await
                .map_err(Error::from)?;
            return Ok(found.is_some());
        }
        let mut update = Document::new();
        if !set.is_empty() {
            update.insert("$set", set);
        }
        if !unset.is_empty() {
            update.insert("$unset", unset);
        }
        let r = coll.update_one(filter, update).await.map_err(Error::from)?;
        Ok(r.matched_count > 0)
    }

    async fn list_uids(&self, mailbox: ObjectId) -> StoreResult<Vec<u32>> {
        let docs: Vec<Document> = self
            .coll(MESSAGES)
            .find(doc! { "mailbox": oid(mailbox) })
            .projection(doc! { "_id": 0, "uid": 1 })
            .sort(doc! { "uid": 1 })
            .await
            .map_err(Error::from)?
            .try_collect()
            .await
            .map_err(Error::from)?;
        Ok(docs
            .iter()
            .map(|d| d.u32("uid"))
            .collect::<Result<Vec<_>>>()?)
    }

    async fn list_messages(
        &self,
        mailbox: ObjectId,
        uids: &UidSet,
        order: SortOrder,
        limit: u32,
    ) -> StoreResult<Vec<MessageMeta>> {
        Ok(self.list_inner(mailbox, uids, order, limit).await?)
    }

    async fn get_message(&self, mailbox: ObjectId, uid: u32) -> StoreResult<Option<StoredMessage>> {
        let d = self
            .coll(MESSAGES)
            .find_one(doc! { "mailbox": oid(mailbox), "uid": i64::from(uid) })
            .await
            .map_err(Error::from)?;
        let Some(d) = d else {
            return Ok(None);
        };
        let meta = meta(&d)?;
        let (index, layout, skeleton) = self.load_content(meta.content).await?;
        Ok(Some(StoredMessage {
            meta,
            index,
            layout,
            skeleton,
        }))
    }

    async fn get_messages(
        &self,
        mailbox: ObjectId,
        uids: &[u32],
    ) -> StoreResult<Vec<StoredMessage>> {
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let docs: Vec<Document> = self
            .coll(MESSAGES)
            .find(
                doc! { "mailbox": oid(mailbox), "uid": { "$in": uid_list(uids.iter().copied()) } },
            )
            .await
            .map_err(Error::from)?
            .try_collect()
            .await
            .map_err(Error::from)?;
        let mut rows: HashMap<u32, MessageMeta> = HashMap::with_capacity(docs.len());
        for d in &docs {
            let m = meta(d)?;
            rows.insert(m.uid, m);
        }
        let mut ids: Vec<ObjectId> = rows.values().map(|m| m.content).collect();
        ids.sort_unstable();
        ids.dedup();
        let contents = self.content_docs(&ids).await?;
        let mut out = Vec::with_capacity(rows.len());
        for uid in uids {
            let Some(meta) = rows.remove(uid) else {
                continue;
            };
            // Released since the row was read: the message is gone.
            let Some(d) = contents.get(&meta.content) else {
                continue;
            };
            let (index, layout, skeleton) = self.content_from_doc(d).await?;
            out.push(StoredMessage {
                meta,
                index,
                layout,
                skeleton,
            });
        }
        Ok(out)
    }

    async fn fetch_messages(
        &self,
        mailbox: ObjectId,
        uids: &UidSet,
        want: FetchWant,
    ) -> StoreResult<Vec<FetchedMessage>> {
        let rows = self
            .list_inner(mailbox, uids, SortOrder::Ascending, 0)
            .await?;
        let mut ids: Vec<ObjectId> = rows.iter().map(|m| m.content).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut parts = std::collections::HashMap::new();
        // Bounded `$in` lists keep each query document small.
        for batch in ids.chunks(1000) {
            parts.extend(self.load_parts(batch, want).await?);
        }
        let mut out = Vec::with_capacity(rows.len());
        for meta in rows {
            let (imap, body) = match parts.get(&meta.content) {
                Some(p) => p.clone(),
                // Released since the rows were read: the message is gone.
                None if want.imap || want.body => continue,
                None => (None, None),
            };
            out.push(FetchedMessage { meta, imap, body });
        }
        Ok(out)
    }

    async fn get_message_meta_by_id(
        &self,
        user: ObjectId,
        id: ObjectId,
    ) -> StoreResult<Option<MessageMeta>> {
        let d = self
            .coll(MESSAGES)
            .find_one(doc! { "_id": oid(id) })
            .await
            .map_err(Error::from)?
            // By `_id` alone (an index scan on every server), then the owner.
            .filter(|d| d.get("user") == Some(&Bson::ObjectId(oid(user))));
        Ok(d.as_ref().map(meta).transpose()?)
    }

    async fn sort_rows(&self, mailbox: ObjectId, uids: &UidSet) -> StoreResult<Vec<SortRow>> {
        Ok(self.sort_rows_inner(mailbox, uids).await?)
    }

    async fn set_sort_keys(&self, mailbox: ObjectId, keys: &[(u32, SortKeys)]) -> StoreResult<()> {
        Ok(self.set_sort_keys_inner(mailbox, keys).await?)
    }

    async fn search(&self, query: &SearchQuery) -> StoreResult<Vec<MessageMeta>> {
        Ok(self.search_inner(query).await?)
    }

    async fn journal_since(&self, mailbox: ObjectId, since: u64) -> StoreResult<Vec<JournalEntry>> {
        Ok(self.journal_entries_since(mailbox, since).await?)
    }

    async fn user_journal_after(
        &self,
        user: ObjectId,
        after: u64,
        limit: u32,
    ) -> StoreResult<Vec<JournalEntry>> {
        Ok(self.journal_user_after(user, after, limit).await?)
    }

    async fn last_journal_id(&self) -> StoreResult<u64> {
        Ok(self.journal_last_id().await?)
    }

    async fn journal_floor(&self, mailbox: ObjectId) -> StoreResult<u64> {
        Ok(self.journal_floor_of(mailbox).await?)
    }

    async fn prune_journal(&self, before: DateTime<Utc>, limit: u32) -> StoreResult<u64> {
        Ok(self.journal_prune(before, limit).await?)
    }

    async fn purge_orphan_threads(
        &self,
        before: DateTime<Utc>,
        after: Option<ObjectId>,
        limit: u32,
    ) -> StoreResult<(u64, Option<ObjectId>)> {
        Ok(self
            .purge_orphan_threads_inner(before, after, limit)
            .await?)
    }

    async fn expired_messages(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<(ObjectId, u32)>> {
        let coll = self.coll(MESSAGES);
        let mut find = coll
            .find(doc! { "exp": { "$lte": date(now) } })
            .projection(doc! { "mailbox": 1, "uid": 1 })
            .sort(doc! { "exp": 1 });
        if limit > 0 {
            find = find.limit(i64::from(limit));
        }
        let docs: Vec<Document> = find
            .await
            .map_err(Error::from)?
            .try_collect()
            .await
            .map_err(Error::from)?;
        Ok(docs
            .iter()
            .map(|d| Ok((d.id("mailbox")?, d.u32("uid")?)))
            .collect::<Result<Vec<_>>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upd(op: FlagOp, flags: &[&str]) -> FlagUpdate {
        FlagUpdate {
            op,
            flags: flags.iter().map(|s| s.to_string()).collect(),
            unchanged_since: None,
        }
    }

    #[test]
    fn flag_ops() {
        let cur = vec!["$A".to_string(), "\\Seen".to_string()];
        assert_eq!(apply_op(&cur, &upd(FlagOp::Add, &["\\seen"])), cur);
        assert_eq!(
            apply_op(&cur, &upd(FlagOp::Add, &["\\Flagged"])),
            vec!["$A", "\\Flagged", "\\Seen"]
        );
        assert_eq!(
            apply_op(&cur, &upd(FlagOp::Remove, &["$a"])),
            vec!["\\Seen"]
        );
        assert!(apply_op(&cur, &upd(FlagOp::Replace, &[])).is_empty());
    }

    #[test]
    fn uid_plans() {
        assert_eq!(plan(&UidSet::all()), vec![(1, u32::MAX, false)]);
        let many = UidSet::from_uids((0..30).map(|i| 1 + 2 * i));
        assert_eq!(plan(&many), vec![(1, 59, true)]);
        assert!(plan(&UidSet::new()).is_empty());
    }

    #[test]
    fn retention() {
        let t = DateTime::from_timestamp_millis(1_000).expect("t");
        assert_eq!(retention_expiry(0, t), None);
        assert_eq!(
            retention_expiry(500, t).map(|d| d.timestamp_millis()),
            Some(1_500)
        );
    }
}
