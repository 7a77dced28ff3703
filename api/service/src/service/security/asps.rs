//! Application-specific passwords: created with scopes (imap, pop3, smtp or `*`),
//! an optional ttl that each use renews, shown once, stored hashed.

use chrono::Utc;

use super::{AuthLogEntry, Service};
use crate::{Asp, Error, ObjectId, Result};

/// POST /users/{user}/asps.
#[derive(Debug, Clone, Default)]
pub struct NewAsp {
    pub description: String,
    /// Empty means `*`.
    pub scopes: Vec<String>,
    /// A pregenerated password (16 latin letters, whitespace ignored).
    pub password: Option<String>,
    /// Seconds; each use moves the expiry this far ahead.
    pub ttl: Option<u64>,
    pub ip: Option<String>,
    pub sess: Option<String>,
}

/// A created ASP and its password, which is never shown again.
#[derive(Debug, Clone)]
pub struct CreatedAsp {
    pub asp: Asp,
    pub password: String,
}

fn live(asp: &Asp) -> bool {
    asp.expires.is_none_or(|e| e > Utc::now())
}

impl Service {
    pub async fn create_asp(&self, user: ObjectId, new: NewAsp) -> Result<CreatedAsp> {
        self.get_user(user).await?;
        let description = new.description.trim().to_string();
        if description.is_empty() {
            return Err(Error::Validation("\"description\" is required".into()));
        }
        if description.chars().count() > 255 {
            return Err(Error::Validation(
                "\"description\" must be at most 255 characters".into(),
            ));
        }
        let scopes = if new.scopes.is_empty() {
            vec!["*".to_string()]
        } else {
            eider_auth::normalize_scopes(&new.scopes).ok_or_else(|| {
                Error::Validation("\"scopes\" must contain imap, pop3, smtp or *".into())
            })?
        };
        let password = match new.password {
            Some(p) => eider_auth::normalize_asp(&p)
                .ok_or_else(|| Error::Validation("\"password\" must be 16 latin letters".into()))?,
            None => eider_auth::generate_asp(),
        };
        let existing = self.store().list_asps(user).await?;
        let max = self
            .setting_u64(crate::service::settings::keys::ASP_LIMIT)
            .await as usize;
        if existing.iter().filter(|a| live(a)).count() >= max {
            return Err(Error::TooMany(format!(
                "Maximum application password limit reached ({max})"
            )));
        }
        let hash = self.hash_password(&password).await?;
        let now = Utc::now();
        let ttl = new.ttl.filter(|t| *t > 0);
        let asp = Asp {
            id: ObjectId::new(),
            user,
            description,
            scopes,
            password: hash,
            selector: eider_auth::asp_selector(&password),
            ttl,
            expires: ttl.map(|t| now + chrono::Duration::seconds(t.min(i64::MAX as u64) as i64)),
            created: now,
            last_use: None,
        };
        self.store().create_asp(&asp).await?;
        self.log_auth_event(
            user,
            AuthLogEntry {
                asp: Some(asp.id),
                aname: Some(asp.description.clone()),
                ip: new.ip,
                sess: new.sess,
                ..AuthLogEntry::new("create asp", "success")
            },
        )
        .await;
        self.emit(
            crate::service::webhooks::events::ASP_CREATED,
            Some(user),
            serde_json::json!({ "asp": asp.id.to_hex(), "description": asp.description }),
        )
        .await;
        Ok(CreatedAsp { asp, password })
    }

    /// The user's live ASPs; without `show_all` those with a ttl are left out.
    pub async fn list_asps(&self, user: ObjectId, show_all: bool) -> Result<Vec<Asp>> {
        self.get_user(user).await?;
        Ok(self
            .store()
            .list_asps(user)
            .await?
            .into_iter()
            .filter(|a| live(a) && (show_all || a.ttl.is_none()))
            .collect())
    }

    pub async fn get_asp(&self, user: ObjectId, id: ObjectId) -> Result<Asp> {
        self.get_user(user).await?;
        self.store()
            .get_asp(user, id)
            .await?
            .filter(live)
            .ok_or(Error::AspNotFound)
    }

    pub async fn delete_asp(
        &self,
        user: ObjectId,
        id: ObjectId,
        ip: Option<String>,
        sess: Option<String>,
    ) -> Result<()> {
        let asp = self.get_asp(user, id).await?;
        if !self.store().delete_asp(user, id).await? {
            return Err(Error::AspNotFound);
        }
        self.security().credential_cache.forget_user(user);
        // The sessions that logged in with it end, on every instance.
        self.bus()
            .publish(crate::model::Beacon::revoke(user, Some(id)));
        self.log_auth_event(
            user,
            AuthLogEntry {
                asp: Some(asp.id),
                aname: Some(asp.description),
                ip,
                sess,
                ..AuthLogEntry::new("delete asp", "success")
            },
        )
        .await;
        self.emit(
            crate::service::webhooks::events::ASP_DELETED,
            Some(user),
            serde_json::json!({ "asp": id.to_hex() }),
        )
        .await;
        Ok(())
    }

    /// The live ASP of `user` whose password is `password`, if any. Only ASPs with a
    /// matching selector are verified (one hash, usually).
    pub(crate) async fn match_asp(&self, user: ObjectId, password: &str) -> Result<Option<Asp>> {
        let Some(normalized) = eider_auth::normalize_asp(password) else {
            return Ok(None);
        };
        let selector = eider_auth::asp_selector(&normalized);
        for asp in self.store().list_asps(user).await? {
            if !live(&asp) || (!asp.selector.is_empty() && asp.selector != selector) {
                continue;
            }
            if self
                .check_user_password(user, &normalized, &asp.password)
                .await?
            {
                return Ok(Some(asp));
            }
        }
        Ok(None)
    }
}
