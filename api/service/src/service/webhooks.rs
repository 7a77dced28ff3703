//! Webhooks (WildDuck's `/webhooks` and its webhook worker): events of the service
//! (message, mailbox, user, address, ASP and 2FA changes, authentication failures,
//! `marked.spam` / `marked.ham` when a message moves into or out of Junk) are POSTed
//! as JSON to the URLs registered for their type and user.
//!
//! Delivery is at least once: [`Service::emit`] puts one entry per matching hook in
//! a [`WebhookQueue`] (bounded per hook) and returns; [`Service::run_webhooks`] takes
//! due entries, POSTs them through a [`WebhookPoster`] with a per-event `id` (for
//! de-duplication) and an HMAC-SHA256 signature header, completes them on a 2xx answer,
//! deletes the hook on 410 (as WildDuck), and otherwise tries again with exponential
//! backoff until `max_attempts`.
//!
//! The queue: [`StoreWebhookQueue`] keeps entries in the store's durable queue
//! (`QueueStore`, entry kind "webhook", key the hook id), so they survive a restart and
//! any instance's worker may deliver them; [`MemoryWebhookQueue`] is an in-process
//! stand-in for tests.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use serde_json::{json, Map, Value};
use tracing::{debug, warn};

use super::Service;
use crate::model::{Page, Paging, SpecialUse};
use crate::{Error, ObjectId, Result, Webhook, WebhookQuery};

/// Event names (WildDuck's `lib/events.js`, plus Eider's for messages and logins).
pub mod events {
    pub const MESSAGE_NEW: &str = "message.new";
    pub const MESSAGE_DELETED: &str = "message.deleted";
    pub const MAILBOX_CREATED: &str = "mailbox.created";
    pub const MAILBOX_RENAMED: &str = "mailbox.renamed";
    pub const MAILBOX_DELETED: &str = "mailbox.deleted";
    pub const USER_CREATED: &str = "user.created";
    pub const USER_PASSWORD_CHANGED: &str = "user.password.changed";
    pub const USER_DELETE_COMPLETED: &str = "user.delete.completed";
    pub const ADDRESS_USER_CREATED: &str = "address.user.created";
    pub const ADDRESS_USER_DELETED: &str = "address.user.deleted";
    pub const ASP_CREATED: &str = "asp.created";
    pub const ASP_DELETED: &str = "asp.deleted";
    pub const MFA_TOTP_ENABLED: &str = "mfa.totp.enabled";
    pub const MFA_TOTP_DISABLED: &str = "mfa.totp.disabled";
    pub const AUTH_FAILED: &str = "user.authentication.failed";
    pub const MARKED_SPAM: &str = "marked.spam";
    pub const MARKED_HAM: &str = "marked.ham";
}

/// The header carrying `sha256=<hex HMAC-SHA256 of the body>`.
pub const SIGNATURE_HEADER: &str = "X-Eider-Signature";
/// The header carrying the event's id (also the body's `id`).
pub const EVENT_ID_HEADER: &str = "X-Eider-Event-Id";
/// The header carrying the event's type.
pub const EVENT_TYPE_HEADER: &str = "X-Eider-Event";

/// How webhooks are delivered (`[webhooks]`).
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// HMAC key of the signature header.
    pub secret: Vec<u8>,
    /// Most entries waiting per hook; further events of that hook are dropped (logged).
    pub max_queue: usize,
    /// Attempts before an event is given up (logged).
    pub max_attempts: u32,
    /// Delay before the first retry; doubled each time up to `max_delay`.
    pub retry_delay: Duration,
    pub max_delay: Duration,
    /// Base of the raw-download URLs in `marked.*` events (the API as clients reach it).
    pub api_url: String,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            secret: Vec::new(),
            max_queue: 10_000,
            max_attempts: 10,
            retry_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(3600),
            api_url: "http://127.0.0.1:8080".into(),
        }
    }
}

/// One delivery waiting in the queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedWebhook {
    pub id: String,
    pub hook: ObjectId,
    /// `{"url": …, "body": <the event>}` as JSON.
    pub payload: Vec<u8>,
    /// Attempts made so far.
    pub attempts: u32,
}

