//! Message rows: append, copy, move, flag updates, expunge and reads. Every change
//! allocates MODSEQ from the mailbox row, writes journal entries, keeps the mailbox
//! counters and the user's storage in step, all in the caller's transaction.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use eider_message::BlobHash;
use eider_service::model::{
    AppendRequest, Appended, CopiedMessage, FetchWant, FetchedMessage, FlagOp, FlagUpdate,
    FlagsChanged, JournalEntry, JournalKind, ListedMessage, MessageMeta, SearchQuery, SortKeys,
    SortOrder, SortRow, StoredMessage, ThreadRef, UidSet,
};
use eider_service::{MessageStore, ObjectId, StoreError, StoreResult};
use rusqlite::{params, OptionalExtension, Row, Transaction};

use crate::codec::{
    flag_set, flags_text, get_flags, get_json, get_oid, get_opt_time, get_time, get_u64, has_flag,
    int, json, ms,
};
use crate::content::{self, PreparedContent};
use crate::error::{Result, SqliteError};
use crate::journal::{self, Entry};
use crate::mailboxes::{self, Delta};
use crate::{search, threads, users, SqliteStore};

/// Blob bytes above which an append prepares its content on a blocking thread and
/// first asks which blobs are stored already (so it does not compress them again).
const OFFLOAD_BYTES: usize = 16 * 1024;

pub(crate) const COLS: &str = "oid, user, mailbox, uid, modseq, flags, internal_date, \
    header_date, size, thread, content_oid, subject, message_id, has_attachments, expires, meta_data";

pub(crate) fn meta(row: &Row<'_>) -> rusqlite::Result<MessageMeta> {
    Ok(MessageMeta {
        id: get_oid(row, 0)?,
        user: get_oid(row, 1)?,
        mailbox: get_oid(row, 2)?,
        uid: row.get(3)?,
        modseq: get_u64(row, 4)?,
        flags: get_flags(row, 5)?,
        internal_date: get_time(row, 6)?,
        header_date: get_opt_time(row, 7)?,
        size: get_u64(row, 8)?,
        thread: get_oid(row, 9)?,
        content: get_oid(row, 10)?,
        subject: row.get(11)?,
        message_id: row.get(12)?,
        has_attachments: row.get(13)?,
        expires: get_opt_time(row, 14)?,
        meta_data: get_json(row, 15)?,
    })
}

/// The columns of a row that writes need.
struct Handle {
    rowid: i64,
    uid: u32,
    oid: ObjectId,
    modseq: u64,
    flags: Vec<String>,
    seen: bool,
    deleted: bool,
    size: u64,
    content: i64,
    internal_date: DateTime<Utc>,
}

/// Rows of `mailbox` with UIDs in `uids`, ascending. One indexed range read per range.
fn handles(tx: &Transaction<'_>, mailbox: ObjectId, uids: &UidSet) -> Result<Vec<Handle>> {
    let mut stmt = tx.prepare_cached(
        "SELECT id, uid, oid, modseq, flags, seen, deleted, size, content, internal_date
         FROM messages WHERE mailbox = ?1 AND uid BETWEEN ?2 AND ?3 ORDER BY uid",
    )?;
    let mut out = Vec::new();
    for &(lo, hi) in uids.ranges() {
        let rows = stmt.query_map(params![&mailbox.0, lo, hi], |r| {
            Ok(Handle {
                rowid: r.get(0)?,
                uid: r.get(1)?,
                oid: get_oid(r, 2)?,
                modseq: get_u64(r, 3)?,
                flags: get_flags(r, 4)?,
                seen: r.get(5)?,
                deleted: r.get(6)?,
                size: get_u64(r, 7)?,
                content: r.get(8)?,
                internal_date: get_time(r, 9)?,
            })
        })?;
        for h in rows {
            out.push(h?);
        }
    }
    Ok(out)
}

pub(crate) fn next_uid(uid: u32) -> Result<u32> {
    uid.checked_add(1)
        .ok_or_else(|| SqliteError::corrupt("mailbox UID space exhausted"))
}

