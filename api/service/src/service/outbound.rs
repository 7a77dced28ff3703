//! The outbound queue's rules: how a message to send becomes queue entries (one
//! per recipient domain, or per `smtp://` target, sharing one queue id), what a
//! worker may do with them, and what a failure produces (a DSN in the sender's
//! INBOX, or one sent back to a remote sender). The network side (SMTP, MX, TLS,
//! DKIM) is the outbound adapter's (`eider-outbound`); it claims entries through
//! these calls.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use super::delivery::OutboundMessage;
use super::{AppendOptions, Service};
use crate::normalize::parse_address;
use crate::{Claim, Error, ObjectId, QueueEntry, Result};

/// The queue kind of outbound SMTP deliveries.
pub const SMTP_QUEUE: &str = "smtp";

/// What one SMTP queue entry carries: the envelope for one next hop, and the message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SmtpJob {
    /// Envelope sender; None for the null sender `<>` (bounces, autoreplies).
    pub from: Option<String>,
    /// Recipients that share the next hop (one domain, or one `smtp://` target).
    pub to: Vec<String>,
    /// Deliver to this `smtp://host:port` instead of the relay or MX.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    /// When the message was first queued (expiry counts from here).
    pub queued: DateTime<Utc>,
    /// The message, sent as it is.
    #[serde(skip)]
    pub raw: Vec<u8>,
}

impl SmtpJob {
    /// The payload bytes: the envelope as one JSON line, then the message.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec(self).unwrap_or_default();
        out.push(b'\n');
        out.extend_from_slice(&self.raw);
        out
    }

    pub fn decode(payload: &[u8]) -> Result<Self> {
        let nl = payload
            .iter()
            .position(|b| *b == b'\n')
            .ok_or_else(|| Error::Internal("queue entry without an envelope".into()))?;
        let mut job: SmtpJob = serde_json::from_slice(&payload[..nl])
            .map_err(|e| Error::Internal(format!("queue entry envelope: {e}")))?;
        job.raw = payload[nl + 1..].to_vec();
        Ok(job)
    }
}

/// The grouping key of a recipient: its domain (lowercase), or the target URL.
/// (The outbound adapter may route otherwise: `Outbound::route`.)
pub fn queue_key(rcpt: &str, via: Option<&str>) -> String {
    match via {
        Some(url) => format!("via:{url}"),
        None => rcpt
            .rsplit_once('@')
            .map_or(String::new(), |(_, d)| d.trim().to_ascii_lowercase()),
    }
}

/// How a recipient failed for good, for the DSN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedRecipient {
    pub address: String,
    /// RFC 3463 status ("5.1.1"; "4.4.7" when the message expired in the queue).
    pub status: String,
    pub diagnostic: String,
    pub remote_mta: Option<String>,
}

impl Service {
    /// Queue `message` for delivery, not before `send_time` (now when None): one
    /// entry per next hop, committed together. Returns the queue id (shared by the
    /// entries; what `cancel_outbound` takes). `owner` may cancel it.
    pub async fn queue_mail(
        &self,
        owner: Option<ObjectId>,
        message: OutboundMessage,
        send_time: Option<DateTime<Utc>>,
    ) -> Result<String> {
        let group = ObjectId::new().to_hex();
        self.queue_mail_in(&group, owner, message, send_time)
            .await?;
        Ok(group)
    }

    /// `queue_mail` under a queue id of the caller's (several messages, one id).
    pub(crate) async fn queue_mail_in(
        &self,
        group: &str,
        owner: Option<ObjectId>,
        message: OutboundMessage,
        send_time: Option<DateTime<Utc>>,
    ) -> Result<()> {
        if message.to.is_empty() {
            return Err(Error::Validation("the message has no recipients".into()));
        }
        let now = Utc::now();
        let mut hops: Vec<(String, Vec<String>)> = Vec::new();
        for rcpt in &message.to {
            let key = match self.outbound() {
                Some(o) => o.route(rcpt, message.via.as_deref()),
                None => queue_key(rcpt, message.via.as_deref()),
            };
            match hops.iter_mut().find(|(k, _)| *k == key) {
                Some((_, list)) => list.push(rcpt.clone()),
                None => hops.push((key, vec![rcpt.clone()])),
            }
        }
        let entries: Vec<QueueEntry> = hops
            .into_iter()
            .map(|(key, to)| {
                let job = SmtpJob {
                    from: message.from.clone(),
                    to,
                    via: message.via.clone(),
                    queued: now,
                    raw: message.raw.as_ref().clone(),
                };
                QueueEntry {
                    id: ObjectId::new(),
                    kind: SMTP_QUEUE.into(),
                    key,
                    group: group.to_string(),
                    owner,
                    payload: job.encode(),
                    not_before: send_time.filter(|t| *t > now).unwrap_or(now),
                    attempts: 0,
                    last_error: None,
                    created: now,
                    lease: None,
                }
            })
            .collect();
        self.store().enqueue(&entries).await?;
        self.inner.queue_wakeup.notify_waiters();
        Ok(())
    }

    /// Wakes workers when an entry is queued on this instance (others poll).
    pub fn queue_wakeup(&self) -> Arc<tokio::sync::Notify> {
        self.inner.queue_wakeup.clone()
    }

    /// Cancel the entries of queue id `group` that belong to `user`; how many went.
    pub async fn cancel_outbound(&self, user: ObjectId, group: &str) -> Result<u64> {
        Ok(self.store().cancel(group, user).await?)
    }

