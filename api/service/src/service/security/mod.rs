//! Account security: the rules around logins that every protocol shares.
//!
//! - passwords are hashed and verified on a bounded pool ([`HashPool`]), stored
//!   hashes of other formats are upgraded to argon2id after a successful login;
//! - application-specific passwords (scopes, ttl, last use) and the 2FA mechanisms
//!   (TOTP, custom, WebAuthn); with 2FA on, IMAP/POP3/SMTP accept only ASPs;
//! - failed logins are counted per user and per source IP on Bus counters (so Redis
//!   can share them between instances) and refused past the limits;
//! - every attempt goes to the authentication log.
//!
//! The login itself is `Service::authenticate` (service/auth.rs), which uses these.

mod asps;
mod authlog;
mod credcache;
pub mod encryption;
mod pool;
mod ratelimit;
mod twofa;
mod webauthn;

use std::time::Duration;

pub use asps::{CreatedAsp, NewAsp};
pub use authlog::AuthLogEntry;
pub use credcache::CredentialCache;
pub use eider_auth::{HashLimits, SecretBox};
pub use pool::HashPool;
pub use twofa::TotpSetup;
pub use webauthn::{WebauthnAssertion, WebauthnAttestation, WebauthnChallengeRequest};

use super::Service;
use crate::Result;

/// Account security settings (`[auth]` in the configuration).
#[derive(Debug, Clone)]
pub struct SecurityConfig {
    /// Failed logins allowed per user within `user_window` (0: no limit).
    pub user_failures: u32,
    pub user_window: Duration,
    /// Failed logins allowed per source IP within `ip_window` (0: no limit).
    pub ip_failures: u32,
    pub ip_window: Duration,
    /// While a source IP is over its limit, still check the password of a user
    /// with no failures of its own within `user_window` (users behind a NAT
    /// shared with an attacker keep logging in).
    pub ip_limit_spares_clean_users: bool,
    /// Failed TOTP checks allowed per user within `totp_window`.
    pub totp_failures: u32,
    pub totp_window: Duration,
    /// TOTP steps (30 s) accepted either side of the current one.
    pub totp_skew: u16,
    /// How long a TOTP seed from setup waits for /enable.
    pub totp_setup_ttl: Duration,
    /// Auth log entries are kept this long.
    pub authlog_ttl: Duration,
    /// Identical events within this window are counted into one entry.
    pub authlog_merge: Duration,
    /// Application passwords per user.
    pub max_asps: usize,
    /// Lifetime of API access tokens.
    pub token_ttl: Duration,
    /// Issuer shown in authenticator apps when the request names none.
    pub totp_issuer: String,
    /// Where password hashing runs (shared by clones of this configuration).
    pub hash_pool: HashPool,
    /// Most an imported password hash (`hashedPassword`) may cost.
    pub hash_limits: eider_auth::HashLimits,
    /// Seals TOTP seeds at rest; None keeps them in plaintext.
    pub secrets: Option<eider_auth::SecretBox>,
    /// Verified credentials skip the hash for its TTL (shared by clones).
    pub credential_cache: CredentialCache,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            user_failures: 12,
            user_window: Duration::from_secs(120),
            ip_failures: 50,
            ip_window: Duration::from_secs(300),
            ip_limit_spares_clean_users: true,
            totp_failures: 6,
            totp_window: Duration::from_secs(180),
            totp_skew: 1,
            totp_setup_ttl: Duration::from_secs(6 * 3600),
            authlog_ttl: Duration::from_secs(30 * 24 * 3600),
            authlog_merge: Duration::from_secs(6 * 3600),
            max_asps: 50,
            token_ttl: Duration::from_secs(14 * 24 * 3600),
            totp_issuer: "Eider".into(),
            hash_pool: HashPool::default(),
            hash_limits: eider_auth::HashLimits::default(),
            secrets: None,
            credential_cache: CredentialCache::default(),
        }
    }
}

impl Service {
    pub(crate) fn security(&self) -> &SecurityConfig {
        &self.config().security
    }

    /// Hash a new password (argon2id) on the bounded pool.
    pub async fn hash_password(&self, password: &str) -> Result<String> {
        let password = password.to_string();
        self.security()
            .hash_pool
            .run(move || eider_auth::hash_password(&password))
            .await?
            .map_err(|e| crate::Error::Internal(e.to_string()))
    }

    /// Check a password against a stored hash on the bounded pool. Unsupported or
    /// malformed hashes never match.
    pub async fn check_password(&self, password: &str, hash: &str) -> Result<bool> {
        let (password, hash) = (password.to_string(), hash.to_string());
        self.security()
            .hash_pool
            .run(move || eider_auth::verify_password(&password, &hash).unwrap_or(false))
            .await
    }

    /// [`Service::check_password`] for one of `user`'s secrets: the user's checks
    /// run one at a time, so many parallel logins of one user (whose stored hash
    /// may be slow) hold at most one of the pool's threads. A secret that matched
    /// the same stored hash within the credential cache's TTL is not hashed again
    /// (see [`CredentialCache`]).
    pub(crate) async fn check_user_password(
        &self,
        user: crate::ObjectId,
        password: &str,
        hash: &str,
    ) -> Result<bool> {
        let cache = &self.security().credential_cache;
        if cache.verified(user, password, hash) {
            return Ok(true);
        }
        let (owned_password, owned_hash) = (password.to_string(), hash.to_string());
        let ok = self
            .security()
            .hash_pool
            .run_for(user, move || {
                eider_auth::verify_password(&owned_password, &owned_hash).unwrap_or(false)
            })
            .await?;
        if ok {
            cache.remember(user, password, hash);
        }
        Ok(ok)
    }
}