/// Expiry of a message placed in a mailbox with `retention` ms (0 = keep forever).
pub(crate) fn retention_expiry(retention: u64, internal_date: DateTime<Utc>) -> Option<i64> {
    (retention > 0).then(|| {
        let keep = Duration::milliseconds(i64::try_from(retention).unwrap_or(i64::MAX));
        internal_date.checked_add_signed(keep).map_or(i64::MAX, ms)
    })
}

/// The append request minus its content (which is prepared separately).
struct NewMessage {
    id: ObjectId,
    user: ObjectId,
    mailbox: ObjectId,
    flags: Vec<String>,
    internal_date: DateTime<Utc>,
    thread: ThreadRef,
    expires: Option<DateTime<Utc>>,
    meta_data: String,
    quota_limit: Option<u64>,
    dedupe_message_id: bool,
    /// The Date: header's day as written (schema v5), for SENT* searches.
    sent_day: Option<i32>,
    /// SORT/THREAD keys as JSON (schema v14).
    sort_keys: String,
}

fn append(tx: &Transaction<'_>, m: &NewMessage, c: &mut PreparedContent) -> Result<Appended> {
    let mbox = mailboxes::require(tx, m.mailbox, Some(m.user))?;
    if m.dedupe_message_id {
        if let Some(mid) = &c.message_id {
            let dup = tx
                .prepare_cached(
                    "SELECT oid, uid, modseq FROM messages
                     WHERE mailbox = ?1 AND message_id = ?2 ORDER BY uid LIMIT 1",
                )?
                .query_row(params![&m.mailbox.0, mid], |r| {
                    Ok((get_oid(r, 0)?, r.get::<_, u32>(1)?, get_u64(r, 2)?))
                })
                .optional()?;
            if let Some((id, uid, modseq)) = dup {
                return Ok(Appended {
                    id,
                    uid,
                    modseq,
                    uid_validity: mbox.uid_validity,
                    duplicate: true,
                });
            }
        }
    }
    users::check_quota(tx, m.user, c.size, m.quota_limit)?;
    let thread = match &m.thread {
        ThreadRef::Id(t) => *t,
        ThreadRef::Resolve { subject, ids } => {
            threads::resolve(tx, m.user, subject, ids, Utc::now())?
        }
    };
    let content_id = content::insert(tx, c)?;
    let uid = mbox.uid_next;
    let modseq = mbox.modify_index + 1;
    let flags = flag_set(&m.flags);
    let seen = has_flag(&flags, "\\Seen");
    let flags_str = flags_text(&flags);
    tx.prepare_cached(
        "INSERT INTO messages (oid, user, mailbox, uid, modseq, flags, seen, deleted, flagged,
             internal_date, header_date, size, thread, content, content_oid, subject, message_id,
             has_attachments, expires, meta_data, sent_day, sort_keys)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
             ?18, ?19, ?20, ?21, ?22)",
    )?
    .execute(params![
        &m.id.0,
        &m.user.0,
        &m.mailbox.0,
        uid,
        int(modseq),
        &flags_str,
        seen,
        has_flag(&flags, "\\Deleted"),
        has_flag(&flags, "\\Flagged"),
        ms(m.internal_date),
        c.header_date,
        int(c.size),
        &thread.0,
        content_id,
        &c.oid.0,
        &c.subject,
        &c.message_id,
        c.has_attachments,
        m.expires.map(ms),
        &m.meta_data,
        m.sent_day,
        &m.sort_keys,
    ])?;
    mailboxes::apply(
        tx,
        m.mailbox,
        &Delta {
            uid_next: Some(next_uid(uid)?),
            modify_index: Some(modseq),
            total: 1,
            unseen: i64::from(!seen),
            size: int(c.size),
        },
    )?;
    journal::append(
        tx,
        &Entry {
            user: m.user,
            mailbox: m.mailbox,
            modseq,
            kind: JournalKind::Exists,
            uid: Some(uid),
            message: Some(m.id),
            flags: &flags_str,
            path: None,
        },
    )?;
    users::add_storage(tx, m.user, int(c.size))?;
    Ok(Appended {
        id: m.id,
        uid,
        modseq,
        uid_validity: mbox.uid_validity,
        duplicate: false,
    })
}

