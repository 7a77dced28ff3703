//! Persistence of storage files: files a webmail uploads while composing
//! (POST /users/{user}/storage), later attached by id. The bytes live in the
//! blob store (content-addressed, shared with message attachments and with
//! identical files); each file is a small record holding one blob reference and
//! counted in its user's storage_used until deleted.

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use eider_message::BlobHash;

use crate::model::{Page, Paging};
use crate::{ObjectId, StoreResult};

/// One stored file's record (its bytes are the blob `hash`).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFile {
    pub id: ObjectId,
    pub user: ObjectId,
    pub filename: Option<String>,
    pub content_type: String,
    pub cid: Option<String>,
    pub size: u64,
    pub hash: BlobHash,
    pub created: DateTime<Utc>,
}

#[async_trait]
pub trait FileStore: Send + Sync {
    /// Store `data` as the blob `file.hash` (sharing an identical blob), insert the
    /// record and add `file.size` to the user's storage_used, atomically.
    /// NotFound when the user does not exist; OverQuota when `quota_limit` would be
    /// exceeded.
    async fn store_file(
        &self,
        file: &StoredFile,
        data: Bytes,
        quota_limit: Option<u64>,
    ) -> StoreResult<()>;
    async fn get_file(&self, user: ObjectId, id: ObjectId) -> StoreResult<Option<StoredFile>>;
    /// The user's files by id, those whose filename contains `query` (case-insensitive)
    /// when given.
    async fn list_files(
        &self,
        user: ObjectId,
        query: Option<&str>,
        paging: &Paging,
    ) -> StoreResult<Page<StoredFile>>;
    /// Remove the record, release its blob and its size from storage_used.
    async fn delete_file(&self, user: ObjectId, id: ObjectId) -> StoreResult<bool>;
}
