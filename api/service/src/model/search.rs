use chrono::{DateTime, NaiveDate, Utc};

use super::UidSet;
use crate::ObjectId;

/// Which date a date key compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateField {
    /// IMAP INTERNALDATE (BEFORE/ON/SINCE).
    Internal,
    /// The Date: header as an instant (falls back to the internal date). IMAP's
    /// SENT* keys compare days instead: [`SearchKey::SentSince`].
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
    /// The Date: header's day as written, in the header's own zone, is on or after
    /// this day (RFC 3501 SENTSINCE: time and zone disregarded). Without a Date:
    /// header the internal date's UTC day stands in; for rows stored before the day
    /// was recorded, the UTC day of the header's instant.
    SentSince(NaiveDate),
    /// The Date: header's day (as for [`SearchKey::SentSince`]) is before this day.
    SentBefore(NaiveDate),
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

/// Days since 1970-01-01 of a calendar day (the unit stores keep sent days in).
pub fn epoch_day(d: NaiveDate) -> i64 {
    d.signed_duration_since(NaiveDate::default()).num_days()
}
