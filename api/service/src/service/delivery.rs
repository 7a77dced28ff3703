//! Delivery: the rules every path that brings mail in applies (LMTP today, the
//! API's upload and submit reuse the parts that fit).
//!
//! The pipeline: recipients are resolved and checked when they are named
//! ([`Deliverer::check_recipient`]: unknown, disabled, suspended and over-quota
//! accounts are refused there, never accepted and bounced later); the message is
//! ingested once; then for each distinct recipient, in order: account checks
//! again, filters, the spam decision, forwarding, autoreply, the target mailbox,
//! and the append (quota enforced atomically by the store, duplicates by
//! Message-ID suppressed). Each recipient gets its own outcome, so one full
//! mailbox never costs the others their copy.

mod autoreply;
mod filters;
mod forward;
mod rules;
mod spam;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tracing::{debug, warn};

use super::{settings, AppendOptions, Service};
use crate::model::{Address, Mailbox, NewContent, SearchKey, SearchQuery, SpecialUse, User};
use crate::{Error, ObjectId, Result};

pub use autoreply::{autoreply_allowed, compose_autoreply, Autoreply};
pub use filters::{
    apply_filters, Filter, FilterAction, FilterOutcome, FilterQuery, MessageFacts,
    DEFAULT_MAX_FILTERS,
};
pub use forward::{parsed_message_json, ForwardTarget, Outbound, OutboundMessage, TargetPolicy};
pub use rules::{
    AutoreplyUpdate, FilterActionChange, FilterQueryChange, FilterUpdate, NewFilter, UserFilters,
};
pub use spam::{is_spam, SpamConfig, DEFAULT_SPAM_LEVEL};

/// WildDuck's default daily forward limit for users without `limits.forwards`.
pub const DEFAULT_MAX_FORWARDS: u64 = 2000;
/// How many recipients of one message are stored concurrently.
const RECIPIENT_CONCURRENCY: usize = 8;

/// Delivery settings (the `[spam]` section and the autoreply period).
#[derive(Debug, Clone, Default)]
pub struct DeliveryConfig {
    pub spam: SpamConfig,
    /// A message whose Message-ID is already in the target mailbox is not stored
    /// again when that copy arrived within this window (None: however old it is).
    pub duplicate_window: Option<Duration>,
}

/// The envelope of a message being delivered.
#[derive(Debug, Clone, Default)]
pub struct MailEnvelope {
    /// MAIL FROM; None for the null sender `<>`.
    pub sender: Option<String>,
    /// Where it came from (client name/address), for logs.
    pub origin: Option<String>,
}

/// A recipient accepted at RCPT time.
#[derive(Debug, Clone, PartialEq)]
pub struct Recipient {
    /// The address as the client named it.
    pub rcpt: String,
    pub target: RecipientTarget,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RecipientTarget {
    /// A local account; `address` is the record that matched.
    Local { user: ObjectId, address: Address },
    /// A forwarded address: copies go to its targets.
    Forward { address: Address },
}

impl RecipientTarget {
    fn key(&self) -> (bool, ObjectId) {
        match self {
            RecipientTarget::Local { user, .. } => (true, *user),
            RecipientTarget::Forward { address } => (false, address.id),
        }
    }
}

/// The answer to a recipient named at RCPT time.
#[derive(Debug, Clone, PartialEq)]
pub enum RecipientCheck {
    Accepted(Box<Recipient>),
    /// No such address (or an empty forwarded address): permanent.
    Unknown,
    /// The account is disabled: permanent.
    Disabled,
    /// The account is suspended: temporary (it may be re-enabled).
    Suspended,
    /// The account is already over quota: temporary.
    OverQuota,
    /// A forwarded address while no outbound relay is configured: temporary.
    ForwardingUnavailable,
}

/// What happened to the message for one recipient.
#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryOutcome {
    /// Stored (or found already stored: `duplicate`).
    Stored {
        id: ObjectId,
        mailbox: ObjectId,
        path: String,
        uid: u32,
        duplicate: bool,
        junk: bool,
    },
    /// A forwarded address: handed to the relay for every target.
    Forwarded { targets: usize },
    /// A filter said not to store it.
    Dropped,
    /// The mailbox is full: temporary.
    OverQuota,
    /// The account can no longer receive mail.
    Refused { permanent: bool, reason: String },
    /// A server-side failure: temporary, the sender should retry.
    Failed(String),
}

