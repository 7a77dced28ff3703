//! Domain types shared by the service layer, the stores and the gateways.

mod address;
mod journal;
mod mailbox;
mod message;
mod search;
mod sort;
mod uidset;
mod user;

pub use address::{Address, AddressQuery, DomainAlias};
pub use journal::{Beacon, JournalEntry, JournalKind};
pub use mailbox::{Mailbox, MailboxCounters, SpecialUse};
pub use message::{
    AppendRequest, Appended, CopiedMessage, FetchWant, FetchedMessage, FlagOp, FlagUpdate,
    FlagsChanged, ImapStrings, ListedMessage, MessageBody, MessageMeta, NewContent, StoredMessage,
    ThreadRef,
};
pub use search::{
    epoch_day, saved_bound, saved_date, DateField, SearchKey, SearchQuery, SortOrder,
};
pub use sort::{SortKeys, SortRow};
pub use uidset::UidSet;
pub use user::{User, UserLimits, UserProfile, UserQuery};

/// One page of a listing ordered by id, with cursors to the neighbouring pages.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub results: Vec<T>,
    pub total: u64,
    /// Cursor for the next page (opaque; an id today).
    pub next: Option<String>,
    /// Cursor for the previous page.
    pub previous: Option<String>,
}

/// How a listing is paged: `limit` items after (or before) a cursor, or page N.
#[derive(Debug, Clone, Default)]
pub struct Paging {
    pub limit: u32,
    pub next: Option<String>,
    pub previous: Option<String>,
    /// 1-based page number, used only when no cursor is given.
    pub page: Option<u32>,
}
