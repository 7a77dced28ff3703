//! Runtime settings (WildDuck's `/settings`): a registry of keys with defaults (from
//! configuration where it has the value, else WildDuck's constants), values stored in
//! the `SettingsStore`, read at the point of use.
//!
//! Every instance caches the stored values. A cached copy younger than [`FRESH`] is used
//! as it is; an older one is checked against a version counter on the Bus (Redis in
//! scale-out), which every write bumps after its commit, and reloaded when the version
//! moved. So a change applies at once on the instance that made it and within
//! [`FRESH`] on every other, without a restart, for one counter read per second.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use tracing::warn;

use super::Service;
use crate::{Error, Result};

/// How long a cached copy is used without asking the Bus whether it changed.
pub const FRESH: Duration = Duration::from_secs(1);
/// The Bus counter that every settings write bumps.
const VERSION_COUNTER: &str = "settings:version";
/// The counter never expires in practice (a lost counter reads 0: a change, so a reload).
const VERSION_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// The keys, WildDuck's names (`const:*`) plus Eider's own.
pub mod keys {
    pub const ARCHIVE_TIME: &str = "const:archive:time";
    pub const MAX_STORAGE: &str = "const:max:storage";
    pub const MAX_RECIPIENTS: &str = "const:max:recipients";
    pub const MAX_MAILBOXES: &str = "const:max:mailboxes";
    pub const MAX_RCPT_TO: &str = "const:max:rcpt_to";
    pub const MAX_FORWARDS: &str = "const:max:forwards";
    pub const AUTHLOG_TIME: &str = "const:authlog:time";
    pub const AUTOREPLY_INTERVAL: &str = "const:autoreply:interval";
    pub const ASP_LIMIT: &str = "const:asp:limit";
    pub const MAX_IMAP_DOWNLOAD: &str = "const:max:imap:download";
    pub const MAX_POP3_DOWNLOAD: &str = "const:max:pop3:download";
    pub const MAX_IMAP_UPLOAD: &str = "const:max:imap:upload";
    pub const MAX_FILTERS: &str = "const:max:filters";
    pub const DEFER_TIMES: &str = "const:sender:defer_times";
    /// Eider's: simultaneous IMAP sessions of a user without its own limit.
    pub const MAX_IMAP_CONNECTIONS: &str = "const:max:imap:connections";
}

/// How a setting's value is shown and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingType {
    /// Milliseconds.
    Duration,
    /// Bytes.
    Size,
    Number,
    String,
}

impl SettingType {
    pub fn as_str(self) -> &'static str {
        match self {
            SettingType::Duration => "duration",
            SettingType::Size => "size",
            SettingType::Number => "number",
            SettingType::String => "string",
        }
    }
}

/// One registered key.
#[derive(Debug, Clone, Copy)]
pub struct SettingKey {
    pub key: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub kind: SettingType,
}

const GIB: u64 = 1024 * 1024 * 1024;

