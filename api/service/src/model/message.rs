use chrono::{DateTime, Utc};
use eider_message::{BlobHash, BodyPart, ExtractedBlob, Layout, MessageIndex};
use serde::{Deserialize, Serialize};

use crate::ObjectId;

/// The per-copy row of a message: what listings, FLAGS and SEARCH on flags need.
/// The content (index, layout, blobs) is shared between copies of the same message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageMeta {
    pub id: ObjectId,
    pub user: ObjectId,
    pub mailbox: ObjectId,
    pub uid: u32,
    pub modseq: u64,
    /// System flags ("\\Seen", ...) and keywords, in canonical case, sorted.
    pub flags: Vec<String>,
    pub internal_date: DateTime<Utc>,
    pub header_date: Option<DateTime<Utc>>,
    pub size: u64,
    pub thread: ObjectId,
    /// The shared content this copy points at.
    pub content: ObjectId,
    pub subject: String,
    pub message_id: Option<String>,
    pub has_attachments: bool,
    /// Deleted automatically after this time (retention or API `expires`).
    pub expires: Option<DateTime<Utc>>,
    /// API-provided metadata (JSON object).
    pub meta_data: serde_json::Value,
}

impl MessageMeta {
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f.eq_ignore_ascii_case(flag))
    }
    pub fn seen(&self) -> bool {
        self.has_flag("\\Seen")
    }
}

/// A message with its parsed index and the recipe to rebuild its bytes.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    pub meta: MessageMeta,
    pub index: MessageIndex,
    pub layout: Layout,
    /// Blob holding the skeleton (the bytes not in attachment blobs).
    pub skeleton: BlobHash,
}

/// A message as a list shows it: the row and its listing fields
/// ([`MessageIndex::listing`]), not the bodies, layout or search text.
#[derive(Debug, Clone)]
pub struct ListedMessage {
    pub meta: MessageMeta,
    pub index: MessageIndex,
}

impl From<StoredMessage> for ListedMessage {
    fn from(m: StoredMessage) -> Self {
        ListedMessage {
            meta: m.meta,
            index: m.index,
        }
    }
}

impl StoredMessage {
    /// The parts of the full message a FETCH-style read carries.
    pub fn into_fetched(self, want: FetchWant) -> FetchedMessage {
        let StoredMessage {
            meta,
            index,
            layout,
            skeleton,
        } = self;
        FetchedMessage {
            meta,
            imap: want.imap.then_some(ImapStrings {
                envelope: index.imap_envelope,
                body_structure: index.imap_bodystructure,
                body: index.imap_body,
            }),
            body: want.body.then_some(MessageBody {
                root: index.root,
                layout,
                skeleton,
            }),
        }
    }
}

/// What a batch read ([`crate::store::MessageStore::fetch_messages`]) loads of each
/// message's content besides its row. Each part costs: ENVELOPE and BODYSTRUCTURE are
/// short strings, the body recipe is the MIME tree and layout; neither needs the text,
/// html, headers or search text of the full index.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchWant {
    /// ENVELOPE, BODYSTRUCTURE and BODY strings.
    pub imap: bool,
    /// The MIME tree and the recipe of the raw bytes.
    pub body: bool,
}

/// The RFC 3501 strings computed at ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapStrings {
    pub envelope: String,
    pub body_structure: String,
    /// The non-extended BODY form.
    pub body: String,
}

/// How to address and rebuild a message's raw bytes: the MIME tree with byte
/// offsets, and the layout over the skeleton and attachment blobs.
#[derive(Debug, Clone)]
pub struct MessageBody {
    pub root: BodyPart,
    pub layout: Layout,
    pub skeleton: BlobHash,
}

/// One message as a batch read returns it: the row and what [`FetchWant`] asked for.
#[derive(Debug, Clone)]
pub struct FetchedMessage {
    pub meta: MessageMeta,
    pub imap: Option<ImapStrings>,
    pub body: Option<MessageBody>,
}

/// Content produced by ingest, to be stored once and shared by copies.
#[derive(Debug, Clone)]
pub struct NewContent {
    pub index: MessageIndex,
    pub layout: Layout,
    pub skeleton: Vec<u8>,
    pub blobs: Vec<ExtractedBlob>,
}

/// Which thread a new message joins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ThreadRef {
    Id(ObjectId),
    /// Resolved by the store inside the append's transaction, as
    /// [`crate::store::MessageStore::resolve_thread`] does: by the Message-IDs the
    /// message references, else by its normalized subject. One write instead of
    /// two, so a delivery waits for one group commit.
    Resolve {
        subject: String,
        ids: Vec<String>,
    },
}

/// Everything a store needs to append one message atomically.
#[derive(Debug, Clone)]
pub struct AppendRequest {
    pub id: ObjectId,
    pub user: ObjectId,
    pub mailbox: ObjectId,
    pub content: NewContent,
    pub flags: Vec<String>,
    pub internal_date: DateTime<Utc>,
    pub thread: ThreadRef,
    pub expires: Option<DateTime<Utc>>,
    pub meta_data: serde_json::Value,
    /// Refuse with OverQuota when storage used + size would exceed this.
    pub quota_limit: Option<u64>,
    /// When set and a message with this Message-ID already exists in the mailbox,
    /// nothing is stored and that message's uid is returned (duplicate suppression).
    pub dedupe_message_id: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub id: ObjectId,
    pub uid: u32,
    pub modseq: u64,
    pub uid_validity: u32,
    /// True when an existing duplicate was found and nothing new was stored.
    pub duplicate: bool,
}

/// A copy made by COPY/MOVE: source uid, the new uid and id in the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopiedMessage {
    pub source_uid: u32,
    pub uid: u32,
    pub id: ObjectId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagOp {
    Add,
    Remove,
    Replace,
}

#[derive(Debug, Clone)]
pub struct FlagUpdate {
    pub op: FlagOp,
    pub flags: Vec<String>,
    /// CONDSTORE UNCHANGEDSINCE: messages with a higher modseq are not changed.
    pub unchanged_since: Option<u64>,
}

/// Result of a flag update.
#[derive(Debug, Clone, Default)]
pub struct FlagsChanged {
    /// (uid, new flags, new modseq) of every message whose flags changed.
    pub changed: Vec<(u32, Vec<String>, u64)>,
    /// UIDs skipped because of UNCHANGEDSINCE.
    pub conflicts: Vec<u32>,
    /// The mailbox's highest modseq after the update.
    pub modseq: u64,
}
