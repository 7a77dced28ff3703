//! The service: accounts, authentication, mailboxes, messages and delivery rules.

mod addresses;
pub mod api;
mod audit;
mod auth;
mod body;
mod certs;
mod data;
mod delivery;
mod dkim;
mod domainaccess;
mod files;
mod imap_support;
mod lifecycle;
mod mailboxes;
mod messages;
mod metadata;
mod outbound;
mod pop3_support;
mod register;
pub mod security;
pub mod settings;
mod sort;
mod submit;
mod urlauth;
mod users;
pub mod webhooks;

use std::collections::HashMap;
use std::sync::Arc;

use eider_message::IngestOptions;

use crate::{Bus, Store};

pub use addresses::{NewAddress, ResolvedRecipient};
pub use audit::AuditExport;
pub use auth::{AuthMeta, AuthRequest, AuthSource, AuthSuccess, Protocol};
pub use body::BodyReader;
pub use certs::{NewCert, ServedCert};
pub use data::{
    DataExport, DataImport, DataRecord, ExportQuery, ExportedMessage, ImportCounts, ImportOutcome,
};
pub use delivery::{
    apply_filters, autoreply_allowed, compose_autoreply, is_spam, parsed_message_json, Autoreply,
    Deliverer, DeliveryConfig, DeliveryOutcome, Filter, FilterAction, FilterOutcome, FilterQuery,
    ForwardTarget, MailEnvelope, MessageFacts, Outbound, OutboundMessage, Recipient,
    RecipientCheck, RecipientTarget, SpamConfig, TargetPolicy, DEFAULT_MAX_FILTERS,
    DEFAULT_MAX_FORWARDS, DEFAULT_SPAM_LEVEL,
};
pub use delivery::{
    AutoreplyUpdate, FilterActionChange, FilterQueryChange, FilterUpdate, NewFilter, UserFilters,
};
pub use dkim::{DkimSigningKey, NewDkimKey};
pub use files::{content_type_for, NewFile};
pub use lifecycle::{RestoreInfo, UserDeletion, UserRestore};
pub use mailboxes::normalize_path;
pub use messages::AppendOptions;
pub use metadata::{
    metadata_entry_name, metadata_name, MetadataDepth, MetadataRefused, METADATA_MAX_ENTRIES,
    METADATA_MAX_SIZE,
};
pub use outbound::{queue_key, FailedRecipient, SmtpJob, SMTP_QUEUE};
pub use register::{MAX_REGISTER_LIMIT, MAX_REGISTER_QUERY};
pub use sort::{SortCriterion, SortKey, ThreadAlgorithm, ThreadNode};
pub use submit::{
    ForwardedTo, SmtpSubmission, SmtpSubmitted, StoredForward, Submission, Submitted,
    DEFAULT_MAX_RECIPIENTS, ORIGINAL_FROM_HEADER,
};
pub use urlauth::URLAUTH_MECHANISM;
pub use users::{NewUser, UserUpdate};

/// Server-wide rules the service applies.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Quota for users that have none set, in bytes: the default of the runtime
    /// setting `const:max:storage`, which is what the service reads.
    pub default_quota: u64,
    /// Largest message accepted by any path, in bytes.
    pub max_message_size: u64,
    /// Domain for addresses generated from usernames that are not addresses.
    pub email_domain: Option<String>,
    pub ingest: IngestOptions,
    /// Logins, rate limits, 2FA, tokens, auth log (`[auth]`).
    pub security: security::SecurityConfig,
    /// Defaults of runtime settings that configuration gives (`const:max:storage` from
    /// `maxStorage`, …), over WildDuck's constants; stored settings override both.
    pub settings: HashMap<String, serde_json::Value>,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            default_quota: 1024 * 1024 * 1024,
            max_message_size: 64 * 1024 * 1024,
            email_domain: None,
            ingest: IngestOptions::default(),
            security: security::SecurityConfig::default(),
            settings: HashMap::new(),
        }
    }
}

/// The authority over accounts and mail. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    config: ServiceConfig,
    /// Where submitted and forwarded mail goes (`[relay]`); None when sending is off.
    outbound: Option<Arc<dyn Outbound>>,
    /// Wakes this instance's queue workers when an entry is queued.
    queue_wakeup: Arc<tokio::sync::Notify>,
    /// Woken when this instance sets or deletes a TLS certificate.
    certs_changed: tokio::sync::Notify,
    /// This process's copy of the stored runtime settings.
    settings: Arc<settings::SettingsCache>,
    /// Webhook delivery; None: events are not recorded.
    webhooks: Option<Arc<webhooks::WebhookRuntime>>,
    /// This process's copy of the registered webhooks.
    hooks: Arc<webhooks::HookCache>,
}

impl Service {
    pub fn new(store: Arc<dyn Store>, bus: Arc<dyn Bus>, config: ServiceConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                bus,
                config,
                outbound: None,
                queue_wakeup: Arc::default(),
                certs_changed: tokio::sync::Notify::new(),
                settings: Arc::default(),
                webhooks: None,
                hooks: Arc::default(),
            }),
        }
    }

    /// The same service with sending on: submitted, forwarded and autoreply mail is
    /// queued (`queue_mail`) for the outbound workers, and `outbound` posts to HTTP
    /// targets. Call before sharing the service: clones made earlier keep none.
    pub fn with_outbound(self, outbound: Arc<dyn Outbound>) -> Self {
        self.rebuild(|inner| inner.outbound = Some(outbound))
    }

    /// The same service with one part changed (the builders above).
    fn rebuild(self, change: impl FnOnce(&mut Inner)) -> Self {
        let i = &self.inner;
        let mut inner = Inner {
            store: i.store.clone(),
            bus: i.bus.clone(),
            config: i.config.clone(),
            outbound: i.outbound.clone(),
            settings: i.settings.clone(),
            webhooks: i.webhooks.clone(),
            hooks: i.hooks.clone(),
            queue_wakeup: i.queue_wakeup.clone(),
            certs_changed: tokio::sync::Notify::new(),
        };
        change(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The outbound adapter, when sending is on.
    pub fn outbound(&self) -> Option<&Arc<dyn Outbound>> {
        self.inner.outbound.as_ref()
    }

    /// Gateways never reach the store: every read and write goes through a service call.
    pub(crate) fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    /// Await a store call, recording its latency in `eider_store_seconds{operation}`.
    pub(crate) async fn timed<T>(
        &self,
        operation: &'static str,
        call: impl std::future::Future<Output = T>,
    ) -> T {
        let started = std::time::Instant::now();
        let out = call.await;
        eider_net::metrics::observe(
            "eider_store_seconds",
            "Latency of store operations, by operation.",
            &[("operation", operation)],
            started.elapsed(),
        );
        out
    }

    pub fn bus(&self) -> &Arc<dyn Bus> {
        &self.inner.bus
    }

    pub fn config(&self) -> &ServiceConfig {
        &self.inner.config
    }
}
