//! Persistence of IMAP METADATA entries (RFC 5464): per user, on the server or on
//! one mailbox, removed with the mailbox and with the user. The service owns the
//! entry-name rules and the size limits; the store keeps the count limit atomic.

use async_trait::async_trait;

use crate::{ObjectId, StoreResult};

/// One entry: its name in lower case (`/private/comment`) and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataEntry {
    pub name: String,
    pub value: Vec<u8>,
}

#[async_trait]
pub trait MetadataStore: Send + Sync {
    /// The entries of the user's server (`mailbox` None) or of one mailbox, by name.
    async fn list_metadata(
        &self,
        user: ObjectId,
        mailbox: Option<ObjectId>,
    ) -> StoreResult<Vec<MetadataEntry>>;

    /// Set (`Some`) or remove (`None`) entries, all in one step. Refused with
    /// `LimitReached("metadata")`, changing nothing, when the user would then have
    /// more than `max_entries` entries in all (server and mailboxes).
    async fn set_metadata(
        &self,
        user: ObjectId,
        mailbox: Option<ObjectId>,
        changes: &[(String, Option<Vec<u8>>)],
        max_entries: u64,
    ) -> StoreResult<()>;
}