/// Copy (or with `moving`, move) messages between two mailboxes of `user`.
fn transfer(
    tx: &Transaction<'_>,
    user: ObjectId,
    source: ObjectId,
    uids: &UidSet,
    target: ObjectId,
    quota_limit: Option<u64>,
    moving: bool,
) -> Result<Vec<CopiedMessage>> {
    mailboxes::require(tx, source, Some(user))?;
    let tgt = mailboxes::require(tx, target, Some(user))?;
    let rows = handles(tx, source, uids)?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let total_size: u64 = rows.iter().map(|h| h.size).sum();
    if !moving {
        users::check_quota(tx, user, total_size, quota_limit)?;
    }
    // One MODSEQ for everything this call adds to the target.
    let modseq = tgt.modify_index + 1;
    let mut uid = tgt.uid_next;
    let mut out = Vec::with_capacity(rows.len());
    let mut unseen = 0i64;
    {
        // OR FAIL, not the default ABORT: an ABORT statement that writes several
        // b-trees opens a statement journal, and releasing it walks the pages this
        // transaction dirtied, so a 1,000-message COPY spent a quarter of its time
        // there. Each statement writes one row, and a failure still rolls back the
        // whole request's savepoint, so FAIL loses nothing.
        let mut copy = tx.prepare_cached(
            "INSERT OR FAIL INTO messages (oid, user, mailbox, uid, modseq, flags, seen, deleted, flagged,
                 internal_date, header_date, size, thread, content, content_oid, subject,
                 message_id, has_attachments, expires, meta_data, sent_day, sort_keys)
             SELECT ?2, user, ?3, ?4, ?5, flags, seen, deleted, flagged, internal_date,
                 header_date, size, thread, content, content_oid, subject, message_id,
                 has_attachments, ?6, meta_data, sent_day, sort_keys
             FROM messages WHERE id = ?1",
        )?;
        // A move re-homes the row: its content reference simply carries over.
        let mut rehome = tx.prepare_cached(
            "UPDATE messages SET oid = ?2, mailbox = ?3, uid = ?4, modseq = ?5, expires = ?6
             WHERE id = ?1",
        )?;
        for h in &rows {
            let id = ObjectId::new();
            // The target's retention decides expiry, as for a delivery into it.
            let expires = retention_expiry(tgt.retention, h.internal_date);
            let p = params![h.rowid, &id.0, &target.0, uid, int(modseq), expires];
            if moving {
                rehome.execute(p)?;
            } else {
                copy.execute(p)?;
                content::acquire(tx, h.content)?;
            }
            let flags_str = flags_text(&h.flags);
            journal::append(
                tx,
                &Entry {
                    user,
                    mailbox: target,
                    modseq,
                    kind: JournalKind::Exists,
                    uid: Some(uid),
                    message: Some(id),
                    flags: &flags_str,
                    path: None,
                },
            )?;
            unseen += i64::from(!h.seen);
            out.push(CopiedMessage {
                source_uid: h.uid,
                uid,
                id,
            });
            uid = next_uid(uid)?;
        }
    }
    let n = rows.len() as i64;
    mailboxes::apply(
        tx,
        target,
        &Delta {
            uid_next: Some(uid),
            modify_index: Some(modseq),
            total: n,
            unseen,
            size: int(total_size),
        },
    )?;
    if moving {
        // Read again: with source == target the row was just updated.
        let src = mailboxes::require(tx, source, Some(user))?;
        let smodseq = src.modify_index + 1;
        for h in &rows {
            journal::append(
                tx,
                &Entry {
                    user,
                    mailbox: source,
                    modseq: smodseq,
                    kind: JournalKind::Expunge,
                    uid: Some(h.uid),
                    message: Some(h.oid),
                    flags: "",
                    path: None,
                },
            )?;
        }
        mailboxes::apply(
            tx,
            source,
            &Delta {
                uid_next: None,
                modify_index: Some(smodseq),
                total: -n,
                unseen: -unseen,
                size: -int(total_size),
            },
        )?;
    } else {
        users::add_storage(tx, user, int(total_size))?;
    }
    Ok(out)
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

