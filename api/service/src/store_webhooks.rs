//! Persistence of webhooks (WildDuck's `webhooks` collection): which event types, for
//! which user (or all), go to which URL. Delivery of the events is the service's.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::model::{Page, Paging};
use crate::{ObjectId, StoreResult};

/// One registered webhook.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    pub id: ObjectId,
    /// Event types it matches: exact names, prefixes ending in `.*`, or `*`.
    pub types: Vec<String>,
    /// Only events of this user (None: every event).
    pub user: Option<ObjectId>,
    pub url: String,
    pub created: DateTime<Utc>,
}

/// Which webhooks a listing returns.
#[derive(Debug, Clone, Default)]
pub struct WebhookQuery {
    /// Only webhooks whose `types` contains this exact pattern.
    pub pattern: Option<String>,
    /// Only webhooks of this user.
    pub user: Option<ObjectId>,
    pub paging: Paging,
}

#[async_trait]
pub trait WebhookStore: Send + Sync {
    async fn create_webhook(&self, hook: &Webhook) -> StoreResult<()>;
    async fn get_webhook(&self, id: ObjectId) -> StoreResult<Option<Webhook>>;
    async fn delete_webhook(&self, id: ObjectId) -> StoreResult<bool>;
    /// Ordered by id, paged.
    async fn list_webhooks(&self, query: &WebhookQuery) -> StoreResult<Page<Webhook>>;
    /// Webhooks with one of `patterns` among their types whose user is None or `user`
    /// (an event without a user, such as `domainalias.created`, matches any user, as
    /// in WildDuck).
    async fn matching_webhooks(
        &self,
        patterns: &[String],
        user: Option<ObjectId>,
    ) -> StoreResult<Vec<Webhook>>;
}
