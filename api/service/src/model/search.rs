use chrono::{DateTime, Utc};

use super::UidSet;
use crate::ObjectId;

/// Which date a date key compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateField {
    /// IMAP INTERNALDATE (BEFORE/ON/SINCE).
    Internal,
    /// The Date: header (SENTBEFORE/SENTON/SENTSINCE).
    Header,
}

/// A search criterion over the messages of one mailbox (or of a user, for the API).
/// Text keys are case-insensitive substring matches on decoded text.
#[derive(Debug, Clone, PartialEq)]
pub enum SearchKey {
    All,
    Uids(UidSet),
    /// A flag or keyword is set (`true`) or not set (`false`).
    Flag(String, bool),
    /// RFC822.SIZE greater than.
    Larger(u64),
    /// RFC822.SIZE smaller than.
    Smaller(u64),
    /// Date >= the instant.
    Since(DateField, DateTime<Utc>),
    /// Date < the instant.
    Before(DateField, DateTime<Utc>),
    /// Substring of a header's decoded value; an empty needle matches any message having the header.
    Header(String, String),
    /// Substring of the decoded body text.
    Body(String),
    /// Substring of the decoded headers or body.
    Text(String),
    /// MODSEQ >= value.
    ModSeq(u64),
    Thread(ObjectId),
    HasAttachment(bool),
    And(Vec<SearchKey>),
    Or(Box<SearchKey>, Box<SearchKey>),
    Not(Box<SearchKey>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    #[default]
    Ascending,
    Descending,
}

/// A search in one mailbox, or across all of a user's mailboxes when `mailbox` is None.
#[derive(Debug, Clone)]
pub struct SearchQuery {
    pub user: ObjectId,
    pub mailbox: Option<ObjectId>,
    pub key: SearchKey,
}