impl DeliveryOutcome {
    /// The `result` label of `eider_deliveries_total`.
    pub fn metric_label(&self) -> &'static str {
        match self {
            DeliveryOutcome::Stored {
                duplicate: true, ..
            } => "duplicate",
            DeliveryOutcome::Stored { junk: true, .. } => "junk",
            DeliveryOutcome::Stored { .. } => "stored",
            DeliveryOutcome::Forwarded { .. } => "forwarded",
            DeliveryOutcome::Dropped => "dropped",
            DeliveryOutcome::OverQuota => "overquota",
            DeliveryOutcome::Refused { .. } => "refused",
            DeliveryOutcome::Failed(_) => "failed",
        }
    }
}

/// Runs deliveries with one configuration. Cheap to clone.
#[derive(Clone)]
pub struct Deliverer {
    service: Service,
    config: Arc<DeliveryConfig>,
    outbound: Option<Arc<dyn Outbound>>,
}

/// A message ingested once for all its recipients.
struct Prepared {
    content: NewContent,
    raw: Arc<Vec<u8>>,
    header_spam: bool,
}

impl Deliverer {
    pub fn new(service: Service, config: DeliveryConfig) -> Self {
        Self {
            service,
            config: Arc::new(config),
            outbound: None,
        }
    }

    /// Where forwards and autoreplies go; without it forwarded addresses are refused
    /// (temporarily) and users' forwards and autoreplies are skipped.
    pub fn with_outbound(mut self, outbound: Arc<dyn Outbound>) -> Self {
        self.outbound = Some(outbound);
        self
    }

    pub fn service(&self) -> &Service {
        &self.service
    }

    /// Resolve and check a recipient when it is named (RCPT TO).
    pub async fn check_recipient(&self, rcpt: &str) -> Result<RecipientCheck> {
        let Some(address) = self.service.lookup_address(rcpt).await? else {
            return Ok(RecipientCheck::Unknown);
        };
        let Some(user_id) = address.user else {
            if address.targets.is_empty() {
                return Ok(RecipientCheck::Unknown);
            }
            if self.outbound.is_none() {
                return Ok(RecipientCheck::ForwardingUnavailable);
            }
            return Ok(RecipientCheck::Accepted(Box::new(Recipient {
                rcpt: rcpt.to_string(),
                target: RecipientTarget::Forward { address },
            })));
        };
        let user = match self.service.get_user(user_id).await {
            Ok(u) => u,
            Err(Error::UserNotFound) => return Ok(RecipientCheck::Unknown),
            Err(e) => return Err(e),
        };
        if let Some(refusal) = account_refusal(&user) {
            return Ok(refusal);
        }
        if user.storage_used >= self.service.quota_limit(&user).await {
            return Ok(RecipientCheck::OverQuota);
        }
        Ok(RecipientCheck::Accepted(Box::new(Recipient {
            rcpt: rcpt.to_string(),
            target: RecipientTarget::Local {
                user: user_id,
                address,
            },
        })))
    }

