//! Eider's service layer: the one place where the rules live. The HTTP API and
//! the IMAP, POP3 and LMTP gateways call it; it calls the Store and the Bus.

/// Lists conformance rules as named [`conformance::Rule`]s (module path + function
/// name), so a backend's harness runs each as its own test. Used by every area's
/// `rules()` in `conformance/`.
#[cfg(feature = "conformance")]
macro_rules! conformance_rules {
    ($($rule:ident),+ $(,)?) => {
        vec![$(
            $crate::conformance::Rule {
                name: concat!(module_path!(), "::", stringify!($rule)),
                run: |store| Box::pin($rule(store)),
            },
        )+]
    };
}
#[cfg(feature = "conformance")]
pub(crate) use conformance_rules;

mod bus;
#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
pub mod flags;
mod id;
pub mod model;
pub mod normalize;
mod service;
mod store;
mod store_audit;
mod store_auth;
mod store_certs;
mod store_dkim;
mod store_domainaccess;
mod store_files;
mod store_filters;
mod store_lifecycle;
mod store_metadata;
mod store_queue;
mod store_register;
mod store_settings;
mod store_webhooks;

pub use bus::{Bus, InProcessBus};
pub use error::{Error, Result, StoreError};
pub use id::{InvalidObjectId, ObjectId};
pub use service::api;
pub use service::security;
pub use service::settings;
pub use service::webhooks;
pub use service::AuditExport;
/// Delivery (LMTP, API upload): recipients, filters, spam, forwarding, autoreply.
pub use service::{
    apply_filters, autoreply_allowed, compose_autoreply, is_spam, parsed_message_json, Autoreply,
    Deliverer, DeliveryConfig, DeliveryOutcome, Filter, FilterAction, FilterOutcome, FilterQuery,
    ForwardTarget, MailEnvelope, MessageFacts, Outbound, OutboundMessage, Recipient,
    RecipientCheck, RecipientTarget, SpamConfig, TargetPolicy, DEFAULT_MAX_FILTERS,
    DEFAULT_MAX_FORWARDS, DEFAULT_SPAM_LEVEL,
};
pub use service::{
    content_type_for, normalize_path, AppendOptions, AuthMeta, AuthRequest, AuthSource,
    AuthSuccess, BodyReader, NewAddress, NewFile, NewUser, Protocol, ResolvedRecipient, Service,
    ServiceConfig, UserUpdate,
};
/// IMAP METADATA (RFC 5464) and URLAUTH (RFC 4467).
pub use service::{
    metadata_entry_name, metadata_name, MetadataDepth, MetadataRefused, METADATA_MAX_ENTRIES,
    METADATA_MAX_SIZE, URLAUTH_MECHANISM,
};
pub use service::{queue_key, FailedRecipient, SmtpJob, SMTP_QUEUE};
/// Filters and autoreply settings (their API and storage).
pub use service::{
    AutoreplyUpdate, FilterActionChange, FilterQueryChange, FilterUpdate, NewFilter, UserFilters,
};
/// Account export and import (POST /data/export, /data/import).
pub use service::{
    DataExport, DataImport, DataRecord, ExportQuery, ExportedMessage, ImportCounts, ImportOutcome,
};
pub use service::{DkimSigningKey, NewCert, NewDkimKey, ServedCert};
/// Sending mail for users (submit, stored drafts, forwards) and the address register.
pub use service::{
    ForwardedTo, SmtpSubmission, SmtpSubmitted, StoredForward, Submission, Submitted,
    DEFAULT_MAX_RECIPIENTS, MAX_REGISTER_LIMIT, MAX_REGISTER_QUERY, ORIGINAL_FROM_HEADER,
};
/// The mail lifecycle: archive, deferred user deletion and restore.
pub use service::{RestoreInfo, UserDeletion, UserRestore};
/// SORT and THREAD (RFC 5256, 5957).
pub use service::{SortCriterion, SortKey, ThreadAlgorithm, ThreadNode};
pub use store::{
    AddressRegisterStore, AddressStore, AuditStore, AuthStore, BlobStore, FilterSearch,
    FilterStore, MailboxStore, MessageStore, QueueStore, Store, StoreResult, UserStore,
};
pub use store_audit::Audit;
pub use store_auth::{
    AccessToken, Asp, AspUse, AuthEvent, AuthEventQuery, TwoFactor, WebauthnChallenge,
    WebauthnCredential,
};
pub use store_certs::{CertStore, TlsCert};
pub use store_dkim::{DkimAlgorithm, DkimKey, DkimStore};
pub use store_domainaccess::{DomainAccess, DomainAccessStore, DomainAction};
pub use store_files::{FileStore, StoredFile};
pub use store_lifecycle::{
    ArchivePaging, ArchiveStore, ArchivedMessage, DeletedUser, DeletedUserStore, LeaseStore,
    RestoredMessage, RestoredUser,
};
pub use store_queue::{Claim, QueueEntry};
pub mod jobs;
pub use store_metadata::{MetadataEntry, MetadataStore};
pub use store_register::{register_terms, RegisteredAddress, SeenAddress};
pub use store_settings::{SettingsStore, StoredSetting};
pub use store_webhooks::{Webhook, WebhookQuery, WebhookStore};

/// Re-exported so that gateways need not depend on the message crate directly.
pub use eider_message as message;