fn update_flags(
    tx: &Transaction<'_>,
    mailbox: ObjectId,
    uids: &UidSet,
    update: &FlagUpdate,
) -> Result<FlagsChanged> {
    let mbox = mailboxes::require(tx, mailbox, None)?;
    let mut result = FlagsChanged {
        modseq: mbox.modify_index,
        ..FlagsChanged::default()
    };
    let mut changes = Vec::new();
    for h in handles(tx, mailbox, uids)? {
        // RFC 7162: a message modified after UNCHANGEDSINCE fails the STORE,
        // even when the store would not change it.
        if update.unchanged_since.is_some_and(|since| h.modseq > since) {
            result.conflicts.push(h.uid);
            continue;
        }
        let new = apply_op(&h.flags, update);
        if new != h.flags {
            changes.push((h, new));
        }
    }
    if changes.is_empty() {
        return Ok(result);
    }
    let modseq = mbox.modify_index + 1;
    let mut unseen = 0i64;
    let mut set = tx.prepare_cached(
        "UPDATE messages SET flags = ?2, seen = ?3, deleted = ?4, flagged = ?5, modseq = ?6
         WHERE id = ?1",
    )?;
    for (h, new) in changes {
        let seen = has_flag(&new, "\\Seen");
        let text = flags_text(&new);
        set.execute(params![
            h.rowid,
            &text,
            seen,
            has_flag(&new, "\\Deleted"),
            has_flag(&new, "\\Flagged"),
            int(modseq),
        ])?;
        unseen += i64::from(h.seen) - i64::from(seen);
        journal::append(
            tx,
            &Entry {
                user: mbox.user,
                mailbox,
                modseq,
                kind: JournalKind::Flags,
                uid: Some(h.uid),
                message: Some(h.oid),
                flags: &text,
                path: None,
            },
        )?;
        result.changed.push((h.uid, new, modseq));
    }
    mailboxes::apply(
        tx,
        mailbox,
        &Delta {
            modify_index: Some(modseq),
            unseen,
            ..Delta::default()
        },
    )?;
    result.modseq = modseq;
    Ok(result)
}

/// When an expunge archives its messages: (archived, purge_after) in ms.
pub(crate) type ArchiveStamp = Option<(i64, i64)>;

/// Remove messages; with `archive`, rows not flagged \Draft move to the archive
/// with their content reference instead of releasing it.
pub(crate) fn expunge(
    tx: &Transaction<'_>,
    mailbox: ObjectId,
    uids: &UidSet,
    only_deleted: bool,
    archive: ArchiveStamp,
) -> Result<Vec<u32>> {
    let mbox = mailboxes::require(tx, mailbox, None)?;
    let rows: Vec<Handle> = handles(tx, mailbox, uids)?
        .into_iter()
        .filter(|h| !only_deleted || h.deleted)
        .collect();
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let modseq = mbox.modify_index + 1;
    let (mut size, mut unseen) = (0u64, 0i64);
    let mut delete = tx.prepare_cached("DELETE FROM messages WHERE id = ?1")?;
    let mut to_archive = tx.prepare_cached(
        "INSERT INTO archived (oid, user, mailbox, uid, modseq, flags, seen, deleted, flagged,
             internal_date, header_date, size, thread, content, content_oid, subject, message_id,
             has_attachments, expires, meta_data, sent_day, archived, purge_after)
         SELECT oid, user, mailbox, uid, modseq, flags, seen, deleted, flagged,
             internal_date, header_date, size, thread, content, content_oid, subject, message_id,
             has_attachments, expires, meta_data, sent_day, ?2, ?3
         FROM messages WHERE id = ?1",
    )?;
    for h in &rows {
        match archive {
            // The archived row keeps the content reference: no release.
            Some((at, until)) if !has_flag(&h.flags, "\\Draft") => {
                to_archive.execute(params![h.rowid, at, until])?;
            }
            _ => content::release(tx, h.content)?,
        }
        delete.execute([h.rowid])?;
        journal::append(
            tx,
            &Entry {
                user: mbox.user,
                mailbox,
                modseq,
                kind: JournalKind::Expunge,
                uid: Some(h.uid),
                message: Some(h.oid),
                flags: "",
                path: None,
            },
        )?;
        size += h.size;
        unseen += i64::from(!h.seen);
    }
    mailboxes::apply(
        tx,
        mailbox,
        &Delta {
            modify_index: Some(modseq),
            total: -(rows.len() as i64),
            unseen: -unseen,
            size: -int(size),
            ..Delta::default()
        },
    )?;
    users::add_storage(tx, mbox.user, -int(size))?;
    Ok(rows.iter().map(|h| h.uid).collect())
}

