//! DKIM keys and TLS certificates (see v12_dkim_certs.sql).

use async_trait::async_trait;
use eider_service::model::{Page, Paging};
use eider_service::{
    CertStore, DkimAlgorithm, DkimKey, DkimStore, ObjectId, StoreError, StoreResult, TlsCert,
};
use rusqlite::types::Value;
use rusqlite::{params, OptionalExtension, Row, Transaction};

use crate::codec::{get_json, get_oid, get_time, json, ms};
use crate::error::{Result, SqliteError};
use crate::paging::{page, Filter};
use crate::SqliteStore;

const DKIM_COLS: &str = "id, domain, selector, description, algorithm, private_key, public_key, \
                         dns_public_key, fingerprint, created";

fn dkim(row: &Row<'_>) -> rusqlite::Result<DkimKey> {
    let algorithm: String = row.get(4)?;
    Ok(DkimKey {
        id: get_oid(row, 0)?,
        domain: row.get(1)?,
        selector: row.get(2)?,
        description: row.get(3)?,
        algorithm: DkimAlgorithm::from_tag(&algorithm).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                4,
                rusqlite::types::Type::Text,
                format!("unknown DKIM algorithm {algorithm:?}").into(),
            )
        })?,
        private_key: row.get(5)?,
        public_key: row.get(6)?,
        dns_public_key: row.get(7)?,
        fingerprint: row.get(8)?,
        created: get_time(row, 9)?,
    })
}

fn find_dkim(tx: &Transaction<'_>, domain: &str) -> Result<Option<DkimKey>> {
    Ok(tx
        .prepare_cached(&format!(
            "SELECT {DKIM_COLS} FROM dkim_keys WHERE domain = ?1"
        ))?
        .query_row([domain], dkim)
        .optional()?)
}

#[async_trait]
impl DkimStore for SqliteStore {
    async fn set_dkim_key(&self, key: &DkimKey) -> StoreResult<(DkimKey, bool)> {
        let k = key.clone();
        self.write(move |tx| {
            let existed = find_dkim(tx, &k.domain)?.is_some();
            // The domain keeps its id when its key is replaced (as WildDuck's upsert).
            tx.prepare_cached(
                "INSERT INTO dkim_keys (id, domain, selector, description, algorithm,
                     private_key, public_key, dns_public_key, fingerprint, created)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (domain) DO UPDATE SET
                     selector = excluded.selector, description = excluded.description,
                     algorithm = excluded.algorithm, private_key = excluded.private_key,
                     public_key = excluded.public_key,
                     dns_public_key = excluded.dns_public_key,
                     fingerprint = excluded.fingerprint, created = excluded.created",
            )?
            .execute(params![
                &k.id.0,
                &k.domain,
                &k.selector,
                &k.description,
                k.algorithm.tag(),
                &k.private_key,
                &k.public_key,
                &k.dns_public_key,
                &k.fingerprint,
                ms(k.created),
            ])?;
            let stored =
                find_dkim(tx, &k.domain)?.ok_or(SqliteError::Store(StoreError::NotFound))?;
            Ok((stored, !existed))
        })
        .await
    }

    async fn get_dkim_key(&self, id: ObjectId) -> StoreResult<Option<DkimKey>> {
        self.read(move |tx| {
            Ok(tx
                .prepare_cached(&format!("SELECT {DKIM_COLS} FROM dkim_keys WHERE id = ?1"))?
                .query_row([&id.0], dkim)
                .optional()?)
        })
        .await
    }

    async fn find_dkim_key(&self, domain: &str) -> StoreResult<Option<DkimKey>> {
        let domain = domain.to_string();
        self.read(move |tx| find_dkim(tx, &domain)).await
    }

    async fn list_dkim_keys(
        &self,
        query: Option<&str>,
        paging: &Paging,
    ) -> StoreResult<Page<DkimKey>> {
        let mut filter = Filter::all();
        if let Some(q) = query.filter(|q| !q.is_empty()) {
            filter.and("instr(domain, ?) > 0", [Value::Text(q.into())]);
        }
        let paging = paging.clone();
        self.read(move |tx| page(tx, "dkim_keys", DKIM_COLS, &filter, &paging, dkim, |k| k.id))
            .await
    }

    async fn delete_dkim_key(&self, id: ObjectId) -> StoreResult<bool> {
        self.write(move |tx| {
            Ok(tx
                .prepare_cached("DELETE FROM dkim_keys WHERE id = ?1")?
                .execute([&id.0])?
                > 0)
        })
        .await
    }
}

const CERT_COLS: &str = "id, servername, description, cert, private_key, fingerprint, \
                         alt_names, expires, acme, created, updated";

