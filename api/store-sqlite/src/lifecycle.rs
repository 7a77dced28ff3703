//! The mail lifecycle on SQLite: leases, the archive of deleted messages and users
//! deleted with a grace period (schema v9, v10).

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use eider_service::model::{Address, JournalKind, Page, SortOrder, StoredMessage, UidSet};
use eider_service::{
    ArchivePaging, ArchiveStore, ArchivedMessage, DeletedUser, DeletedUserStore, LeaseStore,
    ObjectId, RestoredMessage, RestoredUser, StoreError, StoreResult,
};
use rusqlite::{params, OptionalExtension, Transaction};

use crate::codec::{get_json, get_oid, get_time, get_u64, int, json, ms};
use crate::error::Result;
use crate::journal::{self, Entry};
use crate::mailboxes::{self, Delta};
use crate::messages::{self, COLS};
use crate::{addresses, content, users, SqliteStore};

fn ttl_ms(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)
}

#[async_trait]
impl LeaseStore for SqliteStore {
    async fn try_acquire(&self, name: &str, holder: &str, ttl: Duration) -> StoreResult<bool> {
        let (name, holder) = (name.to_string(), holder.to_string());
        self.write(move |tx| {
            let now = ms(Utc::now());
            // The upsert only takes a row that is free, expired or already ours.
            let n = tx
                .prepare_cached(
                    "INSERT INTO leases (name, holder, expires) VALUES (?1, ?2, ?3)
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,
                         expires = excluded.expires
                     WHERE leases.expires <= ?4 OR leases.holder = excluded.holder",
                )?
                .execute(params![name, holder, now.saturating_add(ttl_ms(ttl)), now])?;
            Ok(n == 1)
        })
        .await
    }

    async fn renew(&self, name: &str, holder: &str, ttl: Duration) -> StoreResult<bool> {
        let (name, holder) = (name.to_string(), holder.to_string());
        self.write(move |tx| {
            let until = ms(Utc::now()).saturating_add(ttl_ms(ttl));
            let n = tx
                .prepare_cached("UPDATE leases SET expires = ?3 WHERE name = ?1 AND holder = ?2")?
                .execute(params![name, holder, until])?;
            Ok(n == 1)
        })
        .await
    }

    async fn release(&self, name: &str, holder: &str) -> StoreResult<bool> {
        let (name, holder) = (name.to_string(), holder.to_string());
        self.write(move |tx| {
            let n = tx
                .prepare_cached("DELETE FROM leases WHERE name = ?1 AND holder = ?2")?
                .execute(params![name, holder])?;
            Ok(n == 1)
        })
        .await
    }
}

/// Columns of an archive row: the message's, then content, id, archived, purge_after.
fn archive_cols() -> String {
    format!("{COLS}, content, id, archived, purge_after")
}

fn load_entry(tx: &Transaction<'_>, row: &rusqlite::Row<'_>) -> Result<ArchivedMessage> {
    let meta = messages::meta(row)?;
    let content_id: i64 = row.get(16)?;
    let (index, layout, skeleton) = content::load(tx, content_id)?;
    Ok(ArchivedMessage {
        id: get_u64(row, 17)?,
        message: StoredMessage {
            meta,
            index,
            layout,
            skeleton,
        },
        archived: get_time(row, 18)?,
        purge_after: get_time(row, 19)?,
    })
}