/// Delete every message of a mailbox (mailbox or user deletion), releasing contents.
/// Writes no journal entries: the caller records the mailbox's end. Returns the bytes freed.
pub(crate) fn remove_all(tx: &Transaction<'_>, mailbox: ObjectId) -> Result<u64> {
    let rows: Vec<(i64, i64)> = tx
        .prepare_cached("SELECT content, size FROM messages WHERE mailbox = ?1")?
        .query_map([&mailbox.0], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut freed = 0u64;
    for (content_id, size) in rows {
        content::release(tx, content_id)?;
        freed += size.max(0) as u64;
    }
    tx.prepare_cached("DELETE FROM messages WHERE mailbox = ?1")?
        .execute([&mailbox.0])?;
    Ok(freed)
}

fn update_attributes(
    tx: &Transaction<'_>,
    mailbox: ObjectId,
    uid: u32,
    meta_data: Option<String>,
    expires: Option<Option<DateTime<Utc>>>,
) -> Result<bool> {
    let n = tx
        .prepare_cached(
            "UPDATE messages SET
                 meta_data = COALESCE(?3, meta_data),
                 expires = CASE WHEN ?4 THEN ?5 ELSE expires END
             WHERE mailbox = ?1 AND uid = ?2",
        )?
        .execute(params![
            &mailbox.0,
            uid,
            meta_data,
            expires.is_some(),
            expires.flatten().map(ms),
        ])?;
    Ok(n > 0)
}

fn list_uids(tx: &Transaction<'_>, mailbox: ObjectId) -> Result<Vec<u32>> {
    let rows = tx
        .prepare_cached("SELECT uid FROM messages WHERE mailbox = ?1 ORDER BY uid")?
        .query_map([&mailbox.0], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

fn list(
    tx: &Transaction<'_>,
    mailbox: ObjectId,
    uids: &UidSet,
    order: SortOrder,
    limit: u32,
) -> Result<Vec<MessageMeta>> {
    let dir = match order {
        SortOrder::Ascending => "ASC",
        SortOrder::Descending => "DESC",
    };
    let sql = format!(
        "SELECT {COLS} FROM messages WHERE mailbox = ?1 AND uid BETWEEN ?2 AND ?3
         ORDER BY uid {dir} LIMIT ?4"
    );
    let mut stmt = tx.prepare_cached(&sql)?;
    let cap = if limit == 0 {
        usize::MAX
    } else {
        limit as usize
    };
    let mut out = Vec::new();
    let ranges: Box<dyn Iterator<Item = &(u32, u32)>> = match order {
        SortOrder::Ascending => Box::new(uids.ranges().iter()),
        SortOrder::Descending => Box::new(uids.ranges().iter().rev()),
    };
    for &(lo, hi) in ranges {
        if out.len() >= cap {
            break;
        }
        let left = if limit == 0 {
            -1
        } else {
            (cap - out.len()) as i64
        };
        for m in stmt.query_map(params![&mailbox.0, lo, hi, left], meta)? {
            out.push(m?);
        }
    }
    Ok(out)
}

fn get(tx: &Transaction<'_>, mailbox: ObjectId, uid: u32) -> Result<Option<StoredMessage>> {
    let sql = format!("SELECT {COLS}, content FROM messages WHERE mailbox = ?1 AND uid = ?2");
    let found = tx
        .prepare_cached(&sql)?
        .query_row(params![&mailbox.0, uid], |r| {
            Ok((meta(r)?, r.get::<_, i64>(16)?))
        })
        .optional()?;
    let Some((meta, content_id)) = found else {
        return Ok(None);
    };
    let (index, layout, skeleton) = content::load(tx, content_id)?;
    Ok(Some(StoredMessage {
        meta,
        index,
        layout,
        skeleton,
    }))
}

/// Rows of `uids` (in that order, missing ones left out) with their listing fields.
fn entries(tx: &Transaction<'_>, mailbox: ObjectId, uids: &[u32]) -> Result<Vec<ListedMessage>> {
    let sql = format!("SELECT {COLS}, content FROM messages WHERE mailbox = ?1 AND uid = ?2");
    let mut stmt = tx.prepare_cached(&sql)?;
    let mut out = Vec::with_capacity(uids.len());
    for &uid in uids {
        let found = stmt
            .query_row(params![&mailbox.0, uid], |r| {
                Ok((meta(r)?, r.get::<_, i64>(16)?))
            })
            .optional()?;
        if let Some((meta, content_id)) = found {
            let index = content::load_listing(tx, content_id)?;
            out.push(ListedMessage { meta, index });
        }
    }
    Ok(out)
}

/// Rows with UIDs in `uids` and the parts of their contents `want` names.
fn fetch(
    tx: &Transaction<'_>,
    mailbox: ObjectId,
    uids: &UidSet,
    want: FetchWant,
) -> Result<Vec<FetchedMessage>> {
    let sql = format!(
        "SELECT {COLS}, content FROM messages WHERE mailbox = ?1 AND uid BETWEEN ?2 AND ?3
         ORDER BY uid"
    );
    let mut stmt = tx.prepare_cached(&sql)?;
    let mut out = Vec::new();
    for &(lo, hi) in uids.ranges() {
        let rows = stmt.query_map(params![&mailbox.0, lo, hi], |r| {
            Ok((meta(r)?, r.get::<_, i64>(16)?))
        })?;
        for row in rows {
            let (meta, content_id) = row?;
            let (imap, body) = content::load_parts(tx, content_id, want)?;
            out.push(FetchedMessage { meta, imap, body });
        }
    }
    Ok(out)
}

fn sort_rows(tx: &Transaction<'_>, mailbox: ObjectId, uids: &UidSet) -> Result<Vec<SortRow>> {
    let mut stmt = tx.prepare_cached(
        "SELECT uid, internal_date, size, message_id, sort_keys FROM messages
         WHERE mailbox = ?1 AND uid BETWEEN ?2 AND ?3 ORDER BY uid",
    )?;
    let mut out = Vec::new();
    for &(lo, hi) in uids.ranges() {
        let rows = stmt.query_map(params![&mailbox.0, lo, hi], |r| {
            Ok((
                r.get::<_, u32>(0)?,
                get_time(r, 1)?,
                get_u64(r, 2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })?;
        for row in rows {
            let (uid, internal_date, size, message_id, keys) = row?;
            // A row whose keys do not decode is treated as one without keys: the
            // service recomputes and rewrites them.
            let keys = keys.and_then(|k| serde_json::from_str::<SortKeys>(&k).ok());
            out.push(SortRow {
                uid,
                internal_date,
                size,
                message_id,
                keys,
            });
        }
    }
    Ok(out)
}

fn set_sort_keys(tx: &Transaction<'_>, mailbox: ObjectId, keys: &[(u32, SortKeys)]) -> Result<()> {
    let mut stmt =
        tx.prepare_cached("UPDATE messages SET sort_keys = ?3 WHERE mailbox = ?1 AND uid = ?2")?;
    for (uid, k) in keys {
        stmt.execute(params![&mailbox.0, uid, json(k)?])?;
    }
    Ok(())
}

fn get_by_id(tx: &Transaction<'_>, user: ObjectId, id: ObjectId) -> Result<Option<MessageMeta>> {
    let sql = format!("SELECT {COLS} FROM messages WHERE oid = ?1 AND user = ?2");
    Ok(tx
        .prepare_cached(&sql)?
        .query_row(params![&id.0, &user.0], meta)
        .optional()?)
}

fn expired(tx: &Transaction<'_>, now: DateTime<Utc>, limit: u32) -> Result<Vec<(ObjectId, u32)>> {
    let limit = if limit == 0 { -1 } else { i64::from(limit) };
    let rows = tx
        .prepare_cached(
            "SELECT mailbox, uid FROM messages
             WHERE expires IS NOT NULL AND expires <= ?1 ORDER BY expires LIMIT ?2",
        )?
        .query_map(params![ms(now), limit], |r| Ok((get_oid(r, 0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Which of `hashes` are stored already.
fn known_blobs(tx: &Transaction<'_>, hashes: &[BlobHash]) -> Result<HashSet<BlobHash>> {
    let mut stmt = tx.prepare_cached("SELECT EXISTS (SELECT 1 FROM blobs WHERE hash = ?1)")?;
    let mut known = HashSet::new();
    for h in hashes {
        if stmt.query_row([&h.0], |r| r.get::<_, bool>(0))? {
            known.insert(*h);
        }
    }
    Ok(known)
}

#[async_trait]
impl MessageStore for SqliteStore {
    async fn resolve_thread(
        &self,
        user: ObjectId,
        thread_subject: &str,
        ids: &[String],
    ) -> StoreResult<ObjectId> {
        let (subject, ids) = (thread_subject.to_string(), ids.to_vec());
        self.write(move |tx| threads::resolve(tx, user, &subject, &ids, Utc::now()))
            .await
    }

    async fn append(&self, req: AppendRequest) -> StoreResult<Appended> {
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
        let m = NewMessage {
            sent_day: content.index.sent_day(),
            sort_keys: json(&content.index.sort_keys()).map_err(StoreError::from)?,
            id,
            user,
            mailbox,
            flags,
            internal_date,
            thread,
            expires,
            meta_data: json(&meta_data).map_err(StoreError::from)?,
            quota_limit,
            dedupe_message_id,
        };
        // Compression happens here, not on the writer thread that every commit waits for.
        let prepared = if content::blob_bytes(&content) < OFFLOAD_BYTES {
            content::prepare(content, &HashSet::new()).map_err(StoreError::from)?
        } else {
            let hashes = content::supplied_hashes(&content);
            let known = self.read(move |tx| known_blobs(tx, &hashes)).await?;
            tokio::task::spawn_blocking(move || content::prepare(content, &known))
                .await
                .map_err(|e| StoreError::Backend(format!("content preparation failed: {e}")))?
                .map_err(StoreError::from)?
        };
        let mut prepared = prepared;
        self.write(move |tx| append(tx, &m, &mut prepared)).await
    }

    async fn copy_messages(
        &self,
        user: ObjectId,
        source: ObjectId,
        uids: &UidSet,
        target: ObjectId,
        quota_limit: Option<u64>,
    ) -> StoreResult<Vec<CopiedMessage>> {
        let uids = uids.clone();
        self.write(move |tx| transfer(tx, user, source, &uids, target, quota_limit, false))
            .await
    }

    async fn move_messages(
        &self,
        user: ObjectId,
        source: ObjectId,
        uids: &UidSet,
        target: ObjectId,
    ) -> StoreResult<Vec<CopiedMessage>> {
        let uids = uids.clone();
        self.write(move |tx| transfer(tx, user, source, &uids, target, None, true))
            .await
    }

    async fn update_flags(
        &self,
        mailbox: ObjectId,
        uids: &UidSet,
        update: &FlagUpdate,
    ) -> StoreResult<FlagsChanged> {
        let (uids, update) = (uids.clone(), update.clone());
        self.write(move |tx| update_flags(tx, mailbox, &uids, &update))
            .await
    }

    async fn expunge(
        &self,
        mailbox: ObjectId,
        uids: &UidSet,
        only_deleted: bool,
    ) -> StoreResult<Vec<u32>> {
        let uids = uids.clone();
        self.write(move |tx| expunge(tx, mailbox, &uids, only_deleted, None))
            .await
    }

    async fn update_message_attributes(
        &self,
        mailbox: ObjectId,
        uid: u32,
        meta_data: Option<serde_json::Value>,
        expires: Option<Option<DateTime<Utc>>>,
    ) -> StoreResult<bool> {
        let meta_data = meta_data
            .map(|v| json(&v))
            .transpose()
            .map_err(StoreError::from)?;
        self.write(move |tx| update_attributes(tx, mailbox, uid, meta_data, expires))
            .await
    }

    async fn list_uids(&self, mailbox: ObjectId) -> StoreResult<Vec<u32>> {
        self.read(move |tx| list_uids(tx, mailbox)).await
    }

    async fn list_messages(
        &self,
        mailbox: ObjectId,
        uids: &UidSet,
        order: SortOrder,
        limit: u32,
    ) -> StoreResult<Vec<MessageMeta>> {
        let uids = uids.clone();
        self.read(move |tx| list(tx, mailbox, &uids, order, limit))
            .await
    }

    async fn get_message(&self, mailbox: ObjectId, uid: u32) -> StoreResult<Option<StoredMessage>> {
        self.read(move |tx| get(tx, mailbox, uid)).await
    }

    async fn fetch_messages(
        &self,
        mailbox: ObjectId,
        uids: &UidSet,
        want: FetchWant,
    ) -> StoreResult<Vec<FetchedMessage>> {
        let uids = uids.clone();
        self.read(move |tx| fetch(tx, mailbox, &uids, want)).await
    }

    async fn list_entries(
        &self,
        mailbox: ObjectId,
        uids: &[u32],
    ) -> StoreResult<Vec<ListedMessage>> {
        let uids = uids.to_vec();
        self.read(move |tx| entries(tx, mailbox, &uids)).await
    }

    async fn get_message_meta_by_id(
        &self,
        user: ObjectId,
        id: ObjectId,
    ) -> StoreResult<Option<MessageMeta>> {
        self.read(move |tx| get_by_id(tx, user, id)).await
    }

    async fn sort_rows(&self, mailbox: ObjectId, uids: &UidSet) -> StoreResult<Vec<SortRow>> {
        let uids = uids.clone();
        self.read(move |tx| sort_rows(tx, mailbox, &uids)).await
    }

    async fn set_sort_keys(&self, mailbox: ObjectId, keys: &[(u32, SortKeys)]) -> StoreResult<()> {
        let keys = keys.to_vec();
        self.write(move |tx| set_sort_keys(tx, mailbox, &keys))
            .await
    }

    async fn search(&self, query: &SearchQuery) -> StoreResult<Vec<MessageMeta>> {
        let q = query.clone();
        self.read(move |tx| search::run(tx, &q)).await
    }

    async fn journal_since(&self, mailbox: ObjectId, since: u64) -> StoreResult<Vec<JournalEntry>> {
        self.read(move |tx| journal::since(tx, mailbox, since))
            .await
    }

    async fn user_journal_after(
        &self,
        user: ObjectId,
        after: u64,
        limit: u32,
    ) -> StoreResult<Vec<JournalEntry>> {
        self.read(move |tx| journal::user_after(tx, user, after, limit))
            .await
    }

    async fn last_journal_id(&self) -> StoreResult<u64> {
        self.read(journal::last_id).await
    }

    async fn journal_floor(&self, mailbox: ObjectId) -> StoreResult<u64> {
        self.read(move |tx| journal::floor(tx, mailbox)).await
    }

    async fn prune_journal(&self, before: DateTime<Utc>, limit: u32) -> StoreResult<u64> {
        self.write(move |tx| journal::prune(tx, before, limit))
            .await
    }

    async fn purge_orphan_threads(
        &self,
        before: DateTime<Utc>,
        after: Option<ObjectId>,
        limit: u32,
    ) -> StoreResult<(u64, Option<ObjectId>)> {
        self.write(move |tx| threads::purge_orphans(tx, before, after, limit))
            .await
    }

    async fn expired_messages(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<(ObjectId, u32)>> {
        self.read(move |tx| expired(tx, now, limit)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::parse_flags;

    fn upd(op: FlagOp, flags: &[&str]) -> FlagUpdate {
        FlagUpdate {
            op,
            flags: flags.iter().map(|s| s.to_string()).collect(),
            unchanged_since: None,
        }
    }

    #[test]
    fn flag_ops() {
        let cur = parse_flags("$A \\Seen");
        assert_eq!(apply_op(&cur, &upd(FlagOp::Add, &["\\seen"])), cur);
        assert_eq!(
            apply_op(&cur, &upd(FlagOp::Add, &["\\Flagged"])),
            vec!["$A", "\\Flagged", "\\Seen"]
        );
        assert_eq!(
            apply_op(&cur, &upd(FlagOp::Remove, &["$a"])),
            vec!["\\Seen"]
        );
        assert_eq!(
            apply_op(&cur, &upd(FlagOp::Replace, &[])),
            Vec::<String>::new()
        );
    }

    #[test]
    fn retention() {
        let t = DateTime::from_timestamp_millis(1_000).expect("t");
        assert_eq!(retention_expiry(0, t), None);
        assert_eq!(retention_expiry(500, t), Some(1_500));
        assert_eq!(retention_expiry(u64::MAX, t), Some(i64::MAX));
    }
}
