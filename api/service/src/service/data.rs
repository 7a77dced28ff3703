//! Account export and import (POST /data/export, POST /data/import): what an
//! export holds, in which order, and how an import applies each record.
//!
//! The service deals in domain records; the HTTP layer renders them in WildDuck's
//! container format. An export is pulled one record at a time, so a big account
//! never sits in memory: per user only its small records (addresses, ASPs,
//! mailboxes, filters) and one mailbox's UID list are held, and at most one
//! message's bytes.
//!
//! An import never overwrites: a record whose id (or unique name) exists already
//! counts as `existing`, one that does not validate or whose owner is missing as
//! `failed`, as WildDuck's importer reports them.

use std::collections::{HashMap, VecDeque};

use crate::model::{Address, Mailbox, MessageMeta, Paging, User, UserQuery};
use crate::normalize::{parse_address, username_view};
use crate::store_auth::Asp;
use crate::{Autoreply, Error, Filter, ObjectId, Result, StoreError};

use super::{AppendOptions, Service};

/// One exported record.
// Records are made one at a time and moved once: boxing the user saves nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum DataRecord {
    User(User),
    Address(Address),
    Asp(Asp),
    Mailbox(Mailbox),
    Autoreply {
        user: ObjectId,
        autoreply: Autoreply,
    },
    Filter(Filter),
    Message(ExportedMessage),
}

/// A message with its raw bytes; `meta.mailbox` is the source mailbox's id.
#[derive(Debug, Clone)]
pub struct ExportedMessage {
    pub meta: MessageMeta,
    pub raw: Vec<u8>,
}

/// Which accounts an export covers.
#[derive(Debug, Clone, Default)]
pub struct ExportQuery {
    /// Only these users (empty: every user, or those with a tag below).
    pub users: Vec<ObjectId>,
    /// Users having any of these tags (lower-cased, de-duplicated).
    pub tags: Vec<String>,
    /// Include every message (raw bytes, flags, UIDs, dates): Eider's extension.
    pub messages: bool,
}

/// Users listed per page while the export collects the matching ids.
const USER_PAGE: u32 = 250;

impl Service {
    /// Start an export: resolves the matching users now (ids only), reads each
    /// user's records as the export is pulled.
    pub async fn data_export(&self, query: ExportQuery) -> Result<DataExport> {
        let mut tags: Vec<String> = Vec::new();
        for t in &query.tags {
            let t = t.trim().to_lowercase();
            if !t.is_empty() && !tags.contains(&t) {
                tags.push(t);
            }
        }
        let mut users = Vec::new();
        let mut paging = Paging {
            limit: USER_PAGE,
            ..Paging::default()
        };
        loop {
            let page = self
                .store()
                .list_users(&UserQuery {
                    tags: tags.clone(),
                    paging: paging.clone(),
                    ..UserQuery::default()
                })
                .await?;
            for u in page.results {
                if query.users.is_empty() || query.users.contains(&u.id) {
                    users.push(u.id);
                }
            }
            match page.next {
                Some(next) if paging.next.as_ref() != Some(&next) => paging.next = Some(next),
                _ => break,
            }
        }
        Ok(DataExport {
            service: self.clone(),
            messages: query.messages,
            users: users.into(),
            pending: VecDeque::new(),
            mailboxes: VecDeque::new(),
            current: None,
        })
    }
}

/// An export being pulled: [`DataExport::next_record`] until None.
pub struct DataExport {
    service: Service,
    messages: bool,
    users: VecDeque<ObjectId>,
    /// The current user's small records not yet handed out.
    pending: VecDeque<DataRecord>,
    /// The current user's mailboxes whose messages are still to come.
    mailboxes: VecDeque<(ObjectId, ObjectId)>,
    /// The mailbox being read: (user, mailbox, UIDs left).
    current: Option<(ObjectId, ObjectId, VecDeque<u32>)>,
}

