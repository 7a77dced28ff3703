//! Persistence of runtime settings (WildDuck's `settings` collection): one JSON value
//! per key. The service owns the registry of keys, their defaults and the cache.

use async_trait::async_trait;

use crate::StoreResult;

/// A stored setting: its key and JSON value.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSetting {
    pub key: String,
    pub value: serde_json::Value,
}

#[async_trait]
pub trait SettingsStore: Send + Sync {
    /// Every stored setting, ordered by key (the set is small: the service reads it whole).
    async fn list_settings(&self) -> StoreResult<Vec<StoredSetting>>;
    /// Insert or replace the value of `key`.
    async fn set_setting(&self, key: &str, value: &serde_json::Value) -> StoreResult<()>;
}