/// Where deliveries wait (see the module's text).
#[async_trait]
pub trait WebhookQueue: Send + Sync {
    /// Add a delivery for `hook`; Ok(false) when `limit` of its deliveries wait already.
    async fn push(&self, hook: ObjectId, payload: Vec<u8>, limit: usize) -> Result<bool>;
    /// Up to `limit` due deliveries, held for this worker for `lease`.
    async fn claim(&self, limit: usize, lease: Duration) -> Result<Vec<QueuedWebhook>>;
    /// The delivery succeeded (or is given up): remove it.
    async fn complete(&self, id: &str) -> Result<()>;
    /// Try again after `delay`, one more attempt counted.
    async fn retry(&self, id: &str, delay: Duration, error: &str) -> Result<()>;
}

/// Sends one POST; the answer's status code, or why there was none.
#[async_trait]
pub trait WebhookPoster: Send + Sync {
    async fn post(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> std::result::Result<u16, String>;
}

struct MemEntry {
    id: String,
    hook: ObjectId,
    payload: Vec<u8>,
    attempts: u32,
    due: Instant,
}

/// The in-process queue (entries do not survive a restart of Eider).
#[derive(Default)]
pub struct MemoryWebhookQueue {
    entries: Mutex<VecDeque<MemEntry>>,
    seq: std::sync::atomic::AtomicU64,
}

impl MemoryWebhookQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<MemEntry>> {
        // Entries are whole values: a panic while holding the lock leaves them consistent.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Deliveries waiting (for tests and logs).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

#[async_trait]
impl WebhookQueue for MemoryWebhookQueue {
    async fn push(&self, hook: ObjectId, payload: Vec<u8>, limit: usize) -> Result<bool> {
        let mut q = self.lock();
        if q.iter().filter(|e| e.hook == hook).count() >= limit {
            return Ok(false);
        }
        let n = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        q.push_back(MemEntry {
            id: n.to_string(),
            hook,
            payload,
            attempts: 0,
            due: Instant::now(),
        });
        Ok(true)
    }

    async fn claim(&self, limit: usize, lease: Duration) -> Result<Vec<QueuedWebhook>> {
        let now = Instant::now();
        let mut out = Vec::new();
        for e in self.lock().iter_mut() {
            if out.len() >= limit {
                break;
            }
            if e.due <= now {
                e.due = now + lease;
                out.push(QueuedWebhook {
                    id: e.id.clone(),
                    hook: e.hook,
                    payload: e.payload.clone(),
                    attempts: e.attempts,
                });
            }
        }
        Ok(out)
    }

    async fn complete(&self, id: &str) -> Result<()> {
        self.lock().retain(|e| e.id != id);
        Ok(())
    }

    async fn retry(&self, id: &str, delay: Duration, _error: &str) -> Result<()> {
        if let Some(e) = self.lock().iter_mut().find(|e| e.id == id) {
            e.attempts += 1;
            e.due = Instant::now() + delay;
        }
        Ok(())
    }
}

/// The store's durable queue as the webhook queue: entries of kind `webhook`, keyed
/// by the hook's id, leased to this process's worker, so they survive restarts and
/// are shared by the instances of a cluster.
pub struct StoreWebhookQueue {
    store: Arc<dyn crate::Store>,
    /// This process's worker name (leases are per worker).
    worker: String,
}

/// The queue entry kind of webhook deliveries.
pub const QUEUE_KIND: &str = "webhook";

impl StoreWebhookQueue {
    pub fn new(store: Arc<dyn crate::Store>) -> Self {
        Self {
            store,
            worker: format!("webhooks-{}", ObjectId::new().to_hex()),
        }
    }
}

fn entry_id(id: &str) -> Result<ObjectId> {
    ObjectId::parse(id).ok_or_else(|| Error::Internal(format!("bad queue entry id {id:?}")))
}

#[async_trait]
impl WebhookQueue for StoreWebhookQueue {
    async fn push(&self, hook: ObjectId, payload: Vec<u8>, limit: usize) -> Result<bool> {
        let key = hook.to_hex();
        // The bound is checked before the insert: concurrent pushes may pass it by a few.
        if self.store.count_queue(QUEUE_KIND, Some(&key)).await? >= limit as u64 {
            return Ok(false);
        }
        let now = Utc::now();
        let entry = crate::QueueEntry {
            id: ObjectId::new(),
            kind: QUEUE_KIND.into(),
            group: key.clone(),
            key,
            owner: None,
            payload,
            not_before: now,
            attempts: 0,
            last_error: None,
            created: now,
            lease: None,
        };
        self.store.enqueue(&[entry]).await?;
        Ok(true)
    }

