//! Folders: creation, renames (several at once), settings, deletion with their
//! messages, and the counters kept on the mailbox row.

use async_trait::async_trait;
use eider_service::model::{JournalKind, Mailbox, MailboxCounters, SpecialUse};
use eider_service::{MailboxStore, ObjectId, StoreError, StoreResult};
use rusqlite::{params, OptionalExtension, Row, Transaction};

use crate::codec::{get_oid, get_time, get_u64, int, ms};
use crate::error::{is_unique_violation, Result, SqliteError};
use crate::journal::{self, Entry};
use crate::{messages, users, SqliteStore};

/// `subscribed` is whether the path is in the user's subscriptions (schema v5); the
/// column of that name is no longer read.
const COLS: &str = "id, user, path, special_use, uid_validity, uid_next, modify_index, \
                    EXISTS (SELECT 1 FROM subscriptions s
                            WHERE s.user = mailboxes.user AND s.path = mailboxes.path), \
                    retention, hidden, created";

fn mailbox(row: &Row<'_>) -> rusqlite::Result<Mailbox> {
    let special: Option<String> = row.get(3)?;
    Ok(Mailbox {
        id: get_oid(row, 0)?,
        user: get_oid(row, 1)?,
        path: row.get(2)?,
        special_use: special.as_deref().and_then(SpecialUse::parse),
        uid_validity: row.get(4)?,
        uid_next: row.get(5)?,
        modify_index: get_u64(row, 6)?,
        subscribed: row.get(7)?,
        retention: get_u64(row, 8)?,
        hidden: row.get(9)?,
        created: get_time(row, 10)?,
    })
}

fn path_conflict(e: rusqlite::Error) -> SqliteError {
    let e = SqliteError::from(e);
    if is_unique_violation(&e) {
        SqliteError::Store(StoreError::Conflict("path"))
    } else {
        e
    }
}

/// What message writes need from a mailbox row.
pub(crate) struct State {
    pub(crate) user: ObjectId,
    pub(crate) uid_next: u32,
    pub(crate) modify_index: u64,
    pub(crate) uid_validity: u32,
    pub(crate) retention: u64,
}

pub(crate) fn state(tx: &Transaction<'_>, id: ObjectId) -> Result<Option<State>> {
    Ok(tx
        .prepare_cached(
            "SELECT user, uid_next, modify_index, uid_validity, retention FROM mailboxes WHERE id = ?1",
        )?
        .query_row([&id.0], |r| {
            Ok(State {
                user: get_oid(r, 0)?,
                uid_next: r.get(1)?,
                modify_index: get_u64(r, 2)?,
                uid_validity: r.get(3)?,
                retention: get_u64(r, 4)?,
            })
        })
        .optional()?)
}

/// The mailbox's state, NotFound when it does not exist (or is not `user`'s).
pub(crate) fn require(tx: &Transaction<'_>, id: ObjectId, user: Option<ObjectId>) -> Result<State> {
    match state(tx, id)? {
        Some(s) if user.is_none_or(|u| u == s.user) => Ok(s),
        _ => Err(StoreError::NotFound.into()),
    }
}

/// Changes to a mailbox row made by one message operation.
#[derive(Default)]
pub(crate) struct Delta {
    pub(crate) uid_next: Option<u32>,
    pub(crate) modify_index: Option<u64>,
    pub(crate) total: i64,
    pub(crate) unseen: i64,
    pub(crate) size: i64,
}

pub(crate) fn apply(tx: &Transaction<'_>, id: ObjectId, d: &Delta) -> Result<()> {
    tx.prepare_cached(
        "UPDATE mailboxes SET
             uid_next = COALESCE(?2, uid_next),
             modify_index = COALESCE(?3, modify_index),
             total = MAX(total + ?4, 0),
             unseen = MAX(unseen + ?5, 0),
             size = MAX(size + ?6, 0)
         WHERE id = ?1",
    )?
    .execute(params![
        &id.0,
        d.uid_next,
        d.modify_index.map(int),
        d.total,
        d.unseen,
        d.size,
    ])?;
    Ok(())
}

pub(crate) fn insert(tx: &Transaction<'_>, m: &Mailbox) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO mailboxes (id, user, path, special_use, uid_validity, uid_next,
             modify_index, subscribed, retention, hidden, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        &m.id.0,
        &m.user.0,
        &m.path,
        m.special_use.map(|s| s.as_str()),
        m.uid_validity,
        m.uid_next.max(1),
        int(m.modify_index),
        // Unused since v5 (the subscriptions table holds subscriptions).
        false,
        int(m.retention),
        m.hidden,
        ms(m.created),
    ])
    .map_err(path_conflict)?;
    // A new unsubscribed mailbox leaves an earlier subscription of its name in place.
    if m.subscribed {
        subscribe(tx, m.user, &m.path, true)?;
    }
    Ok(())
}

