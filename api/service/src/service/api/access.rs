//! Who an API request acts for, decided here rather than in each handler.
//!
//! With access control disabled every request acts as root unless it carries a
//! token (a token that is given is always checked, as WildDuck does). With access
//! control enabled a request needs the root secret from the configuration or an
//! access token issued by [`Service::issue_access_token`]; a user's token acts for
//! that user only.
//!
//! Tokens are opaque: 64 hex characters, the first 24 naming the user and the rest
//! random. The server keeps only the token's sha256, in the AuthStore with its
//! expiry, so tokens survive restarts and are shared by every instance. DELETE
//! /authenticate revokes one, PUT /users/{user}/logout all of a user's, and a
//! password change all but the one that made it. A token issued by a password login of a user with 2FA is
//! limited ([`Principal::Pending`]) until the second factor passes.

use std::time::Duration;

use chrono::Utc;

use crate::service::Service;
use crate::{AccessToken, Error, ObjectId};

/// How long an access token lives (WildDuck's ACCESS_TOKEN_DEFAULT_TTL).
pub const ACCESS_TOKEN_TTL: Duration = Duration::from_secs(14 * 24 * 3600);

/// Length of an access token in hex characters.
const TOKEN_LEN: usize = 64;

/// The identity a request acts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    /// Any user, any route.
    Root,
    /// One user's own resources only.
    User(ObjectId),
    /// A user whose token still waits for its second factor: only the routes that
    /// complete it (the HTTP layer restricts which).
    Pending(ObjectId),
}

/// Why a request may not proceed.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("Invalid accessToken value")]
    InvalidToken,
    #[error("Not enough privileges")]
    MissingPrivileges,
    /// A change the principal's role may not make; the text says which.
    #[error("{0}")]
    Denied(String),
    #[error(transparent)]
    Service(#[from] Error),
}

impl AccessError {
    /// WildDuck's API error code.
    pub fn code(&self) -> &'static str {
        match self {
            AccessError::InvalidToken => "InvalidToken",
            AccessError::MissingPrivileges | AccessError::Denied(_) => "MissingPrivileges",
            AccessError::Service(e) => e.code(),
        }
    }
}

/// `[api.accessControl]` as the service needs it.
#[derive(Debug, Clone, Default)]
pub struct AccessPolicy {
    pub enabled: bool,
    /// Root secret; empty means none is configured.
    pub secret: String,
    /// `[api] userAddressDomains`: where user tokens may add addresses (empty: the
    /// domains of the user's own addresses).
    pub user_address_domains: Vec<String>,
}

impl Principal {
    pub fn is_root(&self) -> bool {
        matches!(self, Principal::Root)
    }

    /// Resolve a `{user}` path value ("me" or an id) to the user this request may act for.
    pub fn user(&self, requested: &str) -> Result<ObjectId, AccessError> {
        let id = match (requested, self) {
            ("me", Principal::User(own) | Principal::Pending(own)) => *own,
            ("me", Principal::Root) => {
                return Err(Error::Validation("\"user\" must be a valid user id".into()).into())
            }
            (s, _) => ObjectId::parse(s).ok_or_else(|| {
                AccessError::Service(Error::Validation(
                    "\"user\" must be a 24 character hex string".into(),
                ))
            })?,
        };
        self.authorize_user(id)?;
        Ok(id)
    }

    /// May this request act on `user`'s resources?
    pub fn authorize_user(&self, user: ObjectId) -> Result<(), AccessError> {
        match self {
            Principal::Root => Ok(()),
            Principal::User(own) | Principal::Pending(own) if *own == user => Ok(()),
            Principal::User(_) | Principal::Pending(_) => Err(AccessError::MissingPrivileges),
        }
    }

    /// Routes over the whole server (listings, domain aliases, forwarded addresses).
    pub fn require_root(&self) -> Result<(), AccessError> {
        if self.is_root() {
            Ok(())
        } else {
            Err(AccessError::MissingPrivileges)
        }
    }
}

/// Constant-time comparison of two secrets.
fn secrets_equal(a: &[u8], b: &[u8]) -> bool {
    eider_auth::secrets_equal(a, b)
}

impl Service {
    /// Issue an access token acting for `user` (POST /authenticate with `token: true`).
    pub async fn issue_access_token(&self, user: ObjectId) -> crate::Result<String> {
        self.issue_token(user, false).await
    }

    /// Issue a token; with `pending_2fa` it only reaches the routes that complete
    /// the second factor until one passes.
    pub async fn issue_token(&self, user: ObjectId, pending_2fa: bool) -> crate::Result<String> {
        self.get_user(user).await?;
        let token = format!("{}{}", user.to_hex(), eider_auth::random_hex(20));
        let now = Utc::now();
        let ttl = chrono::Duration::from_std(self.security().token_ttl)
            .unwrap_or(chrono::Duration::days(14));
        self.store()
            .create_token(&AccessToken {
                hash: eider_auth::token_hash(&token),
                user,
                created: now,
                expires: now + ttl,
                pending_2fa,
            })
            .await?;
        // Expired tokens go away now and then (cheap: an indexed range delete).
        if rand::random::<u8>() == 0 {
            if let Err(e) = self.store().purge_expired_tokens(now).await {
                tracing::warn!("cannot purge expired tokens: {e}");
            }
        }
        Ok(token)
    }

