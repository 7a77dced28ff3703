//! The single login call every protocol goes through. Later work (application
//! passwords, 2FA, rate limits, auth log) extends this function, not the gateways.

use std::net::IpAddr;

use super::Service;
use crate::model::User;
use crate::{Error, Result};

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
}

#[derive(Debug, Clone)]
pub struct AuthRequest {
    /// Username or one of the user's addresses.
    pub username: String,
    pub password: String,
    pub protocol: Protocol,
    pub remote_ip: Option<IpAddr>,
}

#[derive(Debug, Clone)]
pub struct AuthSuccess {
    pub user: User,
}

impl Service {
    /// Authenticate a login. Every failure (unknown user, wrong password, disabled
    /// account, disabled scope) answers the same `AuthFailed`, so logins reveal nothing.
    pub async fn authenticate(&self, req: &AuthRequest) -> Result<AuthSuccess> {
        let user = match self.find_user(&req.username).await {
            Ok(u) => u,
            Err(Error::UserNotFound) => return Err(Error::AuthFailed),
            Err(e) => return Err(e),
        };
        if user.disabled || user.suspended {
            return Err(Error::AuthFailed);
        }
        if user
            .profile
            .disabled_scopes
            .iter()
            .any(|s| s == req.protocol.scope())
        {
            return Err(Error::AuthFailed);
        }
        let Some(hash) = user.password.clone() else {
            return Err(Error::AuthFailed);
        };
        let password = req.password.clone();
        // Hashing is CPU-heavy: keep it off the async workers.
        let ok = tokio::task::spawn_blocking(move || eider_auth::verify_password(&password, &hash))
            .await
            .map_err(|e| Error::Internal(e.to_string()))?
            .unwrap_or(false);
        if !ok {
            return Err(Error::AuthFailed);
        }
        Ok(AuthSuccess { user })
    }
}
