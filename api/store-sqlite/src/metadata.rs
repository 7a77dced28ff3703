//! IMAP METADATA entries (v15_metadata.sql).

use async_trait::async_trait;
use eider_service::{MetadataEntry, MetadataStore, ObjectId, StoreError, StoreResult};
use rusqlite::params;

use crate::SqliteStore;

/// The `mailbox` key of server entries.
const SERVER: [u8; 12] = [0; 12];

fn key(mailbox: Option<ObjectId>) -> [u8; 12] {
    mailbox.map_or(SERVER, |m| m.0)
}

#[async_trait]
impl MetadataStore for SqliteStore {
    async fn list_metadata(
        &self,
        user: ObjectId,
        mailbox: Option<ObjectId>,
    ) -> StoreResult<Vec<MetadataEntry>> {
        let mbox = key(mailbox);
        self.read(move |tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT name, value FROM metadata WHERE user = ?1 AND mailbox = ?2 ORDER BY name",
            )?;
            let rows = stmt
                .query_map(params![&user.0, &mbox], |row| {
                    Ok(MetadataEntry {
                        name: row.get(0)?,
                        value: row.get(1)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    async fn set_metadata(
        &self,
        user: ObjectId,
        mailbox: Option<ObjectId>,
        changes: &[(String, Option<Vec<u8>>)],
        max_entries: u64,
    ) -> StoreResult<()> {
        let mbox = key(mailbox);
        let changes = changes.to_vec();
        self.write(move |tx| {
            for (name, value) in &changes {
                match value {
                    Some(v) => tx
                        .prepare_cached(
                            "INSERT INTO metadata (user, mailbox, name, value) VALUES (?1, ?2, ?3, ?4)
                             ON CONFLICT (user, mailbox, name) DO UPDATE SET value = excluded.value",
                        )?
                        .execute(params![&user.0, &mbox, name, v])?,
                    None => tx
                        .prepare_cached(
                            "DELETE FROM metadata WHERE user = ?1 AND mailbox = ?2 AND name = ?3",
                        )?
                        .execute(params![&user.0, &mbox, name])?,
                };
            }
            let count: i64 = tx
                .prepare_cached("SELECT COUNT(*) FROM metadata WHERE user = ?1")?
                .query_row(params![&user.0], |r| r.get(0))?;
            // The write's savepoint rolls every change back with the error.
            if count as u64 > max_entries {
                return Err(StoreError::LimitReached("metadata").into());
            }
            Ok(())
        })
        .await
    }
}
