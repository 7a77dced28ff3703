//! The Store traits: domain-level persistence, implemented by each backend
//! (embedded SQLite, MongoDB). Every multi-step change is atomic inside the
//! backend; the service layer decides *what* to change, the store makes it so.
//!
//! Rules every implementation follows (the conformance suite checks them):
//! - a call that returns Ok has been durably committed;
//! - every change to a mailbox's messages bumps its MODSEQ and writes journal
//!   entries in the same transaction;
//! - content and blobs are reference-counted: the last message referencing them frees them.

use async_trait::async_trait;
use bytes::Bytes;
use eider_message::BlobHash;

use crate::model::*;
use crate::{ObjectId, StoreError};

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Create the user, its main address (if any) and its mailboxes atomically.
    /// Conflict("username") / Conflict("address") when taken.
    async fn create_user(
        &self,
        user: &User,
        address: Option<&Address>,
        mailboxes: &[Mailbox],
    ) -> StoreResult<()>;
    async fn get_user(&self, id: ObjectId) -> StoreResult<Option<User>>;
    async fn find_user_by_unameview(&self, unameview: &str) -> StoreResult<Option<User>>;
    /// Replace the user's mutable fields (everything but id, created, storage_used).
    async fn update_user(&self, user: &User) -> StoreResult<()>;
    /// Delete the user with all its addresses, mailboxes, subscriptions, messages, journal and
    /// address register.
    async fn delete_user(&self, id: ObjectId) -> StoreResult<bool>;
    async fn list_users(&self, query: &UserQuery) -> StoreResult<Page<User>>;
    /// Recompute storage_used from the stored messages; returns the new value.
    async fn recalculate_storage(&self, user: ObjectId) -> StoreResult<u64>;
}

#[async_trait]
pub trait AddressStore: Send + Sync {
    /// Conflict("address") when the addrview is taken.
    async fn create_address(&self, address: &Address) -> StoreResult<()>;
    async fn get_address(&self, id: ObjectId) -> StoreResult<Option<Address>>;
    async fn find_address(&self, addrview: &str) -> StoreResult<Option<Address>>;
    async fn list_user_addresses(&self, user: ObjectId) -> StoreResult<Vec<Address>>;
    async fn list_addresses(&self, query: &AddressQuery) -> StoreResult<Page<Address>>;
    /// Replace the address's mutable fields; when `main` is set, the user's other
    /// addresses lose `main` and the user's `address` field follows, atomically.
    async fn update_address(&self, address: &Address) -> StoreResult<()>;
    async fn delete_address(&self, id: ObjectId) -> StoreResult<bool>;

    async fn create_domain_alias(&self, alias: &DomainAlias) -> StoreResult<()>;
    async fn find_domain_alias(&self, alias: &str) -> StoreResult<Option<DomainAlias>>;
    async fn get_domain_alias(&self, id: ObjectId) -> StoreResult<Option<DomainAlias>>;
    async fn list_domain_aliases(&self, paging: &Paging) -> StoreResult<Page<DomainAlias>>;
    async fn delete_domain_alias(&self, id: ObjectId) -> StoreResult<bool>;
}