fn list_archived(
    tx: &Transaction<'_>,
    user: ObjectId,
    p: &ArchivePaging,
) -> Result<Page<ArchivedMessage>> {
    let total: i64 = tx
        .prepare_cached("SELECT count(*) FROM archived WHERE user = ?1")?
        .query_row([&user.0], |r| r.get(0))?;
    let desc = p.order == SortOrder::Descending;
    // Going back reads the other way from the cursor, then flips the page.
    let backwards = p.next.is_none() && p.previous.is_some();
    let (cond, cursor) = match (p.next, p.previous) {
        (Some(c), _) => (if desc { "id < ?2" } else { "id > ?2" }, int(c)),
        (None, Some(c)) => (if desc { "id > ?2" } else { "id < ?2" }, int(c)),
        (None, None) => ("?2 = ?2", 0),
    };
    let dir = if desc != backwards { "DESC" } else { "ASC" };
    let limit = if p.limit == 0 {
        -1
    } else {
        i64::from(p.limit) + 1
    };
    let sql = format!(
        "SELECT {} FROM archived WHERE user = ?1 AND {cond} ORDER BY id {dir} LIMIT ?3",
        archive_cols()
    );
    let mut stmt = tx.prepare(&sql)?;
    let mut rows = stmt.query(params![&user.0, cursor, limit])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(load_entry(tx, row)?);
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
        total: total.max(0) as u64,
    })
}

fn get_archived(tx: &Transaction<'_>, user: ObjectId, id: u64) -> Result<Option<ArchivedMessage>> {
    let sql = format!(
        "SELECT {} FROM archived WHERE user = ?1 AND id = ?2",
        archive_cols()
    );
    let mut stmt = tx.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![&user.0, int(id)])?;
    match rows.next()? {
        Some(row) => Ok(Some(load_entry(tx, row)?)),
        None => Ok(None),
    }
}

fn restore(
    tx: &Transaction<'_>,
    user: ObjectId,
    id: u64,
    mailbox: ObjectId,
) -> Result<Option<RestoredMessage>> {
    let row = tx
        .prepare_cached(
            "SELECT flags, seen, size, internal_date FROM archived WHERE user = ?1 AND id = ?2",
        )?
        .query_row(params![&user.0, int(id)], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, bool>(1)?,
                get_u64(r, 2)?,
                get_time(r, 3)?,
            ))
        })
        .optional()?;
    let Some((flags, seen, size, internal_date)) = row else {
        return Ok(None);
    };
    let mbox = mailboxes::require(tx, mailbox, Some(user))?;
    let uid = mbox.uid_next;
    let modseq = mbox.modify_index + 1;
    let new_id = ObjectId::new();
    let expires = messages::retention_expiry(mbox.retention, internal_date);
    // The row moves back with its content reference (no acquire, no release).
    tx.prepare_cached(
        "INSERT INTO messages (oid, user, mailbox, uid, modseq, flags, seen, deleted, flagged,
             internal_date, header_date, size, thread, content, content_oid, subject, message_id,
             has_attachments, expires, meta_data, sent_day)
         SELECT ?3, user, ?4, ?5, ?6, flags, seen, deleted, flagged, internal_date,
             header_date, size, thread, content, content_oid, subject, message_id,
             has_attachments, ?7, meta_data, sent_day
         FROM archived WHERE user = ?1 AND id = ?2",
    )?
    .execute(params![
        &user.0,
        int(id),
        &new_id.0,
        &mailbox.0,
        uid,
        int(modseq),
        expires
    ])?;
    tx.prepare_cached("DELETE FROM archived WHERE user = ?1 AND id = ?2")?
        .execute(params![&user.0, int(id)])?;
    mailboxes::apply(
        tx,
        mailbox,
        &Delta {
            uid_next: Some(messages::next_uid(uid)?),
            modify_index: Some(modseq),
            total: 1,
            unseen: i64::from(!seen),
            size: int(size),
        },
    )?;
    journal::append(
        tx,
        &Entry {
            user,
            mailbox,
            modseq,
            kind: JournalKind::Exists,
            uid: Some(uid),
            message: Some(new_id),
            flags: &flags,
            path: None,
        },
    )?;
    users::add_storage(tx, user, int(size))?;
    Ok(Some(RestoredMessage {
        id: new_id,
        mailbox,
        uid,
        modseq,
    }))
}

