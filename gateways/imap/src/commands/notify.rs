//! NOTIFY (RFC 5465): unsolicited events for the selected mailbox and for
//! mailboxes that are not selected, sent while the client is quiet.
//!
//! Nothing here is kept beyond the connection: the session holds its filters,
//! the id of the last journal entry it has reported, and the mailbox names and
//! subscriptions it last told the client about (to name a renamed mailbox's old
//! name and to tell which subscriptions changed). Events come from the user's
//! journal, read when a beacon arrives on the Bus; so a change made on another
//! instance reaches the session the same way a local one does.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;

use eider_service::model::{Beacon, JournalKind, Mailbox};
use eider_service::{normalize_path, ObjectId};
use tokio::sync::broadcast;

use crate::mailbox_names::DELIMITER;
use crate::parser::{
    FetchAtt, FetchModifiers, NotifyCommand, NotifyEvent, NotifyFilter, NotifySpec, SeqBound,
    SequenceSet, StatusItem,
};
use crate::response::{service_error, Reply};
use crate::session::Session;

/// Journal entries read per query while catching up.
const JOURNAL_BATCH: u32 = 500;
/// More LIST lines than this in one delivery: the client is told to resynchronize
/// (NOTIFICATIONOVERFLOW) instead of being sent an unbounded answer.
const MAX_LIST_LINES: usize = 1000;
/// The events Eider reports (for BADEVENT).
const SUPPORTED: &str = "MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange";

/// Which mailboxes a group covers, with names decoded to stored paths.
#[derive(Debug, Clone)]
enum Filter {
    Selected { delayed: bool },
    Inboxes,
    Personal,
    Subscribed,
    Subtree(Vec<String>),
    Mailboxes(Vec<String>),
}

/// One event group of NOTIFY SET.
#[derive(Debug, Clone)]
struct Group {
    filter: Filter,
    /// MessageNew and MessageExpunge (RFC 5465 requires them together).
    messages: bool,
    flags: bool,
    names: bool,
    subscriptions: bool,
    fetch: Vec<FetchAtt>,
}

/// The NOTIFY state of a session.
pub(crate) struct Notify {
    groups: Vec<Group>,
    /// A view of the user's beacons of its own, so the session can wait on it
    /// between commands.
    pub(crate) rx: broadcast::Receiver<Beacon>,
    /// The last journal entry (store-wide id) already considered.
    cursor: u64,
    /// Mailbox id -> path as last reported (OLDNAME of a rename, names of message events).
    paths: HashMap<ObjectId, String>,
    /// Subscriptions as last reported; Some when a group needs them.
    subscribed: Option<BTreeSet<String>>,
    /// A beacon that may mean a subscription change was taken off `rx`.
    subscriptions_dirty: bool,
}

impl Notify {
    /// Note a beacon the session woke on; false when the Bus is closed (nothing to do).
    pub(crate) fn woken_by(&mut self, r: &Result<Beacon, broadcast::error::RecvError>) -> bool {
        match r {
            Ok(b) => self.subscriptions_dirty |= mailbox_level(b),
            Err(broadcast::error::RecvError::Lagged(_)) => self.subscriptions_dirty = true,
            Err(broadcast::error::RecvError::Closed) => return false,
        }
        true
    }

    /// The first group (in the order given) that covers the non-selected `path`.
    fn group_for(&self, path: &str) -> Option<&Group> {
        self.groups.iter().find(|g| match &g.filter {
            Filter::Selected { .. } => false,
            Filter::Inboxes => path == "INBOX",
            Filter::Personal => true,
            Filter::Subscribed => self.subscribed.as_ref().is_some_and(|s| s.contains(path)),
            Filter::Subtree(names) => names.iter().any(|n| {
                path == n
                    || path
                        .strip_prefix(n.as_str())
                        .is_some_and(|rest| rest.starts_with(DELIMITER))
            }),
            Filter::Mailboxes(names) => names.iter().any(|n| n == path),
        })
    }

    /// The group that applies to the selected mailbox at `path`: `selected` or
    /// `selected-delayed` if given, else the group that covers its name (then
    /// with expunges held to the points RFC 3501 allows them).
    fn group_for_selected(&self, path: &str) -> Option<(Group, bool)> {
        if let Some(g) = self
            .groups
            .iter()
            .find(|g| matches!(g.filter, Filter::Selected { .. }))
        {
            let delayed = matches!(g.filter, Filter::Selected { delayed: true });
            return Some((g.clone(), delayed));
        }
        self.group_for(path).map(|g| (g.clone(), true))
    }

