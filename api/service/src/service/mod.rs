//! The service: accounts, authentication, mailboxes, messages and delivery rules.

mod addresses;
pub mod api;
mod audit;
mod auth;
mod body;
mod data;
mod certs;
mod delivery;
mod dkim;
mod files;
mod imap_support;
mod lifecycle;
mod mailboxes;
mod messages;
mod outbound;
mod pop3_support;
mod register;
pub mod security;
mod submit;
mod users;

use std::sync::Arc;

use eider_message::IngestOptions;

use crate::{Bus, Store};

pub use addresses::{NewAddress, ResolvedRecipient};
pub use audit::AuditExport;
pub use auth::{AuthMeta, AuthRequest, AuthSource, AuthSuccess, Protocol};
pub use body::BodyReader;
pub use data::{
    DataExport, DataImport, DataRecord, ExportQuery, ExportedMessage, ImportCounts, ImportOutcome,
};
pub use certs::{NewCert, ServedCert};
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
pub use outbound::{queue_key, FailedRecipient, SmtpJob, SMTP_QUEUE};
pub use register::{MAX_REGISTER_LIMIT, MAX_REGISTER_QUERY};
pub use submit::{ForwardedTo, StoredForward, Submission, Submitted, DEFAULT_MAX_RECIPIENTS};
pub use users::{NewUser, UserUpdate};

/// Server-wide rules the service applies.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Quota for users that have none set, in bytes.
    pub default_quota: u64,
    /// Largest message accepted by any path, in bytes.
    pub max_message_size: u64,
    /// Domain for addresses generated from usernames that are not addresses.
    pub email_domain: Option<String>,
    pub ingest: IngestOptions,
    /// Logins, rate limits, 2FA, tokens, auth log (`[auth]`).
    pub security: security::SecurityConfig,
    /// How long deleted messages stay in the archive (`[archive] time`, WildDuck's
    /// `const:archive:time`); zero: deleted messages are gone at once.
    pub archive_time: std::time::Duration,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            default_quota: 1024 * 1024 * 1024,
            max_message_size: 64 * 1024 * 1024,
            email_domain: None,
            ingest: IngestOptions::default(),
            security: security::SecurityConfig::default(),
            archive_time: std::time::Duration::from_secs(25 * 24 * 3600),
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
            }),
        }
    }

    /// The same service with sending on: submitted, forwarded and autoreply mail is
    /// queued (`queue_mail`) for the outbound workers, and `outbound` posts to HTTP
    /// targets. Call before sharing the service: clones made earlier keep none.
    pub fn with_outbound(self, outbound: Arc<dyn Outbound>) -> Self {
        Self {
            inner: Arc::new(Inner {
                store: self.inner.store.clone(),
                bus: self.inner.bus.clone(),
                config: self.inner.config.clone(),
                outbound: Some(outbound),
                queue_wakeup: self.inner.queue_wakeup.clone(),
                certs_changed: tokio::sync::Notify::new(),
            }),
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