    async fn claim(&self, limit: usize, lease: Duration) -> Result<Vec<QueuedWebhook>> {
        let now = Utc::now();
        let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(2));
        let claimed = self
            .store
            .claim(&crate::Claim {
                kind: QUEUE_KIND,
                key: None,
                worker: &self.worker,
                now,
                lease_until: until,
                limit: u32::try_from(limit).unwrap_or(u32::MAX).max(1),
            })
            .await?;
        Ok(claimed
            .into_iter()
            .filter_map(|e| {
                Some(QueuedWebhook {
                    id: e.id.to_hex(),
                    hook: ObjectId::parse(&e.key)?,
                    payload: e.payload,
                    attempts: e.attempts,
                })
            })
            .collect())
    }

    async fn complete(&self, id: &str) -> Result<()> {
        self.store.complete(entry_id(id)?, &self.worker).await?;
        Ok(())
    }

    async fn retry(&self, id: &str, delay: Duration, error: &str) -> Result<()> {
        let at =
            Utc::now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::hours(1));
        self.store
            .reschedule(entry_id(id)?, &self.worker, at, error)
            .await?;
        Ok(())
    }
}

/// Webhook delivery wired into a service.
pub(crate) struct WebhookRuntime {
    pub(crate) config: WebhookConfig,
    pub(crate) queue: Arc<dyn WebhookQueue>,
}

/// The per-process copy of the registered hooks, checked against a Bus version
/// counter like the settings (a new or deleted hook applies within a second everywhere).
#[derive(Default)]
pub(crate) struct HookCache {
    slot: RwLock<Option<CachedHooks>>,
}

/// When the copy was last checked, the version it was read at, and the hooks.
type CachedHooks = (Instant, i64, Arc<Vec<Webhook>>);

const HOOKS_VERSION: &str = "webhooks:version";
const HOOKS_FRESH: Duration = Duration::from_secs(1);
const VERSION_TTL: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// The type patterns an event matches: `*`, each prefix `a.*`, `a.b.*`, and its name.
pub fn event_patterns(ev: &str) -> Vec<String> {
    let mut out = vec!["*".to_string()];
    let parts: Vec<&str> = ev.split('.').collect();
    for i in 1..parts.len() {
        out.push(format!("{}.*", parts[..i].join(".")));
    }
    out.push(ev.to_string());
    out
}

