//! Persistence of message audits (POST /audit): which user, which window of
//! message dates, until when. The service selects and exports the messages.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{ObjectId, StoreResult};

/// One audit of a user's messages.
#[derive(Debug, Clone, PartialEq)]
pub struct Audit {
    pub id: ObjectId,
    pub user: ObjectId,
    /// Messages received at or after this instant (None: no lower bound).
    pub start: Option<DateTime<Utc>>,
    /// Messages received at or before this instant (None: no upper bound).
    pub end: Option<DateTime<Utc>>,
    /// After this instant the audit no longer exists.
    pub expires: DateTime<Utc>,
    pub created: DateTime<Utc>,
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn create_audit(&self, audit: &Audit) -> StoreResult<()>;
    /// The audit, expired or not (the service decides what an expired one means).
    async fn get_audit(&self, id: ObjectId) -> StoreResult<Option<Audit>>;
}
