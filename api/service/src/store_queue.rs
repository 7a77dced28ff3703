//! A durable work queue in the store, shared by every kind of deferred delivery
//! (outbound SMTP, webhooks): entries carry opaque payload bytes, a `kind` that
//! says which worker handles them and a `key` that groups them (a recipient
//! domain, a hook) so a worker can bound and batch its work per key.
//!
//! Rules every backend keeps (the conformance suite checks them):
//! - an entry whose `enqueue` returned is committed (it survives a crash);
//! - `claim` hands an entry to one worker at a time: it sets a lease, and only an
//!   entry due (`not_before <= now`) whose lease is absent or expired is claimable,
//!   so an instance that dies mid-delivery loses its entries only for the lease;
//! - `complete` and `reschedule` act only for the worker holding the lease (a
//!   worker whose lease expired and was taken over changes nothing);
//! - `cancel` removes every entry of a group that belongs to the owner, leased or not.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{ObjectId, StoreResult};

/// One unit of deferred work.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueEntry {
    pub id: ObjectId,
    /// Which worker handles it ("smtp", "webhook", ...).
    pub kind: String,
    /// What it is grouped and bounded by (a recipient domain, a hook id).
    pub key: String,
    /// The id shared by the entries of one submission (the queue id shown to users),
    /// what `cancel` removes.
    pub group: String,
    /// Who may cancel it; None for entries no user owns (bounces, system mail).
    pub owner: Option<ObjectId>,
    /// What the worker needs, opaque to the store.
    pub payload: Vec<u8>,
    /// Not handed to a worker before this instant.
    pub not_before: DateTime<Utc>,
    /// Attempts made so far (`reschedule` counts one).
    pub attempts: u32,
    pub last_error: Option<String>,
    pub created: DateTime<Utc>,
    /// The worker holding the lease, and until when (None when not claimed).
    pub lease: Option<(String, DateTime<Utc>)>,
}

/// Which entries `claim` may hand out.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim<'a> {
    pub kind: &'a str,
    /// Only this key (a worker reusing a connection to one domain), or any.
    pub key: Option<&'a str>,
    /// The claiming worker's name, unique among live workers.
    pub worker: &'a str,
    pub now: DateTime<Utc>,
    /// The lease ends at this instant.
    pub lease_until: DateTime<Utc>,
    /// At most this many entries (at least one is asked for).
    pub limit: u32,
}

#[async_trait]
pub trait QueueStore: Send + Sync {
    /// Add entries, all or none (one submission's entries are committed together).
    async fn enqueue(&self, entries: &[QueueEntry]) -> StoreResult<()>;
    /// Lease up to `limit` due, unleased (or lease-expired) entries of `kind` (and
    /// `key`), the earliest `not_before` first; the returned entries carry the new lease.
    async fn claim(&self, claim: &Claim<'_>) -> StoreResult<Vec<QueueEntry>>;
    /// Remove an entry the worker finished with; false when it no longer holds the lease.
    async fn complete(&self, id: ObjectId, worker: &str) -> StoreResult<bool>;
    /// Give an entry back to be tried again at `not_before`: one more attempt, the
    /// error kept, the lease released; false when the worker no longer holds it.
    async fn reschedule(
        &self,
        id: ObjectId,
        worker: &str,
        not_before: DateTime<Utc>,
        error: &str,
    ) -> StoreResult<bool>;
    /// Remove the entries of `group` owned by `owner`; returns how many.
    async fn cancel(&self, group: &str, owner: ObjectId) -> StoreResult<u64>;
    async fn get_queue_entry(&self, id: ObjectId) -> StoreResult<Option<QueueEntry>>;
    /// Entries of `kind` (and `key`), the earliest `not_before` first, at most `limit`.
    async fn list_queue(
        &self,
        kind: &str,
        key: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<QueueEntry>>;
    async fn count_queue(&self, kind: &str, key: Option<&str>) -> StoreResult<u64>;
}
