use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ObjectId;

/// What changed. Message entries carry a mailbox modseq; mailbox entries do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum JournalKind {
    /// A message appeared (append, copy, move target).
    Exists,
    /// A message was removed (expunge, delete, move source).
    Expunge,
    /// A message's flags changed.
    Flags,
    MailboxCreate,
    MailboxRename,
    MailboxDelete,
}

/// One entry of the write-ahead journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// Store-wide increasing id: the SSE event id and the order of entries of a user.
    pub id: u64,
    pub user: ObjectId,
    pub mailbox: ObjectId,
    /// The mailbox's MODSEQ after this change (0 for mailbox events).
    pub modseq: u64,
    pub kind: JournalKind,
    pub uid: Option<u32>,
    pub message: Option<ObjectId>,
    /// New flags for `Flags`, initial flags for `Exists`.
    pub flags: Vec<String>,
    /// Mailbox path for mailbox events.
    pub path: Option<String>,
    pub created: DateTime<Utc>,
}

/// A notification that a user's journal grew. Carries no data: readers load the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Beacon {
    pub user: ObjectId,
    pub mailbox: Option<ObjectId>,
    /// The mailbox's MODSEQ after the change (0 for mailbox-level events).
    pub modseq: u64,
}

impl Beacon {
    /// The user's sessions must end (PUT /users/{user}/logout): no mailbox and the
    /// largest MODSEQ, which no mailbox change carries.
    pub fn logout(user: ObjectId) -> Self {
        Self {
            user,
            mailbox: None,
            modseq: u64::MAX,
        }
    }

    pub fn is_logout(&self) -> bool {
        self.mailbox.is_none() && self.modseq == u64::MAX
    }
}
