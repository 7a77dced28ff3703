//! Filters and autoreplies: per-user delivery rules. Filters keep their query
//! and action as JSON (read whole, by delivery and the API); autoreplies are one
//! row per user.

use async_trait::async_trait;
use eider_service::model::Page;
use eider_service::{
    Autoreply, Filter, FilterSearch, FilterStore, ObjectId, StoreError, StoreResult,
};
use rusqlite::types::Value;
use rusqlite::{params, OptionalExtension, Row, Transaction};

use crate::codec::{get_json, get_oid, get_opt_oid, get_opt_time, get_time, json, ms};
use crate::error::Result;
use crate::paging::{page, Filter as Where};
use crate::{users, SqliteStore};

const COLS: &str = "id, user, name, query, action, disabled, meta_data, created";

fn filter(row: &Row<'_>) -> rusqlite::Result<Filter> {
    Ok(Filter {
        id: get_oid(row, 0)?,
        user: get_oid(row, 1)?,
        name: row.get(2)?,
        query: get_json(row, 3)?,
        action: get_json(row, 4)?,
        disabled: row.get(5)?,
        meta_data: get_json(row, 6)?,
        created: get_time(row, 7)?,
    })
}

fn count(tx: &Transaction<'_>, user: ObjectId) -> Result<u64> {
    let n: i64 = tx
        .prepare_cached("SELECT count(*) FROM filters WHERE user = ?1")?
        .query_row([&user.0], |r| r.get(0))?;
    Ok(n.max(0) as u64)
}

fn create(tx: &Transaction<'_>, f: &Filter, max: u64) -> Result<()> {
    if !users::exists(tx, f.user)? {
        return Err(StoreError::NotFound.into());
    }
    if count(tx, f.user)? >= max {
        return Err(StoreError::LimitReached("filters").into());
    }
    tx.prepare_cached(
        "INSERT INTO filters (id, user, name, query, action, disabled, meta_data, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        &f.id.0,
        &f.user.0,
        &f.name,
        json(&f.query)?,
        json(&f.action)?,
        f.disabled,
        json(&f.meta_data)?,
        ms(f.created),
    ])?;
    Ok(())
}

fn get(tx: &Transaction<'_>, user: ObjectId, id: ObjectId) -> Result<Option<Filter>> {
    let sql = format!("SELECT {COLS} FROM filters WHERE id = ?1 AND user = ?2");
    Ok(tx
        .prepare_cached(&sql)?
        .query_row(params![&id.0, &user.0], filter)
        .optional()?)
}

fn list_user(tx: &Transaction<'_>, user: ObjectId) -> Result<Vec<Filter>> {
    let sql = format!("SELECT {COLS} FROM filters WHERE user = ?1 ORDER BY id");
    let rows = tx
        .prepare_cached(&sql)?
        .query_map([&user.0], filter)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

fn list(tx: &Transaction<'_>, s: &FilterSearch) -> Result<Page<Filter>> {
    let mut w = Where::all();
    if let Some(user) = s.user {
        w.and("user = ?", [Value::Blob(user.0.to_vec())]);
    }
    if let Some(text) = s.forward.as_deref().filter(|t| !t.is_empty()) {
        w.and(
            "EXISTS (SELECT 1 FROM json_each(action, '$.targets') t
                     WHERE instr(t.value, ?) > 0)",
            [Value::Text(text.into())],
        );
    }
    page(tx, "filters", COLS, &w, &s.paging, filter, |f| f.id)
}

fn update(tx: &Transaction<'_>, f: &Filter) -> Result<bool> {
    Ok(tx
        .prepare_cached(
            "UPDATE filters SET name = ?3, query = ?4, action = ?5, disabled = ?6, meta_data = ?7
             WHERE id = ?1 AND user = ?2",
        )?
        .execute(params![
            &f.id.0,
            &f.user.0,
            &f.name,
            json(&f.query)?,
            json(&f.action)?,
            f.disabled,
            json(&f.meta_data)?,
        ])?
        > 0)
}

fn delete(tx: &Transaction<'_>, user: ObjectId, id: ObjectId) -> Result<bool> {
    Ok(tx
        .prepare_cached("DELETE FROM filters WHERE id = ?1 AND user = ?2")?
        .execute(params![&id.0, &user.0])?
        > 0)
}

const AUTOREPLY_COLS: &str = "id, status, name, subject, text, html, start_at, end_at, created";

