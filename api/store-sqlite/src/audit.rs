//! Message audits: one row per audit (see v7_audits.sql).

use async_trait::async_trait;
use eider_service::{Audit, AuditStore, ObjectId, StoreResult};
use rusqlite::{params, OptionalExtension};

use crate::codec::{get_oid, get_opt_time, get_time, ms};
use crate::SqliteStore;

#[async_trait]
impl AuditStore for SqliteStore {
    async fn create_audit(&self, audit: &Audit) -> StoreResult<()> {
        let a = audit.clone();
        self.write(move |tx| {
            tx.prepare_cached(
                "INSERT INTO audits (id, user, start, end, expires, created)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                &a.id.0,
                &a.user.0,
                a.start.map(ms),
                a.end.map(ms),
                ms(a.expires),
                ms(a.created),
            ])?;
            Ok(())
        })
        .await
    }

    async fn get_audit(&self, id: ObjectId) -> StoreResult<Option<Audit>> {
        self.read(move |tx| {
            Ok(tx
                .prepare_cached(
                    "SELECT id, user, start, end, expires, created FROM audits WHERE id = ?1",
                )?
                .query_row([&id.0], |row| {
                    Ok(Audit {
                        id: get_oid(row, 0)?,
                        user: get_oid(row, 1)?,
                        start: get_opt_time(row, 2)?,
                        end: get_opt_time(row, 3)?,
                        expires: get_time(row, 4)?,
                        created: get_time(row, 5)?,
                    })
                })
                .optional()?)
        })
        .await
    }
}
