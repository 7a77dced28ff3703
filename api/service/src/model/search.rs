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
    /// When the message was saved into its mailbox (IMAP SAVEDATE, RFC 8514): the
    /// time in its id, which is new on every append, copy and move.
    Saved,
}

/// The smallest message id of the second `t` falls in: ids compare by their
/// leading big-endian timestamp, so `id >= saved_bound(t)` is "saved at or after t"
/// to the second (the precision of the id).
pub fn saved_bound(t: DateTime<Utc>) -> ObjectId {
    let secs = t.timestamp().clamp(0, i64::from(u32::MAX)) as u32;
    let mut b = [0u8; 12];
    b[..4].copy_from_slice(&secs.to_be_bytes());
    ObjectId(b)
}

/// When a message was saved into its mailbox (see [`DateField::Saved`]).
pub fn saved_date(m: &super::MessageMeta) -> DateTime<Utc> {
    DateTime::from_timestamp(i64::from(m.id.timestamp()), 0).unwrap_or_default()
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
    /// Copies of one stored content ([`super::MessageMeta::content`]; IMAP EMAILID).
    Content(ObjectId),
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