fn cert(row: &Row<'_>) -> rusqlite::Result<TlsCert> {
    Ok(TlsCert {
        id: get_oid(row, 0)?,
        servername: row.get(1)?,
        description: row.get(2)?,
        cert: row.get(3)?,
        private_key: row.get(4)?,
        fingerprint: row.get(5)?,
        alt_names: get_json(row, 6)?,
        expires: get_time(row, 7)?,
        acme: row.get(8)?,
        created: get_time(row, 9)?,
        updated: get_time(row, 10)?,
    })
}

fn find_cert(tx: &Transaction<'_>, servername: &str) -> Result<Option<TlsCert>> {
    Ok(tx
        .prepare_cached(&format!(
            "SELECT {CERT_COLS} FROM certs WHERE servername = ?1"
        ))?
        .query_row([servername], cert)
        .optional()?)
}

fn bump_version(tx: &Transaction<'_>) -> Result<()> {
    tx.prepare_cached("UPDATE certs_version SET version = version + 1 WHERE id = 1")?
        .execute([])?;
    Ok(())
}

#[async_trait]
impl CertStore for SqliteStore {
    async fn set_cert(&self, c: &TlsCert) -> StoreResult<(TlsCert, bool)> {
        let c = c.clone();
        self.write(move |tx| {
            let existed = find_cert(tx, &c.servername)?.is_some();
            tx.prepare_cached(
                "INSERT INTO certs (id, servername, description, cert, private_key,
                     fingerprint, alt_names, expires, acme, created, updated)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (servername) DO UPDATE SET
                     description = excluded.description, cert = excluded.cert,
                     private_key = excluded.private_key, fingerprint = excluded.fingerprint,
                     alt_names = excluded.alt_names, expires = excluded.expires,
                     acme = excluded.acme, updated = excluded.updated",
            )?
            .execute(params![
                &c.id.0,
                &c.servername,
                &c.description,
                &c.cert,
                &c.private_key,
                &c.fingerprint,
                json(&c.alt_names)?,
                ms(c.expires),
                c.acme,
                ms(c.created),
                ms(c.updated),
            ])?;
            bump_version(tx)?;
            let stored =
                find_cert(tx, &c.servername)?.ok_or(SqliteError::Store(StoreError::NotFound))?;
            Ok((stored, !existed))
        })
        .await
    }

    async fn get_cert(&self, id: ObjectId) -> StoreResult<Option<TlsCert>> {
        self.read(move |tx| {
            Ok(tx
                .prepare_cached(&format!("SELECT {CERT_COLS} FROM certs WHERE id = ?1"))?
                .query_row([&id.0], cert)
                .optional()?)
        })
        .await
    }

    async fn find_cert(&self, servername: &str) -> StoreResult<Option<TlsCert>> {
        let servername = servername.to_string();
        self.read(move |tx| find_cert(tx, &servername)).await
    }

    async fn list_certs(
        &self,
        query: Option<&str>,
        alt_names: bool,
        paging: &Paging,
    ) -> StoreResult<Page<TlsCert>> {
        let mut filter = Filter::all();
        if let Some(q) = query.filter(|q| !q.is_empty()) {
            if alt_names {
                let wildcard = q.find('.').map(|i| format!("*{}", &q[i..]));
                filter.and(
                    "instr(servername, ?) > 0 OR EXISTS (SELECT 1 FROM json_each(alt_names)
                         WHERE instr(value, ?) > 0 OR value = ?)",
                    [
                        Value::Text(q.into()),
                        Value::Text(q.into()),
                        wildcard.map_or(Value::Null, Value::Text),
                    ],
                );
            } else {
                filter.and("instr(servername, ?) > 0", [Value::Text(q.into())]);
            }
        }
        let paging = paging.clone();
        self.read(move |tx| page(tx, "certs", CERT_COLS, &filter, &paging, cert, |c| c.id))
            .await
    }

    async fn delete_cert(&self, id: ObjectId) -> StoreResult<bool> {
        self.write(move |tx| {
            let gone = tx
                .prepare_cached("DELETE FROM certs WHERE id = ?1")?
                .execute([&id.0])?
                > 0;
            if gone {
                bump_version(tx)?;
            }
            Ok(gone)
        })
        .await
    }

    async fn certs_version(&self) -> StoreResult<u64> {
        self.read(|tx| {
            let v: i64 = tx
                .prepare_cached("SELECT version FROM certs_version WHERE id = 1")?
                .query_row([], |r| r.get(0))?;
            Ok(v.max(0) as u64)
        })
        .await
    }
}