/// The registry, with WildDuck's names and texts.
pub const SETTING_KEYS: &[SettingKey] = &[
    SettingKey {
        key: keys::ARCHIVE_TIME,
        name: "Archive time",
        description: "Time in ms after deleted messages will be purged",
        kind: SettingType::Duration,
    },
    SettingKey {
        key: keys::MAX_STORAGE,
        name: "Disk quota",
        description: "Maximum allowed storage size in bytes",
        kind: SettingType::Size,
    },
    SettingKey {
        key: keys::MAX_RECIPIENTS,
        name: "Max daily recipients",
        description: "Daily maximum recipients count",
        kind: SettingType::Number,
    },
    SettingKey {
        key: keys::MAX_MAILBOXES,
        name: "Max mailboxes",
        description: "Maximum amount of mailboxes for a user",
        kind: SettingType::Number,
    },
    SettingKey {
        key: keys::MAX_RCPT_TO,
        name: "Max message recipients",
        description: "Maximum recipients count for a single email",
        kind: SettingType::Number,
    },
    SettingKey {
        key: keys::MAX_FORWARDS,
        name: "Max forwards",
        description: "Daily maximum forward count",
        kind: SettingType::Number,
    },
    SettingKey {
        key: keys::AUTHLOG_TIME,
        name: "Auth log time",
        description: "Time in ms after authentication log entries will be purged",
        kind: SettingType::Duration,
    },
    SettingKey {
        key: keys::AUTOREPLY_INTERVAL,
        name: "Autoreply interval",
        description: "Delay between autoreplies for the same sender",
        kind: SettingType::Duration,
    },
    SettingKey {
        key: keys::ASP_LIMIT,
        name: "ASP limit",
        description: "How many application passwords users can register",
        kind: SettingType::Number,
    },
    SettingKey {
        key: keys::MAX_IMAP_DOWNLOAD,
        name: "Max IMAP download",
        description: "Maximum default daily IMAP download size",
        kind: SettingType::Size,
    },
    SettingKey {
        key: keys::MAX_POP3_DOWNLOAD,
        name: "Max POP3 download",
        description: "Maximum default daily POP3 download size",
        kind: SettingType::Size,
    },
    SettingKey {
        key: keys::MAX_IMAP_UPLOAD,
        name: "Max IMAP upload",
        description: "Maximum default daily IMAP upload size",
        kind: SettingType::Size,
    },
    SettingKey {
        key: keys::MAX_FILTERS,
        name: "Max filters",
        description: "Maximum number of filters for an account",
        kind: SettingType::Number,
    },
    SettingKey {
        key: keys::DEFER_TIMES,
        name: "Deferred email delay",
        description: "Comma separated list of times between deferred delivery attempts. Eg. \"5m, 15m, 20m, 1h, 1h, 1h\"",
        kind: SettingType::String,
    },
    SettingKey {
        key: keys::MAX_IMAP_CONNECTIONS,
        name: "Max IMAP connections",
        description: "Maximum simultaneous IMAP connections of a user without its own limit",
        kind: SettingType::Number,
    },
];

/// WildDuck's constant for a key (configuration may override it: `ServiceConfig::settings`).
pub fn builtin_default(key: &str) -> Option<Value> {
    let n = |v: u64| Some(Value::from(v));
    match key {
        keys::ARCHIVE_TIME => n(25 * 24 * 3600 * 1000),
        keys::MAX_STORAGE => n(GIB),
        keys::MAX_RECIPIENTS => n(super::DEFAULT_MAX_RECIPIENTS),
        keys::MAX_MAILBOXES => n(1500),
        keys::MAX_RCPT_TO => n(400),
        keys::MAX_FORWARDS => n(super::DEFAULT_MAX_FORWARDS),
        keys::AUTHLOG_TIME => n(30 * 24 * 3600 * 1000),
        keys::AUTOREPLY_INTERVAL => n(4 * 24 * 3600 * 1000),
        keys::ASP_LIMIT => n(50),
        keys::MAX_IMAP_DOWNLOAD | keys::MAX_POP3_DOWNLOAD | keys::MAX_IMAP_UPLOAD => n(10 * GIB),
        keys::MAX_FILTERS => n(super::DEFAULT_MAX_FILTERS),
        keys::DEFER_TIMES => Some(Value::from(
            "5m, 7m, 8m, 25m, 75m, 2h, 4h, 4h, 4h, 4h, 4h, 4h, 4h, 4h, 4h, 4h, 4h",
        )),
        keys::MAX_IMAP_CONNECTIONS => n(15),
        _ => None,
    }
}

pub fn setting_key(key: &str) -> Option<&'static SettingKey> {
    SETTING_KEYS.iter().find(|k| k.key == key)
}

/// A setting as GET /settings lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingView {
    pub key: String,
    pub value: Value,
    pub name: String,
    pub description: String,
    pub default: Value,
    pub kind: SettingType,
    /// True when the value is stored (not the default).
    pub custom: bool,
}

/// Check and normalize a value for `key` as WildDuck's schema does: numbers (numeric
/// strings converted) for numeric keys, a comma-separated list of durations for the
/// retry delays.
pub fn validate_setting(key: &str, value: Value) -> Result<Value> {
    let Some(info) = setting_key(key) else {
        let names: Vec<&str> = SETTING_KEYS.iter().map(|k| k.key).collect();
        return Err(Error::InvalidField(
            "key",
            format!("\"key\" must be one of [{}]", names.join(", ")),
        ));
    };
    match info.kind {
        SettingType::String => {
            let text = match value {
                Value::String(s) => s.trim().to_string(),
                _ => {
                    return Err(Error::InvalidField(
                        "value",
                        "\"value\" must be a string".into(),
                    ))
                }
            };
            if !text.is_empty() && !durations_list(&text) {
                return Err(Error::InvalidField(
                    "value",
                    format!("\"value\" with value \"{text}\" fails to match the required pattern"),
                ));
            }
            Ok(Value::String(text))
        }
        _ => {
            let n = match &value {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            };
            match n {
                Some(n) if n.is_finite() && n >= 0.0 && n.fract() == 0.0 && n <= 9e15 => {
                    Ok(Value::from(n as u64))
                }
                _ => Err(Error::InvalidField(
                    "value",
                    "\"value\" must be a non-negative integer".into(),
                )),
            }
        }
    }
}

