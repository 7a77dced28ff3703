//! Sending mail for a user: submission of a composed message, of a stored draft,
//! and forwarding of a stored message. A message to send is queued durably
//! (`Service::queue_mail`) and the call answers with its queue id once the
//! entries are committed; the outbound workers deliver (relay or MX), retry and
//! bounce. `send_time` holds a message in the queue until then.

use std::sync::Arc;
use std::time::Duration;

use tracing::warn;

use super::api::counter_keys;
use super::delivery::{parsed_message_json, ForwardTarget, Outbound, OutboundMessage};
use super::settings::keys;
use super::{AppendOptions, Service};
use crate::flags::{DRAFT, SEEN};
use crate::model::{FlagOp, Mailbox, SpecialUse, UidSet, User};
use crate::normalize::parse_address;
use crate::{Error, ObjectId, Result};

/// WildDuck's default daily recipient limit for users without `limits.recipients`.
pub const DEFAULT_MAX_RECIPIENTS: u64 = 2000;
/// The window of the daily sending counters.
const DAY: Duration = Duration::from_secs(24 * 3600);

/// A composed message to store and (unless only uploaded) send.
#[derive(Debug, Clone, Default)]
pub struct Submission {
    /// The message as stored (Bcc header included; it is removed on the wire).
    pub raw: Vec<u8>,
    /// Envelope sender; defaults to the user's main address.
    pub envelope_from: Option<String>,
    /// Envelope recipients; empty: the To, Cc and Bcc addresses of the message.
    pub envelope_to: Vec<String>,
    /// Where the copy is stored; defaults to \Sent (\Drafts for drafts).
    pub mailbox: Option<ObjectId>,
    pub meta_data: Option<serde_json::Value>,
    /// Store the copy but do not send.
    pub upload_only: bool,
    /// Store as a draft (\Draft, in \Drafts by default); implies `upload_only`.
    pub draft: bool,
    /// Hold the message in the queue until then.
    pub send_time: Option<chrono::DateTime<chrono::Utc>>,
}

/// Where a sent (or stored) message went.
#[derive(Debug, Clone, PartialEq)]
pub struct Submitted {
    /// The queue id of the message sent; None when nothing was sent.
    pub queue_id: Option<String>,
    pub mailbox: ObjectId,
    pub uid: u32,
    pub id: ObjectId,
    pub size: u64,
    /// The envelope recipients the message was sent to.
    pub recipients: Vec<String>,
}

/// One target a stored message was forwarded to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardedTo {
    /// Sequence of the target within this forward ("001", "002", ...).
    pub seq: String,
    /// "mail", "relay" or "http".
    pub kind: &'static str,
    pub value: String,
}

/// The outcome of forwarding a stored message.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredForward {
    pub queue_id: String,
    pub forwarded: Vec<ForwardedTo>,
}

