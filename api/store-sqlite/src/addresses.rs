//! Addresses (a user's, or forwarded ones with no user) and domain aliases.

use async_trait::async_trait;
use eider_service::model::{Address, AddressQuery, DomainAlias, Page, Paging};
use eider_service::{AddressStore, ObjectId, StoreError, StoreResult};
use rusqlite::types::Value;
use rusqlite::{params, OptionalExtension, Row, Transaction};

use crate::codec::{get_json, get_oid, get_opt_oid, get_opt_u64, get_time, int, json, ms};
use crate::error::{is_unique_violation, Result, SqliteError};
use crate::paging::{page, tag_filters, Filter};
use crate::{users, SqliteStore};

const COLS: &str = "id, user, address, addrview, name, main, tags, targets, forwards, \
                    meta_data, internal_data, created";

fn address(row: &Row<'_>) -> rusqlite::Result<Address> {
    Ok(Address {
        id: get_oid(row, 0)?,
        user: get_opt_oid(row, 1)?,
        address: row.get(2)?,
        addrview: row.get(3)?,
        name: row.get(4)?,
        main: row.get(5)?,
        tags: get_json(row, 6)?,
        targets: get_json(row, 7)?,
        forwards: get_opt_u64(row, 8)?,
        meta_data: get_json(row, 9)?,
        internal_data: get_json(row, 10)?,
        created: get_time(row, 11)?,
    })
}

fn conflict(e: rusqlite::Error, key: &'static str) -> SqliteError {
    let e = SqliteError::from(e);
    if is_unique_violation(&e) {
        SqliteError::Store(StoreError::Conflict(key))
    } else {
        e
    }
}

pub(crate) fn insert(tx: &Transaction<'_>, a: &Address) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO addresses (id, user, address, addrview, name, main, tags, targets,
             forwards, meta_data, internal_data, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        &a.id.0,
        a.user.as_ref().map(|u| u.0),
        &a.address,
        &a.addrview,
        &a.name,
        a.main,
        json(&a.tags)?,
        json(&a.targets)?,
        a.forwards.map(int),
        json(&a.meta_data)?,
        json(&a.internal_data)?,
        ms(a.created),
    ])
    .map_err(|e| conflict(e, "address"))?;
    Ok(())
}

pub(crate) fn find(tx: &Transaction<'_>, addrview: &str) -> Result<Option<Address>> {
    let sql = format!("SELECT {COLS} FROM addresses WHERE addrview = ?1");
    Ok(tx
        .prepare_cached(&sql)?
        .query_row([addrview], address)
        .optional()?)
}

fn get(tx: &Transaction<'_>, id: ObjectId) -> Result<Option<Address>> {
    let sql = format!("SELECT {COLS} FROM addresses WHERE id = ?1");
    Ok(tx
        .prepare_cached(&sql)?
        .query_row([&id.0], address)
        .optional()?)
}

/// Make `a` its user's only main address and the user's displayed address.
fn promote_main(tx: &Transaction<'_>, a: &Address) -> Result<()> {
    let Some(user) = a.user else {
        return Ok(());
    };
    tx.prepare_cached("UPDATE addresses SET main = 0 WHERE user = ?1 AND id != ?2")?
        .execute(params![&user.0, &a.id.0])?;
    tx.prepare_cached("UPDATE users SET address = ?2 WHERE id = ?1")?
        .execute(params![&user.0, &a.address])?;
    Ok(())
}

fn create(tx: &Transaction<'_>, a: &Address) -> Result<()> {
    if find(tx, &a.addrview)?.is_some() {
        return Err(StoreError::Conflict("address").into());
    }
    if let Some(u) = a.user {
        if !users::exists(tx, u)? {
            return Err(StoreError::NotFound.into());
        }
    }
    insert(tx, a)?;
    if a.main {
        promote_main(tx, a)?;
    }
    Ok(())
}

fn update(tx: &Transaction<'_>, a: &Address) -> Result<()> {
    let n = tx
        .prepare_cached(
            "UPDATE addresses SET address = ?2, addrview = ?3, name = ?4, main = ?5, tags = ?6,
                 targets = ?7, forwards = ?8, meta_data = ?9, internal_data = ?10
             WHERE id = ?1",
        )?
        .execute(params![
            &a.id.0,
            &a.address,
            &a.addrview,
            &a.name,
            a.main,
            json(&a.tags)?,
            json(&a.targets)?,
            a.forwards.map(int),
            json(&a.meta_data)?,
            json(&a.internal_data)?,
        ])
        .map_err(|e| conflict(e, "address"))?;
    if n == 0 {
        return Err(StoreError::NotFound.into());
    }
    if a.main {
        // The stored row decides whose address it is, not the caller's copy.
        if let Some(stored) = get(tx, a.id)? {
            promote_main(tx, &stored)?;
        }
    }
    Ok(())
}