/// Subscriptions are a set of names per user, apart from the mailboxes (RFC 3501
/// 6.3.6: a name stays subscribed when its mailbox is deleted, until UNSUBSCRIBE).
/// A mailbox read from the store is `subscribed` when its path is in that set, and
/// writing a mailbox's `subscribed` adds or removes its path, so the API's flag and
/// IMAP's list are one.
#[async_trait]
pub trait MailboxStore: Send + Sync {
    async fn list_mailboxes(&self, user: ObjectId) -> StoreResult<Vec<Mailbox>>;
    async fn get_mailbox(&self, user: ObjectId, id: ObjectId) -> StoreResult<Option<Mailbox>>;
    async fn find_mailbox(&self, user: ObjectId, path: &str) -> StoreResult<Option<Mailbox>>;
    /// Conflict("path") when the path exists. Writes a MailboxCreate journal entry.
    /// A `subscribed` mailbox subscribes its path; an unsubscribed one leaves the
    /// subscriptions as they are (a name subscribed before stays subscribed).
    async fn create_mailbox(&self, mailbox: &Mailbox) -> StoreResult<()>;
    /// Rename several mailboxes at once (a folder and its children); Conflict("path")
    /// if any target exists. Writes MailboxRename journal entries. The subscription
    /// of each renamed path moves to its new path (as Dovecot does).
    async fn rename_mailboxes(
        &self,
        user: ObjectId,
        renames: &[(ObjectId, String)],
    ) -> StoreResult<()>;
    /// Update subscribed (the subscription of the mailbox's path), retention, hidden,
    /// special_use.
    async fn update_mailbox(&self, mailbox: &Mailbox) -> StoreResult<()>;
    /// Delete the mailbox and its messages (releasing content, adjusting quota).
    /// Its subscription stays.
    async fn delete_mailbox(&self, user: ObjectId, id: ObjectId) -> StoreResult<bool>;
    async fn mailbox_counters(&self, mailbox: ObjectId) -> StoreResult<MailboxCounters>;
    /// Raise the mailbox's next UID to at least `uid_next` (never lowers it), so an
    /// import can give its messages the UIDs they had and keep the UIDNEXT a client
    /// saw. NotFound when the user has no such mailbox.
    async fn raise_uid_next(
        &self,
        user: ObjectId,
        mailbox: ObjectId,
        uid_next: u32,
    ) -> StoreResult<()>;
    /// The user's subscribed names, sorted; they need not exist as mailboxes.
    async fn list_subscriptions(&self, user: ObjectId) -> StoreResult<Vec<String>>;
    /// Subscribe (`true`) or unsubscribe a name, whether or not a mailbox has it;
    /// Ok(true) when the set changed.
    async fn set_subscription(
        &self,
        user: ObjectId,
        path: &str,
        subscribed: bool,
    ) -> StoreResult<bool>;
}

#[async_trait]
pub trait MessageStore: Send + Sync {
    /// Find the thread for a message by its Message-ID/References/In-Reply-To ids,
    /// else by normalized subject within the user; create one if none matches.
    async fn resolve_thread(
        &self,
        user: ObjectId,
        thread_subject: &str,
        ids: &[String],
    ) -> StoreResult<ObjectId>;

    /// Store content + blobs (de-duplicated), allocate a UID and MODSEQ, insert the
    /// message, journal an Exists entry, count it against quota. One transaction.
    async fn append(&self, req: AppendRequest) -> StoreResult<Appended>;

    /// Copy messages (sharing content) into `target`, in UID order.
    async fn copy_messages(
        &self,
        user: ObjectId,
        source: ObjectId,
        uids: &UidSet,
        target: ObjectId,
        quota_limit: Option<u64>,
    ) -> StoreResult<Vec<CopiedMessage>>;

    /// Move messages: copy to `target` and expunge from `source` atomically.
    async fn move_messages(
        &self,
        user: ObjectId,
        source: ObjectId,
        uids: &UidSet,
        target: ObjectId,
    ) -> StoreResult<Vec<CopiedMessage>>;

    async fn update_flags(
        &self,
        mailbox: ObjectId,
        uids: &UidSet,
        update: &FlagUpdate,
    ) -> StoreResult<FlagsChanged>;

    /// Remove messages in `uids` (when `only_deleted`, only those flagged \Deleted).
    /// Returns the removed UIDs in ascending order.
    async fn expunge(
        &self,
        mailbox: ObjectId,
        uids: &UidSet,
        only_deleted: bool,
    ) -> StoreResult<Vec<u32>>;

    /// Replace the API-visible attributes of a message (meta_data, expires).
    async fn update_message_attributes(
        &self,
        mailbox: ObjectId,
        uid: u32,
        meta_data: Option<serde_json::Value>,
        expires: Option<Option<chrono::DateTime<chrono::Utc>>>,
    ) -> StoreResult<bool>;

    /// UIDs of the mailbox in ascending order (what SELECT loads).
    async fn list_uids(&self, mailbox: ObjectId) -> StoreResult<Vec<u32>>;

