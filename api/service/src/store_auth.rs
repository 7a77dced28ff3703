//! Persistence of account security state: application passwords, 2FA, access
//! tokens, the authentication log, and password-hash upgrades.
//!
//! Secrets are never stored in the clear: ASPs and the master password as
//! password hashes, access tokens as their sha256. TOTP seeds and WebAuthn
//! credentials are stored as the API contract describes (the service never returns
//! them after setup).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{Page, Paging};
use crate::{ObjectId, StoreResult};

/// An application-specific password.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Asp {
    pub id: ObjectId,
    pub user: ObjectId,
    pub description: String,
    /// `["*"]` or a sorted subset of imap, pop3, smtp.
    pub scopes: Vec<String>,
    /// Password hash (argon2id PHC string).
    pub password: String,
    /// WildDuck's selector of the password, narrowing which hashes a login checks.
    pub selector: String,
    /// Seconds: each use moves `expires` this far ahead.
    pub ttl: Option<u64>,
    pub expires: Option<DateTime<Utc>>,
    pub created: DateTime<Utc>,
    pub last_use: Option<AspUse>,
}

/// The last successful login with an ASP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AspUse {
    pub time: DateTime<Utc>,
    /// The auth log entry of that login.
    pub event: Option<ObjectId>,
    pub ip: Option<String>,
}

/// A user's second factors. Absent record = nothing set up.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TwoFactor {
    /// Enabled mechanisms in the order enabled: "totp", "custom", "webauthn".
    pub enabled: Vec<String>,
    /// Base32 seed of the enabled TOTP.
    pub totp_seed: Option<String>,
    /// Seed from /2fa/totp/setup waiting for /enable, and when it was made.
    pub totp_pending: Option<String>,
    pub totp_pending_created: Option<DateTime<Utc>>,
    pub webauthn: Vec<WebauthnCredential>,
    /// WebAuthn challenges waiting for their attestation or assertion (1 h).
    pub webauthn_challenges: Vec<WebauthnChallenge>,
}

/// A WebAuthn challenge handed out and not yet answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebauthnChallenge {
    /// The challenge bytes as hex, as WildDuck's API exchanges them.
    pub challenge: String,
    /// "registration" or "authentication".
    pub kind: String,
    pub rp_id: String,
    pub origin: String,
    pub description: String,
    pub authenticator_attachment: String,
    /// The verifier's serialized ceremony state.
    pub state: serde_json::Value,
    pub created: DateTime<Utc>,
}

impl TwoFactor {
    pub fn is_enabled(&self, mechanism: &str) -> bool {
        self.enabled.iter().any(|m| m == mechanism)
    }
}

/// A registered WebAuthn authenticator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebauthnCredential {
    pub id: ObjectId,
    /// Credential id as the authenticator reports it.
    pub raw_id: Vec<u8>,
    pub description: String,
    /// "platform" or "cross-platform".
    pub authenticator_attachment: String,
    /// The verifier's serialized credential (public key, counter).
    pub credential: serde_json::Value,
    pub created: DateTime<Utc>,
}

/// An API access token, stored by hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessToken {
    /// Hex sha256 of the token.
    pub hash: String,
    pub user: ObjectId,
    pub created: DateTime<Utc>,
    pub expires: DateTime<Utc>,
    /// Issued by a password login of a 2FA user: limited to completing the second
    /// factor until it passes.
    pub pending_2fa: bool,
}

/// One authentication log entry. Entries with the same `key` (protocol, IP,
/// action, result) within a merge window are counted into one entry, as WildDuck does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthEvent {
    pub id: ObjectId,
    pub user: ObjectId,
    /// "authentication", "create asp", "enable 2fa totp", ...
    pub action: String,
    /// "success", "fail", "ratelimited", "disabled", ...
    pub result: String,
    pub protocol: Option<String>,
    pub required_scope: Option<String>,
    /// "master", "asp", "totp", "webauthn", "token".
    pub source: Option<String>,
    pub asp: Option<ObjectId>,
    /// The ASP's description (kept when the ASP is deleted).
    pub aname: Option<String>,
    /// Enabled second factors asked for ("totp,webauthn").
    pub require2fa: Option<String>,
    pub ip: Option<String>,
    pub sess: Option<String>,
    pub created: DateTime<Utc>,
    pub last: DateTime<Utc>,
    pub events: u64,
    pub expires: DateTime<Utc>,
    /// Merge key (hash of protocol, ip, action, result).
    pub key: String,
}

