//! The address register: addresses a user has sent mail to, one row per
//! normalized address, found by a prefix of the address, the name or a word of it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use eider_service::{
    register_terms, AddressRegisterStore, ObjectId, RegisteredAddress, SeenAddress, StoreResult,
};
use rusqlite::{params, Row, Transaction};

use crate::codec::{get_oid, get_time, get_u64, ms};
use crate::error::Result;
use crate::SqliteStore;

const COLS: &str = "id, user, addrview, address, name, uses, updated, created";

fn entry(row: &Row<'_>) -> rusqlite::Result<RegisteredAddress> {
    Ok(RegisteredAddress {
        id: get_oid(row, 0)?,
        user: get_oid(row, 1)?,
        addrview: row.get(2)?,
        address: row.get(3)?,
        name: row.get(4)?,
        uses: get_u64(row, 5)?,
        updated: get_time(row, 6)?,
        created: get_time(row, 7)?,
    })
}

/// Terms as stored: each preceded by a newline (see v4_address_register.sql).
fn terms_text(addrview: &str, name: &str) -> String {
    register_terms(addrview, name)
        .iter()
        .map(|t| format!("\n{t}"))
        .collect()
}

fn record(
    tx: &Transaction<'_>,
    user: ObjectId,
    seen: &[SeenAddress],
    when: DateTime<Utc>,
) -> Result<()> {
    // An empty name keeps the stored name and with it the stored terms.
    let mut stmt = tx.prepare_cached(
        "INSERT INTO address_register
             (id, user, addrview, address, name, terms, uses, updated, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?7)
         ON CONFLICT (user, addrview) DO UPDATE SET
             address = excluded.address,
             name = CASE WHEN excluded.name <> '' THEN excluded.name ELSE name END,
             terms = CASE WHEN excluded.name <> '' THEN excluded.terms ELSE terms END,
             uses = uses + 1,
             updated = MAX(updated, excluded.updated)",
    )?;
    for s in seen {
        stmt.execute(params![
            &ObjectId::new().0,
            &user.0,
            &s.addrview,
            &s.address,
            &s.name,
            terms_text(&s.addrview, &s.name),
            ms(when),
        ])?;
    }
    Ok(())
}

fn search(
    tx: &Transaction<'_>,
    user: ObjectId,
    prefix: &str,
    limit: u32,
) -> Result<Vec<RegisteredAddress>> {
    let sql = format!(
        "SELECT {COLS} FROM address_register
         WHERE user = ?1 AND instr(terms, char(10) || ?2) > 0
         ORDER BY updated DESC, uses DESC, id DESC LIMIT ?3"
    );
    let rows = tx
        .prepare_cached(&sql)?
        .query_map(params![&user.0, prefix, i64::from(limit)], entry)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

pub(crate) fn delete_user(tx: &Transaction<'_>, user: ObjectId) -> Result<()> {
    tx.prepare_cached("DELETE FROM address_register WHERE user = ?1")?
        .execute([&user.0])?;
    Ok(())
}

#[async_trait]
impl AddressRegisterStore for SqliteStore {
    async fn record_addresses(
        &self,
        user: ObjectId,
        seen: &[SeenAddress],
        when: DateTime<Utc>,
    ) -> StoreResult<()> {
        if seen.is_empty() {
            return Ok(());
        }
        let seen = seen.to_vec();
        self.write(move |tx| record(tx, user, &seen, when)).await
    }

    async fn search_address_register(
        &self,
        user: ObjectId,
        prefix: &str,
        limit: u32,
    ) -> StoreResult<Vec<RegisteredAddress>> {
        let prefix = prefix.to_string();
        self.read(move |tx| search(tx, user, &prefix, limit)).await
    }
}
