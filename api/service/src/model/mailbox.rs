use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ObjectId;

/// RFC 6154 special-use attributes a mailbox may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SpecialUse {
    #[serde(rename = "\\Sent")]
    Sent,
    #[serde(rename = "\\Drafts")]
    Drafts,
    #[serde(rename = "\\Trash")]
    Trash,
    #[serde(rename = "\\Junk")]
    Junk,
    #[serde(rename = "\\Archive")]
    Archive,
}

impl SpecialUse {
    pub fn as_str(&self) -> &'static str {
        match self {
            SpecialUse::Sent => "\\Sent",
            SpecialUse::Drafts => "\\Drafts",
            SpecialUse::Trash => "\\Trash",
            SpecialUse::Junk => "\\Junk",
            SpecialUse::Archive => "\\Archive",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "\\sent" => Some(SpecialUse::Sent),
            "\\drafts" => Some(SpecialUse::Drafts),
            "\\trash" => Some(SpecialUse::Trash),
            "\\junk" => Some(SpecialUse::Junk),
            "\\archive" => Some(SpecialUse::Archive),
            _ => None,
        }
    }

    /// WildDuck's default folder name for this role.
    pub fn default_name(&self) -> &'static str {
        match self {
            SpecialUse::Sent => "Sent Mail",
            SpecialUse::Drafts => "Drafts",
            SpecialUse::Trash => "Trash",
            SpecialUse::Junk => "Junk",
            SpecialUse::Archive => "Archive",
        }
    }
}

/// A folder. Paths are flat strings with "/" as the (informational) separator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mailbox {
    pub id: ObjectId,
    pub user: ObjectId,
    pub path: String,
    pub special_use: Option<SpecialUse>,
    pub uid_validity: u32,
    /// Next UID to assign.
    pub uid_next: u32,
    /// Highest MODSEQ assigned in this mailbox.
    pub modify_index: u64,
    pub subscribed: bool,
    /// Retention in ms; 0 keeps messages forever.
    pub retention: u64,
    pub hidden: bool,
    pub created: DateTime<Utc>,
}

impl Mailbox {
    pub fn is_inbox(&self) -> bool {
        self.path == "INBOX"
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MailboxCounters {
    pub total: u64,
    pub unseen: u64,
    /// Sum of message sizes.
    pub size: u64,
}
