//! What a session asks of the mail store: check a recipient, deliver a message.
//! [`ServiceBackend`] answers through the service layer's delivery rules; tests
//! use their own backend to drive the protocol alone.

use std::sync::Arc;

use async_trait::async_trait;
use eider_service::{Deliverer, DeliveryOutcome, Error, MailEnvelope, Recipient, RecipientCheck};
use tracing::{info, warn};

use crate::parser::MailParams;
use crate::reply::{self, Reply};

/// The envelope of the transaction being delivered.
#[derive(Debug, Clone)]
pub struct Transaction<R> {
    /// MAIL FROM; None for `<>`.
    pub sender: Option<String>,
    pub params: MailParams,
    /// The accepted recipients, in RCPT order.
    pub recipients: Vec<R>,
    /// The client's LHLO name and address, for logs.
    pub client: String,
}

#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// What an accepted recipient carries until DATA.
    type Recipient: Send + Sync + Clone + 'static;

    /// Resolve a recipient at RCPT time: the accepted recipient, or the refusal.
    async fn check_recipient(&self, rcpt: &str) -> Result<Self::Recipient, Reply>;

    /// Deliver `raw` to the transaction's recipients; exactly one reply per
    /// recipient, in order, each positive only once the copy is durably stored.
    async fn deliver(&self, tx: &Transaction<Self::Recipient>, raw: Vec<u8>) -> Vec<Reply>;
}

/// The real backend: the service layer's [`Deliverer`].
#[derive(Clone)]
pub struct ServiceBackend {
    deliverer: Arc<Deliverer>,
}

impl ServiceBackend {
    pub fn new(deliverer: Deliverer) -> Self {
        Self {
            deliverer: Arc::new(deliverer),
        }
    }
}

#[async_trait]
impl Backend for ServiceBackend {
    type Recipient = Recipient;

    async fn check_recipient(&self, rcpt: &str) -> Result<Recipient, Reply> {
        match self.deliverer.check_recipient(rcpt).await {
            Ok(RecipientCheck::Accepted(r)) => Ok(*r),
            Ok(RecipientCheck::Unknown) => Err(Reply::new(
                550,
                "5.1.1",
                "Unknown recipient: no such user here",
            )),
            Ok(RecipientCheck::Disabled) => Err(Reply::new(550, "5.2.1", "Mailbox disabled")),
            Ok(RecipientCheck::Suspended) => {
                Err(Reply::new(450, "4.2.1", "Mailbox temporarily disabled"))
            }
            Ok(RecipientCheck::OverQuota) => Err(over_quota()),
            Ok(RecipientCheck::ForwardingUnavailable) => Err(Reply::new(
                451,
                "4.3.0",
                "Forwarding is not available, try again later",
            )),
            Err(e) => {
                warn!("recipient check failed: {e}");
                Err(reply::temp_failure())
            }
        }
    }

    async fn deliver(&self, tx: &Transaction<Recipient>, raw: Vec<u8>) -> Vec<Reply> {
        let envelope = MailEnvelope {
            sender: tx.sender.clone(),
            origin: Some(tx.client.clone()),
        };
        let size = raw.len();
        let n = tx.recipients.len();
        match self.deliverer.deliver(&envelope, raw, &tx.recipients).await {
            Ok(outcomes) => tx
                .recipients
                .iter()
                .zip(outcomes)
                .map(|(r, o)| {
                    let reply = outcome_reply(&o);
                    let user = match &r.target {
                        eider_service::RecipientTarget::Local { user, .. } => user.to_hex(),
                        _ => String::new(),
                    };
                    info!(
                        event = "delivery",
                        user = %user,
                        outcome = reply.code,
                        client = %tx.client,
                        from = tx.sender.as_deref().unwrap_or("<>"),
                        rcpt = %r.rcpt,
                        size,
                        "delivery: {}",
                        reply.lines.first().map(|l| l.as_ref()).unwrap_or("")
                    );
                    reply
                })
                .collect(),
            Err(e) => {
                let reply = match e {
                    Error::MessageTooLarge => reply::too_big(),
                    Error::EmptyMessage => {
                        Reply::new(554, "5.6.0", "Message is empty or cannot be parsed")
                    }
                    e => {
                        warn!(client = %tx.client, "delivery failed: {e}");
                        reply::temp_failure()
                    }
                };
                vec![reply; n]
            }
        }
    }
}

fn over_quota() -> Reply {
    Reply::new(452, "4.2.2", "Mailbox is full")
}

/// The per-recipient reply after DATA.
pub fn outcome_reply(outcome: &DeliveryOutcome) -> Reply {
    match outcome {
        DeliveryOutcome::Stored {
            id,
            duplicate: false,
            ..
        } => Reply::new(250, "2.0.0", format!("Message stored as {id}")),
        DeliveryOutcome::Stored {
            id,
            duplicate: true,
            ..
        } => Reply::new(250, "2.0.0", format!("Message already stored as {id}")),
        DeliveryOutcome::Forwarded { .. } => Reply::new(250, "2.1.5", "Message forwarded"),
        DeliveryOutcome::Dropped => Reply::new(250, "2.0.0", "Message dropped by filter"),
        DeliveryOutcome::OverQuota => over_quota(),
        DeliveryOutcome::Refused {
            permanent: true,
            reason,
        } => Reply::new(550, "5.2.1", reason.clone()),
        DeliveryOutcome::Refused {
            permanent: false,
            reason,
        } => Reply::new(450, "4.2.1", reason.clone()),
        DeliveryOutcome::Failed(_) => reply::temp_failure(),
    }
}
