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

/// MODSEQ values no mailbox change carries, which mark the beacons that end
/// sessions. Encoding them in the existing fields keeps the Bus (and Redis'
/// payload) unchanged for every instance.
const LOGOUT_MODSEQ: u64 = u64::MAX;
const REVOKE_MODSEQ: u64 = u64::MAX - 1;

impl Beacon {
    /// Every session of the user must end (PUT /users/{user}/logout, the account
    /// disabled, suspended or deleted): no mailbox and the largest MODSEQ.
    pub fn logout(user: ObjectId) -> Self {
        Self {
            user,
            mailbox: None,
            modseq: LOGOUT_MODSEQ,
        }
    }

    /// The sessions that logged in with one credential must end: `asp` is the
    /// application password deleted, None the account password (changed). The
    /// mailbox field carries the ASP's id.
    pub fn revoke(user: ObjectId, asp: Option<ObjectId>) -> Self {
        Self {
            user,
            mailbox: asp,
            modseq: REVOKE_MODSEQ,
        }
    }

    pub fn is_logout(&self) -> bool {
        self.mailbox.is_none() && self.modseq == LOGOUT_MODSEQ
    }

    /// Does this beacon end a session that logged in with `asp` (None: the account
    /// password)?
    pub fn ends_session(&self, asp: Option<ObjectId>) -> bool {
        self.is_logout() || (self.modseq == REVOKE_MODSEQ && self.mailbox == asp)
    }

    /// A beacon about sessions rather than a mailbox change.
    pub fn is_session_control(&self) -> bool {
        self.modseq >= REVOKE_MODSEQ
    }
}
