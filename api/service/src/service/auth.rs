//! The single login call every protocol goes through (IMAP, POP3, the API's
//! POST /authenticate, SMTP later). The rules, in order:
//!
//! 1. a source IP over its failure limit is refused (`RateLimited`), except, with
//!    `ip_limit_spares_clean_users`, for users (and unknown names) that have no
//!    failures of their own in their window: their password is still checked and
//!    only a success gets through;
//! 2. an unknown user fails (after a dummy hash, so timing does not tell), counting
//!    against the name and the IP;
//! 3. a user over its failure limit is refused (`RateLimited`);
//! 4. disabled or suspended accounts and disabled scopes fail (after a dummy hash);
//! 5. the master password: accepted for the API's master scope (reporting the
//!    enabled 2FA mechanisms, which the caller must complete), and for IMAP/POP3/SMTP
//!    only when the user has no 2FA; a hash of an older format is rehashed to
//!    argon2id;
//! 6. otherwise an application-specific password, within its scopes, for any scope
//!    but master;
//! 7. every outcome is written to the auth log; failures count against the user
//!    and the IP, a success clears the user's count.
//!
//! Every failure answers the same `AuthFailed`, so logins reveal nothing.

use std::net::IpAddr;

use chrono::Utc;
use tokio::sync::broadcast;

use super::security::AuthLogEntry;
use super::Service;
use crate::model::User;
use crate::{AspUse, Error, ObjectId, Result};

/// Which protocol a login comes from (WildDuck's scopes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Imap,
    Pop3,
    Smtp,
    Api,
}

impl Protocol {
    pub fn scope(&self) -> &'static str {
        match self {
            Protocol::Imap => "imap",
            Protocol::Pop3 => "pop3",
            Protocol::Smtp => "smtp",
            Protocol::Api => "master",
        }
    }

    /// The protocol name written to the auth log.
    pub fn label(&self) -> &'static str {
        match self {
            Protocol::Imap => "IMAP",
            Protocol::Pop3 => "POP3",
            Protocol::Smtp => "SMTP",
            Protocol::Api => "API",
        }
    }
}

#[derive(Debug, Clone)]
pub struct AuthRequest {
    /// Username or one of the user's addresses.
    pub username: String,
    pub password: String,
    pub protocol: Protocol,
    pub remote_ip: Option<IpAddr>,
}

/// Extra context of a login, for the auth log (the API's `protocol` and `sess`).
#[derive(Debug, Clone, Default)]
pub struct AuthMeta {
    /// Application identifier to log instead of the protocol's name.
    pub protocol: Option<String>,
    pub sess: Option<String>,
}

/// Which secret a login used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthSource {
    Master,
    Asp(ObjectId),
}

impl AuthSource {
    /// The application password used, None for the account password.
    pub fn asp(&self) -> Option<ObjectId> {
        match self {
            AuthSource::Master => None,
            AuthSource::Asp(id) => Some(*id),
        }
    }

    /// Does `beacon` end a session that logged in with this secret? Sessions watch
    /// their user's beacons and close when this holds (the logout, the account
    /// disabled or suspended, this password changed or this ASP deleted).
    pub fn ended_by(&self, beacon: &crate::model::Beacon) -> bool {
        beacon.ends_session(self.asp())
    }