fn autoreply(row: &Row<'_>) -> rusqlite::Result<Autoreply> {
    Ok(Autoreply {
        id: get_opt_oid(row, 0)?,
        status: row.get(1)?,
        name: row.get(2)?,
        subject: row.get(3)?,
        text: row.get(4)?,
        html: row.get(5)?,
        start: get_opt_time(row, 6)?,
        end: get_opt_time(row, 7)?,
        created: get_opt_time(row, 8)?,
    })
}

fn get_autoreply(tx: &Transaction<'_>, user: ObjectId) -> Result<Option<Autoreply>> {
    let sql = format!("SELECT {AUTOREPLY_COLS} FROM autoreplies WHERE user = ?1");
    Ok(tx
        .prepare_cached(&sql)?
        .query_row([&user.0], autoreply)
        .optional()?)
}

fn set_autoreply(tx: &Transaction<'_>, user: ObjectId, a: &Autoreply) -> Result<ObjectId> {
    if !users::exists(tx, user)? {
        return Err(StoreError::NotFound.into());
    }
    let id = a.id.unwrap_or_default();
    let stored: ObjectId = tx
        .prepare_cached(
            "INSERT INTO autoreplies
                 (user, id, status, name, subject, text, html, start_at, end_at, created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (user) DO UPDATE SET
                 status = excluded.status, name = excluded.name, subject = excluded.subject,
                 text = excluded.text, html = excluded.html, start_at = excluded.start_at,
                 end_at = excluded.end_at, created = excluded.created
             RETURNING id",
        )?
        .query_row(
            params![
                &user.0,
                &id.0,
                a.status,
                &a.name,
                &a.subject,
                &a.text,
                &a.html,
                a.start.map(ms),
                a.end.map(ms),
                a.created.map(ms),
            ],
            |r| get_oid(r, 0),
        )?;
    Ok(stored)
}

fn delete_autoreply(tx: &Transaction<'_>, user: ObjectId) -> Result<bool> {
    Ok(tx
        .prepare_cached("DELETE FROM autoreplies WHERE user = ?1")?
        .execute([&user.0])?
        > 0)
}

/// Remove everything of a user's delivery rules (part of deleting the user).
pub(crate) fn delete_user(tx: &Transaction<'_>, user: ObjectId) -> Result<()> {
    tx.prepare_cached("DELETE FROM filters WHERE user = ?1")?
        .execute([&user.0])?;
    delete_autoreply(tx, user)?;
    Ok(())
}

#[async_trait]
impl FilterStore for SqliteStore {
    async fn create_filter(&self, filter: &Filter, max: u64) -> StoreResult<()> {
        let f = filter.clone();
        self.write(move |tx| create(tx, &f, max)).await
    }

    async fn get_filter(&self, user: ObjectId, id: ObjectId) -> StoreResult<Option<Filter>> {
        self.read(move |tx| get(tx, user, id)).await
    }

    async fn list_user_filters(&self, user: ObjectId) -> StoreResult<Vec<Filter>> {
        self.read(move |tx| list_user(tx, user)).await
    }

    async fn count_user_filters(&self, user: ObjectId) -> StoreResult<u64> {
        self.read(move |tx| count(tx, user)).await
    }

    async fn list_filters(&self, search: &FilterSearch) -> StoreResult<Page<Filter>> {
        let s = search.clone();
        self.read(move |tx| list(tx, &s)).await
    }

    async fn update_filter(&self, filter: &Filter) -> StoreResult<bool> {
        let f = filter.clone();
        self.write(move |tx| update(tx, &f)).await
    }

    async fn delete_filter(&self, user: ObjectId, id: ObjectId) -> StoreResult<bool> {
        self.write(move |tx| delete(tx, user, id)).await
    }

    async fn get_autoreply(&self, user: ObjectId) -> StoreResult<Option<Autoreply>> {
        self.read(move |tx| get_autoreply(tx, user)).await
    }

    async fn set_autoreply(&self, user: ObjectId, autoreply: &Autoreply) -> StoreResult<ObjectId> {
        let a = autoreply.clone();
        self.write(move |tx| set_autoreply(tx, user, &a)).await
    }

    async fn delete_autoreply(&self, user: ObjectId) -> StoreResult<bool> {
        self.write(move |tx| delete_autoreply(tx, user)).await
    }
}