/// Add or remove a name; true when the set changed.
fn subscribe(tx: &Transaction<'_>, user: ObjectId, path: &str, on: bool) -> Result<bool> {
    let sql = if on {
        "INSERT OR IGNORE INTO subscriptions (user, path) VALUES (?1, ?2)"
    } else {
        "DELETE FROM subscriptions WHERE user = ?1 AND path = ?2"
    };
    Ok(tx.prepare_cached(sql)?.execute(params![&user.0, path])? > 0)
}

fn subscriptions(tx: &Transaction<'_>, user: ObjectId) -> Result<Vec<String>> {
    let rows = tx
        .prepare_cached("SELECT path FROM subscriptions WHERE user = ?1 ORDER BY path")?
        .query_map([&user.0], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

fn list(tx: &Transaction<'_>, user: ObjectId) -> Result<Vec<Mailbox>> {
    let sql = format!("SELECT {COLS} FROM mailboxes WHERE user = ?1 ORDER BY id");
    let rows = tx
        .prepare_cached(&sql)?
        .query_map([&user.0], mailbox)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

fn get(tx: &Transaction<'_>, user: ObjectId, id: ObjectId) -> Result<Option<Mailbox>> {
    let sql = format!("SELECT {COLS} FROM mailboxes WHERE id = ?1 AND user = ?2");
    Ok(tx
        .prepare_cached(&sql)?
        .query_row(params![&id.0, &user.0], mailbox)
        .optional()?)
}

fn find(tx: &Transaction<'_>, user: ObjectId, path: &str) -> Result<Option<Mailbox>> {
    let sql = format!("SELECT {COLS} FROM mailboxes WHERE user = ?1 AND path = ?2");
    Ok(tx
        .prepare_cached(&sql)?
        .query_row(params![&user.0, path], mailbox)
        .optional()?)
}

fn create(tx: &Transaction<'_>, m: &Mailbox) -> Result<()> {
    if !users::exists(tx, m.user)? {
        return Err(StoreError::NotFound.into());
    }
    insert(tx, m)?;
    journal::append(
        tx,
        &Entry::mailbox(m.user, m.id, JournalKind::MailboxCreate, &m.path),
    )
}

fn rename(tx: &Transaction<'_>, user: ObjectId, renames: &[(ObjectId, String)]) -> Result<()> {
    let mut moved = Vec::new();
    for (id, new_path) in renames {
        require(tx, *id, Some(user))?;
        if let Some(m) = get(tx, user, *id)? {
            if m.subscribed {
                moved.push((m.path, new_path.clone()));
            }
        }
    }
    // RENAME moves the subscriptions of the renamed mailboxes with them, as Dovecot
    // does: a client that subscribed a folder keeps seeing it under its new name, and
    // no subscription is left behind on a name that no longer exists. Subscriptions of
    // names below the old one that have no mailbox are not renamed (nothing is).
    for (old, _) in &moved {
        subscribe(tx, user, old, false)?;
    }
    for (_, new) in &moved {
        subscribe(tx, user, new, true)?;
    }
    // Park every renamed mailbox on a unique placeholder first, so that renames among
    // themselves (a/b -> c while c -> d) never collide halfway; only a clash with a
    // mailbox outside the set (or two equal targets) is a conflict.
    let mut park = tx.prepare_cached("UPDATE mailboxes SET path = ?2 WHERE id = ?1")?;
    for (id, _) in renames {
        park.execute(params![&id.0, format!("\u{0}rename\u{0}{}", id.to_hex())])?;
    }
    // A rename takes the next MODSEQ so that readers of the mailbox's journal
    // (journal_since) see it.
    let mut bump = tx.prepare_cached(
        "UPDATE mailboxes SET modify_index = modify_index + 1 WHERE id = ?1 RETURNING modify_index",
    )?;
    for (id, path) in renames {
        park.execute(params![&id.0, path]).map_err(path_conflict)?;
        let modseq = bump.query_row([&id.0], |r| get_u64(r, 0))?;
        let mut e = Entry::mailbox(user, *id, JournalKind::MailboxRename, path);
        e.modseq = modseq;
        journal::append(tx, &e)?;
    }
    Ok(())
}

fn update(tx: &Transaction<'_>, m: &Mailbox) -> Result<()> {
    // The stored path and owner, not the caller's copy (which may predate a rename).
    let Some(current) = get(tx, m.user, m.id)? else {
        return Err(StoreError::NotFound.into());
    };
    tx.prepare_cached(
        "UPDATE mailboxes SET retention = ?2, hidden = ?3, special_use = ?4 WHERE id = ?1",
    )?
    .execute(params![
        &m.id.0,
        int(m.retention),
        m.hidden,
        m.special_use.map(|s| s.as_str()),
    ])?;
    if current.subscribed != m.subscribed {
        subscribe(tx, current.user, &current.path, m.subscribed)?;
    }
    Ok(())
}

fn delete(tx: &Transaction<'_>, user: ObjectId, id: ObjectId) -> Result<bool> {
    let Some(m) = get(tx, user, id)? else {
        return Ok(false);
    };
    let freed = messages::remove_all(tx, id)?;
    users::add_storage(tx, user, -int(freed))?;
    // The mailbox's message history goes with it; its deletion is the last word.
    tx.prepare_cached("DELETE FROM journal WHERE mailbox = ?1")?
        .execute([&id.0])?;
    tx.prepare_cached("DELETE FROM mailboxes WHERE id = ?1")?
        .execute([&id.0])?;
    // The mailbox's last MODSEQ, so that journal_since(mailbox, any seen MODSEQ) ends
    // with the deletion.
    let mut e = Entry::mailbox(user, id, JournalKind::MailboxDelete, &m.path);
    e.modseq = m.modify_index + 1;
    journal::append(tx, &e)?;
    Ok(true)
}

fn counters(tx: &Transaction<'_>, id: ObjectId) -> Result<MailboxCounters> {
    tx.prepare_cached("SELECT total, unseen, size FROM mailboxes WHERE id = ?1")?
        .query_row([&id.0], |r| {
            Ok(MailboxCounters {
                total: get_u64(r, 0)?,
                unseen: get_u64(r, 1)?,
                size: get_u64(r, 2)?,
            })
        })
        .optional()?
        .ok_or(SqliteError::Store(StoreError::NotFound))
}

#[async_trait]
impl MailboxStore for SqliteStore {
    async fn list_mailboxes(&self, user: ObjectId) -> StoreResult<Vec<Mailbox>> {
        self.read(move |tx| list(tx, user)).await
    }

    async fn get_mailbox(&self, user: ObjectId, id: ObjectId) -> StoreResult<Option<Mailbox>> {
        self.read(move |tx| get(tx, user, id)).await
    }

    async fn find_mailbox(&self, user: ObjectId, path: &str) -> StoreResult<Option<Mailbox>> {
        let p = path.to_string();
        self.read(move |tx| find(tx, user, &p)).await
    }

    async fn create_mailbox(&self, mailbox: &Mailbox) -> StoreResult<()> {
        let m = mailbox.clone();
        self.write(move |tx| create(tx, &m)).await
    }

    async fn rename_mailboxes(
        &self,
        user: ObjectId,
        renames: &[(ObjectId, String)],
    ) -> StoreResult<()> {
        let r = renames.to_vec();
        self.write(move |tx| rename(tx, user, &r)).await
    }

    async fn update_mailbox(&self, mailbox: &Mailbox) -> StoreResult<()> {
        let m = mailbox.clone();
        self.write(move |tx| update(tx, &m)).await
    }

    async fn delete_mailbox(&self, user: ObjectId, id: ObjectId) -> StoreResult<bool> {
        self.write(move |tx| delete(tx, user, id)).await
    }

    async fn raise_uid_next(
        &self,
        user: ObjectId,
        mailbox: ObjectId,
        uid_next: u32,
    ) -> StoreResult<()> {
        self.write(move |tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE mailboxes SET uid_next = MAX(uid_next, ?3) WHERE id = ?1 AND user = ?2",
                )?
                .execute(params![&mailbox.0, &user.0, uid_next])?;
            if n == 0 {
                return Err(StoreError::NotFound.into());
            }
            Ok(())
        })
        .await
    }

    async fn mailbox_counters(&self, mailbox: ObjectId) -> StoreResult<MailboxCounters> {
        self.read(move |tx| counters(tx, mailbox)).await
    }

    async fn list_subscriptions(&self, user: ObjectId) -> StoreResult<Vec<String>> {
        self.read(move |tx| subscriptions(tx, user)).await
    }

    async fn set_subscription(&self, user: ObjectId, path: &str, on: bool) -> StoreResult<bool> {
        let p = path.to_string();
        self.write(move |tx| {
            if !users::exists(tx, user)? {
                return Err(StoreError::NotFound.into());
            }
            subscribe(tx, user, &p, on)
        })
        .await
    }
}