    /// Message rows with UIDs in `uids`, ascending by UID, at most `limit` (0 = no limit).
    async fn list_messages(
        &self,
        mailbox: ObjectId,
        uids: &UidSet,
        order: SortOrder,
        limit: u32,
    ) -> StoreResult<Vec<MessageMeta>>;

    async fn get_message(&self, mailbox: ObjectId, uid: u32) -> StoreResult<Option<StoredMessage>>;

    /// `get_message` for each of `uids`, in the order given; UIDs not (or no longer)
    /// in the mailbox are left out. A page of the message list reads this way: a
    /// remote backend answers in one query per collection instead of one per row.
    async fn get_messages(
        &self,
        mailbox: ObjectId,
        uids: &[u32],
    ) -> StoreResult<Vec<StoredMessage>> {
        let mut out = Vec::with_capacity(uids.len());
        for &uid in uids {
            if let Some(m) = self.get_message(mailbox, uid).await? {
                out.push(m);
            }
        }
        Ok(out)
    }

    /// Messages with UIDs in `uids`, ascending, each with the parts of its content
    /// that `want` names: FETCH and POP3 read in batches of this without unpacking
    /// text, html or search text. The default reads whole messages one by one;
    /// backends override it with one range read.
    async fn fetch_messages(
        &self,
        mailbox: ObjectId,
        uids: &UidSet,
        want: FetchWant,
    ) -> StoreResult<Vec<FetchedMessage>> {
        let rows = self
            .list_messages(mailbox, uids, SortOrder::Ascending, 0)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for meta in rows {
            if !want.imap && !want.body {
                out.push(FetchedMessage {
                    meta,
                    imap: None,
                    body: None,
                });
            } else if let Some(m) = self.get_message(mailbox, meta.uid).await? {
                out.push(m.into_fetched(want));
            }
        }
        Ok(out)
    }

    /// The rows of `uids` (in that order; expunged ones left out) with their listing
    /// fields only ([`eider_message::MessageIndex::listing`]): what a message list
    /// shows. The default reads whole messages through [`Self::get_messages`]; backends
    /// that keep the listing beside the content override it, so a page reads a few KB.
    async fn list_entries(
        &self,
        mailbox: ObjectId,
        uids: &[u32],
    ) -> StoreResult<Vec<ListedMessage>> {
        // Through the batch read, so a backend without listings still reads a page
        // in a few queries.
        let messages = self.get_messages(mailbox, uids).await?;
        Ok(messages
            .into_iter()
            .map(|m| ListedMessage {
                index: m.index.listing(),
                meta: m.meta,
            })
            .collect())
    }

    async fn get_message_meta_by_id(
        &self,
        user: ObjectId,
        id: ObjectId,
    ) -> StoreResult<Option<MessageMeta>>;

    /// UIDs (or, with no mailbox, message rows across the user) matching the query.
    async fn search(&self, query: &SearchQuery) -> StoreResult<Vec<MessageMeta>>;

    /// The SORT/THREAD rows of the messages with UIDs in `uids`, ascending by UID:
    /// one range read of the message rows, no content.
    async fn sort_rows(&self, mailbox: ObjectId, uids: &UidSet) -> StoreResult<Vec<SortRow>>;

    /// Store computed sort keys on rows that lack them (the lazy backfill of rows
    /// written before the keys existed). Rows gone meanwhile are skipped.
    async fn set_sort_keys(&self, mailbox: ObjectId, keys: &[(u32, SortKeys)]) -> StoreResult<()>;

    /// Journal entries of a mailbox with modseq > `since`, in order.
    async fn journal_since(&self, mailbox: ObjectId, since: u64) -> StoreResult<Vec<JournalEntry>>;
    /// Journal entries of a user with id > `after`, in order, at most `limit`.
    async fn user_journal_after(
        &self,
        user: ObjectId,
        after: u64,
        limit: u32,
    ) -> StoreResult<Vec<JournalEntry>>;
    /// Highest journal id written so far (for SSE starting points).
    async fn last_journal_id(&self) -> StoreResult<u64>;

