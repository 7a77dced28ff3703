//! The authentication log: every login attempt and security change of a user, with
//! identical events (same protocol, IP, action and result) within a window counted
//! into one entry, as WildDuck does.

use chrono::Utc;

use super::Service;
use crate::model::Page;
use crate::{AuthEvent, AuthEventQuery, Error, ObjectId, Result};

/// What to log (the service fills in ids, times and the merge key).
#[derive(Debug, Clone, Default)]
pub struct AuthLogEntry {
    pub action: String,
    pub result: String,
    pub protocol: Option<String>,
    pub required_scope: Option<String>,
    pub source: Option<String>,
    pub asp: Option<ObjectId>,
    pub aname: Option<String>,
    pub require2fa: Option<String>,
    pub ip: Option<String>,
    pub sess: Option<String>,
}

impl AuthLogEntry {
    pub fn new(action: &str, result: &str) -> Self {
        Self {
            action: action.into(),
            result: result.into(),
            ..Default::default()
        }
    }
}

fn chrono_duration(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::days(30))
}

impl Service {
    /// Record an event for `user`. Logging never fails a login: errors are reported
    /// and None is returned.
    pub async fn log_auth_event(&self, user: ObjectId, entry: AuthLogEntry) -> Option<ObjectId> {
        let now = Utc::now();
        if entry.action == "authentication" && entry.result != "success" {
            self.emit(
                crate::service::webhooks::events::AUTH_FAILED,
                Some(user),
                serde_json::json!({
                    "result": entry.result,
                    "protocol": entry.protocol,
                    "ip": entry.ip,
                }),
            )
            .await;
        }
        let cfg = self.security();
        // `const:authlog:time` (ms); `[auth] authlogDays` is its default.
        let keep = std::time::Duration::from_millis(
            self.setting_u64(crate::service::settings::keys::AUTHLOG_TIME)
                .await
                .max(1),
        );
        let key_source = [
            entry.protocol.as_deref().unwrap_or(""),
            entry.ip.as_deref().unwrap_or(""),
            &entry.action,
            &entry.result,
        ]
        .join("^");
        let event = AuthEvent {
            id: ObjectId::new(),
            user,
            action: entry.action,
            result: entry.result,
            protocol: entry.protocol,
            required_scope: entry.required_scope,
            source: entry.source,
            asp: entry.asp,
            aname: entry.aname,
            require2fa: entry.require2fa,
            ip: entry.ip,
            sess: entry.sess,
            created: now,
            last: now,
            events: 1,
            expires: now + chrono_duration(keep),
            key: eider_auth::token_hash(&key_source)[..32].to_string(),
        };
        let since = now - chrono_duration(cfg.authlog_merge);
        match self.store().record_auth_event(&event, since).await {
            Ok(id) => Some(id),
            Err(e) => {
                tracing::warn!(user = %user, "cannot write the auth log: {e}");
                None
            }
        }
    }

    /// GET /users/{user}/authlog: newest first.
    pub async fn list_auth_events(&self, query: &AuthEventQuery) -> Result<Page<AuthEvent>> {
        self.get_user(query.user).await?;
        Ok(self.store().list_auth_events(query).await?)
    }

    /// GET /users/{user}/authlog/{event}.
    pub async fn get_auth_event(&self, user: ObjectId, id: ObjectId) -> Result<AuthEvent> {
        self.get_user(user).await?;
        self.store()
            .get_auth_event(user, id)
            .await?
            .filter(|e| e.expires >= Utc::now())
            .ok_or(Error::EventNotFound)
    }
}