impl DataExport {
    /// Whether the export carries messages.
    pub fn with_messages(&self) -> bool {
        self.messages
    }

    pub async fn next_record(&mut self) -> Result<Option<DataRecord>> {
        loop {
            if let Some(r) = self.pending.pop_front() {
                return Ok(Some(r));
            }
            if let Some((user, mailbox, uids)) = self.current.as_mut() {
                let (user, mailbox) = (*user, *mailbox);
                let Some(uid) = uids.pop_front() else {
                    self.current = None;
                    continue;
                };
                // Expunged since the UID list was read: nothing to export.
                let Some(m) = self.service.store().get_message(mailbox, uid).await? else {
                    continue;
                };
                if m.meta.user != user {
                    continue;
                }
                let mut reader = self.service.body_reader(&m, 0, m.meta.size);
                let mut raw = Vec::with_capacity(usize::try_from(m.meta.size).unwrap_or(0));
                while let Some(chunk) = reader.next_chunk().await? {
                    raw.extend_from_slice(&chunk);
                }
                return Ok(Some(DataRecord::Message(ExportedMessage {
                    meta: m.meta,
                    raw,
                })));
            }
            if let Some((user, mailbox)) = self.mailboxes.pop_front() {
                let uids = self.service.store().list_uids(mailbox).await?;
                self.current = Some((user, mailbox, uids.into()));
                continue;
            }
            let Some(user) = self.users.pop_front() else {
                return Ok(None);
            };
            self.load_user(user).await?;
        }
    }

    /// Queue a user's records in the order an import needs them: the user, then
    /// what names it, mailboxes before the filters that may point at them.
    async fn load_user(&mut self, id: ObjectId) -> Result<()> {
        let store = self.service.store();
        // Deleted since the export began.
        let Some(user) = store.get_user(id).await? else {
            return Ok(());
        };
        self.pending.push_back(DataRecord::User(user));
        for a in store.list_user_addresses(id).await? {
            self.pending.push_back(DataRecord::Address(a));
        }
        for a in store.list_asps(id).await? {
            self.pending.push_back(DataRecord::Asp(a));
        }
        let mailboxes = store.list_mailboxes(id).await?;
        for m in &mailboxes {
            self.pending.push_back(DataRecord::Mailbox(m.clone()));
        }
        if let Some(autoreply) = store.get_autoreply(id).await? {
            self.pending.push_back(DataRecord::Autoreply {
                user: id,
                autoreply,
            });
        }
        for f in store.list_user_filters(id).await? {
            self.pending.push_back(DataRecord::Filter(f));
        }
        if self.messages {
            self.mailboxes = mailboxes.iter().map(|m| (id, m.id)).collect();
        }
        Ok(())
    }
}

/// What an import did with one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    Imported,
    /// The record (or the unique name it claims) exists; nothing was changed.
    Existing,
    /// Refused; the reason is logged.
    Failed(String),
    /// A record of a kind Eider does not import (WildDuck's importer skips these too).
    Skipped,
}

/// WildDuck's import counters, plus the records skipped as unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportCounts {
    pub entries: u64,
    pub imported: u64,
    pub failed: u64,
    pub existing: u64,
    pub skipped: u64,
}

impl ImportCounts {
    pub fn count(&mut self, outcome: &ImportOutcome) {
        self.entries += 1;
        match outcome {
            ImportOutcome::Imported => self.imported += 1,
            ImportOutcome::Existing => self.existing += 1,
            ImportOutcome::Failed(_) => self.failed += 1,
            ImportOutcome::Skipped => self.skipped += 1,
        }
    }
}

/// Where an exported mailbox's messages go on this side.
#[derive(Debug, Clone, Copy)]
struct Target {
    user: ObjectId,
    mailbox: ObjectId,
    /// The mailbox was created by this import with the exported UIDVALIDITY, so
    /// messages keep their UIDs and UIDNEXT is restored at the end.
    keep_uids: bool,
    uid_next: u32,
}

