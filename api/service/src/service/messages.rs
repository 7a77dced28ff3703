//! Messages: ingest and append, copy, move, flags, expunge, listing, journal.

use chrono::{DateTime, Duration, Utc};
use eider_message::MessageIndex;

use super::Service;
use crate::flags::normalize_flags;
use crate::model::{
    AppendRequest, Appended, CopiedMessage, FlagOp, FlagUpdate, FlagsChanged, JournalEntry,
    Mailbox, MessageMeta, NewContent, SearchQuery, SortOrder, SpecialUse, StoredMessage, ThreadRef,
    UidSet,
};
use crate::{Error, ObjectId, Result};

/// Options of an append (IMAP APPEND, API upload, delivery).
#[derive(Debug, Clone, Default)]
pub struct AppendOptions {
    pub flags: Vec<String>,
    /// Defaults to now.
    pub internal_date: Option<DateTime<Utc>>,
    pub meta_data: Option<serde_json::Value>,
    /// Explicit expiry; otherwise the mailbox's retention applies.
    pub expires: Option<DateTime<Utc>>,
    /// Skip storing when the same Message-ID is already in the mailbox.
    pub dedupe_message_id: bool,
    /// Skip the quota check (system messages such as bounces).
    pub ignore_quota: bool,
}

impl Service {
    /// Parse and index a raw message off the async workers.
    pub async fn ingest(&self, raw: Vec<u8>) -> Result<NewContent> {
        if raw.is_empty() {
            return Err(Error::EmptyMessage);
        }
        if raw.len() as u64 > self.config().max_message_size {
            return Err(Error::MessageTooLarge);
        }
        self.ingest_accepted(raw).await
    }

    /// Parse and index a message whose size was already accepted (delivery adds its
    /// `Delivered-To:` line to a message that passed the limit).
    pub(crate) async fn ingest_accepted(&self, raw: Vec<u8>) -> Result<NewContent> {
        let opts = self.config().ingest.clone();
        let ingested = tokio::task::spawn_blocking(move || eider_message::ingest(&raw, &opts))
            .await
            .map_err(|e| Error::Internal(e.to_string()))?
            .map_err(|_| Error::EmptyMessage)?;
        Ok(NewContent {
            index: ingested.index,
            layout: ingested.layout,
            skeleton: ingested.skeleton,
            blobs: ingested.blobs,
        })
    }

    /// Append a raw message to a mailbox (IMAP APPEND, API upload, bounces), in the
    /// form stored for the user (encrypted to their key when they asked for it).
    pub async fn append(
        &self,
        user: ObjectId,
        mailbox: ObjectId,
        raw: Vec<u8>,
        opts: AppendOptions,
    ) -> Result<Appended> {
        let owner = self.get_user(user).await?;
        let content = self.ingest_for(&owner, raw, &opts).await?;
        self.append_content(user, mailbox, content, opts).await
    }

    /// What every append by a client (APPEND, MULTIAPPEND, API upload) stores: the
    /// size limits checked, then the message sealed to the owner's key when they asked
    /// for encryption at rest (drafts stay clear), then ingested.
    async fn ingest_for(
        &self,
        owner: &crate::model::User,
        raw: Vec<u8>,
        opts: &AppendOptions,
    ) -> Result<NewContent> {
        if raw.is_empty() {
            return Err(Error::EmptyMessage);
        }
        if raw.len() as u64 > self.config().max_message_size {
            return Err(Error::MessageTooLarge);
        }
        let draft = opts
            .flags
            .iter()
            .any(|f| f.eq_ignore_ascii_case(crate::flags::DRAFT));
        let raw = self.sealed_for_storage(owner, raw, draft).await?;
        self.ingest_accepted(raw).await
    }

    /// Append already-ingested content (delivery ingests once for many recipients).
    pub async fn append_content(
        &self,
        user: ObjectId,
        mailbox: ObjectId,
        content: NewContent,
        opts: AppendOptions,
    ) -> Result<Appended> {
        self.append_content_as(ObjectId::new(), user, mailbox, content, opts)
            .await
    }

    /// Append with a given message id (an import keeps the ids it was given).
    pub(crate) async fn append_content_as(
        &self,
        id: ObjectId,
        user: ObjectId,
        mailbox: ObjectId,
        content: NewContent,
        opts: AppendOptions,
    ) -> Result<Appended> {
        let owner = self.get_user(user).await?;
        let mbox = self.get_mailbox(user, mailbox).await?;
        let (appended, sent) = self.store_append(id, &owner, &mbox, content, opts).await?;
        self.appended(user, mailbox, &appended, sent).await;
        Ok(appended)
    }

