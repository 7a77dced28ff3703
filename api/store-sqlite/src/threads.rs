//! Thread resolution: a message joins the thread of any Message-ID it references,
//! else a recent thread of the user with the same normalized subject, else a new one.

use chrono::{DateTime, Duration, Utc};
use eider_service::ObjectId;
use rusqlite::{params, OptionalExtension, Transaction};

use crate::codec::{get_oid, ms};
use crate::error::Result;

/// A subject alone joins a thread only if that thread was active this recently.
const SUBJECT_WINDOW_DAYS: i64 = 30;
/// References headers can be long; the newest ids are enough to find the thread.
const MAX_IDS: usize = 64;

pub(crate) fn resolve(
    tx: &Transaction<'_>,
    user: ObjectId,
    subject: &str,
    ids: &[String],
    now: DateTime<Utc>,
) -> Result<ObjectId> {
    let mut ids: Vec<&str> = ids
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids.truncate(MAX_IDS);

    let mut by_ref =
        tx.prepare_cached("SELECT thread FROM thread_refs WHERE user = ?1 AND ref = ?2")?;
    let mut found = None;
    for id in &ids {
        if let Some(t) = by_ref
            .query_row(params![&user.0, id], |r| get_oid(r, 0))
            .optional()?
        {
            found = Some(t);
            break;
        }
    }
    if found.is_none() && !subject.is_empty() {
        let since = ms(now - Duration::days(SUBJECT_WINDOW_DAYS));
        found = tx
            .prepare_cached(
                "SELECT id FROM threads WHERE user = ?1 AND subject = ?2 AND updated >= ?3
                 ORDER BY updated DESC LIMIT 1",
            )?
            .query_row(params![&user.0, subject, since], |r| get_oid(r, 0))
            .optional()?;
    }
    let thread = match found {
        Some(t) => {
            tx.prepare_cached("UPDATE threads SET updated = ?2 WHERE id = ?1")?
                .execute(params![&t.0, ms(now)])?;
            t
        }
        None => {
            let t = ObjectId::new();
            tx.prepare_cached(
                "INSERT INTO threads (id, user, subject, updated) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![&t.0, &user.0, subject, ms(now)])?;
            t
        }
    };
    // Ids already mapped keep their thread: the first thread to claim an id wins.
    let mut link = tx.prepare_cached(
        "INSERT OR IGNORE INTO thread_refs (user, ref, thread) VALUES (?1, ?2, ?3)",
    )?;
    for id in &ids {
        link.execute(params![&user.0, id, &thread.0])?;
    }
    Ok(thread)
}

/// Delete threads without messages not updated since `before`, examining `limit`
/// threads after `after` in id order (see `MessageStore::purge_orphan_threads`).
pub(crate) fn purge_orphans(
    tx: &Transaction<'_>,
    before: DateTime<Utc>,
    after: Option<ObjectId>,
    limit: u32,
) -> Result<(u64, Option<ObjectId>)> {
    let start = after.map(|a| a.0.to_vec()).unwrap_or_default();
    let batch: Vec<(ObjectId, i64)> = tx
        .prepare_cached("SELECT id, updated FROM threads WHERE id > ?1 ORDER BY id LIMIT ?2")?
        .query_map(params![start, i64::from(limit)], |r| {
            Ok((get_oid(r, 0)?, r.get(1)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let last = if batch.len() < limit as usize {
        None
    } else {
        batch.last().map(|(id, _)| *id)
    };
    let before = ms(before);
    let mut used = tx.prepare_cached("SELECT 1 FROM messages WHERE thread = ?1 LIMIT 1")?;
    let mut n = 0;
    for (id, updated) in batch {
        if updated >= before || used.exists([&id.0])? {
            continue;
        }
        tx.prepare_cached("DELETE FROM thread_refs WHERE thread = ?1")?
            .execute([&id.0])?;
        tx.prepare_cached("DELETE FROM threads WHERE id = ?1")?
            .execute([&id.0])?;
        n += 1;
    }
    Ok((n, last))
}