/// An import in progress: records in export order, then [`DataImport::finish`].
pub struct DataImport {
    service: Service,
    messages: bool,
    targets: HashMap<ObjectId, Target>,
    pub counts: ImportCounts,
}

impl Service {
    /// Start an import. `messages`: the export carries messages, so mailboxes keep
    /// their UIDVALIDITY (WildDuck's imports, without messages, reset it).
    pub fn data_import(&self, messages: bool) -> DataImport {
        DataImport {
            service: self.clone(),
            messages,
            targets: HashMap::new(),
            counts: ImportCounts::default(),
        }
    }
}

fn failed(e: impl std::fmt::Display) -> ImportOutcome {
    ImportOutcome::Failed(e.to_string())
}

/// Conflicts are records that exist (a unique name is taken); other errors fail
/// the record.
fn outcome(r: crate::StoreResult<()>) -> ImportOutcome {
    match r {
        Ok(()) => ImportOutcome::Imported,
        Err(StoreError::Conflict(_)) => ImportOutcome::Existing,
        Err(e) => failed(Error::from(e)),
    }
}

impl DataImport {
    /// Apply one record and count it.
    pub async fn import(&mut self, record: DataRecord) -> ImportOutcome {
        let o = match self.apply(record).await {
            Ok(o) => o,
            Err(e) => failed(e),
        };
        if let ImportOutcome::Failed(reason) = &o {
            tracing::warn!(%reason, "import: record refused");
        }
        self.counts.count(&o);
        o
    }

    /// Count a record the caller could not decode.
    pub fn count_undecodable(&mut self, reason: &str) {
        tracing::warn!(%reason, "import: undecodable record");
        self.counts
            .count(&ImportOutcome::Failed(reason.to_string()));
    }

    /// Count a record of a kind that is not imported.
    pub fn count_skipped(&mut self) {
        self.counts.count(&ImportOutcome::Skipped);
    }

    /// Restore the UIDNEXT of mailboxes that kept their UIDs.
    pub async fn finish(&mut self) -> Result<()> {
        for t in self.targets.values().filter(|t| t.keep_uids) {
            self.service
                .store()
                .raise_uid_next(t.user, t.mailbox, t.uid_next)
                .await?;
        }
        Ok(())
    }

    async fn user_exists(&self, user: ObjectId) -> Result<bool> {
        Ok(self.service.store().get_user(user).await?.is_some())
    }

    async fn apply(&mut self, record: DataRecord) -> Result<ImportOutcome> {
        let store = self.service.store();
        match record {
            DataRecord::User(mut u) => {
                if store.get_user(u.id).await?.is_some() {
                    return Ok(ImportOutcome::Existing);
                }
                u.unameview = username_view(&u.username)?;
                // Messages come with the import (or not at all): storage is recounted.
                u.storage_used = 0;
                Ok(outcome(store.create_user(&u, None, &[]).await))
            }
            DataRecord::Address(mut a) => {
                let Some(user) = a.user else {
                    return Ok(failed("forwarded addresses are not exported per user"));
                };
                if store.get_address(a.id).await?.is_some() {
                    return Ok(ImportOutcome::Existing);
                }
                if !self.user_exists(user).await? {
                    return Ok(failed(Error::UserNotFound));
                }
                a.addrview = parse_address(&a.address)?.view();
                Ok(outcome(store.create_address(&a).await))
            }
            DataRecord::Asp(a) => {
                if store.get_asp(a.user, a.id).await?.is_some() {
                    return Ok(ImportOutcome::Existing);
                }
                if !self.user_exists(a.user).await? {
                    return Ok(failed(Error::UserNotFound));
                }
                if a.password.is_empty() {
                    return Ok(failed("an application password needs its hash"));
                }
                Ok(outcome(store.create_asp(&a).await))
            }
            DataRecord::Mailbox(m) => self.mailbox(m).await,
            DataRecord::Autoreply { user, autoreply } => {
                if store.get_autoreply(user).await?.is_some() {
                    return Ok(ImportOutcome::Existing);
                }
                if !self.user_exists(user).await? {
                    return Ok(failed(Error::UserNotFound));
                }
                store.set_autoreply(user, &autoreply).await?;
                Ok(ImportOutcome::Imported)
            }
            DataRecord::Filter(f) => {
                if store.get_filter(f.user, f.id).await?.is_some() {
                    return Ok(ImportOutcome::Existing);
                }
                if !self.user_exists(f.user).await? {
                    return Ok(failed(Error::UserNotFound));
                }
                // The action's mailbox may be one the import mapped elsewhere;
                // delivery falls back to INBOX for a missing one.
                f.validate(true)?;
                Ok(outcome(store.create_filter(&f, u64::MAX).await))
            }
            DataRecord::Message(m) => self.message(m).await,
        }
    }