    /// Deliver one message to its accepted recipients; one outcome per recipient,
    /// in order. Fails as a whole only when the message itself is unacceptable
    /// (empty, too large, unparseable) or cannot be ingested.
    pub async fn deliver(
        &self,
        envelope: &MailEnvelope,
        raw: Vec<u8>,
        recipients: &[Recipient],
    ) -> Result<Vec<DeliveryOutcome>> {
        if raw.is_empty() {
            return Err(Error::EmptyMessage);
        }
        if raw.len() as u64 > self.service.config().max_message_size {
            return Err(Error::MessageTooLarge);
        }
        // Service::ingest, keeping the raw bytes (forwards send them as they are)
        // instead of copying them first.
        let opts = self.service.config().ingest.clone();
        let (raw, ingested) = tokio::task::spawn_blocking(move || {
            let r = eider_message::ingest(&raw, &opts);
            (raw, r)
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
        let ingested = ingested.map_err(|_| Error::EmptyMessage)?;
        let header_spam = self.config.spam.header_says_spam(&ingested.index.headers);
        let prepared = Prepared {
            content: NewContent {
                index: ingested.index,
                layout: ingested.layout,
                skeleton: ingested.skeleton,
                blobs: ingested.blobs,
            },
            raw: Arc::new(raw),
            header_spam,
        };

        // The same account named twice (aliases, +labels) gets one copy.
        let mut first_of: HashMap<(bool, ObjectId), usize> = HashMap::new();
        let mut distinct: Vec<&Recipient> = Vec::new();
        let slots: Vec<usize> = recipients
            .iter()
            .map(|r| {
                *first_of.entry(r.target.key()).or_insert_with(|| {
                    distinct.push(r);
                    distinct.len() - 1
                })
            })
            .collect();
        // Futures are built up front (not inside a stream closure) so the whole
        // future stays Send for callers behind async-trait.
        let pending: Vec<_> = distinct
            .into_iter()
            .map(|r| self.deliver_one(envelope, &prepared, r))
            .collect();
        let outcomes: Vec<DeliveryOutcome> = futures::stream::iter(pending)
            .buffered(RECIPIENT_CONCURRENCY)
            .collect()
            .await;
        for o in &outcomes {
            eider_net::metrics::inc(
                "eider_deliveries_total",
                "Deliveries per distinct recipient account, by result.",
                &[("result", o.metric_label())],
            );
        }
        Ok(slots
            .into_iter()
            .map(|i| {
                outcomes
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| DeliveryOutcome::Failed("delivery was not attempted".into()))
            })
            .collect())
    }

    async fn deliver_one(
        &self,
        envelope: &MailEnvelope,
        prepared: &Prepared,
        recipient: &Recipient,
    ) -> DeliveryOutcome {
        let result = match &recipient.target {
            RecipientTarget::Local { user, .. } => {
                self.deliver_local(envelope, prepared, &recipient.rcpt, *user)
                    .await
            }
            RecipientTarget::Forward { address } => {
                self.deliver_forwarded(envelope, prepared, &recipient.rcpt, address)
                    .await
            }
        };
        result.unwrap_or_else(|e| match e {
            Error::OverQuota => DeliveryOutcome::OverQuota,
            Error::UserNotFound => DeliveryOutcome::Refused {
                permanent: true,
                reason: "No such user".into(),
            },
            e => {
                warn!(rcpt = %recipient.rcpt, "delivery failed: {e}");
                DeliveryOutcome::Failed(e.to_string())
            }
        })
    }

    async fn deliver_local(
        &self,
        envelope: &MailEnvelope,
        prepared: &Prepared,
        rcpt: &str,
        user_id: ObjectId,
    ) -> Result<DeliveryOutcome> {
        let user = self.service.get_user(user_id).await?;
        match account_refusal(&user) {
            Some(RecipientCheck::Disabled) => {
                return Ok(DeliveryOutcome::Refused {
                    permanent: true,
                    reason: "Mailbox disabled".into(),
                })
            }
            Some(_) => {
                return Ok(DeliveryOutcome::Refused {
                    permanent: false,
                    reason: "Mailbox temporarily disabled".into(),
                })
            }
            None => {}
        }
        let index = &prepared.content.index;
        let filters = self
            .service
            .delivery_filters(user_id)
            .await
            .unwrap_or_else(|e| {
                // As in WildDuck: a failure to load filters does not stop delivery.
                warn!(user = %user_id, "cannot load filters: {e}");
                Vec::new()
            });
        let outcome = apply_filters(&filters, &MessageFacts::from(index));
        // The user's tags' domain access lists decide before the filters (WildDuck's
        // order): a blocked sender is spam, an allowed one never is by the header test.
        let access = match index.from.first().or(index.sender.first()) {
            Some(from) => self
                .service
                .sender_access(&user, &from.address)
                .await
                .unwrap_or_else(|e| {
                    warn!(user = %user_id, "cannot read domain access lists: {e}");
                    None
                }),
            None => None,
        };
        let decided = match &access {
            Some(a) => Some(a.action == crate::DomainAction::Block),
            None => outcome.spam,
        };
        let junk = is_spam(prepared.header_spam, user.profile.spam_level, decided);

        // Forwarding: the filters' targets, plus the user's own unless a filter deleted it.
        let mut targets = outcome.targets.clone();
        if !outcome.delete {
            for t in &user.profile.targets {
                if !targets.contains(t) {
                    targets.push(t.clone());
                }
            }
        }
        if !targets.is_empty() && !junk {
            self.forward_for_user(envelope, prepared, rcpt, &user, &targets)
                .await;
        }
        if !junk {
            self.autoreply_for_user(envelope, prepared, rcpt, &user)
                .await;
        }
        if outcome.delete {
            debug!(user = %user_id, "message dropped by filter");
            return Ok(DeliveryOutcome::Dropped);
        }

        let mailboxes = self.service.list_mailboxes(user_id).await?;
        let target =
            choose_mailbox(&mailboxes, outcome.mailbox, junk).ok_or(Error::NoSuchMailbox)?;
        let mut flags = Vec::new();
        if outcome.seen {
            flags.push(crate::flags::SEEN.to_string());
        }
        if outcome.flag {
            flags.push(crate::flags::FLAGGED.to_string());
        }
        let options = AppendOptions {
            flags,
            dedupe_message_id: true,
            ..Default::default()
        };
        let content = self.delivered_to(prepared, rcpt, &user).await?;
        let mut appended = self
            .service
            .append_content(user_id, target.id, content.clone(), options.clone())
            .await?;
        if appended.duplicate && !self.recent_copy(user_id, target.id, index).await? {
            // The earlier copy is older than the window: this is a new delivery.
            appended = self
                .service
                .append_content(
                    user_id,
                    target.id,
                    content,
                    AppendOptions {
                        dedupe_message_id: false,
                        ..options
                    },
                )
                .await?;
        }
        // Who writes to the user goes to the address register too (WildDuck's
        // delivery records the From); not for junk, nor twice for one copy.
        if !appended.duplicate && target.special_use != Some(SpecialUse::Junk) {
            self.service
                .record_seen(user_id, super::register::seen_senders(index))
                .await;
        }
        Ok(DeliveryOutcome::Stored {
            id: appended.id,
            mailbox: target.id,
            path: target.path.clone(),
            uid: appended.uid,
            duplicate: appended.duplicate,
            junk: target.special_use == Some(SpecialUse::Junk),
        })
    }

    /// The stored form of a local delivery: the received bytes (encrypted to the
    /// user's key when they asked for it) with a `Delivered-To:` line for this
    /// recipient in front, as WildDuck adds (outside the encryption, as there).
    /// The prefixed message is ingested again so offsets and sizes hold; its
    /// attachments hash to the same blobs, so the store still shares them.
    async fn delivered_to(
        &self,
        prepared: &Prepared,
        rcpt: &str,
        user: &User,
    ) -> Result<NewContent> {
        let sealed;
        let body: &[u8] = if Service::encrypts_storage(user, false) {
            sealed = self
                .service
                .sealed_for_storage(user, prepared.raw.to_vec(), false)
                .await?;
            &sealed
        } else {
            &prepared.raw
        };
        // An RCPT address has no line breaks; drop any so the header stays one line.
        let rcpt: String = rcpt.chars().filter(|c| !c.is_control()).collect();
        let mut raw = Vec::with_capacity(body.len() + rcpt.len() + 16);
        raw.extend_from_slice(b"Delivered-To: ");
        raw.extend_from_slice(rcpt.as_bytes());
        raw.extend_from_slice(b"\r\n");
        raw.extend_from_slice(body);
        self.service.ingest_accepted(raw).await
    }

    /// Whether a copy with this message's Message-ID arrived in the mailbox within
    /// the duplicate window (always true without a window).
    async fn recent_copy(
        &self,
        user: ObjectId,
        mailbox: ObjectId,
        index: &eider_message::MessageIndex,
    ) -> Result<bool> {
        let (Some(window), Some(message_id)) = (self.config.duplicate_window, &index.message_id)
        else {
            return Ok(true);
        };
        let since = chrono::Utc::now()
            - chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
        let copies = self
            .service
            .search(&SearchQuery {
                user,
                mailbox: Some(mailbox),
                key: SearchKey::Header("Message-ID".into(), message_id.clone()),
            })
            .await?;
        Ok(copies
            .iter()
            .any(|m| m.message_id.as_ref() == Some(message_id) && m.internal_date >= since))
    }

    /// A forwarded address: every target must accept, else the sender retries.
    async fn deliver_forwarded(
        &self,
        envelope: &MailEnvelope,
        prepared: &Prepared,
        rcpt: &str,
        address: &Address,
    ) -> Result<DeliveryOutcome> {
        let Some(outbound) = &self.outbound else {
            return Ok(DeliveryOutcome::Failed(
                "forwarding is not configured".into(),
            ));
        };
        let limit = match address.forwards.filter(|f| *f > 0) {
            Some(l) => l,
            None => self.service.setting_u64(settings::keys::MAX_FORWARDS).await,
        };
        let key = format!("wdf:{}", address.id);
        let count = address.targets.len() as i64;
        let used = self
            .service
            .bus()
            .counter_add(&key, count, Duration::from_secs(24 * 3600))
            .await;
        if used > limit as i64 {
            self.service
                .bus()
                .counter_add(&key, -count, Duration::from_secs(24 * 3600))
                .await;
            return Ok(DeliveryOutcome::Refused {
                permanent: false,
                reason: "Forwarding limit reached for this address".into(),
            });
        }
        for target in &address.targets {
            let parsed = ForwardTarget::parse(target)?;
            self.send_to_target(
                outbound.as_ref(),
                envelope,
                prepared,
                &prepared.raw,
                rcpt,
                &parsed,
            )
            .await?;
        }
        Ok(DeliveryOutcome::Forwarded {
            targets: address.targets.len(),
        })
    }

    /// A user's forwards: best effort (failures are logged, the local copy stays).
    async fn forward_for_user(
        &self,
        envelope: &MailEnvelope,
        prepared: &Prepared,
        rcpt: &str,
        user: &User,
        targets: &[String],
    ) {
        let Some(outbound) = &self.outbound else {
            warn!(user = %user.id, "forwarding targets set but no relay configured");
            return;
        };
        let limit = match user.profile.limits.forwards.filter(|f| *f > 0) {
            Some(l) => l,
            None => self.service.setting_u64(settings::keys::MAX_FORWARDS).await,
        };
        let key = format!("wdf:{}", user.id);
        let count = targets.len() as i64;
        let ttl = Duration::from_secs(24 * 3600);
        if self.service.bus().counter_add(&key, count, ttl).await > limit as i64 {
            self.service.bus().counter_add(&key, -count, ttl).await;
            warn!(user = %user.id, "daily forward limit reached; not forwarding");
            return;
        }
        // encryptForwarded: the targets get the message encrypted to the user's key.
        let raw = self
            .service
            .sealed_for_forwarding(user, &prepared.raw)
            .await;
        for t in targets {
            let result = match ForwardTarget::parse(t) {
                Ok(target) => {
                    self.send_to_target(outbound.as_ref(), envelope, prepared, &raw, rcpt, &target)
                        .await
                }
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                warn!(user = %user.id, target = %t, "forward failed: {e}");
            }
        }
    }

    async fn autoreply_for_user(
        &self,
        envelope: &MailEnvelope,
        prepared: &Prepared,
        rcpt: &str,
        user: &User,
    ) {
        let (Some(_), Some(sender)) = (&self.outbound, envelope.sender.as_deref()) else {
            return;
        };
        let settings = match self.service.delivery_autoreply(user.id).await {
            Ok(Some(a)) => a,
            Ok(None) => return,
            Err(e) => {
                warn!(user = %user.id, "cannot load autoreply: {e}");
                return;
            }
        };
        let index = &prepared.content.index;
        if !autoreply_allowed(&settings, sender, &index.headers, chrono::Utc::now()) {
            return;
        }
        // The `const:autoreply:interval` setting (ms); `[lmtp] autoreplyInterval` is its default.
        let interval = Duration::from_millis(
            self.service
                .setting_u64(settings::keys::AUTOREPLY_INTERVAL)
                .await
                .max(1),
        );
        let key = format!("wda:{}:{}", user.id, sender.to_lowercase());
        if self.service.bus().counter_add(&key, 1, interval).await > 1 {
            debug!(user = %user.id, "autoreply already sent to {sender} in this period");
            return;
        }
        let from = if user.address.is_empty() {
            rcpt
        } else {
            user.address.as_str()
        };
        let raw = compose_autoreply(&settings, from, sender, index, chrono::Utc::now());
        let message = OutboundMessage {
            from: None,
            to: vec![sender.to_string()],
            via: None,
            raw: Arc::new(raw),
        };
        if let Err(e) = self.service.queue_mail(None, message, None).await {
            warn!(user = %user.id, "autoreply failed: {e}");
        }
    }

    /// Mail targets are queued (the queue delivers and retries) with `raw`; HTTP
    /// targets are posted at once (the parsed message).
    async fn send_to_target(
        &self,
        outbound: &dyn Outbound,
        envelope: &MailEnvelope,
        prepared: &Prepared,
        raw: &Arc<Vec<u8>>,
        rcpt: &str,
        target: &ForwardTarget,
    ) -> Result<()> {
        let (to, via) = match target {
            ForwardTarget::Mail(addr) => (addr.clone(), None),
            ForwardTarget::Relay(url) => (rcpt.to_string(), Some(url.clone())),
            ForwardTarget::Http(url) => {
                let payload =
                    parsed_message_json(&prepared.content.index, envelope.sender.as_deref(), rcpt);
                return outbound.post(url, payload).await;
            }
        };
        let message = OutboundMessage {
            from: envelope.sender.clone(),
            to: vec![to],
            via,
            raw: raw.clone(),
        };
        self.service
            .queue_mail(None, message, None)
            .await
            .map(|_| ())
    }
}

/// Disabled accounts are refused for good, suspended ones for now.
fn account_refusal(user: &User) -> Option<RecipientCheck> {
    if user.disabled {
        Some(RecipientCheck::Disabled)
    } else if user.suspended {
        Some(RecipientCheck::Suspended)
    } else {
        None
    }
}

/// A filter's mailbox when it still exists, else Junk for spam, else INBOX.
fn choose_mailbox(mailboxes: &[Mailbox], wanted: Option<ObjectId>, junk: bool) -> Option<&Mailbox> {
    let inbox = || mailboxes.iter().find(|m| m.is_inbox());
    if let Some(m) = wanted.and_then(|id| mailboxes.iter().find(|m| m.id == id)) {
        if !junk {
            return Some(m);
        }
    }
    if junk {
        if let Some(m) = mailboxes
            .iter()
            .find(|m| m.special_use == Some(SpecialUse::Junk))
        {
            return Some(m);
        }
    }
    inbox()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mailbox(path: &str, special: Option<SpecialUse>) -> Mailbox {
        Mailbox {
            id: ObjectId::new(),
            user: ObjectId::new(),
            path: path.into(),
            special_use: special,
            uid_validity: 1,
            uid_next: 1,
            modify_index: 0,
            subscribed: true,
            retention: 0,
            hidden: false,
            created: chrono::Utc::now(),
        }
    }

    #[test]
    fn target_mailbox_follows_filters_then_spam_then_inbox() {
        let boxes = vec![
            mailbox("INBOX", None),
            mailbox("Junk", Some(SpecialUse::Junk)),
            mailbox("Lists", None),
        ];
        let path = |wanted, junk| choose_mailbox(&boxes, wanted, junk).map(|m| m.path.clone());
        assert_eq!(path(None, false).as_deref(), Some("INBOX"));
        assert_eq!(path(None, true).as_deref(), Some("Junk"));
        assert_eq!(path(Some(boxes[2].id), false).as_deref(), Some("Lists"));
        assert_eq!(path(Some(boxes[2].id), true).as_deref(), Some("Junk"));
        assert_eq!(path(Some(ObjectId::new()), false).as_deref(), Some("INBOX"));
        let no_junk = vec![mailbox("INBOX", None)];
        assert_eq!(
            choose_mailbox(&no_junk, None, true).map(|m| m.path.as_str()),
            Some("INBOX")
        );
    }
}