    /// The highest MODSEQ pruned from the mailbox's journal (0: nothing pruned):
    /// `journal_since(mailbox, since)` is complete only when `since >= floor`.
    async fn journal_floor(&self, mailbox: ObjectId) -> StoreResult<u64>;
    /// Prune the journal: take the oldest `limit` entries store-wide (by id), keep
    /// those written at or after `before`, and for each mailbox among the rest delete
    /// its entries up to the highest MODSEQ seen, raising that mailbox's journal floor
    /// to it first (a reader never misses entries without seeing the floor). Returns
    /// how many entries went; idempotent, so a job can stop anywhere.
    async fn prune_journal(
        &self,
        before: chrono::DateTime<chrono::Utc>,
        limit: u32,
    ) -> StoreResult<u64>;
    /// Delete threads (with their Message-ID links) that no message belongs to and that
    /// were not updated since `before`, examining at most `limit` threads with ids
    /// after `after` in id order. Returns (threads deleted, last id examined: None
    /// when the end was reached), so a job can walk all threads over several runs.
    async fn purge_orphan_threads(
        &self,
        before: chrono::DateTime<chrono::Utc>,
        after: Option<ObjectId>,
        limit: u32,
    ) -> StoreResult<(u64, Option<ObjectId>)>;

    /// Messages whose `expires` has passed, at most `limit` (retention sweeps).
    async fn expired_messages(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: u32,
    ) -> StoreResult<Vec<(ObjectId, u32)>>;
}

#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Decoded bytes `start..end` of a blob (clamped to its length).
    async fn read_blob(&self, hash: &BlobHash, start: u64, end: u64) -> StoreResult<Bytes>;
    /// Several ranges at once (`(hash, start, end)` each, clamped like `read_blob`),
    /// in order: a small message is read in one round trip instead of one per piece.
    async fn read_blob_ranges(&self, ranges: &[(BlobHash, u64, u64)]) -> StoreResult<Vec<Bytes>> {
        let mut out = Vec::with_capacity(ranges.len());
        for (hash, start, end) in ranges {
            out.push(self.read_blob(hash, *start, *end).await?);
        }
        Ok(out)
    }
    /// Length of a stored blob, None when absent.
    async fn blob_len(&self, hash: &BlobHash) -> StoreResult<Option<u64>>;
    /// Number of distinct blobs stored (for tests and storage reports).
    async fn blob_count(&self) -> StoreResult<u64>;
}

pub use crate::store_audit::AuditStore;
pub use crate::store_auth::AuthStore;
pub use crate::store_certs::CertStore;
pub use crate::store_dkim::DkimStore;
pub use crate::store_domainaccess::DomainAccessStore;
pub use crate::store_files::FileStore;
pub use crate::store_filters::{FilterSearch, FilterStore};
pub use crate::store_lifecycle::{ArchiveStore, DeletedUserStore, LeaseStore};
pub use crate::store_metadata::MetadataStore;
pub use crate::store_queue::QueueStore;
pub use crate::store_register::AddressRegisterStore;
pub use crate::store_settings::SettingsStore;
pub use crate::store_webhooks::WebhookStore;

/// Everything a backend provides.
pub trait Store:
    UserStore
    + AddressStore
    + MailboxStore
    + MessageStore
    + BlobStore
    + FilterStore
    + AuthStore
    + AddressRegisterStore
    + FileStore
    + AuditStore
    + QueueStore
    + LeaseStore
    + ArchiveStore
    + DeletedUserStore
    + DkimStore
    + CertStore
    + SettingsStore
    + MetadataStore
    + DomainAccessStore
    + WebhookStore
{
}

impl<T> Store for T where
    T: UserStore
        + AddressStore
        + MailboxStore
        + MessageStore
        + BlobStore
        + FilterStore
        + AuthStore
        + AddressRegisterStore
        + FileStore
        + AuditStore
        + QueueStore
        + LeaseStore
        + ArchiveStore
        + DeletedUserStore
        + DkimStore
        + CertStore
        + SettingsStore
        + MetadataStore
        + DomainAccessStore
        + WebhookStore
{
}
