//! The write-ahead journal: one row per change, written in the transaction that
//! makes the change. Sessions read it by (mailbox, modseq); the SSE stream by (user, id).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use eider_service::model::{JournalEntry, JournalKind};
use eider_service::ObjectId;
use rusqlite::{params, OptionalExtension, Row, Transaction};

use crate::codec::{get_oid, get_opt_oid, get_time, get_u64, int, ms, parse_flags};
use crate::error::Result;

/// One journal row to write.
pub(crate) struct Entry<'a> {
    pub(crate) user: ObjectId,
    pub(crate) mailbox: ObjectId,
    pub(crate) modseq: u64,
    pub(crate) kind: JournalKind,
    pub(crate) uid: Option<u32>,
    pub(crate) message: Option<ObjectId>,
    /// Space-separated flags (the messages table's encoding).
    pub(crate) flags: &'a str,
    pub(crate) path: Option<&'a str>,
}

impl<'a> Entry<'a> {
    /// A mailbox-level event (no modseq, no message).
    pub(crate) fn mailbox(
        user: ObjectId,
        mailbox: ObjectId,
        kind: JournalKind,
        path: &'a str,
    ) -> Self {
        Self {
            user,
            mailbox,
            modseq: 0,
            kind,
            uid: None,
            message: None,
            flags: "",
            path: Some(path),
        }
    }
}

fn kind_code(k: JournalKind) -> i64 {
    match k {
        JournalKind::Exists => 1,
        JournalKind::Expunge => 2,
        JournalKind::Flags => 3,
        JournalKind::MailboxCreate => 4,
        JournalKind::MailboxRename => 5,
        JournalKind::MailboxDelete => 6,
    }
}

fn kind_of(code: i64) -> Option<JournalKind> {
    Some(match code {
        1 => JournalKind::Exists,
        2 => JournalKind::Expunge,
        3 => JournalKind::Flags,
        4 => JournalKind::MailboxCreate,
        5 => JournalKind::MailboxRename,
        6 => JournalKind::MailboxDelete,
        _ => return None,
    })
}

pub(crate) fn append(tx: &Transaction<'_>, e: &Entry<'_>) -> Result<()> {
    // OR FAIL spares a statement journal per entry (see `transfer` in messages.rs).
    tx.prepare_cached(
        "INSERT OR FAIL INTO journal (user, mailbox, modseq, kind, uid, message, flags, path, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        &e.user.0,
        &e.mailbox.0,
        int(e.modseq),
        kind_code(e.kind),
        e.uid,
        e.message.as_ref().map(|m| m.0),
        e.flags,
        e.path,
        ms(Utc::now()),
    ])?;
    Ok(())
}

const COLS: &str = "id, user, mailbox, modseq, kind, uid, message, flags, path, created";

fn entry(row: &Row<'_>) -> rusqlite::Result<JournalEntry> {
    let code: i64 = row.get(4)?;
    let kind = kind_of(code).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            4,
            rusqlite::types::Type::Integer,
            format!("unknown journal kind {code}").into(),
        )
    })?;
    Ok(JournalEntry {
        id: get_u64(row, 0)?,
        user: get_oid(row, 1)?,
        mailbox: get_oid(row, 2)?,
        modseq: get_u64(row, 3)?,
        kind,
        uid: row.get(5)?,
        message: get_opt_oid(row, 6)?,
        flags: parse_flags(row.get_ref(7)?.as_str_or_null()?.unwrap_or("")),
        path: row.get(8)?,
        created: get_time(row, 9)?,
    })
}

/// Message entries of a mailbox with modseq > `since`, in the order they were written.
pub(crate) fn since(
    tx: &Transaction<'_>,
    mailbox: ObjectId,
    since: u64,
) -> Result<Vec<JournalEntry>> {
    let sql = format!(
        "SELECT {COLS} FROM journal WHERE mailbox = ?1 AND modseq > ?2 ORDER BY modseq, id"
    );
    let rows = tx
        .prepare_cached(&sql)?
        .query_map(params![&mailbox.0, int(since)], entry)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// A user's entries with id > `after`, at most `limit` (0 = no limit).
pub(crate) fn user_after(
    tx: &Transaction<'_>,
    user: ObjectId,
    after: u64,
    limit: u32,
) -> Result<Vec<JournalEntry>> {
    let sql =
        format!("SELECT {COLS} FROM journal WHERE user = ?1 AND id > ?2 ORDER BY id LIMIT ?3");
    let limit = if limit == 0 { -1 } else { i64::from(limit) };
    let rows = tx
        .prepare_cached(&sql)?
        .query_map(params![&user.0, int(after), limit], entry)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// The highest id ever assigned (kept by AUTOINCREMENT even when rows are deleted).
pub(crate) fn last_id(tx: &Transaction<'_>) -> Result<u64> {
    let v: i64 = tx.query_row(
        "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'journal'), 0)",
        [],
        |r| r.get(0),
    )?;
    Ok(v.max(0) as u64)
}

/// The highest MODSEQ pruned from the mailbox's journal (0 for an unknown mailbox).
pub(crate) fn floor(tx: &Transaction<'_>, mailbox: ObjectId) -> Result<u64> {
    let v: Option<i64> = tx
        .prepare_cached("SELECT journal_floor FROM mailboxes WHERE id = ?1")?
        .query_row([&mailbox.0], |r| r.get(0))
        .optional()?;
    Ok(v.unwrap_or(0).max(0) as u64)
}

/// One pruning batch (see `MessageStore::prune_journal`).
pub(crate) fn prune(tx: &Transaction<'_>, before: DateTime<Utc>, limit: u32) -> Result<u64> {
    let before = ms(before);
    // The oldest entries by id (ids grow with time), up to the first one to keep.
    let mut tops: HashMap<Vec<u8>, i64> = HashMap::new();
    {
        let mut oldest =
            tx.prepare_cached("SELECT mailbox, modseq, created FROM journal ORDER BY id LIMIT ?1")?;
        let mut rows = oldest.query([i64::from(limit)])?;
        while let Some(r) = rows.next()? {
            let created: i64 = r.get(2)?;
            if created >= before {
                break;
            }
            let modseq: i64 = r.get(1)?;
            let top = tops.entry(r.get(0)?).or_insert(modseq);
            *top = (*top).max(modseq);
        }
    }
    let mut raise = tx.prepare_cached(
        "UPDATE mailboxes SET journal_floor = MAX(journal_floor, ?2) WHERE id = ?1",
    )?;
    let mut delete =
        tx.prepare_cached("DELETE FROM journal WHERE mailbox = ?1 AND modseq <= ?2")?;
    let mut n = 0u64;
    for (mailbox, top) in &tops {
        raise.execute(params![mailbox, top])?;
        n += delete.execute(params![mailbox, top])? as u64;
    }
    Ok(n)
}