    /// Resolves when a beacon on `rx` (the user's) ends a session that logged in
    /// with this secret; never when the Bus closes the channel.
    pub async fn revoked(&self, rx: &mut broadcast::Receiver<crate::model::Beacon>) {
        loop {
            match rx.recv().await {
                Ok(b) if self.ended_by(&b) => return,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return std::future::pending().await,
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct AuthSuccess {
    pub user: User,
    pub source: AuthSource,
    /// For a master-password login on the master scope: the enabled 2FA mechanisms
    /// the caller must still complete (empty when none).
    pub require2fa: Vec<String>,
    /// The auth log entry of this login.
    pub event: Option<ObjectId>,
}

/// A hash to verify against when the user does not exist, so that unknown users
/// take as long as known ones (made once, on the hashing pool).
static DUMMY_HASH: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();

impl Service {
    /// Authenticate a login (see the module documentation for the rules).
    pub async fn authenticate(&self, req: &AuthRequest) -> Result<AuthSuccess> {
        self.authenticate_with(req, &AuthMeta::default()).await
    }

    /// [`Service::authenticate`] with logging context.
    pub async fn authenticate_with(
        &self,
        req: &AuthRequest,
        meta: &AuthMeta,
    ) -> Result<AuthSuccess> {
        let outcome = self.authenticate_counted(req, meta).await;
        let result = match &outcome {
            Ok(_) => "success",
            Err(Error::RateLimited) => "ratelimited",
            Err(e) if e.is_internal() => "error",
            Err(_) => "failure",
        };
        eider_net::metrics::inc(
            "eider_auth_total",
            "Authentications by protocol and result (success, failure, ratelimited, error).",
            &[
                ("protocol", &req.protocol.label().to_ascii_lowercase()),
                ("result", result),
            ],
        );
        outcome
    }

    async fn authenticate_counted(
        &self,
        req: &AuthRequest,
        meta: &AuthMeta,
    ) -> Result<AuthSuccess> {
        let scope = req.protocol.scope();
        let ip = req.remote_ip.map(|ip| ip.to_string());
        let ip = ip.as_deref();
        let entry = |result: &str| AuthLogEntry {
            protocol: Some(
                meta.protocol
                    .clone()
                    .filter(|p| !p.trim().is_empty())
                    .unwrap_or_else(|| req.protocol.label().to_string()),
            ),
            required_scope: Some(scope.to_string()),
            ip: ip.map(str::to_string),
            sess: meta.sess.clone(),
            ..AuthLogEntry::new("authentication", result)
        };

        let ip_limited = self.ip_rate_limited(ip).await;
        if ip_limited && !self.security().ip_limit_spares_clean_users {
            // The user is not looked up: a limited source learns nothing more.
            if let Ok(user) = self.find_user(&req.username).await {
                self.log_auth_event(user.id, entry("ratelimited")).await;
            }
            return Err(Error::RateLimited);
        }
        // While the source IP is over its limit, only users (and unknown names)
        // without failures of their own in their window get their password checked
        // (a NAT shared with an attacker does not lock everyone out); anything but
        // a success is answered RateLimited, as before.
        let user_limited = |key: String| async move {
            self.user_rate_limited(&key).await || (ip_limited && self.user_has_failures(&key).await)
        };
        let refused = |e: Error| match e {
            Error::AuthFailed if ip_limited => Error::RateLimited,
            e => e,
        };
        if req.password.is_empty() {
            return Err(refused(Error::AuthFailed));
        }
        let user = match self.find_user(&req.username).await {
            Ok(u) => u,
            Err(Error::UserNotFound) => {
                let name = crate::normalize::username_view(&req.username)
                    .unwrap_or_else(|_| req.username.to_lowercase());
                if user_limited(name.clone()).await {
                    return Err(Error::RateLimited);
                }
                self.dummy_check(&req.password).await?;
                self.count_auth_failure(&name, ip).await;
                return Err(refused(Error::AuthFailed));
            }
            Err(e) => return Err(e),
        };
        let user_key = user.id.to_hex();
        if user_limited(user_key.clone()).await {
            self.log_auth_event(user.id, entry("ratelimited")).await;
            return Err(Error::RateLimited);
        }
        if user.disabled || user.suspended {
            // The same work as a wrong password: a disabled account must not answer
            // faster than others (account probing by timing).
            self.dummy_check(&req.password).await?;
            let result = if user.disabled {
                "disabled"
            } else {
                "suspended"
            };
            self.log_auth_event(user.id, entry(result)).await;
            return Err(refused(Error::AuthFailed));
        }
        if user.profile.disabled_scopes.iter().any(|s| s == scope) {
            self.dummy_check(&req.password).await?;
            self.log_auth_event(user.id, entry("scope_disabled")).await;
            self.count_auth_failure(&user_key, ip).await;
            return Err(refused(Error::AuthFailed));
        }

        let enabled2fa = self.enabled_2fa(user.id).await?;
        let require2fa = (!enabled2fa.is_empty()).then(|| enabled2fa.join(","));
        let master_ok = match &user.password {
            Some(hash) => {
                self.check_user_password(user.id, &req.password, hash)
                    .await?
            }
            None => false,
        };
        let held = user
            .profile
            .password_valid_after
            .is_some_and(|t| t > Utc::now());
        if master_ok && held {
            // WildDuck: a reset password is refused, with its own code, until validAfter.
            self.log_auth_event(
                user.id,
                AuthLogEntry {
                    source: Some("master".into()),
                    ..entry("fail")
                },
            )
            .await;
            return Err(Error::PasswordNotYetValid);
        }
        if master_ok {
            if let Some(hash) = &user.password {
                self.rehash_if_needed(user.id, &req.password, hash).await;
            }
            if scope != "master" && !enabled2fa.is_empty() {
                // With 2FA the account password is for the API only; mail clients
                // need an application-specific password.
                self.log_auth_event(
                    user.id,
                    AuthLogEntry {
                        source: Some("master".into()),
                        require2fa,
                        ..entry("fail")
                    },
                )
                .await;
                self.count_auth_failure(&user_key, ip).await;
                return Err(refused(Error::AuthFailed));
            }
            let event = self
                .log_auth_event(
                    user.id,
                    AuthLogEntry {
                        source: Some("master".into()),
                        require2fa,
                        ..entry("success")
                    },
                )
                .await;
            self.release_user_limit(&user_key).await;
            return Ok(AuthSuccess {
                user,
                source: AuthSource::Master,
                require2fa: enabled2fa,
                event,
            });
        }

        if scope != "master" {
            if let Some(asp) = self.match_asp(user.id, &req.password).await? {
                let asp_entry = |result: &str| AuthLogEntry {
                    source: Some("asp".into()),
                    asp: Some(asp.id),
                    aname: Some(asp.description.clone()),
                    ..entry(result)
                };
                if !eider_auth::scope_allowed(&asp.scopes, scope) {
                    self.log_auth_event(user.id, asp_entry("fail")).await;
                    self.count_auth_failure(&user_key, ip).await;
                    return Err(refused(Error::AuthFailed));
                }
                let event = self.log_auth_event(user.id, asp_entry("success")).await;
                let now = Utc::now();
                let expires = asp
                    .ttl
                    .map(|t| now + chrono::Duration::seconds(t.min(i64::MAX as u64) as i64));
                let used = AspUse {
                    time: now,
                    event,
                    ip: ip.map(str::to_string),
                };
                if let Err(e) = self
                    .store()
                    .record_asp_use(user.id, asp.id, &used, expires)
                    .await
                {
                    tracing::warn!(user = %user.id, "cannot record ASP use: {e}");
                }
                self.release_user_limit(&user_key).await;
                return Ok(AuthSuccess {
                    user,
                    source: AuthSource::Asp(asp.id),
                    require2fa: Vec::new(),
                    event,
                });
            }
        }
        self.log_auth_event(
            user.id,
            AuthLogEntry {
                source: Some("master".into()),
                ..entry("fail")
            },
        )
        .await;
        self.count_auth_failure(&user_key, ip).await;
        Err(refused(Error::AuthFailed))
    }

    /// Verify against a hash of nobody's password, for logins that fail without
    /// checking one (unknown users, disabled accounts): they cost the same time.
    async fn dummy_check(&self, password: &str) -> Result<()> {
        let dummy = DUMMY_HASH
            .get_or_try_init(|| self.hash_password("eider dummy password"))
            .await?;
        self.check_password(password, dummy).await?;
        Ok(())
    }

    /// Replace a verified hash of an older format (or weaker parameters) with a
    /// fresh argon2id hash, unless the password changed meanwhile.
    async fn rehash_if_needed(&self, user: ObjectId, password: &str, hash: &str) {
        if !eider_auth::needs_rehash(hash) {
            return;
        }
        let format = eider_auth::hash_format(hash);
        match self.hash_password(password).await {
            Ok(new) => match self.store().replace_password_hash(user, hash, &new).await {
                Ok(true) => {
                    tracing::info!(user = %user, from = ?format, "password rehashed to argon2id")
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(user = %user, "cannot store the rehashed password: {e}"),
            },
            Err(e) => tracing::warn!(user = %user, "cannot rehash the password: {e}"),
        }
    }
}