    fn wants_subscriptions(&self) -> bool {
        self.groups
            .iter()
            .any(|g| g.subscriptions || matches!(g.filter, Filter::Subscribed))
    }
}

/// What one delivery found to report for mailboxes that are not selected.
#[derive(Default)]
struct Pending {
    /// Mailbox id -> STATUS with HIGHESTMODSEQ (FlagChange).
    status: BTreeMap<ObjectId, bool>,
    /// LIST lines: (attributes, path, old name).
    lists: Vec<(&'static str, String, Option<String>)>,
    selected_changed: bool,
    overflow: bool,
}

fn mailbox_level(beacon: &Beacon) -> bool {
    beacon.modseq == 0 && !beacon.is_session_control()
}

impl Session {
    pub(crate) async fn cmd_notify(&mut self, cmd: NotifyCommand) -> io::Result<Reply> {
        let NotifyCommand::Set { status, specs } = cmd else {
            self.notify = None;
            return Ok(Reply::ok("NOTIFY completed"));
        };
        let groups = match self.notify_groups(specs) {
            Ok(g) => g,
            Err(reply) => return Ok(reply),
        };
        let user = self.user_id();
        let Some(rx) = self.beacons.as_ref().map(|b| b.resubscribe()) else {
            return Ok(Reply::no("NOTIFY needs a logged-in session"));
        };
        // Start after what exists now: the first delivery reports later changes only.
        let cursor = match self.service().last_journal_id().await {
            Ok(id) => id,
            Err(e) => return Ok(service_error(&e)),
        };
        let mailboxes = match self.service().list_mailboxes(user).await {
            Ok(m) => m,
            Err(e) => return Ok(service_error(&e)),
        };
        let mut notify = Notify {
            groups,
            rx,
            cursor,
            paths: mailboxes
                .iter()
                .filter(|m| !m.hidden)
                .map(|m| (m.id, m.path.clone()))
                .collect(),
            subscribed: None,
            subscriptions_dirty: false,
        };
        if notify.wants_subscriptions() {
            match self.service().list_subscriptions(user).await {
                Ok(s) => notify.subscribed = Some(s.into_iter().collect()),
                Err(e) => return Ok(service_error(&e)),
            }
        }
        // NOTIFY SET STATUS: where message events are watched, the client learns
        // the current state now (the selected mailbox excepted, RFC 5465 3.1).
        let mut initial: Vec<(Mailbox, bool)> = Vec::new();
        if status {
            let selected = self.selected.as_ref().map(|s| s.id);
            for m in mailboxes.into_iter().filter(|m| !m.hidden) {
                if Some(m.id) == selected {
                    continue;
                }
                if let Some(g) = notify.group_for(&m.path).filter(|g| g.messages) {
                    let flags = g.flags;
                    initial.push((m, flags));
                }
            }
        }
        self.notify = Some(notify);
        for (m, flags) in initial {
            self.write_notify_status(&m, flags).await?;
        }
        Ok(Reply::ok("NOTIFY completed"))
    }

    /// Check the groups against RFC 5465 5/6 and decode their mailbox names.
    fn notify_groups(&self, specs: Vec<NotifySpec>) -> Result<Vec<Group>, Reply> {
        let mut groups = Vec::with_capacity(specs.len());
        for spec in specs {
            let mut g = Group {
                filter: Filter::Personal,
                messages: false,
                flags: false,
                names: false,
                subscriptions: false,
                fetch: Vec::new(),
            };
            let (mut new, mut expunge) = (false, false);
            for e in spec.events {
                match e {
                    NotifyEvent::MessageNew(atts) => {
                        new = true;
                        g.fetch = atts;
                    }
                    NotifyEvent::MessageExpunge => expunge = true,
                    NotifyEvent::FlagChange => g.flags = true,
                    NotifyEvent::MailboxName => g.names = true,
                    NotifyEvent::SubscriptionChange => g.subscriptions = true,
                    NotifyEvent::AnnotationChange
                    | NotifyEvent::MailboxMetadata
                    | NotifyEvent::ServerMetadata => {
                        return Err(Reply::no(format!("{} is not supported", e.name()))
                            .with_code(format!("BADEVENT ({SUPPORTED})")));
                    }
                }
            }
            if new != expunge {
                return Err(Reply::bad(
                    "MessageNew and MessageExpunge must be given together",
                ));
            }
            if g.flags && !new {
                return Err(Reply::bad("FlagChange needs MessageNew and MessageExpunge"));
            }
            g.messages = new;
            let selected = matches!(
                spec.filter,
                NotifyFilter::Selected | NotifyFilter::SelectedDelayed
            );
            if !g.fetch.is_empty() && !selected {
                return Err(Reply::bad(
                    "MessageNew fetch attributes are for the selected mailbox only",
                ));
            }
            let paths = |names: Vec<Vec<u8>>| -> Vec<String> {
                names
                    .iter()
                    .filter_map(|n| self.mailbox_path(n))
                    .filter_map(|p| normalize_path(&p).ok())
                    .collect()
            };
            g.filter = match spec.filter {
                NotifyFilter::Selected => Filter::Selected { delayed: false },
                NotifyFilter::SelectedDelayed => Filter::Selected { delayed: true },
                NotifyFilter::Inboxes => Filter::Inboxes,
                NotifyFilter::Personal => Filter::Personal,
                NotifyFilter::Subscribed => Filter::Subscribed,
                NotifyFilter::Subtree(n) => Filter::Subtree(paths(n)),
                NotifyFilter::Mailboxes(n) => Filter::Mailboxes(paths(n)),
            };
            groups.push(g);
        }
        Ok(groups)
    }