    /// Append several messages to one mailbox, all or none (IMAP MULTIAPPEND,
    /// RFC 3502). Every message is checked and ingested before anything is stored;
    /// if storing one fails (quota, store error), the ones stored before it are
    /// removed again (no archive copy, as they were never visible as a whole) and
    /// the error is returned. Announcements and webhooks follow only success.
    pub async fn append_all(
        &self,
        user: ObjectId,
        mailbox: ObjectId,
        messages: Vec<(Vec<u8>, AppendOptions)>,
    ) -> Result<Vec<Appended>> {
        let owner = self.get_user(user).await?;
        let mbox = self.get_mailbox(user, mailbox).await?;
        let mut ingested = Vec::with_capacity(messages.len());
        for (raw, opts) in messages {
            normalize_flags(&opts.flags)?;
            ingested.push((self.ingest_for(&owner, raw, &opts).await?, opts));
        }
        let mut done: Vec<(Appended, Option<Vec<crate::SeenAddress>>)> =
            Vec::with_capacity(ingested.len());
        for (content, opts) in ingested {
            match self
                .store_append(ObjectId::new(), &owner, &mbox, content, opts)
                .await
            {
                Ok(a) => done.push(a),
                Err(e) => {
                    let stored = UidSet::from_uids(
                        done.iter()
                            .filter(|(a, _)| !a.duplicate)
                            .map(|(a, _)| a.uid),
                    );
                    if !stored.is_empty() {
                        if let Err(undo) = self.store().expunge(mailbox, &stored, false).await {
                            tracing::error!(%mailbox, "MULTIAPPEND rollback failed: {undo}");
                        }
                        // Sessions that saw the partial append catch up with its removal.
                        self.announce(user, Some(mailbox), 0);
                    }
                    return Err(e);
                }
            }
        }
        let mut out = Vec::with_capacity(done.len());
        for (appended, sent) in done {
            self.appended(user, mailbox, &appended, sent).await;
            out.push(appended);
        }
        Ok(out)
    }

    /// The store half of an append: the request built from the options and the
    /// mailbox's rules, stored. Returns what the announcement needs.
    async fn store_append(
        &self,
        id: ObjectId,
        owner: &crate::model::User,
        mbox: &Mailbox,
        content: NewContent,
        opts: AppendOptions,
    ) -> Result<(Appended, Option<Vec<crate::SeenAddress>>)> {
        let flags = normalize_flags(&opts.flags)?;
        let internal_date = opts.internal_date.unwrap_or_else(Utc::now);
        let thread = ThreadRef::Resolve {
            subject: content.index.thread_subject.clone(),
            ids: thread_ids(&content.index),
        };
        let expires = opts
            .expires
            .or_else(|| retention_expiry(mbox, internal_date));
        // A message stored in \Sent (API upload, IMAP APPEND, submit) was sent by
        // the user: its recipients go to the address register.
        let sent = (mbox.special_use == Some(SpecialUse::Sent))
            .then(|| super::register::seen_addresses(&content.index));
        let req = AppendRequest {
            id,
            user: owner.id,
            mailbox: mbox.id,
            content,
            flags,
            internal_date,
            thread,
            expires,
            meta_data: opts.meta_data.unwrap_or_else(|| serde_json::json!({})),
            quota_limit: if opts.ignore_quota {
                None
            } else {
                Some(self.quota_limit(owner).await)
            },
            dedupe_message_id: opts.dedupe_message_id,
        };
        let appended = self.timed("append", self.store().append(req)).await?;
        Ok((appended, sent))
    }

    /// After a stored append: the beacon, the webhook and the address register.
    async fn appended(
        &self,
        user: ObjectId,
        mailbox: ObjectId,
        appended: &Appended,
        sent: Option<Vec<crate::SeenAddress>>,
    ) {
        if appended.duplicate {
            return;
        }
        self.announce(user, Some(mailbox), appended.modseq);
        self.emit(
            super::webhooks::events::MESSAGE_NEW,
            Some(user),
            serde_json::json!({
                "mailbox": mailbox.to_hex(),
                "message": appended.id.to_hex(),
                "uid": appended.uid,
            }),
        )
        .await;
        if let Some(seen) = sent {
            self.record_seen(user, seen).await;
        }
    }

