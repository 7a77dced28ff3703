//! Who an API request acts for, decided here rather than in each handler.
//!
//! With access control disabled every request acts as root unless it carries a
//! token (a token that is given is always checked, as WildDuck does). With access
//! control enabled a request needs the root secret from the configuration or an
//! access token issued by [`Service::issue_access_token`]; a user's token acts for
//! that user only.
//!
//! Tokens are opaque: 64 hex characters, the first 24 naming the user and the rest
//! random. The server keeps only the token's sha256, as a Bus counter whose value is
//! the issue time in milliseconds: in-process with the embedded store (tokens last as long as the
//! process), shared through Redis in scale-out deployments.

use std::time::Duration;

use chrono::Utc;
use eider_message::BlobHash;
use rand::RngCore;

use crate::service::Service;
use crate::{Error, ObjectId};

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
}

/// Why a request may not proceed.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("Invalid accessToken value")]
    InvalidToken,
    #[error("Not enough privileges")]
    MissingPrivileges,
    #[error(transparent)]
    Service(#[from] Error),
}

impl AccessError {
    /// WildDuck's API error code.
    pub fn code(&self) -> &'static str {
        match self {
            AccessError::InvalidToken => "InvalidToken",
            AccessError::MissingPrivileges => "MissingPrivileges",
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
}

impl Principal {
    pub fn is_root(&self) -> bool {
        matches!(self, Principal::Root)
    }

    /// Resolve a `{user}` path value ("me" or an id) to the user this request may act for.
    pub fn user(&self, requested: &str) -> Result<ObjectId, AccessError> {
        let id = match (requested, self) {
            ("me", Principal::User(own)) => *own,
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
            Principal::User(own) if *own == user => Ok(()),
            Principal::User(_) => Err(AccessError::MissingPrivileges),
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

fn token_key(token: &str) -> String {
    format!("tn:token:{}", BlobHash::of(token.as_bytes()).to_hex())
}

/// Constant-time comparison of two secrets.
fn secrets_equal(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Service {
    /// Issue an access token acting for `user` (POST /authenticate with `token: true`).
    pub async fn issue_access_token(&self, user: ObjectId) -> crate::Result<String> {
        self.get_user(user).await?;
        let mut random = [0u8; 20];
        rand::rng().fill_bytes(&mut random);
        let token = format!("{}{}", user.to_hex(), hex::encode(random));
        let issued = Utc::now().timestamp_millis().max(1);
        self.bus()
            .counter_add(&token_key(&token), issued, ACCESS_TOKEN_TTL)
            .await;
        Ok(token)
    }

    /// Invalidate a token (DELETE /authenticate). Unknown tokens are ignored.
    pub async fn revoke_access_token(&self, token: &str) {
        let key = token_key(token);
        let current = self.bus().counter_get(&key).await;
        if current != 0 {
            self.bus()
                .counter_add(&key, -current, ACCESS_TOKEN_TTL)
                .await;
        }
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
            Some(user) => Ok(Principal::User(user)),
            None => Err(AccessError::InvalidToken),
        }
    }

    /// The user a live token acts for; None for unknown, revoked or stale tokens.
    async fn token_user(&self, token: &str) -> crate::Result<Option<ObjectId>> {
        if token.len() != TOKEN_LEN || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let Some(user) = ObjectId::parse(&token[..24]) else {
            return Ok(None);
        };
        let issued = self.bus().counter_get(&token_key(token)).await;
        if issued <= 0 {
            return Ok(None);
        }
        let record = match self.get_user(user).await {
            Ok(u) => u,
            Err(Error::UserNotFound) => return Ok(None),
            Err(e) => return Err(e),
        };
        if record.disabled || record.suspended {
            return Ok(None);
        }
        // A password change logs out every token issued before it.
        if let Some(changed) = record.profile.password_changed {
            if changed.timestamp_millis() > issued {
                return Ok(None);
            }
        }
        Ok(Some(user))
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