/// Filters for listing the auth log, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuthEventQuery {
    pub user: ObjectId,
    pub action: Option<String>,
    pub ip: Option<String>,
    pub paging: Paging,
}

#[async_trait]
pub trait AuthStore: Send + Sync {
    // -- master password ----------------------------------------------------

    /// Replace the user's password hash only if it is still `old` (a rehash after
    /// login must not undo a concurrent password change). Ok(false) otherwise.
    async fn replace_password_hash(
        &self,
        user: ObjectId,
        old: &str,
        new: &str,
    ) -> StoreResult<bool>;

    // -- application-specific passwords -------------------------------------

    async fn create_asp(&self, asp: &Asp) -> StoreResult<()>;
    /// The user's ASPs in creation order, expired ones included.
    async fn list_asps(&self, user: ObjectId) -> StoreResult<Vec<Asp>>;
    async fn get_asp(&self, user: ObjectId, id: ObjectId) -> StoreResult<Option<Asp>>;
    async fn delete_asp(&self, user: ObjectId, id: ObjectId) -> StoreResult<bool>;
    /// Record a successful use; `expires` moves when the ASP has a ttl.
    async fn record_asp_use(
        &self,
        user: ObjectId,
        id: ObjectId,
        used: &AspUse,
        expires: Option<DateTime<Utc>>,
    ) -> StoreResult<()>;

    // -- second factors -------------------------------------------------------

    async fn get_two_factor(&self, user: ObjectId) -> StoreResult<Option<TwoFactor>>;
    /// Replace the user's 2FA record (None removes it).
    async fn put_two_factor(&self, user: ObjectId, state: Option<&TwoFactor>) -> StoreResult<()>;
    /// Enabled mechanisms of several users at once (user listings); users without
    /// any are left out.
    async fn enabled_two_factor(
        &self,
        users: &[ObjectId],
    ) -> StoreResult<Vec<(ObjectId, Vec<String>)>>;

    // -- access tokens ----------------------------------------------------------

    async fn create_token(&self, token: &AccessToken) -> StoreResult<()>;
    async fn get_token(&self, hash: &str) -> StoreResult<Option<AccessToken>>;
    /// Clear `pending_2fa` (the second factor passed). Ok(false) when unknown.
    async fn confirm_token(&self, hash: &str) -> StoreResult<bool>;
    async fn delete_token(&self, hash: &str) -> StoreResult<bool>;
    /// Revoke every token of a user; returns how many there were.
    async fn delete_user_tokens(&self, user: ObjectId) -> StoreResult<u64>;
    /// Drop tokens that expired before `now`.
    async fn purge_expired_tokens(&self, now: DateTime<Utc>) -> StoreResult<u64>;

    // -- authentication log -----------------------------------------------------

    /// Record `event`, or count it into the user's entry with the same key created
    /// at or after `merge_since` (then `last` and `events` change). Returns the id
    /// of the entry written. Also drops the user's entries that expired.
    async fn record_auth_event(
        &self,
        event: &AuthEvent,
        merge_since: DateTime<Utc>,
    ) -> StoreResult<ObjectId>;
    /// Newest first; cursors are entry ids.
    async fn list_auth_events(&self, query: &AuthEventQuery) -> StoreResult<Page<AuthEvent>>;
    async fn get_auth_event(&self, user: ObjectId, id: ObjectId) -> StoreResult<Option<AuthEvent>>;

    /// Remove every security record of a user (ASPs, 2FA, tokens, auth log).
    async fn delete_user_auth(&self, user: ObjectId) -> StoreResult<()>;
}