    /// Lease due entries for a worker (see `QueueStore::claim`).
    pub async fn claim_queued(&self, claim: &Claim<'_>) -> Result<Vec<QueueEntry>> {
        Ok(self.store().claim(claim).await?)
    }

    /// A worker finished with an entry (delivered, or failed and reported).
    pub async fn complete_queued(&self, id: ObjectId, worker: &str) -> Result<bool> {
        Ok(self.store().complete(id, worker).await?)
    }

    /// A worker gives an entry back to be tried at `not_before`.
    pub async fn retry_queued(
        &self,
        id: ObjectId,
        worker: &str,
        not_before: DateTime<Utc>,
        error: &str,
    ) -> Result<bool> {
        Ok(self
            .store()
            .reschedule(id, worker, not_before, error)
            .await?)
    }

    /// Replace a leased entry by one for the recipients still to try (some were
    /// delivered or failed for good): the new entry is committed before the old one
    /// goes, so a crash between the two repeats a delivery rather than loses one.
    pub async fn split_queued(
        &self,
        entry: &QueueEntry,
        worker: &str,
        remaining: SmtpJob,
        not_before: DateTime<Utc>,
        error: &str,
    ) -> Result<()> {
        let next = QueueEntry {
            id: ObjectId::new(),
            payload: remaining.encode(),
            not_before,
            attempts: entry.attempts + 1,
            last_error: Some(error.to_string()),
            lease: None,
            ..entry.clone()
        };
        self.store().enqueue(std::slice::from_ref(&next)).await?;
        self.store().complete(entry.id, worker).await?;
        Ok(())
    }

    /// Entries of a kind (and key), for operators and tests.
    pub async fn list_queued(
        &self,
        kind: &str,
        key: Option<&str>,
        limit: u32,
    ) -> Result<Vec<QueueEntry>> {
        Ok(self.store().list_queue(kind, key, limit).await?)
    }

    pub async fn count_queued(&self, kind: &str, key: Option<&str>) -> Result<u64> {
        Ok(self.store().count_queue(kind, key).await?)
    }

    /// Report recipients that failed for good to the sender of `job`: a DSN in the
    /// sender's INBOX when the sender is a local address, else queued back to the
    /// sender with the null sender. Mail sent with the null sender (bounces,
    /// autoreplies) is never reported on, so bounces cannot loop.
    pub async fn report_failure(
        &self,
        queue_id: &str,
        job: &SmtpJob,
        failed: &[FailedRecipient],
        reporting_mta: &str,
    ) -> Result<()> {
        let Some(sender) = job.from.as_deref().filter(|s| !s.is_empty()) else {
            return Ok(());
        };
        if failed.is_empty() || parse_address(sender).is_err() {
            return Ok(());
        }
        let recipients: Vec<eider_message::DsnRecipient> = failed
            .iter()
            .map(|f| eider_message::DsnRecipient {
                address: f.address.clone(),
                status: f.status.clone(),
                diagnostic: f.diagnostic.clone(),
                remote_mta: f.remote_mta.clone(),
            })
            .collect();
        let unique = ObjectId::new().to_hex();
        let raw = eider_message::compose_dsn(&eider_message::Dsn {
            reporting_mta,
            to: sender,
            queue_id,
            arrival: job.queued,
            now: Utc::now(),
            recipients: &recipients,
            original: &job.raw,
            unique: &unique,
        });
        let local = self.lookup_address(sender).await?.and_then(|a| a.user);
        match local {
            Some(user) => {
                let inbox = self.find_special_inbox(user).await?;
                self.append(
                    user,
                    inbox,
                    raw,
                    AppendOptions {
                        // A bounce must reach its sender even when the mailbox is full.
                        ignore_quota: true,
                        ..Default::default()
                    },
                )
                .await?;
                info!(%user, queue = queue_id, "bounce stored in the sender's INBOX");
            }
            None => {
                let message = OutboundMessage {
                    from: None,
                    to: vec![sender.to_string()],
                    via: None,
                    raw: Arc::new(raw),
                };
                if let Err(e) = self.queue_mail(None, message, None).await {
                    warn!(queue = queue_id, "cannot queue a bounce to {sender}: {e}");
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    async fn find_special_inbox(&self, user: ObjectId) -> Result<ObjectId> {
        let boxes = self.store().list_mailboxes(user).await?;
        boxes
            .iter()
            .find(|m| m.is_inbox())
            .map(|m| m.id)
            .ok_or(Error::NoSuchMailbox)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips_any_bytes() {
        let job = SmtpJob {
            from: Some("a@example.com".into()),
            to: vec!["b@example.net".into(), "c@example.net".into()],
            via: None,
            queued: DateTime::from_timestamp(1_700_000_000, 0).expect("time"),
            raw: b"Subject: x\n\n\x00\xff\r\n.\r\n".to_vec(),
        };
        assert_eq!(SmtpJob::decode(&job.encode()).expect("decode"), job);
        assert!(SmtpJob::decode(b"no newline").is_err());
    }

    #[test]
    fn keys_group_by_domain_or_target() {
        assert_eq!(queue_key("Bob@Example.NET", None), "example.net");
        assert_eq!(
            queue_key("bob@example.net", Some("smtp://mx:25")),
            "via:smtp://mx:25"
        );
    }
}