    pub async fn copy_messages(
        &self,
        user: ObjectId,
        source: ObjectId,
        uids: &UidSet,
        target: ObjectId,
    ) -> Result<Vec<CopiedMessage>> {
        let owner = self.get_user(user).await?;
        self.get_mailbox(user, source).await?;
        self.get_mailbox(user, target).await?;
        let copied = self
            .store()
            .copy_messages(
                user,
                source,
                uids,
                target,
                Some(self.quota_limit(&owner).await),
            )
            .await?;
        if !copied.is_empty() {
            self.announce(user, Some(target), 0);
        }
        Ok(copied)
    }

    pub async fn move_messages(
        &self,
        user: ObjectId,
        source: ObjectId,
        uids: &UidSet,
        target: ObjectId,
    ) -> Result<Vec<CopiedMessage>> {
        let from = self.get_mailbox(user, source).await?;
        let to = self.get_mailbox(user, target).await?;
        if source == target {
            return Err(Error::Validation(
                "source and target mailbox are the same".into(),
            ));
        }
        let moved = self
            .store()
            .move_messages(user, source, uids, target)
            .await?;
        if !moved.is_empty() {
            self.announce(user, Some(source), 0);
            self.announce(user, Some(target), 0);
            // Into or out of Junk: the user says "spam" or "not spam" (any gateway).
            self.emit_junk_moves(user, &from, &to, &moved).await;
        }
        Ok(moved)
    }

    pub async fn update_flags(
        &self,
        user: ObjectId,
        mailbox: ObjectId,
        uids: &UidSet,
        op: FlagOp,
        flags: &[String],
        unchanged_since: Option<u64>,
    ) -> Result<FlagsChanged> {
        self.get_mailbox(user, mailbox).await?;
        let update = FlagUpdate {
            op,
            flags: normalize_flags(flags)?,
            unchanged_since,
        };
        let changed = self.store().update_flags(mailbox, uids, &update).await?;
        if !changed.changed.is_empty() {
            self.announce(user, Some(mailbox), changed.modseq);
        }
        Ok(changed)
    }

    /// Remove messages; with `only_deleted` just those flagged \Deleted (IMAP EXPUNGE).
    pub async fn expunge(
        &self,
        user: ObjectId,
        mailbox: ObjectId,
        uids: &UidSet,
        only_deleted: bool,
    ) -> Result<Vec<u32>> {
        self.get_mailbox(user, mailbox).await?;
        let removed = self.remove_messages(mailbox, uids, only_deleted).await?;
        if !removed.is_empty() {
            self.announce(user, Some(mailbox), 0);
        }
        Ok(removed)
    }

    /// Remove messages that live on as copies (IMAP MOVE within one mailbox): nothing
    /// is archived, as WildDuck skips `copied` messages.
    pub async fn expunge_moved(
        &self,
        user: ObjectId,
        mailbox: ObjectId,
        uids: &UidSet,
    ) -> Result<Vec<u32>> {
        self.get_mailbox(user, mailbox).await?;
        let removed = self.store().expunge(mailbox, uids, false).await?;
        if !removed.is_empty() {
            self.announce(user, Some(mailbox), 0);
            self.emit(
                super::webhooks::events::MESSAGE_DELETED,
                Some(user),
                serde_json::json!({ "mailbox": mailbox.to_hex(), "uids": removed }),
            )
            .await;
        }
        Ok(removed)
    }

    pub async fn update_message_attributes(
        &self,
        user: ObjectId,
        mailbox: ObjectId,
        uid: u32,
        meta_data: Option<serde_json::Value>,
        expires: Option<Option<DateTime<Utc>>>,
    ) -> Result<()> {
        self.get_mailbox(user, mailbox).await?;
        if self
            .store()
            .update_message_attributes(mailbox, uid, meta_data, expires)
            .await?
        {
            Ok(())
        } else {
            Err(Error::MessageNotFound)
        }
    }

    pub async fn list_uids(&self, user: ObjectId, mailbox: ObjectId) -> Result<Vec<u32>> {
        self.get_mailbox(user, mailbox).await?;
        Ok(self.store().list_uids(mailbox).await?)
    }

    pub async fn list_messages(
        &self,
        user: ObjectId,
        mailbox: ObjectId,
        uids: &UidSet,
        order: SortOrder,
        limit: u32,
    ) -> Result<Vec<MessageMeta>> {
        self.get_mailbox(user, mailbox).await?;
        Ok(self
            .store()
            .list_messages(mailbox, uids, order, limit)
            .await?)
    }

