//! Persistence of the mail lifecycle: leases (one holder of a named job at a time
//! across instances), the archive of deleted messages, and users whose deletion is
//! deferred.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::model::{Address, Page, SortOrder, StoredMessage, User};
use crate::{ObjectId, StoreResult};

/// A named lease held by one holder until it expires. Every instance that runs
/// periodic work asks the store for the job's lease first, so a job runs on one
/// instance at a time; a holder that dies simply stops renewing and the lease
/// expires `ttl` later.
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Take `name` for `holder` until now + `ttl` when it is free, expired, or held by
    /// `holder` already (then it is extended). Ok(false) when someone else holds it.
    async fn try_acquire(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> StoreResult<bool>;
    /// Extend the lease when `holder` still holds it (expired or not, as long as no one
    /// took it meanwhile). Ok(false) when it was lost.
    async fn renew(&self, name: &str, holder: &str, ttl: std::time::Duration) -> StoreResult<bool>;
    /// Give the lease up when `holder` holds it; Ok(false) when it did not.
    async fn release(&self, name: &str, holder: &str) -> StoreResult<bool>;
}

/// A deleted message kept in the archive until `purge_after`. Its content stays
/// referenced (blobs are not freed) but it counts against no quota.
#[derive(Debug, Clone)]
pub struct ArchivedMessage {
    /// The archive's own id for the entry (per user; what the API lists and restores).
    pub id: u64,
    /// The message as it was: `meta.mailbox` and `meta.uid` are where it was deleted from.
    pub message: StoredMessage,
    pub archived: DateTime<Utc>,
    pub purge_after: DateTime<Utc>,
}

/// Where a restored message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestoredMessage {
    pub id: ObjectId,
    pub mailbox: ObjectId,
    pub uid: u32,
    pub modseq: u64,
}

/// How the archive is listed: by archive id, `limit` entries after a cursor.
#[derive(Debug, Clone)]
pub struct ArchivePaging {
    pub limit: u32,
    pub order: SortOrder,
    /// Archive id to continue after (in `order`).
    pub next: Option<u64>,
    /// Archive id to go back from (the page before it, in `order`).
    pub previous: Option<u64>,
}

#[async_trait]
pub trait ArchiveStore: Send + Sync {
    /// Remove messages like [`crate::MessageStore::expunge`] (journal, counters, quota),
    /// but move each one not flagged \Draft into the archive, keeping its content,
    /// stamped `archived` and purged after `purge_after`. Returns the removed UIDs.
    async fn expunge_archiving(
        &self,
        mailbox: ObjectId,
        uids: &crate::model::UidSet,
        only_deleted: bool,
        archived: DateTime<Utc>,
        purge_after: DateTime<Utc>,
    ) -> StoreResult<Vec<u32>>;
    /// A page of the user's archive; cursors are archive ids.
    async fn list_archived(
        &self,
        user: ObjectId,
        paging: &ArchivePaging,
    ) -> StoreResult<Page<ArchivedMessage>>;
    async fn get_archived(&self, user: ObjectId, id: u64) -> StoreResult<Option<ArchivedMessage>>;
    /// Archive ids of the user's entries archived within `start..=end`, oldest first.
    async fn archived_between(
        &self,
        user: ObjectId,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        limit: u32,
    ) -> StoreResult<Vec<u64>>;
    /// Put the entry back as a new message in `mailbox` (a new UID, an Exists journal
    /// entry, counted in the user's storage again) and drop it from the archive, in
    /// one transaction. None when the entry is gone; NotFound when the mailbox is.
    async fn restore_archived(
        &self,
        user: ObjectId,
        id: u64,
        mailbox: ObjectId,
    ) -> StoreResult<Option<RestoredMessage>>;
    /// Drop up to `limit` entries whose `purge_after` has passed, releasing their
    /// content; returns how many went.
    async fn purge_archived(&self, now: DateTime<Utc>, limit: u32) -> StoreResult<u64>;
}

/// A user marked deleted: invisible to every lookup (no login, no delivery, the
/// API answers as for a missing user), its username and addresses free for others,
/// its data kept until `delete_after`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeletedUser {
    /// The account as it was when deleted.
    pub user: User,
    pub deleted: DateTime<Utc>,
    pub delete_after: DateTime<Utc>,
    /// The addresses it had, restored with it when still free.
    pub addresses: Vec<Address>,
}

/// What a restore brought back.
#[derive(Debug, Clone, PartialEq)]
pub struct RestoredUser {
    pub user: User,
    /// Addresses re-created for the user.
    pub recovered: Vec<Address>,
    /// Addresses someone else took meanwhile.
    pub lost: Vec<Address>,
}

#[async_trait]
pub trait DeletedUserStore: Send + Sync {
    /// Hide the user (get/find/list no longer see it, its username is free), move its
    /// addresses into the record, atomically. None when no such live user.
    async fn mark_user_deleted(
        &self,
        id: ObjectId,
        deleted: DateTime<Utc>,
        delete_after: DateTime<Utc>,
    ) -> StoreResult<Option<DeletedUser>>;
    async fn get_deleted_user(&self, id: ObjectId) -> StoreResult<Option<DeletedUser>>;
    /// Make the user visible again and re-create the recorded addresses whose names
    /// are still free; its main address is the old one when recovered, else the first
    /// recovered one, else none. Conflict("username")
    /// when its username was taken meanwhile; None when no such deleted user.
    async fn restore_deleted_user(&self, id: ObjectId) -> StoreResult<Option<RestoredUser>>;
    /// Deleted users whose `delete_after` has passed, at most `limit`.
    async fn deleted_users_due(&self, now: DateTime<Utc>, limit: u32)
        -> StoreResult<Vec<ObjectId>>;
}