    async fn mailbox(&mut self, mut m: Mailbox) -> Result<ImportOutcome> {
        let store = self.service.store();
        if !self.user_exists(m.user).await? {
            return Ok(failed(Error::UserNotFound));
        }
        let source = m.id;
        let existing = match store.get_mailbox(m.user, m.id).await? {
            Some(e) => Some(e),
            None => store.find_mailbox(m.user, &m.path).await?,
        };
        if let Some(e) = existing {
            // Messages still go in, with the UIDs this mailbox gives them.
            self.targets.insert(
                source,
                Target {
                    user: e.user,
                    mailbox: e.id,
                    keep_uids: false,
                    uid_next: e.uid_next,
                },
            );
            return Ok(ImportOutcome::Existing);
        }
        m.path = super::normalize_path(&m.path)?;
        let uid_next = m.uid_next;
        m.uid_next = 1;
        // With messages the exported UIDVALIDITY and MODSEQ stay (MODSEQs only grow
        // for a client that knew the source mailbox); without, as WildDuck's import
        // does, the mailbox starts fresh since its messages stay behind.
        if !self.messages {
            m.uid_validity = u32::try_from(chrono::Utc::now().timestamp()).unwrap_or(1);
            m.modify_index = 0;
        }
        let o = outcome(store.create_mailbox(&m).await);
        if o == ImportOutcome::Imported {
            self.targets.insert(
                source,
                Target {
                    user: m.user,
                    mailbox: m.id,
                    keep_uids: self.messages,
                    uid_next,
                },
            );
        }
        Ok(o)
    }

    async fn message(&mut self, m: ExportedMessage) -> Result<ImportOutcome> {
        let ExportedMessage { meta, raw } = m;
        let Some(target) = self.targets.get(&meta.mailbox).copied() else {
            return Ok(failed(Error::NoSuchMailbox));
        };
        if target.user != meta.user {
            return Ok(failed("the message's user does not own its mailbox"));
        }
        let store = self.service.store();
        if store
            .get_message_meta_by_id(meta.user, meta.id)
            .await?
            .is_some()
        {
            return Ok(ImportOutcome::Existing);
        }
        if target.keep_uids {
            store
                .raise_uid_next(target.user, target.mailbox, meta.uid)
                .await?;
        }
        let content = self.service.ingest(raw).await?;
        let opts = AppendOptions {
            flags: meta.flags,
            internal_date: Some(meta.internal_date),
            meta_data: Some(meta.meta_data),
            expires: meta.expires,
            dedupe_message_id: false,
            // Moving an account does not stop at its quota.
            ignore_quota: true,
        };
        let appended = self
            .service
            .append_content_as(meta.id, target.user, target.mailbox, content, opts)
            .await;
        match appended {
            Ok(_) => Ok(ImportOutcome::Imported),
            Err(e) => Ok(failed(e)),
        }
    }
}
