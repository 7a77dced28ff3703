//! Account operations of the REST API beyond the basic ones: password resets,
//! quota recalculation for everyone, usage counters, deletes that report what went.

use chrono::Utc;
use rand::Rng;

use crate::model::{Paging, User, UserQuery};
use crate::service::{Protocol, Service, UserUpdate};
use crate::{Error, ObjectId, Result};

/// Bus counters WildDuck keeps per user (same key prefixes, so that Redis
/// deployments read the same numbers): sent recipients, forwards, received
/// messages, IMAP upload and download bytes, POP3 download bytes.
pub mod counter_keys {
    pub const RECIPIENTS: &str = "wdr:";
    pub const FORWARDS: &str = "wdf:";
    pub const RECEIVED: &str = "rl:rcpt:";
    pub const IMAP_UPLOAD: &str = "iup:";
    pub const IMAP_DOWNLOAD: &str = "idw:";
    pub const POP3_DOWNLOAD: &str = "pdw:";
    pub const IMAP_CONNECTIONS: &str = "lim:imap:";
}

/// Current values of a user's usage counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageCounters {
    pub recipients: u64,
    pub forwards: u64,
    pub received: u64,
    pub imap_upload: u64,
    pub imap_download: u64,
    pub pop3_download: u64,
    pub imap_connections: u64,
}

/// Length of generated temporary passwords.
const TEMP_PASSWORD_LEN: usize = 16;

fn temporary_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..TEMP_PASSWORD_LEN)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

impl Service {
    /// Replace the password with a generated one the user must change after
    /// logging in (POST /users/{user}/password/reset); with `valid_after` it
    /// works only from then on. Returns the new password.
    pub async fn reset_password(
        &self,
        user: ObjectId,
        valid_after: Option<chrono::DateTime<Utc>>,
    ) -> Result<String> {
        let current = self.get_user(user).await?;
        let password = temporary_password();
        let mut profile = current.profile.clone();
        profile.require_password_change = true;
        profile.password_changed = Some(Utc::now());
        self.update_user(
            user,
            UserUpdate {
                password: Some(Some(password.clone())),
                profile: Some(profile),
                password_valid_after: valid_after,
                ..Default::default()
            },
        )
        .await?;
        Ok(password)
    }

    /// May this username log in with `protocol` at all (POST /preauth)? Every
    /// refusal is the same AuthFailed, as for logins.
    pub async fn preauth(&self, username: &str, protocol: Protocol) -> Result<User> {
        let user = match self.find_user(username).await {
            Ok(u) => u,
            Err(Error::UserNotFound) => return Err(Error::AuthFailed),
            Err(e) => return Err(e),
        };
        let scope_disabled = user
            .profile
            .disabled_scopes
            .iter()
            .any(|s| s == protocol.scope());
        if user.disabled || user.suspended || scope_disabled {
            return Err(Error::AuthFailed);
        }
        Ok(user)
    }

    /// Check a user's current password (PUT /users/{user} with `existingPassword`).
    pub async fn verify_user_password(&self, user: &User, password: &str) -> Result<()> {
        let Some(hash) = user.password.clone() else {
            return Err(Error::AuthFailed);
        };
        if self.check_user_password(user.id, password, &hash).await? {
            Ok(())
        } else {
            Err(Error::AuthFailed)
        }
    }

    /// Recount storage for every user (POST /quota/reset); returns how many were done.
    pub async fn recalculate_all_quotas(&self) -> Result<u64> {
        let mut done = 0;
        let mut next = None;
        loop {
            let query = UserQuery {
                paging: Paging {
                    limit: 250,
                    next: next.take(),
                    ..Default::default()
                },
                ..Default::default()
            };
            let page = self.list_users(&query).await?;
            for u in &page.results {
                match self.recalculate_quota(u.id).await {
                    Ok(_) | Err(Error::UserNotFound) => done += 1,
                    Err(e) => return Err(e),
                }
            }
            match page.next {
                Some(n) if !page.results.is_empty() => next = Some(n),
                _ => return Ok(done),
            }
        }
    }

    /// The user's rate counters (GET /users/{user} limits).
    pub async fn usage_counters(&self, user: ObjectId) -> UsageCounters {
        use counter_keys::*;
        let id = user.to_hex();
        let bus = self.bus();
        let get = |prefix: &'static str| {
            let key = format!("{prefix}{id}");
            async move { bus.counter_get(&key).await.max(0) as u64 }
        };
        UsageCounters {
            recipients: get(RECIPIENTS).await,
            forwards: get(FORWARDS).await,
            received: get(RECEIVED).await,
            imap_upload: get(IMAP_UPLOAD).await,
            imap_download: get(IMAP_DOWNLOAD).await,
            pop3_download: get(POP3_DOWNLOAD).await,
            imap_connections: get(IMAP_CONNECTIONS).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_passwords_are_random() {
        let a = temporary_password();
        let b = temporary_password();
        assert_eq!(a.len(), TEMP_PASSWORD_LEN);
        assert_ne!(a, b);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