/// Drop archive rows (chosen by `filter` over `archived`), releasing their content.
fn drop_archived(tx: &Transaction<'_>, filter: &str, p: &[&dyn rusqlite::ToSql]) -> Result<u64> {
    let rows: Vec<(i64, i64)> = tx
        .prepare(&format!("SELECT id, content FROM archived WHERE {filter}"))?
        .query_map(p, |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut del = tx.prepare_cached("DELETE FROM archived WHERE id = ?1")?;
    for (id, content_id) in &rows {
        del.execute([id])?;
        content::release(tx, *content_id)?;
    }
    Ok(rows.len() as u64)
}

/// A user's archive and deleted-user record go with the user (UserStore::delete_user).
pub(crate) fn delete_user(tx: &Transaction<'_>, id: ObjectId) -> Result<()> {
    drop_archived(tx, "user = ?1", &[&id.0])?;
    tx.prepare_cached("DELETE FROM deleted_users WHERE id = ?1")?
        .execute([&id.0])?;
    Ok(())
}

#[async_trait]
impl ArchiveStore for SqliteStore {
    async fn expunge_archiving(
        &self,
        mailbox: ObjectId,
        uids: &UidSet,
        only_deleted: bool,
        archived: DateTime<Utc>,
        purge_after: DateTime<Utc>,
    ) -> StoreResult<Vec<u32>> {
        let uids = uids.clone();
        let stamp = Some((ms(archived), ms(purge_after)));
        self.write(move |tx| messages::expunge(tx, mailbox, &uids, only_deleted, stamp))
            .await
    }

    async fn list_archived(
        &self,
        user: ObjectId,
        paging: &ArchivePaging,
    ) -> StoreResult<Page<ArchivedMessage>> {
        let p = paging.clone();
        self.read(move |tx| list_archived(tx, user, &p)).await
    }

    async fn get_archived(&self, user: ObjectId, id: u64) -> StoreResult<Option<ArchivedMessage>> {
        self.read(move |tx| get_archived(tx, user, id)).await
    }

    async fn archived_between(
        &self,
        user: ObjectId,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<u64>> {
        self.read(move |tx| {
            let limit = if limit == 0 { -1 } else { i64::from(limit) };
            Ok(tx
                .prepare_cached(
                    "SELECT id FROM archived WHERE user = ?1 AND archived BETWEEN ?2 AND ?3
                     ORDER BY archived, id LIMIT ?4",
                )?
                .query_map(params![&user.0, ms(start), ms(end), limit], |r| {
                    get_u64(r, 0)
                })?
                .collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    async fn restore_archived(
        &self,
        user: ObjectId,
        id: u64,
        mailbox: ObjectId,
    ) -> StoreResult<Option<RestoredMessage>> {
        self.write(move |tx| restore(tx, user, id, mailbox)).await
    }

    async fn purge_archived(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<u64> {
        let limit = if limit == 0 { -1 } else { i64::from(limit) };
        self.write(move |tx| {
            drop_archived(
                tx,
                "id IN (SELECT id FROM archived WHERE purge_after <= ?1 ORDER BY purge_after LIMIT ?2)",
                &[&ms(now), &limit],
            )
        })
        .await
    }
}

/// The unameview a deleted user holds meanwhile: no username normalizes to it.
fn hidden_unameview(id: ObjectId) -> String {
    format!("\u{0}deleted:{}", id.to_hex())
}

fn get_deleted(tx: &Transaction<'_>, id: ObjectId) -> Result<Option<DeletedUser>> {
    let rec = tx
        .prepare_cached(
            "SELECT unameview, deleted, delete_after, addresses FROM deleted_users WHERE id = ?1",
        )?
        .query_row([&id.0], |r| {
            Ok((
                r.get::<_, String>(0)?,
                get_time(r, 1)?,
                get_time(r, 2)?,
                get_json::<Vec<Address>>(r, 3)?,
            ))
        })
        .optional()?;
    let Some((unameview, deleted, delete_after, addresses)) = rec else {
        return Ok(None);
    };
    let Some(mut user) = users::get_any(tx, id)? else {
        return Ok(None);
    };
    user.unameview = unameview;
    Ok(Some(DeletedUser {
        user,
        deleted,
        delete_after,
        addresses,
    }))
}

fn mark_deleted(
    tx: &Transaction<'_>,
    id: ObjectId,
    deleted: DateTime<Utc>,
    delete_after: DateTime<Utc>,
) -> Result<Option<DeletedUser>> {
    let Some(user) = users::get_live(tx, id)? else {
        return Ok(None);
    };
    let addrs = addresses::list_user(tx, id)?;
    tx.prepare_cached(
        "INSERT OR REPLACE INTO deleted_users (id, unameview, deleted, delete_after, addresses)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        &id.0,
        &user.unameview,
        ms(deleted),
        ms(delete_after),
        json(&addrs)?
    ])?;
    tx.prepare_cached("UPDATE users SET deleted = ?2, unameview = ?3 WHERE id = ?1")?
        .execute(params![&id.0, ms(deleted), hidden_unameview(id)])?;
    tx.prepare_cached("DELETE FROM addresses WHERE user = ?1")?
        .execute([&id.0])?;
    Ok(Some(DeletedUser {
        user,
        deleted,
        delete_after,
        addresses: addrs,
    }))
}

fn restore_user(tx: &Transaction<'_>, id: ObjectId) -> Result<Option<RestoredUser>> {
    let Some(d) = get_deleted(tx, id)? else {
        return Ok(None);
    };
    let taken: bool = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM users WHERE unameview = ?1)")?
        .query_row([&d.user.unameview], |r| r.get(0))?;
    if taken {
        return Err(StoreError::Conflict("username").into());
    }
    let (mut recovered, mut lost) = (Vec::new(), Vec::new());
    for a in &d.addresses {
        if addresses::find(tx, &a.addrview)?.is_some() {
            lost.push(a.clone());
        } else {
            addresses::insert(tx, a)?;
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
    tx.prepare_cached("UPDATE addresses SET main = (address = ?2) WHERE user = ?1")?
        .execute(params![&id.0, &main])?;
    tx.prepare_cached(
        "UPDATE users SET deleted = NULL, unameview = ?2, address = ?3 WHERE id = ?1",
    )?
    .execute(params![&id.0, &d.user.unameview, &main])?;
    tx.prepare_cached("DELETE FROM deleted_users WHERE id = ?1")?
        .execute([&id.0])?;
    let Some(user) = users::get_live(tx, id)? else {
        return Ok(None);
    };
    Ok(Some(RestoredUser {
        user,
        recovered,
        lost,
    }))
}

#[async_trait]
impl DeletedUserStore for SqliteStore {
    async fn mark_user_deleted(
        &self,
        id: ObjectId,
        deleted: DateTime<Utc>,
        delete_after: DateTime<Utc>,
    ) -> StoreResult<Option<DeletedUser>> {
        self.write(move |tx| mark_deleted(tx, id, deleted, delete_after))
            .await
    }

    async fn get_deleted_user(&self, id: ObjectId) -> StoreResult<Option<DeletedUser>> {
        self.read(move |tx| get_deleted(tx, id)).await
    }

    async fn restore_deleted_user(&self, id: ObjectId) -> StoreResult<Option<RestoredUser>> {
        self.write(move |tx| restore_user(tx, id)).await
    }

    async fn deleted_users_due(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<ObjectId>> {
        let limit = if limit == 0 { -1 } else { i64::from(limit) };
        self.read(move |tx| {
            Ok(tx
                .prepare_cached(
                    "SELECT id FROM deleted_users WHERE delete_after <= ?1
                     ORDER BY delete_after LIMIT ?2",
                )?
                .query_map(params![ms(now), limit], |r| get_oid(r, 0))?
                .collect::<rusqlite::Result<_>>()?)
        })
        .await
    }
}