pub(crate) fn list_user(tx: &Transaction<'_>, user: ObjectId) -> Result<Vec<Address>> {
    let sql = format!("SELECT {COLS} FROM addresses WHERE user = ?1 ORDER BY id");
    let rows = tx
        .prepare_cached(&sql)?
        .query_map([&user.0], address)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

fn list(tx: &Transaction<'_>, q: &AddressQuery) -> Result<Page<Address>> {
    let mut filter = Filter::all();
    if let Some(text) = q.query.as_deref().filter(|t| !t.is_empty()) {
        filter.and("eider_contains(address, ?)", [Value::Text(text.into())]);
    }
    if q.forwarded_only {
        filter.and("user IS NULL", []);
    }
    if let Some(user) = q.user {
        filter.and("user = ?", [Value::Blob(user.0.to_vec())]);
    }
    if let Some(text) = q.forward.as_deref().filter(|t| !t.is_empty()) {
        filter.and(
            "EXISTS (SELECT 1 FROM json_each(targets) WHERE eider_contains(json_each.value, ?))",
            [Value::Text(text.into())],
        );
    }
    tag_filters(&mut filter, &q.tags, &q.required_tags);
    page(tx, "addresses", COLS, &filter, &q.paging, address, |a| a.id)
}

fn delete(tx: &Transaction<'_>, id: ObjectId) -> Result<bool> {
    Ok(tx
        .prepare_cached("DELETE FROM addresses WHERE id = ?1")?
        .execute([&id.0])?
        > 0)
}

const ALIAS_COLS: &str = "id, alias, domain, created";

fn alias(row: &Row<'_>) -> rusqlite::Result<DomainAlias> {
    Ok(DomainAlias {
        id: get_oid(row, 0)?,
        alias: row.get(1)?,
        domain: row.get(2)?,
        created: get_time(row, 3)?,
    })
}

fn create_alias(tx: &Transaction<'_>, a: &DomainAlias) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO domain_aliases (id, alias, domain, created) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![&a.id.0, &a.alias, &a.domain, ms(a.created)])
    .map_err(|e| conflict(e, "alias"))?;
    Ok(())
}

fn find_alias(tx: &Transaction<'_>, name: &str) -> Result<Option<DomainAlias>> {
    let sql = format!("SELECT {ALIAS_COLS} FROM domain_aliases WHERE alias = ?1");
    Ok(tx
        .prepare_cached(&sql)?
        .query_row([name], alias)
        .optional()?)
}

fn get_alias(tx: &Transaction<'_>, id: ObjectId) -> Result<Option<DomainAlias>> {
    let sql = format!("SELECT {ALIAS_COLS} FROM domain_aliases WHERE id = ?1");
    Ok(tx
        .prepare_cached(&sql)?
        .query_row([&id.0], alias)
        .optional()?)
}

#[async_trait]
impl AddressStore for SqliteStore {
    async fn create_address(&self, address: &Address) -> StoreResult<()> {
        let a = address.clone();
        self.write(move |tx| create(tx, &a)).await
    }

    async fn get_address(&self, id: ObjectId) -> StoreResult<Option<Address>> {
        self.read(move |tx| get(tx, id)).await
    }

    async fn find_address(&self, addrview: &str) -> StoreResult<Option<Address>> {
        let v = addrview.to_string();
        self.read(move |tx| find(tx, &v)).await
    }

    async fn list_user_addresses(&self, user: ObjectId) -> StoreResult<Vec<Address>> {
        self.read(move |tx| list_user(tx, user)).await
    }

    async fn list_addresses(&self, query: &AddressQuery) -> StoreResult<Page<Address>> {
        let q = query.clone();
        self.read(move |tx| list(tx, &q)).await
    }

    async fn update_address(&self, address: &Address) -> StoreResult<()> {
        let a = address.clone();
        self.write(move |tx| update(tx, &a)).await
    }

    async fn delete_address(&self, id: ObjectId) -> StoreResult<bool> {
        self.write(move |tx| delete(tx, id)).await
    }

    async fn create_domain_alias(&self, alias: &DomainAlias) -> StoreResult<()> {
        let a = alias.clone();
        self.write(move |tx| create_alias(tx, &a)).await
    }

    async fn find_domain_alias(&self, alias: &str) -> StoreResult<Option<DomainAlias>> {
        let a = alias.to_string();
        self.read(move |tx| find_alias(tx, &a)).await
    }

    async fn get_domain_alias(&self, id: ObjectId) -> StoreResult<Option<DomainAlias>> {
        self.read(move |tx| get_alias(tx, id)).await
    }

    async fn list_domain_aliases(&self, paging: &Paging) -> StoreResult<Page<DomainAlias>> {
        let p = paging.clone();
        self.read(move |tx| {
            page(
                tx,
                "domain_aliases",
                ALIAS_COLS,
                &Filter::all(),
                &p,
                alias,
                |a| a.id,
            )
        })
        .await
    }

    async fn delete_domain_alias(&self, id: ObjectId) -> StoreResult<bool> {
        self.write(move |tx| {
            Ok(tx
                .prepare_cached("DELETE FROM domain_aliases WHERE id = ?1")?
                .execute([&id.0])?
                > 0)
        })
        .await
    }
}