/// A type pattern as POST /webhooks accepts it: a name of letters, digits, `-` and `_`
/// in dot-separated parts, optionally ending in `.*`, or `*`.
fn valid_pattern(p: &str) -> bool {
    if p == "*" {
        return true;
    }
    let name = p.strip_suffix(".*").unwrap_or(p);
    !name.is_empty()
        && p.len() <= 128
        && name.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

impl Service {
    /// Deliver webhooks through `queue` (call before sharing the service, like
    /// `with_outbound`); without it events are not recorded.
    pub fn with_webhooks(self, config: WebhookConfig, queue: Arc<dyn WebhookQueue>) -> Self {
        self.rebuild(|inner| {
            inner.webhooks = Some(Arc::new(WebhookRuntime { config, queue }));
        })
    }

    /// POST /webhooks.
    pub async fn create_webhook(
        &self,
        types: Vec<String>,
        user: Option<ObjectId>,
        url: &str,
    ) -> Result<Webhook> {
        let mut patterns: Vec<String> = Vec::new();
        for t in types {
            let t = t.trim().to_lowercase();
            if !valid_pattern(&t) {
                return Err(Error::InvalidField(
                    "type",
                    format!("\"type\" must be event names or prefixes ending in \".*\", not {t:?}"),
                ));
            }
            if !patterns.contains(&t) {
                patterns.push(t);
            }
        }
        if patterns.is_empty() {
            return Err(Error::InvalidField(
                "type",
                "\"type\" must contain at least 1 items".into(),
            ));
        }
        let parsed = url::Url::parse(url.trim())
            .map_err(|_| Error::InvalidField("url", "\"url\" must be a valid uri".into()))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(Error::InvalidField(
                "url",
                "\"url\" must be a valid uri with a scheme matching the http|https pattern".into(),
            ));
        }
        if let Some(u) = user {
            self.get_user(u).await?;
        }
        let hook = Webhook {
            id: ObjectId::new(),
            types: patterns,
            user,
            url: parsed.to_string(),
            created: Utc::now(),
        };
        self.store().create_webhook(&hook).await?;
        self.hooks_changed().await;
        Ok(hook)
    }

    /// GET /webhooks.
    pub async fn list_webhooks(&self, query: &WebhookQuery) -> Result<Page<Webhook>> {
        Ok(self.store().list_webhooks(query).await?)
    }

    pub async fn get_webhook(&self, id: ObjectId) -> Result<Webhook> {
        self.store()
            .get_webhook(id)
            .await?
            .ok_or(Error::WebhookNotFound)
    }

    /// DELETE /webhooks/{webhook}.
    pub async fn delete_webhook(&self, id: ObjectId) -> Result<()> {
        if !self.store().delete_webhook(id).await? {
            return Err(Error::WebhookNotFound);
        }
        self.hooks_changed().await;
        Ok(())
    }

    async fn hooks_changed(&self) {
        self.bus().counter_add(HOOKS_VERSION, 1, VERSION_TTL).await;
        *self
            .inner
            .hooks
            .slot
            .write()
            .unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Every registered hook, from the cache when it is current.
    async fn all_hooks(&self) -> Result<Arc<Vec<Webhook>>> {
        let cache = &self.inner.hooks;
        if let Some((checked, _, hooks)) = cache
            .slot
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            if checked.elapsed() < HOOKS_FRESH {
                return Ok(hooks.clone());
            }
        }
        let version = self.bus().counter_get(HOOKS_VERSION).await;
        {
            let mut slot = cache.slot.write().unwrap_or_else(|e| e.into_inner());
            if let Some((checked, v, hooks)) = slot.as_mut() {
                if *v == version {
                    *checked = Instant::now();
                    return Ok(hooks.clone());
                }
            }
        }
        let hooks = Arc::new(
            self.store()
                .list_webhooks(&WebhookQuery {
                    paging: Paging::default(),
                    ..Default::default()
                })
                .await?
                .results,
        );
        *cache.slot.write().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), version, hooks.clone()));
        Ok(hooks)
    }

    /// The hooks an event of type `ev` for `user` goes to (none when webhooks are off).
    async fn hooks_for(&self, ev: &str, user: Option<ObjectId>) -> Vec<Webhook> {
        if self.inner.webhooks.is_none() {
            return Vec::new();
        }
        let patterns = event_patterns(ev);
        match self.all_hooks().await {
            Ok(hooks) => hooks
                .iter()
                .filter(|h| h.types.iter().any(|t| patterns.contains(t)))
                .filter(|h| match (h.user, user) {
                    (None, _) | (_, None) => true,
                    (Some(a), Some(b)) => a == b,
                })
                .cloned()
                .collect(),
            Err(e) => {
                warn!(ev, "cannot read webhooks: {e}");
                Vec::new()
            }
        }
    }

    /// Record an event for the hooks that match it. Never fails the caller: problems
    /// are logged (the change the event reports has happened).
    pub async fn emit(&self, ev: &str, user: Option<ObjectId>, data: Value) {
        let hooks = self.hooks_for(ev, user).await;
        self.emit_to(&hooks, ev, user, data).await;
    }

    async fn emit_to(&self, hooks: &[Webhook], ev: &str, user: Option<ObjectId>, data: Value) {
        let Some(rt) = self.inner.webhooks.as_ref() else {
            return;
        };
        if hooks.is_empty() {
            return;
        }
        let batch = ObjectId::new().to_hex();
        for (n, hook) in hooks.iter().enumerate() {
            let mut body = Map::new();
            body.insert("id".into(), Value::from(format!("{batch}:{}", n + 1)));
            body.insert("ev".into(), Value::from(ev));
            body.insert("time".into(), Value::from(Utc::now().timestamp_millis()));
            if let Some(u) = user {
                body.insert("user".into(), Value::from(u.to_hex()));
            }
            if let Value::Object(extra) = &data {
                for (k, v) in extra {
                    body.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
            let payload = json!({ "url": hook.url, "body": Value::Object(body) });
            let bytes = match serde_json::to_vec(&payload) {
                Ok(b) => b,
                Err(e) => {
                    warn!(ev, "cannot encode a webhook event: {e}");
                    continue;
                }
            };
            match rt.queue.push(hook.id, bytes, rt.config.max_queue).await {
                Ok(true) => {}
                Ok(false) => warn!(hook = %hook.id, ev, "webhook queue full; event dropped"),
                Err(e) => warn!(hook = %hook.id, ev, "cannot queue a webhook event: {e}"),
            }
        }
    }

    /// `marked.spam` / `marked.ham` for messages moved from `source` to `target` when
    /// one of them is Junk and the other is not (Gmail's "report spam" and "not spam").
    pub(crate) async fn emit_junk_moves(
        &self,
        user: ObjectId,
        source: &crate::model::Mailbox,
        target: &crate::model::Mailbox,
        moved: &[crate::model::CopiedMessage],
    ) {
        let junk = |m: &crate::model::Mailbox| m.special_use == Some(SpecialUse::Junk);
        let ev = match (junk(source), junk(target)) {
            (false, true) => events::MARKED_SPAM,
            (true, false) => events::MARKED_HAM,
            _ => return,
        };
        let hooks = self.hooks_for(ev, Some(user)).await;
        if hooks.is_empty() || moved.is_empty() {
            return;
        }
        let base = self
            .inner
            .webhooks
            .as_ref()
            .map(|rt| rt.config.api_url.trim_end_matches('/').to_string())
            .unwrap_or_default();
        for m in moved {
            let mut data = json!({
                "mailbox": target.id.to_hex(),
                "message": m.id.to_hex(),
                "uid": m.uid,
                "url": format!(
                    "{base}/users/{}/mailboxes/{}/messages/{}/message.eml",
                    user.to_hex(),
                    target.id.to_hex(),
                    m.uid
                ),
            });
            match self.store().get_message(target.id, m.uid).await {
                Ok(Some(stored)) => {
                    let addrs = |list: &[eider_message::Address]| -> Value {
                        list.iter()
                            .map(|a| json!({ "name": a.name, "address": a.address }))
                            .collect()
                    };
                    let i = &stored.index;
                    if let Some(obj) = data.as_object_mut() {
                        if let Some(from) = i.from.first().or(i.sender.first()) {
                            obj.insert(
                                "from".into(),
                                json!({ "name": from.name, "address": from.address }),
                            );
                        }
                        for (key, list) in [("to", &i.to), ("cc", &i.cc)] {
                            if !list.is_empty() {
                                obj.insert(key.into(), addrs(list));
                            }
                        }
                        obj.insert("messageId".into(), json!(stored.meta.message_id));
                        obj.insert("subject".into(), json!(stored.meta.subject));
                        obj.insert("date".into(), json!(stored.meta.internal_date.to_rfc3339()));
                    }
                }
                Ok(None) => continue,
                Err(e) => warn!(user = %user, "cannot read a moved message for its event: {e}"),
            }
            self.emit_to(&hooks, ev, Some(user), data).await;
        }
    }

    /// Deliver queued webhooks until the task is dropped: `poster` sends, the queue
    /// keeps what failed for later. Run one per process (entries are leased, so
    /// several processes on a shared queue do not deliver an entry twice at once).
    pub async fn run_webhooks(self, poster: Arc<dyn WebhookPoster>) {
        let Some(rt) = self.inner.webhooks.clone() else {
            return;
        };
        let lease = Duration::from_secs(120);
        loop {
            let batch = match rt.queue.claim(32, lease).await {
                Ok(b) => b,
                Err(e) => {
                    warn!("cannot read the webhook queue: {e}");
                    Vec::new()
                }
            };
            if batch.is_empty() {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            for entry in batch {
                self.deliver_webhook(&rt, poster.as_ref(), entry).await;
            }
        }
    }

    async fn deliver_webhook(
        &self,
        rt: &WebhookRuntime,
        poster: &dyn WebhookPoster,
        entry: QueuedWebhook,
    ) {
        let parsed: Option<(String, Value)> = serde_json::from_slice::<Value>(&entry.payload)
            .ok()
            .and_then(|v| Some((v.get("url")?.as_str()?.to_string(), v.get("body")?.clone())));
        let Some((url, body)) = parsed else {
            warn!(id = %entry.id, "unreadable webhook entry dropped");
            let _ = rt.queue.complete(&entry.id).await;
            return;
        };
        let ev = body
            .get("ev")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let event_id = body
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let signature = format!(
            "sha256={}",
            eider_auth::hmac_sha256_hex(&rt.config.secret, &bytes)
        );
        let headers = [
            ("Content-Type", "application/json".to_string()),
            (EVENT_TYPE_HEADER, ev.clone()),
            (EVENT_ID_HEADER, event_id.clone()),
            (SIGNATURE_HEADER, signature),
        ];
        let outcome = poster.post(&url, &headers, bytes).await;
        let done = match outcome {
            Ok(code) if (200..300).contains(&code) => {
                debug!(hook = %entry.hook, ev, id = %event_id, "webhook delivered");
                true
            }
            Ok(410) => {
                // The receiver is gone for good: WildDuck deletes such a hook.
                if let Err(e) = self.delete_webhook(entry.hook).await {
                    debug!(hook = %entry.hook, "hook answered 410: {e}");
                }
                true
            }
            other => {
                let error = match other {
                    Ok(code) => format!("HTTP {code}"),
                    Err(e) => e,
                };
                if entry.attempts + 1 >= rt.config.max_attempts {
                    warn!(hook = %entry.hook, ev, id = %event_id, "webhook given up after {} attempts: {error}", entry.attempts + 1);
                    true
                } else {
                    let delay = rt
                        .config
                        .retry_delay
                        .saturating_mul(1u32 << entry.attempts.min(16))
                        .min(rt.config.max_delay);
                    debug!(hook = %entry.hook, ev, "webhook failed ({error}), again in {delay:?}");
                    if let Err(e) = rt.queue.retry(&entry.id, delay, &error).await {
                        warn!("cannot reschedule a webhook: {e}");
                    }
                    false
                }
            }
        };
        if done {
            if let Err(e) = rt.queue.complete(&entry.id).await {
                warn!("cannot complete a webhook entry: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Counts by hook, for tests of the bound.
    fn queued_per_hook(entries: &[QueuedWebhook]) -> HashMap<ObjectId, usize> {
        let mut out = HashMap::new();
        for e in entries {
            *out.entry(e.hook).or_insert(0) += 1;
        }
        out
    }

    #[test]
    fn patterns_of_an_event() {
        assert_eq!(
            event_patterns("marked.spam"),
            vec!["*", "marked.*", "marked.spam"]
        );
        assert_eq!(
            event_patterns("address.user.created"),
            vec!["*", "address.*", "address.user.*", "address.user.created"]
        );
        assert!(valid_pattern("*"));
        assert!(valid_pattern("user.*"));
        assert!(valid_pattern("marked.spam"));
        assert!(!valid_pattern(".*"));
        assert!(!valid_pattern("a..b"));
        assert!(!valid_pattern("a b"));
    }

    #[tokio::test]
    async fn memory_queue_bounds_leases_and_retries() {
        let q = MemoryWebhookQueue::default();
        let hook = ObjectId::new();
        assert!(q.push(hook, b"a".to_vec(), 2).await.expect("push"));
        assert!(q.push(hook, b"b".to_vec(), 2).await.expect("push"));
        assert!(!q.push(hook, b"c".to_vec(), 2).await.expect("full"));
        assert!(q
            .push(ObjectId::new(), b"d".to_vec(), 2)
            .await
            .expect("other hook"));
        let got = q.claim(10, Duration::from_secs(60)).await.expect("claim");
        assert_eq!(got.len(), 3);
        assert_eq!(queued_per_hook(&got)[&hook], 2);
        // Leased entries are not handed out again.
        assert!(q
            .claim(10, Duration::from_secs(60))
            .await
            .expect("claim")
            .is_empty());
        q.retry(&got[0].id, Duration::ZERO, "down")
            .await
            .expect("retry");
        let again = q.claim(10, Duration::from_secs(60)).await.expect("claim");
        assert_eq!((again.len(), again[0].attempts), (1, 1));
        q.complete(&got[0].id).await.expect("complete");
        assert_eq!(q.len(), 2);
    }
}