/// `5m, 7m, 1h`: numbers each with an optional unit of letters.
fn durations_list(text: &str) -> bool {
    text.split(',').all(|part| {
        let p = part.trim();
        let digits = p.chars().take_while(|c| c.is_ascii_digit()).count();
        digits > 0
            && p[digits..]
                .trim_start()
                .chars()
                .all(|c| c.is_ascii_lowercase())
    })
}

struct Cached {
    checked: Instant,
    version: i64,
    values: Arc<HashMap<String, Value>>,
}

/// The per-process copy of the stored settings.
#[derive(Default)]
pub(crate) struct SettingsCache {
    slot: RwLock<Option<Cached>>,
}

impl SettingsCache {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Option<Cached>> {
        // The slot is replaced whole: a panic while holding the lock leaves it consistent.
        self.slot.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Option<Cached>> {
        self.slot.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl Service {
    /// The default of a key: configuration's value, else WildDuck's constant.
    fn setting_default(&self, key: &str) -> Option<Value> {
        let config = self.config();
        match key {
            keys::MAX_STORAGE => return Some(Value::from(config.default_quota)),
            keys::ASP_LIMIT => return Some(Value::from(config.security.max_asps as u64)),
            keys::AUTHLOG_TIME => {
                let ms = config.security.authlog_ttl.as_millis();
                return Some(Value::from(u64::try_from(ms).unwrap_or(u64::MAX)));
            }
            _ => {}
        }
        config
            .settings
            .get(key)
            .cloned()
            .or_else(|| builtin_default(key))
    }

    /// The stored values, from the cache when it is current.
    async fn stored_settings(&self) -> Result<Arc<HashMap<String, Value>>> {
        let cache = &self.inner.settings;
        if let Some(c) = cache.read().as_ref() {
            if c.checked.elapsed() < FRESH {
                return Ok(c.values.clone());
            }
        }
        let version = self.bus().counter_get(VERSION_COUNTER).await;
        {
            let mut slot = cache.write();
            if let Some(c) = slot.as_mut() {
                if c.version == version {
                    c.checked = Instant::now();
                    return Ok(c.values.clone());
                }
            }
        }
        let values: HashMap<String, Value> = self
            .store()
            .list_settings()
            .await?
            .into_iter()
            .map(|s| (s.key, s.value))
            .collect();
        let values = Arc::new(values);
        *cache.write() = Some(Cached {
            checked: Instant::now(),
            version,
            values: values.clone(),
        });
        Ok(values)
    }

    /// The value in force for `key`: stored, else the default.
    pub async fn setting(&self, key: &str) -> Option<Value> {
        match self.stored_settings().await {
            Ok(values) => values.get(key).cloned(),
            Err(e) => {
                // The defaults keep mail flowing while the store cannot answer.
                warn!(key, "cannot read settings, using the default: {e}");
                None
            }
        }
        .or_else(|| self.setting_default(key))
    }

    /// A numeric setting (0 when neither stored nor defaulted, which no key is).
    pub async fn setting_u64(&self, key: &str) -> u64 {
        self.setting(key)
            .await
            .and_then(|v| v.as_u64().or_else(|| v.as_f64().map(|f| f.max(0.0) as u64)))
            .unwrap_or(0)
    }

    /// GET /settings: every registered key (stored value or default) and every stored
    /// key, ordered by key; `filter` keeps keys containing it (any case).
    pub async fn list_settings(&self, filter: Option<&str>) -> Result<Vec<SettingView>> {
        let stored = self.store().list_settings().await?;
        let mut out: Vec<SettingView> = Vec::new();
        for s in stored {
            let info = setting_key(&s.key);
            out.push(SettingView {
                default: self.setting_default(&s.key).unwrap_or(Value::Null),
                name: info.map(|i| i.name).unwrap_or_default().to_string(),
                description: info.map(|i| i.description).unwrap_or_default().to_string(),
                kind: info.map_or(SettingType::String, |i| i.kind),
                key: s.key,
                value: s.value,
                custom: true,
            });
        }
        for info in SETTING_KEYS {
            if out.iter().any(|v| v.key == info.key) {
                continue;
            }
            let default = self.setting_default(info.key).unwrap_or(Value::Null);
            out.push(SettingView {
                key: info.key.to_string(),
                value: default.clone(),
                name: info.name.to_string(),
                description: info.description.to_string(),
                default,
                kind: info.kind,
                custom: false,
            });
        }
        if let Some(f) = filter.map(str::to_lowercase).filter(|f| !f.is_empty()) {
            out.retain(|v| v.key.to_lowercase().contains(&f));
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// GET /settings/{key}: the stored value, else the default; None for a key that is
    /// neither registered nor stored.
    pub async fn get_setting(&self, key: &str) -> Result<Option<Value>> {
        let stored = self.store().list_settings().await?;
        Ok(stored
            .into_iter()
            .find(|s| s.key == key)
            .map(|s| s.value)
            .or_else(|| self.setting_default(key)))
    }

    /// POST /settings/{key}: check, store, and tell every instance.
    pub async fn set_setting(&self, key: &str, value: Value) -> Result<Value> {
        let value = validate_setting(key, value)?;
        self.store().set_setting(key, &value).await?;
        // After the commit: an instance that sees the new version reads the new value.
        self.bus()
            .counter_add(VERSION_COUNTER, 1, VERSION_TTL)
            .await;
        *self.inner.settings.write() = None;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_checked_per_type() {
        assert_eq!(
            validate_setting(keys::MAX_STORAGE, json!("2048")).ok(),
            Some(json!(2048))
        );
        assert_eq!(
            validate_setting(keys::MAX_RCPT_TO, json!(3)).ok(),
            Some(json!(3))
        );
        assert!(validate_setting(keys::MAX_RCPT_TO, json!(-1)).is_err());
        assert!(validate_setting(keys::MAX_RCPT_TO, json!(1.5)).is_err());
        assert!(validate_setting(keys::MAX_RCPT_TO, json!("many")).is_err());
        assert!(validate_setting(keys::MAX_RCPT_TO, json!(null)).is_err());
        assert_eq!(
            validate_setting(keys::DEFER_TIMES, json!(" 5m, 1h ,2h ")).ok(),
            Some(json!("5m, 1h ,2h"))
        );
        assert!(validate_setting(keys::DEFER_TIMES, json!("soon")).is_err());
        assert!(validate_setting(keys::DEFER_TIMES, json!(5)).is_err());
        match validate_setting("const:nope", json!(1)) {
            Err(Error::InvalidField("key", m)) => assert!(m.contains("const:max:storage")),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn every_key_has_a_default() {
        for k in SETTING_KEYS {
            assert!(builtin_default(k.key).is_some(), "{}", k.key);
        }
    }
}

/// The limits in force for users that set none of their own, read from the settings
/// at once (what GET /users shows beside each user's own limits).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimitDefaults {
    pub quota: u64,
    pub recipients: u64,
    pub forwards: u64,
    pub filters: u64,
    pub imap_upload: u64,
    pub imap_download: u64,
    pub pop3_download: u64,
    pub imap_connections: u64,
}

impl LimitDefaults {
    /// A user's quota: its own when set, else the default.
    pub fn quota_for(&self, user: &crate::model::User) -> u64 {
        if user.quota > 0 {
            user.quota
        } else {
            self.quota
        }
    }
}

impl Service {
    pub async fn limit_defaults(&self) -> LimitDefaults {
        LimitDefaults {
            quota: self.setting_u64(keys::MAX_STORAGE).await,
            recipients: self.setting_u64(keys::MAX_RECIPIENTS).await,
            forwards: self.setting_u64(keys::MAX_FORWARDS).await,
            filters: self.setting_u64(keys::MAX_FILTERS).await,
            imap_upload: self.setting_u64(keys::MAX_IMAP_UPLOAD).await,
            imap_download: self.setting_u64(keys::MAX_IMAP_DOWNLOAD).await,
            pop3_download: self.setting_u64(keys::MAX_POP3_DOWNLOAD).await,
            imap_connections: self.setting_u64(keys::MAX_IMAP_CONNECTIONS).await,
        }
    }
}
