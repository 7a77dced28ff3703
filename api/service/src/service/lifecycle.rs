//! The mail lifecycle: deleted messages kept in an archive for a while (WildDuck's
//! `const:archive:time`, 25 days) and restorable; users deleted with a grace period
//! (`deleteAfter`) and restorable until it ends; the purges that end both, run by
//! the job runner (`crate::jobs`) on one instance at a time.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::model::{Address, Page};
use crate::{
    ArchivePaging, ArchivedMessage, DeletedUser, Error, LeaseStore, ObjectId, RestoredMessage,
    Result, Service, StoreError, StoreResult,
};

/// Archive entries a background range restore moves per store read.
const RESTORE_BATCH: u32 = 100;

/// What DELETE /users/{user} did.
#[derive(Debug, Clone)]
pub struct UserDeletion {
    pub user: ObjectId,
    pub addresses_deleted: u64,
    /// When the account's data goes for good.
    pub delete_after: DateTime<Utc>,
    /// The deletion's task id (one per user: the user's id).
    pub task: ObjectId,
}

/// What GET /users/{user}/restore reports.
#[derive(Debug, Clone)]
pub struct RestoreInfo {
    pub deleted: DeletedUser,
    /// Addresses that are still free (or the user's own), in their recorded order.
    pub recoverable: Vec<Address>,
}

/// What POST /users/{user}/restore did.
#[derive(Debug, Clone)]
pub struct UserRestore {
    pub user: ObjectId,
    pub task: ObjectId,
    pub recovered: Vec<Address>,
    /// Addresses taken by someone else meanwhile.
    pub lost: Vec<Address>,
    /// The main address after the restore, if any was recovered.
    pub main: Option<String>,
}

/// The store's leases as a `LeaseStore` of their own, for a `JobRunner`.
struct Leases(Service);

#[async_trait::async_trait]
impl LeaseStore for Leases {
    async fn try_acquire(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> StoreResult<bool> {
        self.0.store().try_acquire(name, holder, ttl).await
    }
    async fn renew(&self, name: &str, holder: &str, ttl: std::time::Duration) -> StoreResult<bool> {
        self.0.store().renew(name, holder, ttl).await
    }
    async fn release(&self, name: &str, holder: &str) -> StoreResult<bool> {
        self.0.store().release(name, holder).await
    }
}

impl Service {
    /// The store's leases (what `jobs::JobRunner` needs).
    pub fn leases(&self) -> Arc<dyn LeaseStore> {
        Arc::new(Leases(self.clone()))
    }

    /// How long deleted messages stay in the archive: the runtime setting
    /// `const:archive:time` (ms; its default is `[archive] time`); zero: no archive.
    pub async fn archive_time(&self) -> std::time::Duration {
        std::time::Duration::from_millis(
            self.setting_u64(super::settings::keys::ARCHIVE_TIME).await,
        )
    }

    /// Remove messages from a mailbox through the archive when archiving is on (the
    /// one path of API DELETE, IMAP EXPUNGE, POP3 deletions without a Trash folder,
    /// search-and-delete); drafts are not archived (as WildDuck).
    pub(crate) async fn remove_messages(
        &self,
        mailbox: ObjectId,
        uids: &crate::model::UidSet,
        only_deleted: bool,
    ) -> Result<Vec<u32>> {
        let archive_time = self.archive_time().await;
        if !archive_time.is_zero() {
            let now = Utc::now();
            let keep = chrono::Duration::from_std(archive_time).unwrap_or(chrono::Duration::MAX);
            let purge_after = now
                .checked_add_signed(keep)
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            Ok(self
                .store()
                .expunge_archiving(mailbox, uids, only_deleted, now, purge_after)
                .await?)
        } else {
            Ok(self.store().expunge(mailbox, uids, only_deleted).await?)
        }
    }

    /// A page of the user's archived messages.
    pub async fn list_archived(
        &self,
        user: ObjectId,
        paging: &ArchivePaging,
    ) -> Result<Page<ArchivedMessage>> {
        self.get_user(user).await?;
        Ok(self.store().list_archived(user, paging).await?)
    }

    /// Put one archived message back: into `mailbox` when given, else where it was
    /// deleted from, else (that mailbox is gone) INBOX.
    pub async fn restore_archived_message(
        &self,
        user: ObjectId,
        id: u64,
        mailbox: Option<ObjectId>,
    ) -> Result<RestoredMessage> {
        self.get_user(user).await?;
        let entry = self
            .store()
            .get_archived(user, id)
            .await?
            .ok_or(Error::ArchivedMessageNotFound)?;
        let target = match mailbox {
            Some(m) => self.get_mailbox(user, m).await?.id,
            None => self.original_or_inbox(user, &entry).await?,
        };
        let restored = match self.store().restore_archived(user, id, target).await {
            // The original mailbox went away between the check and the write.
            Err(StoreError::NotFound) if mailbox.is_none() => {
                let inbox = self.find_mailbox(user, "INBOX").await?.id;
                self.store().restore_archived(user, id, inbox).await?
            }
            other => other?,
        }
        .ok_or(Error::ArchivedMessageNotFound)?;
        self.announce(user, Some(restored.mailbox), restored.modseq);
        Ok(restored)
    }

