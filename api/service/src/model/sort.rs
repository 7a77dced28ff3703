//! What SORT and THREAD read per message: one small row, no content.

use chrono::{DateTime, Utc};
pub use eider_message::SortKeys;

/// One message of a mailbox as SORT and THREAD see it.
#[derive(Debug, Clone, PartialEq)]
pub struct SortRow {
    pub uid: u32,
    pub internal_date: DateTime<Utc>,
    pub size: u64,
    pub message_id: Option<String>,
    /// None for rows stored before the keys existed (SQLite schema v14, MongoDB
    /// `sortk`): the service computes them from the stored index once and stores
    /// them ([`crate::Service`]'s lazy backfill).
    pub keys: Option<SortKeys>,
}
