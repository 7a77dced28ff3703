//! Accounts: creation with address and mailboxes in one transaction, updates,
//! listing, deletion of everything a user owns, quota recount.

use async_trait::async_trait;
use eider_service::model::{Address, Mailbox, Page, User, UserQuery};
use eider_service::{ObjectId, StoreError, StoreResult, UserStore};
use rusqlite::types::Value;
use rusqlite::{params, OptionalExtension, Row, Transaction};

use crate::codec::{get_json, get_oid, get_time, get_u64, int, json, ms};
use crate::error::{is_unique_violation, Result, SqliteError};
use crate::paging::{page, tag_filters, Filter};
use crate::{addresses, mailboxes, messages, SqliteStore};

const COLS: &str = "id, username, unameview, name, address, password, quota, storage_used, \
                    disabled, suspended, tags, meta_data, internal_data, profile, created";

fn user(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: get_oid(row, 0)?,
        username: row.get(1)?,
        unameview: row.get(2)?,
        name: row.get(3)?,
        address: row.get(4)?,
        password: row.get(5)?,
        quota: get_u64(row, 6)?,
        storage_used: get_u64(row, 7)?,
        disabled: row.get(8)?,
        suspended: row.get(9)?,
        tags: get_json(row, 10)?,
        meta_data: get_json(row, 11)?,
        internal_data: get_json(row, 12)?,
        profile: get_json(row, 13)?,
        created: get_time(row, 14)?,
    })
}

fn conflict(e: SqliteError, key: &'static str) -> SqliteError {
    if is_unique_violation(&e) {
        SqliteError::Store(StoreError::Conflict(key))
    } else {
        e
    }
}

pub(crate) fn exists(tx: &Transaction<'_>, id: ObjectId) -> Result<bool> {
    Ok(tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM users WHERE id = ?1)")?
        .query_row([&id.0], |r| r.get(0))?)
}

/// The user, deleted (v10) or not.
pub(crate) fn get_any(tx: &Transaction<'_>, id: ObjectId) -> Result<Option<User>> {
    let sql = format!("SELECT {COLS} FROM users WHERE id = ?1");
    Ok(tx
        .prepare_cached(&sql)?
        .query_row([&id.0], user)
        .optional()?)
}

pub(crate) fn get_live(tx: &Transaction<'_>, id: ObjectId) -> Result<Option<User>> {
    get(tx, id)
}

fn get(tx: &Transaction<'_>, id: ObjectId) -> Result<Option<User>> {
    let sql = format!("SELECT {COLS} FROM users WHERE id = ?1 AND deleted IS NULL");
    Ok(tx
        .prepare_cached(&sql)?
        .query_row([&id.0], user)
        .optional()?)
}

fn find(tx: &Transaction<'_>, unameview: &str) -> Result<Option<User>> {
    let sql = format!("SELECT {COLS} FROM users WHERE unameview = ?1 AND deleted IS NULL");
    Ok(tx
        .prepare_cached(&sql)?
        .query_row([unameview], user)
        .optional()?)
}

fn create(
    tx: &Transaction<'_>,
    u: &User,
    address: Option<&Address>,
    boxes: &[Mailbox],
) -> Result<()> {
    if find(tx, &u.unameview)?.is_some() {
        return Err(StoreError::Conflict("username").into());
    }
    if let Some(a) = address {
        if addresses::find(tx, &a.addrview)?.is_some() {
            return Err(StoreError::Conflict("address").into());
        }
    }
    tx.prepare_cached(
        "INSERT INTO users (id, username, unameview, name, address, password, quota,
             storage_used, disabled, suspended, tags, meta_data, internal_data, profile, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![
        &u.id.0,
        &u.username,
        &u.unameview,
        &u.name,
        &u.address,
        &u.password,
        int(u.quota),
        u.disabled,
        u.suspended,
        json(&u.tags)?,
        json(&u.meta_data)?,
        json(&u.internal_data)?,
        json(&u.profile)?,
        ms(u.created),
    ])
    .map_err(|e| conflict(e.into(), "username"))?;
    if let Some(a) = address {
        addresses::insert(tx, a)?;
    }
    for m in boxes {
        mailboxes::insert(tx, m)?;
    }
    Ok(())
}

fn update(tx: &Transaction<'_>, u: &User) -> Result<()> {
    let n = tx
        .prepare_cached(
            "UPDATE users SET username = ?2, unameview = ?3, name = ?4, address = ?5,
                 password = ?6, quota = ?7, disabled = ?8, suspended = ?9, tags = ?10,
                 meta_data = ?11, internal_data = ?12, profile = ?13
             WHERE id = ?1",
        )?
        .execute(params![
            &u.id.0,
            &u.username,
            &u.unameview,
            &u.name,
            &u.address,
            &u.password,
            int(u.quota),
            u.disabled,
            u.suspended,
            json(&u.tags)?,
            json(&u.meta_data)?,
            json(&u.internal_data)?,
            json(&u.profile)?,
        ])
        .map_err(|e| conflict(e.into(), "username"))?;
    if n == 0 {
        return Err(StoreError::NotFound.into());
    }
    Ok(())
}