/// The envelope recipients a message names: To, Cc and Bcc, each address once
/// (compared ignoring case). Refused when the index holds only part of the list
/// (a header too long to index whole): sending to a silent subset would be worse.
fn header_recipients(index: &eider_message::MessageIndex) -> Result<Vec<String>> {
    if index.recipients_truncated {
        return Err(Error::Validation(
            "the message names too many recipients in To/Cc/Bcc; give the envelope recipients"
                .into(),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for a in index.to.iter().chain(&index.cc).chain(&index.bcc) {
        let addr = a.address.trim();
        if addr.is_empty() || out.iter().any(|o| o.eq_ignore_ascii_case(addr)) {
            continue;
        }
        out.push(addr.to_string());
    }
    Ok(out)
}

/// The message without its Bcc header field (continuation lines included): blind
/// recipients must not see each other.
pub(crate) fn without_bcc(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut pos = 0;
    let mut skipping = false;
    while pos < raw.len() {
        let end = raw[pos..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(raw.len(), |i| pos + i + 1);
        let line = &raw[pos..end];
        if line == b"\r\n" || line == b"\n" {
            // End of the header: the body is copied as it is.
            out.extend_from_slice(&raw[pos..]);
            return out;
        }
        let continuation = matches!(line.first(), Some(b' ' | b'\t'));
        if !continuation {
            skipping = line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"bcc:");
        }
        if !skipping {
            out.extend_from_slice(line);
        }
        pos = end;
    }
    out
}

/// A message an authenticated user hands over on the submission port.
#[derive(Debug, Clone, Default)]
pub struct SmtpSubmission {
    /// MAIL FROM as given (None for `<>`).
    pub envelope_from: Option<String>,
    /// RCPT TO, in order.
    pub recipients: Vec<String>,
    /// The message as received (after dot-unstuffing).
    pub raw: Vec<u8>,
    /// The client (name and address), for logs.
    pub origin: Option<String>,
    /// Store a copy in the user's \Sent mailbox.
    pub sent_copy: bool,
}

/// What became of a submitted message.
#[derive(Debug, Clone, PartialEq)]
pub struct SmtpSubmitted {
    /// Queue id of the part for remote recipients (None when all were local).
    pub queue_id: Option<String>,
    /// Recipients delivered into this server's mailboxes.
    pub local: usize,
    /// Recipients queued for the relay or their MX.
    pub remote: usize,
    /// The header From was not the user's and was replaced.
    pub from_rewritten: bool,
    /// Local recipients the delivery refused (over quota, disabled, failed), with why.
    pub local_failures: Vec<(String, String)>,
}

/// The header for the original From kept when it is rewritten.
pub const ORIGINAL_FROM_HEADER: &str = "X-Original-From";

/// `raw` with its From header field replaced by `from` and the old value kept
/// in [`ORIGINAL_FROM_HEADER`] (a header-level edit, as [`without_bcc`]).
pub(crate) fn rewrite_from(raw: &[u8], from: &str) -> Vec<u8> {
    let mut head = Vec::with_capacity(raw.len() + from.len() + 64);
    let mut original: Vec<u8> = Vec::new();
    let mut pos = 0;
    let mut in_from = false;
    let mut body_at = raw.len();
    while pos < raw.len() {
        let end = raw[pos..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(raw.len(), |i| pos + i + 1);
        let line = &raw[pos..end];
        if line == b"\r\n" || line == b"\n" {
            body_at = pos;
            break;
        }
        let continuation = matches!(line.first(), Some(b' ' | b'\t'));
        if !continuation {
            in_from = line.len() >= 5 && line[..5].eq_ignore_ascii_case(b"from:");
            if in_from && original.is_empty() {
                original.extend_from_slice(&line[5..]);
                pos = end;
                continue;
            }
        }
        if in_from {
            // A continuation of the From field (or a second From): folded into the kept value.
            original.extend_from_slice(line);
        } else {
            head.extend_from_slice(line);
        }
        pos = end;
    }
    let kept: String = String::from_utf8_lossy(&original)
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let mut out = Vec::with_capacity(raw.len() + from.len() + 64);
    out.extend_from_slice(format!("From: {from}\r\n").as_bytes());
    if !kept.is_empty() {
        out.extend_from_slice(format!("{ORIGINAL_FROM_HEADER}: {kept}\r\n").as_bytes());
    }
    out.extend_from_slice(&head);
    out.extend_from_slice(&raw[body_at..]);
    out
}

/// Does `address` match a `fromWhitelist` entry (case-insensitive, `*` for any
/// run of characters, e.g. `*@example.com`)?
fn wildcard_match(pattern: &str, address: &str) -> bool {
    let p: Vec<char> = pattern.trim().to_lowercase().chars().collect();
    let a: Vec<char> = address.trim().to_lowercase().chars().collect();
    if p.is_empty() {
        return false;
    }
    // Greedy matching with backtracking to the last star.
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < a.len() {
        if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if i < p.len() && p[i] == a[j] {
            i += 1;
            j += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

/// The From value for `address` keeping a plain display name (one needing
/// encoding is left out rather than sent mangled).
fn from_value(name: &str, address: &str) -> String {
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| (' '..='~').contains(&c) && c != '"' && c != '\\');
    if plain {
        format!("\"{name}\" <{address}>")
    } else {
        format!("<{address}>")
    }
}

impl super::delivery::Deliverer {
    /// Send a message `user` submitted over SMTP (after AUTH): the API's sending
    /// rules (From must be one of the user's addresses, else it is rewritten to
    /// the main address with the original kept; the daily recipient limit; a
    /// copy in \Sent), local recipients delivered through this pipeline (filters,
    /// quota, autoreply), the others queued durably. Ok only once all of that is
    /// stored.
    pub async fn submit_smtp(&self, user: ObjectId, s: SmtpSubmission) -> Result<SmtpSubmitted> {
        let service = self.service();
        let owner = service.sender_account(user).await?;
        if s.raw.is_empty() {
            return Err(Error::EmptyMessage);
        }
        if s.recipients.is_empty() {
            return Err(Error::Validation("the message has no recipients".into()));
        }
        if owner.address.is_empty() {
            return Err(Error::Validation(
                "the account has no address to send from".into(),
            ));
        }
        let content = service.ingest(s.raw.clone()).await?;
        let header_from = content.index.from.first().cloned();
        let whitelist = &owner.profile.from_whitelist;
        let own = |addr: Option<String>| async move {
            match addr {
                Some(a) if whitelist.iter().any(|p| wildcard_match(p, &a)) => Ok(true),
                Some(a) if !a.is_empty() => service
                    .lookup_address(&a)
                    .await
                    .map(|found| found.and_then(|f| f.user) == Some(owner.id)),
                _ => Ok(false),
            }
        };
        let from_ok = own(header_from.as_ref().map(|a| a.address.clone())).await?;
        let (raw, content) = if from_ok {
            (s.raw, content)
        } else {
            let name = header_from.as_ref().map_or("", |a| a.name.as_str());
            let raw = rewrite_from(&s.raw, &from_value(name, &owner.address));
            let content = service.ingest(raw.clone()).await?;
            (raw, content)
        };
        let envelope_from = if own(s.envelope_from.clone()).await? {
            s.envelope_from.clone()
        } else {
            Some(owner.address.clone())
        };
        let mut local = Vec::new();
        let mut remote = Vec::new();
        for r in &s.recipients {
            parse_address(r)
                .map_err(|_| Error::Validation(format!("invalid recipient address {r:?}")))?;
            match self.check_recipient(r).await? {
                super::delivery::RecipientCheck::Accepted(rcpt) => local.push(*rcpt),
                // Not one of ours (or not deliverable here now): the relay or MX decides.
                _ => remote.push(r.clone()),
            }
        }
        // The server's switch, or the user's own (WildDuck's `uploadSentMessages`).
        let sent_copy = s.sent_copy || owner.profile.upload_sent_messages;
        let size = raw.len() as u64;
        if sent_copy && owner.storage_used.saturating_add(size) > service.quota_limit(&owner).await
        {
            return Err(Error::OverQuota);
        }
        let sent = if sent_copy {
            Some(service.find_special_mailbox(user, SpecialUse::Sent).await?)
        } else {
            None
        };
        // Local recipients count against the daily limit too; remote ones are
        // counted by queue_message.
        if !local.is_empty() {
            service.reserve_recipients(&owner, local.len()).await?;
        }
        let queue_id = if remote.is_empty() {
            None
        } else {
            match service
                .queue_message(
                    &owner,
                    envelope_from.clone(),
                    remote.clone(),
                    raw.clone(),
                    None,
                )
                .await
            {
                Ok(id) => Some(id),
                Err(e) => {
                    service
                        .release(counter_keys::RECIPIENTS, owner.id, local.len())
                        .await;
                    return Err(e);
                }
            }
        };
        let mut local_failures = Vec::new();
        if !local.is_empty() {
            let envelope = super::delivery::MailEnvelope {
                sender: envelope_from,
                origin: s.origin.clone(),
            };
            let outcomes = self.deliver(&envelope, without_bcc(&raw), &local).await?;
            for (r, o) in local.iter().zip(outcomes) {
                use super::delivery::DeliveryOutcome as D;
                let why = match o {
                    D::Stored { .. } | D::Forwarded { .. } | D::Dropped => continue,
                    D::OverQuota => "mailbox full".to_string(),
                    D::Refused { reason, .. } => reason,
                    D::Failed(e) => e,
                };
                warn!(user = %owner.id, rcpt = %r.rcpt, "submitted message not delivered locally: {why}");
                local_failures.push((r.rcpt.clone(), why));
            }
        }
        if let Some(sent) = sent {
            let content = service.stored_content(&owner, &raw, content, false).await?;
            service
                .append_content(
                    user,
                    sent.id,
                    content,
                    AppendOptions {
                        flags: vec![SEEN.to_string()],
                        // Sent already: the copy is kept even if quota moved meanwhile.
                        ignore_quota: true,
                        ..Default::default()
                    },
                )
                .await?;
        }
        Ok(SmtpSubmitted {
            queue_id,
            local: local.len(),
            remote: remote.len(),
            from_rewritten: !from_ok,
            local_failures,
        })
    }
}

impl Service {
    fn outbound_for_sending(&self) -> Result<Arc<dyn Outbound>> {
        self.outbound().cloned().ok_or(Error::SendingDisabled)
    }

    /// The account of `user` when it may send mail.
    async fn sender_account(&self, user: ObjectId) -> Result<User> {
        let owner = self.get_user(user).await?;
        if owner.disabled || owner.suspended {
            return Err(Error::UserDisabled);
        }
        Ok(owner)
    }

    /// Count `n` more envelope recipients against the user's daily limit.
    async fn reserve_recipients(&self, owner: &User, n: usize) -> Result<()> {
        let limit = match owner.profile.limits.recipients.filter(|l| *l > 0) {
            Some(l) => l,
            None => self.setting_u64(keys::MAX_RECIPIENTS).await,
        };
        self.reserve(counter_keys::RECIPIENTS, owner.id, n, limit)
            .await
            .map_err(|_| {
                Error::SendLimitReached(
                    "Message was not sent. Daily sending limit for this account has been reached"
                        .into(),
                )
            })
    }

    async fn reserve(&self, prefix: &str, user: ObjectId, n: usize, limit: u64) -> Result<()> {
        let key = format!("{prefix}{}", user.to_hex());
        let n = n as i64;
        if self.bus().counter_add(&key, n, DAY).await > limit as i64 {
            self.bus().counter_add(&key, -n, DAY).await;
            return Err(Error::SendLimitReached(String::new()));
        }
        Ok(())
    }

    async fn release(&self, prefix: &str, user: ObjectId, n: usize) {
        let key = format!("{prefix}{}", user.to_hex());
        self.bus().counter_add(&key, -(n as i64), DAY).await;
    }

    /// Queue a message for its recipients (without its Bcc header); the daily
    /// counter is given back when it cannot be queued.
    async fn queue_message(
        &self,
        owner: &User,
        from: Option<String>,
        to: Vec<String>,
        raw: Vec<u8>,
        send_time: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<String> {
        self.outbound_for_sending()?;
        for r in &to {
            parse_address(r)
                .map_err(|_| Error::Validation(format!("invalid recipient address {r:?}")))?;
        }
        let n = to.len();
        // One message may name at most `const:max:rcpt_to` recipients (WildDuck's text).
        if n as u64 > self.setting_u64(keys::MAX_RCPT_TO).await {
            return Err(Error::TooMany("Your email has too many recipients".into()));
        }
        self.reserve_recipients(owner, n).await?;
        let message = OutboundMessage {
            from,
            to,
            via: None,
            raw: Arc::new(without_bcc(&raw)),
        };
        match self.queue_mail(Some(owner.id), message, send_time).await {
            Ok(id) => Ok(id),
            Err(e) => {
                self.release(counter_keys::RECIPIENTS, owner.id, n).await;
                warn!(user = %owner.id, "submission not queued: {e}");
                Err(e)
            }
        }
    }

    fn envelope_sender(owner: &User, index: &eider_message::MessageIndex) -> Option<String> {
        if !owner.address.is_empty() {
            return Some(owner.address.clone());
        }
        index.from.first().map(|a| a.address.clone())
    }

    /// Store a composed message for `user` and, unless it is only uploaded, queue
    /// it for sending first (a message that could not be queued is not stored).
    pub async fn submit(&self, user: ObjectId, s: Submission) -> Result<Submitted> {
        let owner = self.sender_account(user).await?;
        let send = !s.upload_only && !s.draft;
        if send {
            self.outbound_for_sending()?;
        }
        let size = s.raw.len() as u64;
        let content = self.ingest(s.raw.clone()).await?;
        // What is stored may be encrypted (below); what is sent is `s.raw`.
        let stored_raw = Self::encrypts_storage(&owner, s.draft).then(|| s.raw.clone());
        let target = match s.mailbox {
            Some(id) => self.get_mailbox(user, id).await?,
            None => {
                let role = if s.draft {
                    SpecialUse::Drafts
                } else {
                    SpecialUse::Sent
                };
                self.find_special_mailbox(user, role).await?
            }
        };
        // Refuse before sending rather than send and fail to keep the copy.
        if owner.storage_used.saturating_add(size) > self.quota_limit(&owner).await {
            return Err(Error::OverQuota);
        }
        let recipients = if s.envelope_to.is_empty() {
            header_recipients(&content.index)?
        } else {
            s.envelope_to.clone()
        };
        let queue_id = if send {
            if recipients.is_empty() {
                return Err(Error::Validation("the message has no recipients".into()));
            }
            let from = s
                .envelope_from
                .clone()
                .filter(|f| !f.is_empty())
                .or_else(|| Self::envelope_sender(&owner, &content.index));
            Some(
                self.queue_message(&owner, from, recipients.clone(), s.raw, s.send_time)
                    .await?,
            )
        } else {
            None
        };
        let seen = (send && target.special_use != Some(SpecialUse::Sent))
            .then(|| super::register::seen_addresses(&content.index));
        let content = match &stored_raw {
            Some(raw) => self.stored_content(&owner, raw, content, s.draft).await?,
            None => content,
        };
        let mut flags = vec![SEEN.to_string()];
        if s.draft {
            flags.push(DRAFT.to_string());
        }
        let appended = self
            .append_content(
                user,
                target.id,
                content,
                AppendOptions {
                    flags,
                    meta_data: s.meta_data,
                    // Sent already: the copy is kept even if quota moved meanwhile.
                    ignore_quota: send,
                    ..Default::default()
                },
            )
            .await?;
        // A copy in \Sent was recorded by the append; elsewhere record it here.
        if let Some(seen) = seen {
            self.record_seen(user, seen).await;
        }
        Ok(Submitted {
            queue_id,
            mailbox: target.id,
            uid: appended.uid,
            id: appended.id,
            size,
            recipients: if send { recipients } else { Vec::new() },
        })
    }

    /// Send a stored draft to the recipients it names (not before `send_time`) and
    /// move it to \Sent, where it loses \Draft and is \Seen.
    pub async fn submit_stored(
        &self,
        user: ObjectId,
        mailbox: ObjectId,
        uid: u32,
        send_time: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Submitted> {
        let owner = self.sender_account(user).await?;
        self.outbound_for_sending()?;
        let message = self.get_message(user, mailbox, uid).await?;
        if !message.meta.has_flag(DRAFT) {
            return Err(Error::NotADraft);
        }
        let recipients = header_recipients(&message.index)?;
        if recipients.is_empty() {
            return Err(Error::Validation("the draft has no recipients".into()));
        }
        let raw = self
            .body_reader(&message, 0, message.meta.size)
            .read_all()
            .await?;
        let sent = self.find_special_mailbox(user, SpecialUse::Sent).await?;
        let from = Self::envelope_sender(&owner, &message.index);
        // A draft is kept readable; once sent, a user who encrypts gets the copy in
        // \Sent encrypted (a new message in place of the moved draft).
        let sealed = if Self::encrypts_storage(&owner, false) {
            Some(self.sealed_for_storage(&owner, raw.clone(), false).await?)
        } else {
            None
        };
        let queue_id = self
            .queue_message(&owner, from, recipients.clone(), raw, send_time)
            .await?;
        let (uid, id) = match sealed {
            Some(sealed) => {
                let content = self.ingest_accepted(sealed).await?;
                let appended = self
                    .append_content(
                        user,
                        sent.id,
                        content,
                        AppendOptions {
                            flags: vec![SEEN.to_string()],
                            ignore_quota: true,
                            ..Default::default()
                        },
                    )
                    .await?;
                // The draft (\Draft, so not archived) leaves \Drafts as a move would.
                self.expunge(user, mailbox, &UidSet::from_uids([uid]), false)
                    .await?;
                (appended.uid, appended.id)
            }
            None => self.file_as_sent(user, &sent, mailbox, uid).await?,
        };
        self.record_recipients(user, &message.index).await;
        Ok(Submitted {
            queue_id: Some(queue_id),
            mailbox: sent.id,
            uid,
            id,
            size: message.meta.size,
            recipients,
        })
    }

    /// Move a sent draft into \Sent (sharing its content) and mark it sent.
    async fn file_as_sent(
        &self,
        user: ObjectId,
        sent: &Mailbox,
        mailbox: ObjectId,
        uid: u32,
    ) -> Result<(u32, ObjectId)> {
        let (uid, id) = if mailbox == sent.id {
            let meta = self
                .list_messages(
                    user,
                    mailbox,
                    &UidSet::from_uids([uid]),
                    crate::model::SortOrder::Ascending,
                    1,
                )
                .await?;
            let m = meta.first().ok_or(Error::MessageNotFound)?;
            (m.uid, m.id)
        } else {
            let moved = self
                .move_messages(user, mailbox, &UidSet::from_uids([uid]), sent.id)
                .await?;
            let m = moved.first().ok_or(Error::MessageNotFound)?;
            (m.uid, m.id)
        };
        let one = UidSet::from_uids([uid]);
        self.update_flags(
            user,
            sent.id,
            &one,
            FlagOp::Remove,
            &[DRAFT.to_string()],
            None,
        )
        .await?;
        self.update_flags(user, sent.id, &one, FlagOp::Add, &[SEEN.to_string()], None)
            .await?;
        Ok((uid, id))
    }

    /// Forward a stored message, byte for byte, to the user's forwarding target
    /// number `target` (1-based, as listed in the user's `targets`) and/or to
    /// `addresses` (addresses, `smtp://` relays or `http(s)://` URLs).
    pub async fn forward_stored(
        &self,
        user: ObjectId,
        mailbox: ObjectId,
        uid: u32,
        target: Option<u32>,
        addresses: &[String],
    ) -> Result<StoredForward> {
        let owner = self.sender_account(user).await?;
        let outbound = self.outbound_for_sending()?;
        let message = self.get_message(user, mailbox, uid).await?;
        let group = ObjectId::new().to_hex();
        let mut targets: Vec<ForwardTarget> = Vec::new();
        if let Some(n) = target {
            let text = (n as usize)
                .checked_sub(1)
                .and_then(|i| owner.profile.targets.get(i))
                .ok_or_else(|| {
                    Error::Validation(format!("\"target\" {n} is not a forwarding target"))
                })?;
            targets.push(ForwardTarget::parse(text)?);
        }
        for a in addresses {
            let t = ForwardTarget::parse(a).map_err(|_| {
                Error::Validation(format!("\"addresses\" has an invalid target {a:?}"))
            })?;
            if !targets.contains(&t) {
                targets.push(t);
            }
        }
        if targets.is_empty() {
            return Err(Error::Validation(
                "\"addresses\" or \"target\" must name a forwarding target".into(),
            ));
        }
        let limit = match owner.profile.limits.forwards.filter(|f| *f > 0) {
            Some(l) => l,
            None => self.setting_u64(keys::MAX_FORWARDS).await,
        };
        self.reserve(counter_keys::FORWARDS, user, targets.len(), limit)
            .await
            .map_err(|_| {
                Error::SendLimitReached("Daily forwarding limit for this account reached".into())
            })?;
        let raw = Arc::new(
            self.body_reader(&message, 0, message.meta.size)
                .read_all()
                .await?,
        );
        let from = (!owner.address.is_empty()).then(|| owner.address.clone());
        let rcpt = from
            .clone()
            .or_else(|| message.index.to.first().map(|a| a.address.clone()))
            .unwrap_or_default();
        let mut forwarded = Vec::new();
        for (i, t) in targets.iter().enumerate() {
            let mail = |to: String, via: Option<String>| OutboundMessage {
                from: from.clone(),
                to: vec![to],
                via,
                raw: raw.clone(),
            };
            let (kind, value, result) = match t {
                ForwardTarget::Mail(addr) => (
                    "mail",
                    addr.clone(),
                    self.queue_mail_in(&group, Some(user), mail(addr.clone(), None), None)
                        .await,
                ),
                ForwardTarget::Relay(url) => (
                    "relay",
                    url.clone(),
                    self.queue_mail_in(
                        &group,
                        Some(user),
                        mail(rcpt.clone(), Some(url.clone())),
                        None,
                    )
                    .await,
                ),
                ForwardTarget::Http(url) => (
                    "http",
                    url.clone(),
                    outbound
                        .post(
                            url,
                            parsed_message_json(&message.index, from.as_deref(), &rcpt),
                        )
                        .await,
                ),
            };
            if let Err(e) = result {
                // Targets not attempted give their count back.
                self.release(counter_keys::FORWARDS, user, targets.len() - i)
                    .await;
                warn!(user = %user, target = %value, "forward of a stored message failed: {e}");
                return Err(match e {
                    Error::Internal(m) => Error::SendFailed(m),
                    other => other,
                });
            }
            forwarded.push(ForwardedTo {
                seq: format!("{:03x}", i + 1),
                kind,
                value,
            });
        }
        Ok(StoredForward {
            queue_id: group,
            forwarded,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_is_replaced_and_the_original_kept() {
        let raw = b"Subject: hi\r\nFrom: Someone <x@elsewhere.test>,\r\n  y@elsewhere.test\r\nTo: b@example.com\r\n\r\nFrom: body\r\n";
        let out = rewrite_from(raw, &from_value("Someone", "me@example.com"));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "From: \"Someone\" <me@example.com>\r\nX-Original-From: Someone <x@elsewhere.test>, y@elsewhere.test\r\nSubject: hi\r\nTo: b@example.com\r\n\r\nFrom: body\r\n"
        );
        assert_eq!(from_value("Jü", "me@example.com"), "<me@example.com>");
    }

    #[test]
    fn from_whitelist_patterns() {
        assert!(wildcard_match("*@Example.com", "boss@example.COM"));
        assert!(wildcard_match(
            "sales+*@example.com",
            "sales+eu@example.com"
        ));
        assert!(wildcard_match("a@b.test", "A@B.test"));
        assert!(!wildcard_match(
            "*@example.com",
            "boss@example.com.evil.test"
        ));
        assert!(!wildcard_match("", "x@y.test"));
        assert!(wildcard_match("*", "anyone@anywhere.test"));
    }

    #[test]
    fn bcc_is_removed_from_the_header_only() {
        let raw = b"From: a@example.com\r\nBcc: x@example.com,\r\n  y@example.com\r\nTo: b@example.com\r\n\r\nBcc: stays in the body\r\n";
        assert_eq!(
            without_bcc(raw),
            b"From: a@example.com\r\nTo: b@example.com\r\n\r\nBcc: stays in the body\r\n".to_vec()
        );
        let plain = b"To: b@example.com\r\n\r\nhi\r\n";
        assert_eq!(without_bcc(plain), plain.to_vec());
    }
}
