use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ObjectId;

/// An account. Fields that are queried or updated atomically are typed columns;
/// the long tail of WildDuck's per-user settings lives in `profile`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: ObjectId,
    /// The username as given (unicode allowed).
    pub username: String,
    /// Normalized form used for uniqueness: lower-cased, dots removed.
    pub unameview: String,
    pub name: Option<String>,
    /// Main address (display form), empty when the user has none.
    pub address: String,
    /// Password hash (PHC or crypt string); None when password login is disabled.
    pub password: Option<String>,
    /// Quota limit in bytes; 0 means the server default.
    pub quota: u64,
    /// Sum of the sizes of stored messages.
    pub storage_used: u64,
    pub disabled: bool,
    pub suspended: bool,
    pub tags: Vec<String>,
    pub meta_data: serde_json::Value,
    pub internal_data: serde_json::Value,
    pub profile: UserProfile,
    pub created: DateTime<Utc>,
}

/// Settings WildDuck keeps per user that no query filters on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct UserProfile {
    pub language: Option<String>,
    /// Default retention for new mailboxes, in ms (0 = keep forever).
    pub retention: u64,
    pub targets: Vec<String>,
    /// 0 = everything is spam, 100 = nothing is spam (WildDuck's scale).
    pub spam_level: Option<u32>,
    pub upload_sent_messages: bool,
    pub disabled_scopes: Vec<String>,
    pub from_whitelist: Vec<String>,
    pub require_password_change: bool,
    pub limits: UserLimits,
    /// Password change time, for "logout everywhere" and auditing.
    pub password_changed: Option<DateTime<Utc>>,
    /// A reset password works only from this time on (WildDuck's `validAfter`).
    pub password_valid_after: Option<DateTime<Utc>>,
    /// Armored OpenPGP public key stored messages are encrypted to; empty: none.
    pub pub_key: String,
    /// Encrypt every message stored for the user (needs `pub_key`).
    pub encrypt_messages: bool,
    /// Encrypt the copies sent to the user's forwarding targets (needs `pub_key`).
    pub encrypt_forwarded: bool,
}

/// Per-user limits; None means the server default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct UserLimits {
    pub recipients: Option<u64>,
    pub forwards: Option<u64>,
    pub filters: Option<u64>,
    pub imap_max_upload: Option<u64>,
    pub imap_max_download: Option<u64>,
    pub pop3_max_download: Option<u64>,
    pub pop3_max_messages: Option<u64>,
    pub imap_max_connections: Option<u64>,
    pub received_max: Option<u64>,
}

/// Filters for listing users.
#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    /// Substring of the username or main address.
    pub query: Option<String>,
    /// Users having any of these tags.
    pub tags: Vec<String>,
    /// Users having all of these tags.
    pub required_tags: Vec<String>,
    /// Users with a forwarding target containing this text (any case).
    pub forward: Option<String>,
    pub paging: super::Paging,
}
