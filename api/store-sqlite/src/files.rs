//! Storage files: one row per uploaded file, holding one reference to the blob
//! with its bytes; its size counts in the user's storage_used.

use async_trait::async_trait;
use bytes::Bytes;
use eider_service::model::{Page, Paging};
use eider_service::{FileStore, ObjectId, StoreError, StoreResult, StoredFile};
use rusqlite::types::Value;
use rusqlite::{params, OptionalExtension, Row, Transaction};

use crate::blobs::{self, PreparedBlob};
use crate::codec::{get_hash, get_oid, get_time, get_u64, int, ms};
use crate::error::{Result, SqliteError};
use crate::paging::{page, Filter};
use crate::users;
use crate::SqliteStore;

const COLS: &str = "id, user, filename, content_type, cid, size, blob, created";

fn file(row: &Row<'_>) -> rusqlite::Result<StoredFile> {
    Ok(StoredFile {
        id: get_oid(row, 0)?,
        user: get_oid(row, 1)?,
        filename: row.get(2)?,
        content_type: row.get(3)?,
        cid: row.get(4)?,
        size: get_u64(row, 5)?,
        hash: get_hash(row, 6)?,
        created: get_time(row, 7)?,
    })
}

fn insert(
    tx: &Transaction<'_>,
    f: &StoredFile,
    blob: &PreparedBlob,
    quota_limit: Option<u64>,
) -> Result<()> {
    users::check_quota(tx, f.user, f.size, quota_limit)?;
    blobs::acquire(tx, blob)?;
    tx.prepare_cached(
        "INSERT INTO files (id, user, filename, content_type, cid, size, blob, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        &f.id.0,
        &f.user.0,
        &f.filename,
        &f.content_type,
        &f.cid,
        int(f.size),
        &f.hash.0,
        ms(f.created)
    ])?;
    users::add_storage(tx, f.user, int(f.size))?;
    Ok(())
}

fn get(tx: &Transaction<'_>, user: ObjectId, id: ObjectId) -> Result<Option<StoredFile>> {
    let sql = format!("SELECT {COLS} FROM files WHERE id = ?1 AND user = ?2");
    Ok(tx
        .prepare_cached(&sql)?
        .query_row(params![&id.0, &user.0], file)
        .optional()?)
}

fn remove(tx: &Transaction<'_>, user: ObjectId, id: ObjectId) -> Result<bool> {
    let Some(f) = get(tx, user, id)? else {
        return Ok(false);
    };
    tx.prepare_cached("DELETE FROM files WHERE id = ?1")?
        .execute([&id.0])?;
    blobs::release(tx, &f.hash)?;
    users::add_storage(tx, user, -int(f.size))?;
    Ok(true)
}

/// Release every file of a user that is being deleted (quota goes with the user).
pub(crate) fn delete_user(tx: &Transaction<'_>, user: ObjectId) -> Result<()> {
    let hashes: Vec<_> = tx
        .prepare_cached("SELECT blob FROM files WHERE user = ?1")?
        .query_map([&user.0], |r| get_hash(r, 0))?
        .collect::<rusqlite::Result<_>>()?;
    for h in &hashes {
        blobs::release(tx, h)?;
    }
    tx.prepare_cached("DELETE FROM files WHERE user = ?1")?
        .execute([&user.0])?;
    Ok(())
}

#[async_trait]
impl FileStore for SqliteStore {
    async fn store_file(
        &self,
        f: &StoredFile,
        data: Bytes,
        quota_limit: Option<u64>,
    ) -> StoreResult<()> {
        if data.len() as u64 != f.size {
            return Err(StoreError::Backend(
                "file size differs from its data".into(),
            ));
        }
        // Compress before the writer thread, as message blobs are.
        let blob = PreparedBlob::new(f.hash, data.to_vec(), false).map_err(StoreError::from)?;
        let f = f.clone();
        self.write(move |tx| {
            if !users::exists(tx, f.user)? {
                return Err(SqliteError::Store(StoreError::NotFound));
            }
            insert(tx, &f, &blob, quota_limit)
        })
        .await
    }

    async fn get_file(&self, user: ObjectId, id: ObjectId) -> StoreResult<Option<StoredFile>> {
        self.read(move |tx| get(tx, user, id)).await
    }

    async fn list_files(
        &self,
        user: ObjectId,
        query: Option<&str>,
        paging: &Paging,
    ) -> StoreResult<Page<StoredFile>> {
        let mut filter = Filter::all();
        filter.and("user = ?", [Value::Blob(user.0.to_vec())]);
        if let Some(q) = query.filter(|q| !q.is_empty()) {
            filter.and("eider_contains(filename, ?)", [Value::Text(q.into())]);
        }
        let paging = paging.clone();
        self.read(move |tx| page(tx, "files", COLS, &filter, &paging, file, |f| f.id))
            .await
    }

    async fn delete_file(&self, user: ObjectId, id: ObjectId) -> StoreResult<bool> {
        self.write(move |tx| remove(tx, user, id)).await
    }
}