fn delete(tx: &Transaction<'_>, id: ObjectId) -> Result<bool> {
    if !exists(tx, id)? {
        return Ok(false);
    }
    let boxes: Vec<ObjectId> = tx
        .prepare_cached("SELECT id FROM mailboxes WHERE user = ?1")?
        .query_map([&id.0], |r| get_oid(r, 0))?
        .collect::<rusqlite::Result<_>>()?;
    for m in boxes {
        // Releases contents and blobs; quota is moot as the user goes too.
        messages::remove_all(tx, m)?;
    }
    crate::filters::delete_user(tx, id)?;
    crate::register::delete_user(tx, id)?;
    crate::files::delete_user(tx, id)?;
    crate::lifecycle::delete_user(tx, id)?;
    for sql in [
        "DELETE FROM mailboxes WHERE user = ?1",
        "DELETE FROM subscriptions WHERE user = ?1",
        "DELETE FROM addresses WHERE user = ?1",
        "DELETE FROM thread_refs WHERE user = ?1",
        "DELETE FROM threads WHERE user = ?1",
        "DELETE FROM journal WHERE user = ?1",
        "DELETE FROM users WHERE id = ?1",
    ] {
        tx.prepare_cached(sql)?.execute([&id.0])?;
    }
    Ok(true)
}

fn list(tx: &Transaction<'_>, q: &UserQuery) -> Result<Page<User>> {
    let mut filter = Filter::all();
    // Users deleted with a grace period are invisible (v10).
    filter.and("deleted IS NULL", []);
    if let Some(text) = q.query.as_deref().filter(|t| !t.is_empty()) {
        filter.and(
            "eider_contains(username, ?) OR eider_contains(address, ?)",
            [Value::Text(text.into()), Value::Text(text.into())],
        );
    }
    if let Some(text) = q.forward.as_deref().filter(|t| !t.is_empty()) {
        filter.and(
            "EXISTS (SELECT 1 FROM json_each(profile, '$.targets') WHERE eider_contains(json_each.value, ?))",
            [Value::Text(text.into())],
        );
    }
    tag_filters(&mut filter, &q.tags, &q.required_tags);
    page(tx, "users", COLS, &filter, &q.paging, user, |u| u.id)
}

/// Recount storage from the message rows and store it.
fn recalculate(tx: &Transaction<'_>, id: ObjectId) -> Result<u64> {
    if !exists(tx, id)? {
        return Err(StoreError::NotFound.into());
    }
    let used: i64 = tx.query_row(
        "SELECT (SELECT COALESCE(SUM(size), 0) FROM messages
                 WHERE mailbox IN (SELECT id FROM mailboxes WHERE user = ?1))
              + (SELECT COALESCE(SUM(size), 0) FROM files WHERE user = ?1)",
        [&id.0],
        |r| r.get(0),
    )?;
    tx.prepare_cached("UPDATE users SET storage_used = ?2 WHERE id = ?1")?
        .execute(params![&id.0, used])?;
    Ok(used.max(0) as u64)
}

/// Add (or with a negative delta, remove) bytes to a user's storage, never below 0.
pub(crate) fn add_storage(tx: &Transaction<'_>, id: ObjectId, delta: i64) -> Result<()> {
    tx.prepare_cached("UPDATE users SET storage_used = MAX(storage_used + ?2, 0) WHERE id = ?1")?
        .execute(params![&id.0, delta])?;
    Ok(())
}

/// Storage used by a user, None when the user does not exist.
pub(crate) fn storage_used(tx: &Transaction<'_>, id: ObjectId) -> Result<Option<u64>> {
    let v: Option<i64> = tx
        .prepare_cached("SELECT storage_used FROM users WHERE id = ?1")?
        .query_row([&id.0], |r| r.get(0))
        .optional()?;
    Ok(v.map(|v| v.max(0) as u64))
}

/// Refuse with OverQuota when adding `size` bytes would exceed `limit`.
pub(crate) fn check_quota(
    tx: &Transaction<'_>,
    user: ObjectId,
    size: u64,
    limit: Option<u64>,
) -> Result<()> {
    let used = storage_used(tx, user)?.ok_or(SqliteError::Store(StoreError::NotFound))?;
    match limit {
        Some(l) if used.saturating_add(size) > l => Err(StoreError::OverQuota.into()),
        _ => Ok(()),
    }
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn create_user(
        &self,
        user: &User,
        address: Option<&Address>,
        mailboxes: &[Mailbox],
    ) -> StoreResult<()> {
        let (u, a, m) = (user.clone(), address.cloned(), mailboxes.to_vec());
        self.write(move |tx| create(tx, &u, a.as_ref(), &m)).await
    }

    async fn get_user(&self, id: ObjectId) -> StoreResult<Option<User>> {
        self.read(move |tx| get(tx, id)).await
    }

    async fn find_user_by_unameview(&self, unameview: &str) -> StoreResult<Option<User>> {
        let v = unameview.to_string();
        self.read(move |tx| find(tx, &v)).await
    }

    async fn update_user(&self, user: &User) -> StoreResult<()> {
        let u = user.clone();
        self.write(move |tx| update(tx, &u)).await
    }

    async fn delete_user(&self, id: ObjectId) -> StoreResult<bool> {
        self.write(move |tx| delete(tx, id)).await
    }

    async fn list_users(&self, query: &UserQuery) -> StoreResult<Page<User>> {
        let q = query.clone();
        self.read(move |tx| list(tx, &q)).await
    }

    async fn recalculate_storage(&self, user: ObjectId) -> StoreResult<u64> {
        self.write(move |tx| recalculate(tx, user)).await
    }
}