    /// Invalidate a token (DELETE /authenticate). Unknown tokens are ignored.
    pub async fn revoke_access_token(&self, token: &str) {
        if let Err(e) = self
            .store()
            .delete_token(&eider_auth::token_hash(token.trim()))
            .await
        {
            tracing::warn!("cannot revoke a token: {e}");
        }
    }

    /// A password change: every token of `user` ends but `keep` (the one that made
    /// the change, as WildDuck keeps it). The others are deleted; the kept one is
    /// stored again as issued now, so the password-change check in `token_user`
    /// lets it through.
    pub(crate) async fn revoke_tokens_except(
        &self,
        user: ObjectId,
        keep: Option<&str>,
    ) -> crate::Result<()> {
        let kept = match keep {
            Some(token) => self
                .store()
                .get_token(&eider_auth::token_hash(token.trim()))
                .await?
                .filter(|t| t.user == user),
            None => None,
        };
        self.store().delete_user_tokens(user).await?;
        if let Some(mut token) = kept {
            token.created = Utc::now();
            self.store().create_token(&token).await?;
        }
        Ok(())
    }

    /// The second factor passed: a limited token of `user` becomes a full one.
    pub(crate) async fn confirm_access_token(
        &self,
        user: ObjectId,
        token: &str,
    ) -> crate::Result<()> {
        let hash = eider_auth::token_hash(token.trim());
        if let Some(t) = self.store().get_token(&hash).await? {
            if t.user == user && t.pending_2fa {
                self.store().confirm_token(&hash).await?;
            }
        }
        Ok(())
    }

    /// PUT /users/{user}/logout: revoke every token of the user and end its IMAP
    /// sessions (a logout beacon on the Bus; every instance's sessions listen).
    pub async fn logout_user(&self, user: ObjectId) -> crate::Result<u64> {
        self.get_user(user).await?;
        let revoked = self.store().delete_user_tokens(user).await?;
        self.bus().publish(crate::model::Beacon::logout(user));
        Ok(revoked)
    }

    /// The principal of a request carrying `token` (if any) under `policy`.
    pub async fn principal(
        &self,
        policy: &AccessPolicy,
        token: Option<&str>,
    ) -> Result<Principal, AccessError> {
        let token = token.map(str::trim).filter(|t| !t.is_empty());
        let Some(token) = token else {
            return if policy.enabled {
                Err(AccessError::InvalidToken)
            } else {
                Ok(Principal::Root)
            };
        };
        if !policy.secret.is_empty() && secrets_equal(token.as_bytes(), policy.secret.as_bytes()) {
            return Ok(Principal::Root);
        }
        match self.token_user(token).await? {
            Some((user, false)) => Ok(Principal::User(user)),
            Some((user, true)) => Ok(Principal::Pending(user)),
            None => Err(AccessError::InvalidToken),
        }
    }

    /// The user a live token acts for and whether it waits for a second factor;
    /// None for unknown, revoked, expired or stale tokens.
    async fn token_user(&self, token: &str) -> crate::Result<Option<(ObjectId, bool)>> {
        if token.len() != TOKEN_LEN || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let Some(user) = ObjectId::parse(&token[..24]) else {
            return Ok(None);
        };
        let Some(record) = self
            .store()
            .get_token(&eider_auth::token_hash(token))
            .await?
        else {
            return Ok(None);
        };
        if record.user != user || record.expires <= Utc::now() {
            return Ok(None);
        }
        let account = match self.get_user(user).await {
            Ok(u) => u,
            Err(Error::UserNotFound) => return Ok(None),
            Err(e) => return Err(e),
        };
        if account.disabled || account.suspended {
            return Ok(None);
        }
        // A password change logs out every token issued before it (compared in
        // milliseconds: stores keep token times at that precision).
        if let Some(changed) = account.profile.password_changed {
            if changed.timestamp_millis() > record.created.timestamp_millis() {
                return Ok(None);
            }
        }
        Ok(Some((user, record.pending_2fa)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_limit_users() {
        let a = ObjectId::new();
        let b = ObjectId::new();
        let p = Principal::User(a);
        assert_eq!(p.user("me").ok(), Some(a));
        assert_eq!(p.user(&a.to_hex()).ok(), Some(a));
        assert!(matches!(
            p.user(&b.to_hex()),
            Err(AccessError::MissingPrivileges)
        ));
        assert!(matches!(
            p.require_root(),
            Err(AccessError::MissingPrivileges)
        ));
        assert!(matches!(
            Principal::Root.user("nope"),
            Err(AccessError::Service(Error::Validation(_)))
        ));
        assert_eq!(Principal::Root.user(&b.to_hex()).ok(), Some(b));
    }

    #[test]
    fn secret_comparison() {
        assert!(secrets_equal(b"abc", b"abc"));
        assert!(!secrets_equal(b"abc", b"abd"));
        assert!(!secrets_equal(b"abc", b"abcd"));
    }
}