    /// `* STATUS` of a mailbox that is not selected: what MessageNew and
    /// MessageExpunge change, and HIGHESTMODSEQ for FlagChange (as Dovecot sends).
    async fn write_notify_status(&mut self, m: &Mailbox, flags: bool) -> io::Result<()> {
        let mut items = vec![
            StatusItem::Messages,
            StatusItem::UidNext,
            StatusItem::UidValidity,
        ];
        if flags {
            items.push(StatusItem::HighestModSeq);
            items.push(StatusItem::Unseen);
        }
        if let Ok(line) = self.status_line(m, &items, false).await {
            self.conn.out().extend_from_slice(&line);
        }
        self.conn.maybe_flush().await
    }

    /// Report what happened since the last delivery: called when a beacon arrives
    /// (between commands, or during IDLE). The journal is read from the session's
    /// cursor, so beacons lost to a lagging receiver lose nothing.
    pub(crate) async fn notify_deliver(&mut self) -> io::Result<()> {
        let Some(n) = self.notify.as_mut() else {
            return Ok(());
        };
        let mut subscriptions_may_change = std::mem::take(&mut n.subscriptions_dirty);
        loop {
            match n.rx.try_recv() {
                Ok(b) => subscriptions_may_change |= mailbox_level(&b),
                Err(broadcast::error::TryRecvError::Lagged(_)) => subscriptions_may_change = true,
                Err(_) => break,
            }
        }
        let user = self.user_id();
        let selected = self.selected.as_ref().map(|s| s.id);
        let mut pending = Pending::default();
        loop {
            let Some(n) = self.notify.as_mut() else {
                return Ok(());
            };
            let batch = match self
                .shared
                .service
                .user_journal_after(user, n.cursor, JOURNAL_BATCH)
                .await
            {
                Ok(b) => b,
                Err(e) => {
                    tracing::debug!("NOTIFY journal read failed: {e}");
                    break;
                }
            };
            let full = batch.len() as u32 >= JOURNAL_BATCH;
            for e in batch {
                n.cursor = n.cursor.max(e.id);
                if Some(e.mailbox) == selected
                    && matches!(
                        e.kind,
                        JournalKind::Exists | JournalKind::Expunge | JournalKind::Flags
                    )
                {
                    pending.selected_changed = true;
                    continue;
                }
                match e.kind {
                    JournalKind::Exists | JournalKind::Expunge | JournalKind::Flags => {
                        let Some(path) = n.paths.get(&e.mailbox) else {
                            continue;
                        };
                        let Some(g) = n.group_for(path) else {
                            continue;
                        };
                        let wanted = match e.kind {
                            JournalKind::Flags => g.flags,
                            _ => g.messages,
                        };
                        if wanted {
                            let flags = g.flags;
                            *pending.status.entry(e.mailbox).or_insert(flags) |= flags;
                        }
                    }
                    JournalKind::MailboxCreate
                    | JournalKind::MailboxRename
                    | JournalKind::MailboxDelete => {
                        let old = match e.kind {
                            JournalKind::MailboxDelete => n.paths.remove(&e.mailbox),
                            _ => e.path.clone().and_then(|p| n.paths.insert(e.mailbox, p)),
                        };
                        let Some(path) = e.path.clone().or_else(|| old.clone()) else {
                            continue;
                        };
                        let named = |p: &str| n.group_for(p).is_some_and(|g| g.names);
                        if !named(&path) && !old.as_deref().is_some_and(named) {
                            continue;
                        }
                        let line = match e.kind {
                            JournalKind::MailboxCreate => ("", path, None),
                            JournalKind::MailboxRename => ("", path, old),
                            _ => ("\\NonExistent", path, None),
                        };
                        if pending.lists.len() >= MAX_LIST_LINES {
                            pending.overflow = true;
                        } else {
                            pending.lists.push(line);
                        }
                    }
                }
            }
            if !full || pending.overflow {
                break;
            }
        }
        if pending.overflow {
            // RFC 5465 5.8: too much to say; NOTIFY ends and the client resynchronizes.
            self.notify = None;
            self.untagged("OK [NOTIFICATIONOVERFLOW] Too many events; NOTIFY is off");
            return Ok(());
        }
        for (attrs, path, old) in std::mem::take(&mut pending.lists) {
            let mut out = format!("* LIST ({attrs}) \"/\" ").into_bytes();
            self.write_mailbox_name(&mut out, &path);
            if let Some(old) = old {
                out.extend_from_slice(b" (\"OLDNAME\" (");
                self.write_mailbox_name(&mut out, &old);
                out.extend_from_slice(b"))");
            }
            out.extend_from_slice(b"\r\n");
            self.conn.out().extend_from_slice(&out);
        }
        if subscriptions_may_change {
            self.notify_subscriptions().await?;
        }
        for (id, flags) in std::mem::take(&mut pending.status) {
            // Gone since (deleted): its LIST (\NonExistent) said so.
            if let Ok(m) = self.service().get_mailbox(user, id).await {
                self.write_notify_status(&m, flags).await?;
            }
        }
        if pending.selected_changed {
            self.notify_selected().await?;
        }
        Ok(())
    }