    async fn original_or_inbox(&self, user: ObjectId, entry: &ArchivedMessage) -> Result<ObjectId> {
        match self.get_mailbox(user, entry.message.meta.mailbox).await {
            Ok(m) => Ok(m.id),
            Err(Error::NoSuchMailbox) => Ok(self.find_mailbox(user, "INBOX").await?.id),
            Err(e) => Err(e),
        }
    }

    /// Start restoring every message archived within `start..=end` to where it was
    /// deleted from (INBOX when that mailbox is gone), in the background. Returns the
    /// task id at once, as WildDuck does.
    pub async fn restore_archived_range(
        &self,
        user: ObjectId,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<ObjectId> {
        self.get_user(user).await?;
        let task = ObjectId::new();
        let me = self.clone();
        tokio::spawn(async move {
            match me.restore_range(user, start, end).await {
                Ok(n) => tracing::info!(%task, %user, restored = n, "archive restore done"),
                Err(e) => tracing::warn!(%task, %user, "archive restore failed: {e}"),
            }
        });
        Ok(task)
    }

    /// The work of a range restore: returns how many messages came back.
    pub async fn restore_range(
        &self,
        user: ObjectId,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<u64> {
        let mut restored = 0u64;
        loop {
            let ids = self
                .store()
                .archived_between(user, start, end, RESTORE_BATCH)
                .await?;
            if ids.is_empty() {
                return Ok(restored);
            }
            let mut progressed = false;
            for id in ids {
                match self.restore_archived_message(user, id, None).await {
                    Ok(_) => {
                        restored += 1;
                        progressed = true;
                    }
                    // Purged or restored by someone else meanwhile.
                    Err(Error::ArchivedMessageNotFound) => progressed = true,
                    Err(e) => return Err(e),
                }
            }
            if !progressed {
                return Ok(restored);
            }
        }
    }

    /// Drop archived messages whose time is up (the `archive-purge` job).
    pub async fn purge_archived(&self, limit: u32) -> Result<u64> {
        Ok(self.store().purge_archived(Utc::now(), limit).await?)
    }

    /// DELETE /users/{user}: without `delete_after` (or with one not in the future) the
    /// account and its data go now; otherwise the account is hidden (no logins, no
    /// delivery, its username and addresses free) and purged after `delete_after`
    /// unless restored before.
    pub async fn delete_user_deferred(
        &self,
        id: ObjectId,
        delete_after: Option<DateTime<Utc>>,
    ) -> Result<UserDeletion> {
        let now = Utc::now();
        let Some(after) = delete_after.filter(|t| *t > now) else {
            let addresses = self.store().list_user_addresses(id).await?.len() as u64;
            self.delete_user(id).await?;
            return Ok(UserDeletion {
                user: id,
                addresses_deleted: addresses,
                delete_after: now,
                task: id,
            });
        };
        let deleted = self
            .store()
            .mark_user_deleted(id, now, after)
            .await?
            .ok_or(Error::UserNotFound)?;
        // Sessions and tokens end as for a deleted account; its auth records stay
        // with it until the purge, so a restore brings its ASPs and 2FA back.
        self.bus().publish(crate::model::Beacon::logout(id));
        Ok(UserDeletion {
            user: id,
            addresses_deleted: deleted.addresses.len() as u64,
            delete_after: after,
            task: id,
        })
    }

    /// GET /users/{user}/restore.
    pub async fn restore_user_info(&self, id: ObjectId) -> Result<RestoreInfo> {
        let deleted = self
            .store()
            .get_deleted_user(id)
            .await?
            .ok_or(Error::AccountNotFound)?;
        let mut recoverable = Vec::new();
        for a in &deleted.addresses {
            match self.store().find_address(&a.addrview).await? {
                Some(now) if now.user != Some(id) => {}
                _ => recoverable.push(a.clone()),
            }
        }
        Ok(RestoreInfo {
            deleted,
            recoverable,
        })
    }

    /// POST /users/{user}/restore: the account comes back with the addresses that are
    /// still free.
    pub async fn restore_user(&self, id: ObjectId) -> Result<UserRestore> {
        let restored = match self.store().restore_deleted_user(id).await {
            Ok(Some(r)) => r,
            Ok(None) => {
                return Err(if self.store().get_user(id).await?.is_some() {
                    Error::AccountFound
                } else {
                    Error::AccountNotFound
                })
            }
            Err(StoreError::Conflict(_)) => return Err(Error::AccountFound),
            Err(e) => return Err(e.into()),
        };
        let main = (!restored.user.address.is_empty()).then(|| restored.user.address.clone());
        Ok(UserRestore {
            user: id,
            task: id,
            recovered: restored.recovered,
            lost: restored.lost,
            main,
        })
    }

    /// Purge deleted users whose grace period is over (the `user-purge` job).
    pub async fn purge_deleted_users(&self, limit: u32) -> Result<u64> {
        let due = self.store().deleted_users_due(Utc::now(), limit).await?;
        let mut purged = 0;
        for id in due {
            if self.store().delete_user(id).await? {
                self.store().delete_user_auth(id).await?;
                purged += 1;
            }
        }
        Ok(purged)
    }
}
