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

const COLS: &str = "id, user, path, special_use, uid_validity, uid_next, modify_index, \
                    subscribed, retention, hidden, created";

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
        m.subscribed,
        int(m.retention),
        m.hidden,
        ms(m.created),
    ])
    .map_err(path_conflict)?;
    Ok(())
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
    for (id, _) in renames {
        require(tx, *id, Some(user))?;
    }
    // Park every renamed mailbox on a unique placeholder first, so that renames among
    // themselves (a/b -> c while c -> d) never collide halfway; only a clash with a
    // mailbox outside the set (or two equal targets) is a conflict.
    let mut park = tx.prepare_cached("UPDATE mailboxes SET path = ?2 WHERE id = ?1")?;
    for (id, _) in renames {
        park.execute(params![&id.0, format!("\u{0}rename\u{0}{}", id.to_hex())])?;
    }
    for (id, path) in renames {
        park.execute(params![&id.0, path]).map_err(path_conflict)?;
        journal::append(
            tx,
            &Entry::mailbox(user, *id, JournalKind::MailboxRename, path),
        )?;
    }
    Ok(())
}

fn update(tx: &Transaction<'_>, m: &Mailbox) -> Result<()> {
    let n = tx
        .prepare_cached(
            "UPDATE mailboxes SET subscribed = ?2, retention = ?3, hidden = ?4, special_use = ?5
             WHERE id = ?1",
        )?
        .execute(params![
            &m.id.0,
            m.subscribed,
            int(m.retention),
            m.hidden,
            m.special_use.map(|s| s.as_str()),
        ])?;
    if n == 0 {
        return Err(StoreError::NotFound.into());
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
    journal::append(
        tx,
        &Entry::mailbox(user, id, JournalKind::MailboxDelete, &m.path),
    )?;
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

    async fn mailbox_counters(&self, mailbox: ObjectId) -> StoreResult<MailboxCounters> {
        self.read(move |tx| counters(tx, mailbox)).await
    }
}