    /// The selected mailbox's changes, pushed now when a group asks for them.
    async fn notify_selected(&mut self) -> io::Result<()> {
        let (Some(n), Some(sel)) = (self.notify.as_ref(), self.selected.as_ref()) else {
            return Ok(());
        };
        let Some((group, delayed)) = n.group_for_selected(&sel.path) else {
            return Ok(());
        };
        if !group.messages && !group.flags {
            return Ok(());
        }
        let before = sel.uids.len();
        // With `selected`, EXPUNGE may come while no command runs (RFC 5465 5.1);
        // `selected-delayed` keeps RFC 3501's rule.
        self.sync(!delayed).await?;
        if group.fetch.is_empty() {
            return Ok(());
        }
        let Some(sel) = self.selected.as_ref() else {
            return Ok(());
        };
        let new: Vec<(SeqBound, SeqBound)> = sel
            .uids
            .iter()
            .skip(before.min(sel.uids.len()))
            .map(|&u| (SeqBound::Num(u), SeqBound::Num(u)))
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        let set = SequenceSet::normalized(new);
        // The FETCH lines are the event; the command's own answer is not sent.
        let _ = self
            .cmd_fetch(true, set, group.fetch.clone(), FetchModifiers::default())
            .await?;
        Ok(())
    }

    /// SubscriptionChange: LIST lines for names subscribed or unsubscribed since
    /// the last look, for the groups that watch them.
    async fn notify_subscriptions(&mut self) -> io::Result<()> {
        let Some(n) = self.notify.as_ref() else {
            return Ok(());
        };
        let Some(before) = n.subscribed.clone() else {
            return Ok(());
        };
        let Ok(now) = self.service().list_subscriptions(self.user_id()).await else {
            return Ok(());
        };
        let now: BTreeSet<String> = now.into_iter().collect();
        let mut lines: Vec<(&'static str, String)> = Vec::new();
        if let Some(n) = self.notify.as_mut() {
            // A name that left the subscriptions is matched against the old view
            // (the `subscribed` filter covered it then), a new one against the new.
            for removed in before.difference(&now) {
                if n.group_for(removed).is_some_and(|g| g.subscriptions) {
                    lines.push(("", removed.clone()));
                }
            }
            n.subscribed = Some(now.clone());
            for added in now.difference(&before) {
                if n.group_for(added).is_some_and(|g| g.subscriptions) {
                    lines.push(("\\Subscribed", added.clone()));
                }
            }
        }
        for (attrs, path) in lines {
            let mut out = format!("* LIST ({attrs}) \"/\" ").into_bytes();
            self.write_mailbox_name(&mut out, &path);
            out.extend_from_slice(b"\r\n");
            self.conn.out().extend_from_slice(&out);
        }
        self.conn.maybe_flush().await
    }
}
