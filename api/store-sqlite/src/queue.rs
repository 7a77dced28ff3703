//! The durable work queue: one row per entry (see v11_queue.sql). A claim reads
//! and leases in one write transaction, so two claims never hand out one entry.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use eider_service::{Claim, ObjectId, QueueEntry, QueueStore, StoreResult};
use rusqlite::{params, OptionalExtension, Row, Transaction};

use crate::codec::{get_oid, get_opt_oid, get_opt_time, get_time, ms};
use crate::error::SqliteError;
use crate::SqliteStore;

const COLUMNS: &str = "id, kind, key, grp, owner, payload, not_before, attempts, last_error, \
                       created, lease_owner, lease_until";

fn entry(row: &Row<'_>) -> rusqlite::Result<QueueEntry> {
    let lease_owner: Option<String> = row.get(10)?;
    let lease_until = get_opt_time(row, 11)?;
    Ok(QueueEntry {
        id: get_oid(row, 0)?,
        kind: row.get(1)?,
        key: row.get(2)?,
        group: row.get(3)?,
        owner: get_opt_oid(row, 4)?,
        payload: row.get(5)?,
        not_before: get_time(row, 6)?,
        attempts: row.get(7)?,
        last_error: row.get(8)?,
        created: get_time(row, 9)?,
        lease: lease_owner.zip(lease_until),
    })
}

/// Rows of a query binding (kind, key or NULL, ...).
fn select(
    tx: &Transaction<'_>,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<QueueEntry>, SqliteError> {
    Ok(tx
        .prepare_cached(sql)?
        .query_map(params, entry)?
        .collect::<rusqlite::Result<_>>()?)
}

#[async_trait]
impl QueueStore for SqliteStore {
    async fn enqueue(&self, entries: &[QueueEntry]) -> StoreResult<()> {
        let entries = entries.to_vec();
        self.write(move |tx| {
            let mut insert = tx.prepare_cached(&format!(
                "INSERT INTO queue ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
            ))?;
            for e in &entries {
                let (lease_owner, lease_until) = e.lease.clone().unzip();
                insert.execute(params![
                    &e.id.0,
                    e.kind,
                    e.key,
                    e.group,
                    e.owner.map(|o| o.0),
                    e.payload,
                    ms(e.not_before),
                    e.attempts,
                    e.last_error,
                    ms(e.created),
                    lease_owner,
                    lease_until.map(ms),
                ])?;
            }
            Ok(())
        })
        .await
    }

    async fn claim(&self, claim: &Claim<'_>) -> StoreResult<Vec<QueueEntry>> {
        let kind = claim.kind.to_string();
        let key = claim.key.map(str::to_string);
        let worker = claim.worker.to_string();
        let now = ms(claim.now);
        let until = claim.lease_until;
        let limit = claim.limit.max(1);
        self.write(move |tx| {
            let mut found = select(
                tx,
                &format!(
                    "SELECT {COLUMNS} FROM queue
                     WHERE kind = ?1 AND (?2 IS NULL OR key = ?2) AND not_before <= ?3
                       AND (lease_until IS NULL OR lease_until <= ?3)
                     ORDER BY not_before, id LIMIT ?4"
                ),
                params![kind, key, now, limit],
            )?;
            let mut lease = tx.prepare_cached(
                "UPDATE queue SET lease_owner = ?2, lease_until = ?3 WHERE id = ?1",
            )?;
            for e in &mut found {
                lease.execute(params![&e.id.0, worker, ms(until)])?;
                e.lease = Some((worker.clone(), until));
            }
            Ok(found)
        })
        .await
    }

    async fn complete(&self, id: ObjectId, worker: &str) -> StoreResult<bool> {
        let worker = worker.to_string();
        self.write(move |tx| {
            Ok(tx
                .prepare_cached("DELETE FROM queue WHERE id = ?1 AND lease_owner = ?2")?
                .execute(params![&id.0, worker])?
                > 0)
        })
        .await
    }

    async fn reschedule(
        &self,
        id: ObjectId,
        worker: &str,
        not_before: DateTime<Utc>,
        error: &str,
    ) -> StoreResult<bool> {
        let worker = worker.to_string();
        let error = error.to_string();
        self.write(move |tx| {
            Ok(tx
                .prepare_cached(
                    "UPDATE queue SET not_before = ?3, last_error = ?4, attempts = attempts + 1,
                         lease_owner = NULL, lease_until = NULL
                     WHERE id = ?1 AND lease_owner = ?2",
                )?
                .execute(params![&id.0, worker, ms(not_before), error])?
                > 0)
        })
        .await
    }

    async fn cancel(&self, group: &str, owner: ObjectId) -> StoreResult<u64> {
        let group = group.to_string();
        self.write(move |tx| {
            Ok(tx
                .prepare_cached("DELETE FROM queue WHERE grp = ?1 AND owner = ?2")?
                .execute(params![group, &owner.0])? as u64)
        })
        .await
    }

    async fn get_queue_entry(&self, id: ObjectId) -> StoreResult<Option<QueueEntry>> {
        self.read(move |tx| {
            Ok(tx
                .prepare_cached(&format!("SELECT {COLUMNS} FROM queue WHERE id = ?1"))?
                .query_row([&id.0], entry)
                .optional()?)
        })
        .await
    }

    async fn list_queue(
        &self,
        kind: &str,
        key: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<QueueEntry>> {
        let kind = kind.to_string();
        let key = key.map(str::to_string);
        self.read(move |tx| {
            select(
                tx,
                &format!(
                    "SELECT {COLUMNS} FROM queue WHERE kind = ?1 AND (?2 IS NULL OR key = ?2)
                     ORDER BY not_before, id LIMIT ?3"
                ),
                params![kind, key, limit],
            )
        })
        .await
    }

    async fn count_queue(&self, kind: &str, key: Option<&str>) -> StoreResult<u64> {
        let kind = kind.to_string();
        let key = key.map(str::to_string);
        self.read(move |tx| {
            let n: i64 = tx
                .prepare_cached(
                    "SELECT count(*) FROM queue WHERE kind = ?1 AND (?2 IS NULL OR key = ?2)",
                )?
                .query_row(params![kind, key], |r| r.get(0))?;
            Ok(n.max(0) as u64)
        })
        .await
    }
}