    pub async fn get_message(
        &self,
        user: ObjectId,
        mailbox: ObjectId,
        uid: u32,
    ) -> Result<StoredMessage> {
        self.get_mailbox(user, mailbox).await?;
        self.store()
            .get_message(mailbox, uid)
            .await?
            .ok_or(Error::MessageNotFound)
    }

    pub async fn get_message_by_id(&self, user: ObjectId, id: ObjectId) -> Result<MessageMeta> {
        self.store()
            .get_message_meta_by_id(user, id)
            .await?
            .ok_or(Error::MessageNotFound)
    }

    pub async fn search(&self, query: &SearchQuery) -> Result<Vec<MessageMeta>> {
        if let Some(m) = query.mailbox {
            self.get_mailbox(query.user, m).await?;
        }
        Ok(self.timed("search", self.store().search(query)).await?)
    }

    /// Journal entries of a mailbox newer than `since` (what a session applies on NOOP/IDLE).
    pub async fn journal_since(
        &self,
        user: ObjectId,
        mailbox: ObjectId,
        since: u64,
    ) -> Result<Vec<JournalEntry>> {
        let mb = self.get_mailbox(user, mailbox).await?;
        // Nothing committed past `since` when the mailbox was read: no journal read.
        if since >= mb.modify_index {
            return Ok(Vec::new());
        }
        let entries = self
            .timed("journal_since", self.store().journal_since(mailbox, since))
            .await?;
        // Entries starting right after `since` are complete; otherwise pruning may have
        // removed the first ones. The floor is read after the entries (pruning raises it
        // before deleting), so a concurrent prune is always noticed.
        if entries.first().map(|e| e.modseq) != Some(since + 1)
            && since < self.store().journal_floor(mailbox).await?
        {
            return Err(Error::JournalPruned);
        }
        Ok(entries)
    }

    /// One pass of the `journal-prune` job: remove journal entries older than
    /// `retention`, `batch` at a time, until none is left; returns how many went.
    pub async fn prune_journal(&self, retention: std::time::Duration, batch: u32) -> Result<u64> {
        let before = cutoff(retention);
        let mut total = 0;
        loop {
            let n = self.store().prune_journal(before, batch.max(1)).await?;
            total += n;
            if n == 0 {
                return Ok(total);
            }
        }
    }

    /// Part of the `journal-prune` job: delete threads without messages that were not
    /// updated within `retention`, examining `batch` threads after `after`; returns
    /// (deleted, where to go on: None when the walk reached the end).
    pub async fn purge_orphan_threads(
        &self,
        retention: std::time::Duration,
        after: Option<ObjectId>,
        batch: u32,
    ) -> Result<(u64, Option<ObjectId>)> {
        let before = cutoff(retention);
        Ok(self
            .store()
            .purge_orphan_threads(before, after, batch.max(1))
            .await?)
    }

    /// A user's journal after an entry id (the SSE change stream).
    pub async fn user_journal_after(
        &self,
        user: ObjectId,
        after: u64,
        limit: u32,
    ) -> Result<Vec<JournalEntry>> {
        Ok(self.store().user_journal_after(user, after, limit).await?)
    }

    pub async fn last_journal_id(&self) -> Result<u64> {
        Ok(self.store().last_journal_id().await?)
    }

    /// Delete messages whose expiry has passed; returns how many were removed.
    pub async fn sweep_expired(&self, limit: u32) -> Result<usize> {
        let expired = self.store().expired_messages(Utc::now(), limit).await?;
        let mut removed = 0;
        for (mailbox, uid) in expired {
            removed += self
                .store()
                .expunge(mailbox, &UidSet::from_uids([uid]), false)
                .await?
                .len();
        }
        Ok(removed)
    }
}

fn thread_ids(index: &MessageIndex) -> Vec<String> {
    let mut ids: Vec<String> = index.references.clone();
    if let Some(r) = &index.in_reply_to {
        ids.push(r.clone());
    }
    if let Some(m) = &index.message_id {
        ids.push(m.clone());
    }
    ids.sort();
    ids.dedup();
    ids
}

fn retention_expiry(mailbox: &Mailbox, internal_date: DateTime<Utc>) -> Option<DateTime<Utc>> {
    (mailbox.retention > 0).then(|| {
        internal_date + Duration::milliseconds(mailbox.retention.min(i64::MAX as u64) as i64)
    })
}

/// The instant `retention` ago (the beginning of time for an absurd retention).
fn cutoff(retention: std::time::Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(retention)
        .ok()
        .and_then(|d| Utc::now().checked_sub_signed(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}
