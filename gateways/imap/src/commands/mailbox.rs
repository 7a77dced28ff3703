//! Mailbox commands: SELECT/EXAMINE (with CONDSTORE/QRESYNC), CREATE, DELETE,
//! RENAME, SUBSCRIBE/UNSUBSCRIBE, LIST/LSUB/XLIST (LIST-EXTENDED, LIST-STATUS,
//! SPECIAL-USE), STATUS, GETQUOTA/GETQUOTAROOT.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io;

use eider_service::model::{JournalKind, Mailbox, SpecialUse, UidSet};
use eider_service::Error as ServiceError;

use crate::mailbox_names::{from_wire, to_wire, Pattern, DELIMITER};
use crate::parser::{ranges_contain, ListCommand, SelectParams, SequenceSet, StatusItem};
use crate::response::{
    absent_ranges, compress_set, flag_list, format_ranges, service_error, write_string, Reply,
};
use crate::session::{Selected, Session, State};

/// Longest LIST pattern or reference accepted, in bytes.
const MAX_PATTERN: usize = 2048;

fn no_such_mailbox() -> Reply {
    Reply::no("Mailbox does not exist").with_code("NONEXISTENT")
}

/// One line of a LIST answer before it is written.
struct ListEntry {
    path: String,
    attrs: Vec<&'static str>,
    child_info_subscribed: bool,
    mailbox: Option<Mailbox>,
}

/// The lines of a LIST/LSUB/XLIST answer, in order (INBOX first, then by name).
///
/// The names come from the mailboxes, or with LSUB and LIST (SUBSCRIBED) from the
/// subscriptions, which may name mailboxes that no longer exist (\NonExistent,
/// RFC 5258). A name the patterns reach only as the parent of a name they do not
/// reach is listed too: as \Noselect for LSUB and for a LIST of a missing parent
/// (RFC 3501 6.3.8/6.3.9), and with CHILDINFO for RECURSIVEMATCH (RFC 5258 3.5).
fn list_entries(
    list: &ListCommand,
    patterns: &[Pattern],
    all: &[Mailbox],
    subscribed: &BTreeSet<String>,
) -> Vec<ListEntry> {
    // Hidden mailboxes are not IMAP's, nor their subscriptions.
    let hidden: HashSet<&str> = all
        .iter()
        .filter(|m| m.hidden)
        .map(|m| m.path.as_str())
        .collect();
    let mailboxes: Vec<&Mailbox> = all.iter().filter(|m| !m.hidden).collect();
    let by_path: HashMap<&str, &Mailbox> =
        mailboxes.iter().map(|m| (m.path.as_str(), *m)).collect();
    let subscribed: BTreeSet<&str> = subscribed
        .iter()
        .map(String::as_str)
        .filter(|p| !hidden.contains(p))
        .collect();
    let has_children = |path: &str| {
        let prefix = format!("{path}{DELIMITER}");
        mailboxes.iter().any(|m| m.path.starts_with(&prefix))
    };
    let matched = |path: &str| patterns.iter().any(|p| p.matches(path));
    let only_subscribed = list.lsub || list.select.subscribed;
    let show_special =
        !list.lsub && (!list.extended || list.ret.special_use || list.select.special_use);
    let show_subscribed = !list.lsub && (list.ret.subscribed || list.select.subscribed);
    let key = |path: &str| (path != "INBOX", path.to_string());
    let names: Vec<&str> = if only_subscribed {
        subscribed.iter().copied().collect()
    } else {
        mailboxes.iter().map(|m| m.path.as_str()).collect()
    };

    let mut entries: BTreeMap<(bool, String), ListEntry> = BTreeMap::new();
    for &name in &names {
        let mailbox = by_path.get(name).copied();
        if list.select.special_use && mailbox.is_none_or(|m| m.special_use.is_none()) {
            continue;
        }
        if !matched(name) {
            continue;
        }
        let mut attrs: Vec<&'static str> = Vec::new();
        if !list.lsub {
            match mailbox {
                Some(_) if has_children(name) => attrs.push("\\HasChildren"),
                Some(_) => attrs.push("\\HasNoChildren"),
                // A subscribed name without a mailbox. \NonExistent implies \Noselect,
                // which is left out as Dovecot does.
                None => {
                    attrs.push("\\NonExistent");
                    if has_children(name) {
                        attrs.push("\\HasChildren");
                    }
                }
            }
        }
        if show_subscribed && subscribed.contains(name) {
            attrs.push("\\Subscribed");
        }
        if list.xlist && name == "INBOX" {
            attrs.push("\\Inbox");
        }
        if let (true, Some(role)) = (show_special, mailbox.and_then(|m| m.special_use)) {
            attrs.push(Session::special_use_attr(role, list.xlist));
        }
        entries.insert(
            key(name),
            ListEntry {
                path: name.to_string(),
                attrs,
                child_info_subscribed: false,
                mailbox: mailbox.cloned(),
            },
        );
    }
    if list.select.special_use {
        return entries.into_values().collect();
    }
    // Parents of the names above that the patterns reach while not reaching the name.
    for &name in &names {
        let segments: Vec<&str> = name.split(DELIMITER).collect();
        let mut parent = String::new();
        for seg in &segments[..segments.len().saturating_sub(1)] {
            if !parent.is_empty() {
                parent.push(DELIMITER);
            }
            parent.push_str(seg);
            if entries.contains_key(&key(&parent)) {
                continue;
            }
            let exists = by_path.contains_key(parent.as_str());
            let entry = if list.select.subscribed {
                // RECURSIVEMATCH: a parent outside the selection whose subscribed
                // descendant no pattern reaches (RFC 5258 3.5).
                if !list.select.recursive_match
                    || subscribed.contains(parent.as_str())
                    || !matched(&parent)
                    || matched(name)
                {
                    continue;
                }
                let mut attrs: Vec<&'static str> = Vec::new();
                if !exists {
                    attrs.push("\\NonExistent");
                }
                if has_children(&parent) {
                    attrs.push("\\HasChildren");
                } else if exists {
                    attrs.push("\\HasNoChildren");
                }
                ListEntry {
                    path: parent.clone(),
                    attrs,
                    child_info_subscribed: true,
                    mailbox: None,
                }
            } else {
                let listed_anyway = if list.lsub {
                    subscribed.contains(parent.as_str())
                } else {
                    exists
                };
                let reaches = patterns
                    .iter()
                    .any(|p| p.matches(&parent) && !p.matches(name));
                if listed_anyway || !reaches {
                    continue;
                }
                let mut attrs: Vec<&'static str> = vec!["\\Noselect"];
                if !list.lsub {
                    if list.extended {
                        attrs.push("\\NonExistent");
                    }
                    attrs.push("\\HasChildren");
                }
                ListEntry {
                    path: parent.clone(),
                    attrs,
                    child_info_subscribed: false,
                    mailbox: None,
                }
            };
            entries.insert(key(&parent), entry);
        }
    }
    entries.into_values().collect()
}

impl Session {
    /// A mailbox name from the wire as a stored path.
    pub(crate) fn mailbox_path(&self, raw: &[u8]) -> Option<String> {
        from_wire(raw, self.utf8)
    }

    /// Write a mailbox name (modified UTF-7 unless UTF8=ACCEPT).
    pub(crate) fn write_mailbox_name(&self, out: &mut Vec<u8>, path: &str) {
        write_string(out, to_wire(path, self.utf8).as_bytes(), self.utf8);
    }

    /// Find a mailbox by its wire name.
    pub(crate) async fn lookup_mailbox(&self, raw: &[u8]) -> Result<Mailbox, Reply> {
        let Some(path) = self.mailbox_path(raw) else {
            return Err(no_such_mailbox());
        };
        self.service()
            .find_mailbox(self.user_id(), &path)
            .await
            .map_err(|e| service_error(&e))
    }

    pub(crate) async fn cmd_select(
        &mut self,
        raw: Vec<u8>,
        readonly: bool,
        params: SelectParams,
    ) -> io::Result<Reply> {
        if self.selected.is_some() {
            self.deselect();
            // RFC 9051 6.3.2 makes [CLOSED] part of IMAP4rev2; with rev1, of QRESYNC.
            if self.qresync || self.rev2 {
                self.untagged("OK [CLOSED] Previous mailbox closed");
            }
        }
        if params.qresync.is_some() && !self.qresync {
            return Ok(Reply::bad("QRESYNC is not enabled"));
        }
        if params.condstore {
            self.condstore = true;
        }
        let mailbox = match self.lookup_mailbox(&raw).await {
            Ok(m) => m,
            Err(r) => return Ok(r),
        };
        let user = self.user_id();
        let snap = match self.service().imap_select(user, mailbox.id).await {
            Ok(s) => s,
            Err(e) => return Ok(service_error(&e)),
        };
        // IMAP4rev2 has no \Recent: a rev2 session neither sees nor claims it.
        let recent: HashSet<u32> = if self.rev2 {
            HashSet::new()
        } else {
            self.shared
                .claim_recent(mailbox.id, &snap.uids, !readonly)
                .into_iter()
                .collect()
        };
        let sel = Selected {
            id: mailbox.id,
            path: snap.mailbox.path.clone(),
            readonly,
            uid_validity: snap.mailbox.uid_validity,
            uids: snap.uids,
            modseq: snap.mailbox.modify_index,
            recent,
            keywords: snap.keywords.into_iter().collect::<BTreeSet<_>>(),
            pending_expunge: BTreeSet::new(),
            reported: HashMap::new(),
            saved: Vec::new(),
        };
        // Live searches and the saved result belong to the mailbox left behind.
        self.contexts.clear();
        let first_unseen = snap.first_unseen.and_then(|u| sel.seq_of(u));
        let lines = [
            format!("FLAGS {}", sel.flags_line()),
            format!(
                "OK [PERMANENTFLAGS {}] {}",
                sel.permanent_flags_line(),
                if readonly {
                    "No permanent flags permitted"
                } else {
                    "Flags permitted"
                }
            ),
            format!("{} EXISTS", sel.exists()),
            format!("{} RECENT", sel.recent.len()),
        ];
        // RFC 9051 dropped RECENT and the UNSEEN code from SELECT's answer.
        let shown = if self.rev2 { &lines[..3] } else { &lines[..] };
        for l in shown {
            self.untagged(l);
        }
        if let (false, Some(seq)) = (self.rev2, first_unseen) {
            self.untagged(&format!("OK [UNSEEN {seq}] First unseen"));
        }
        self.untagged(&format!("OK [UIDVALIDITY {}] UIDs valid", sel.uid_validity));
        self.untagged(&format!(
            "OK [UIDNEXT {}] Predicted next UID",
            snap.mailbox.uid_next
        ));
        self.untagged(&format!("OK [HIGHESTMODSEQ {}] Highest", sel.modseq));
        self.untagged(&format!("OK [MAILBOXID ({})] Ok", sel.id.to_hex()));
        let qresync = params.qresync.clone();
        self.selected = Some(sel);
        self.state = State::Selected;
        if let Some(q) = qresync {
            if q.uid_validity == snap.mailbox.uid_validity {
                self.qresync_catch_up(q.modseq, q.known_uids.as_ref(), snap.mailbox.uid_next)
                    .await?;
            }
        }
        let code = if readonly { "READ-ONLY" } else { "READ-WRITE" };
        Ok(Reply::ok(if readonly {
            "EXAMINE completed"
        } else {
            "SELECT completed"
        })
        .with_code(code))
    }

    /// QRESYNC (RFC 7162 3.2.5): VANISHED (EARLIER) and FETCH for changes since `modseq`.
    async fn qresync_catch_up(
        &mut self,
        modseq: u64,
        known: Option<&SequenceSet>,
        snap_uid_next: u32,
    ) -> io::Result<()> {
        let Some(sel) = self.selected.as_ref() else {
            return Ok(());
        };
        let (user, mailbox) = (self.user_id(), sel.id);
        // Known UIDs: `*` is open-ended (the client's highest may be gone here).
        let known = known.map(|k| k.ranges(Some(u32::MAX)));
        let known = known.as_deref();
        let vanished = match self.service().journal_since(user, mailbox, modseq).await {
            Ok(entries) => {
                let mut v: Vec<u32> = entries
                    .into_iter()
                    .filter(|e| e.kind == JournalKind::Expunge)
                    .filter_map(|e| e.uid)
                    .filter(|&u| known.is_none_or(|k| ranges_contain(k, u)))
                    .filter(|u| sel.uids.binary_search(u).is_err())
                    .collect();
                v.sort_unstable();
                v.dedup();
                compress_set(&v)
            }
            // The journal no longer reaches the client's MODSEQ: every known UID that
            // does not exist now is reported (RFC 7162 3.2.5.2 allows UIDs the client
            // never saw), computed as ranges so the answer stays as small as the gaps.
            Err(eider_service::Error::JournalPruned) => {
                let below = sel.uids.last().map_or(1, |&u| u.saturating_add(1));
                let upto = below.max(snap_uid_next).saturating_sub(1);
                let all = [(1, upto)];
                format_ranges(&absent_ranges(known.unwrap_or(&all), &sel.uids))
            }
            Err(_) => String::new(),
        };
        if !vanished.is_empty() {
            let l = format!("VANISHED (EARLIER) {vanished}");
            self.untagged(&l);
        }
        let changed = self
            .service()
            .list_messages(
                user,
                mailbox,
                &UidSet::all(),
                eider_service::model::SortOrder::Ascending,
                0,
            )
            .await
            .unwrap_or_default();
        for meta in changed.into_iter().filter(|m| m.modseq > modseq) {
            let Some(sel) = self.selected.as_ref() else {
                break;
            };
            let Some(seq) = sel.seq_of(meta.uid) else {
                continue;
            };
            let l = format!(
                "{seq} FETCH (UID {} FLAGS {} MODSEQ ({}))",
                meta.uid,
                flag_list(&meta.flags, sel.recent.contains(&meta.uid)),
                meta.modseq
            );
            self.note_keywords(&meta.flags);
            self.untagged(&l);
            self.conn.maybe_flush().await?;
        }
        Ok(())
    }

    pub(crate) async fn cmd_create(&mut self, raw: Vec<u8>, special_use: Vec<String>) -> Reply {
        let Some(path) = self.mailbox_path(&raw) else {
            return Reply::no("Invalid mailbox name").with_code("CANNOT");
        };
        let path = path.trim_end_matches(DELIMITER).to_string();
        if path.eq_ignore_ascii_case("INBOX") {
            return Reply::no("INBOX already exists").with_code("ALREADYEXISTS");
        }
        let mut role = None;
        for u in &special_use {
            match SpecialUse::parse(u) {
                Some(r) if role.is_none() => role = Some(r),
                _ => return Reply::no("Unsupported special-use attribute").with_code("USEATTR"),
            }
        }
        match self
            .service()
            .imap_create_mailbox(self.user_id(), &path, role)
            .await
        {
            Ok(m) => {
                Reply::ok("CREATE completed").with_code(format!("MAILBOXID ({})", m.id.to_hex()))
            }
            Err(e) => service_error(&e),
        }
    }

    pub(crate) async fn cmd_delete(&mut self, raw: Vec<u8>) -> Reply {
        let mailbox = match self.lookup_mailbox(&raw).await {
            Ok(m) => m,
            Err(r) => return r,
        };
        match self
            .service()
            .delete_mailbox(self.user_id(), mailbox.id)
            .await
        {
            Ok(()) => {
                if self.selected.as_ref().is_some_and(|s| s.id == mailbox.id) {
                    self.deselect();
                }
                Reply::ok("DELETE completed")
            }
            Err(e) => service_error(&e),
        }
    }

    pub(crate) async fn cmd_rename(&mut self, from: Vec<u8>, to: Vec<u8>) -> Reply {
        let mailbox = match self.lookup_mailbox(&from).await {
            Ok(m) => m,
            Err(r) => return r,
        };
        let Some(target) = self.mailbox_path(&to) else {
            return Reply::no("Invalid mailbox name").with_code("CANNOT");
        };
        let target = target.trim_end_matches(DELIMITER).to_string();
        if target.eq_ignore_ascii_case("INBOX") {
            return Reply::no("INBOX already exists").with_code("ALREADYEXISTS");
        }
        match self
            .service()
            .rename_mailbox(self.user_id(), mailbox.id, &target)
            .await
        {
            Ok(renamed) => {
                if let Some(sel) = self.selected.as_mut() {
                    if sel.id == renamed.id {
                        sel.path = renamed.path;
                    }
                }
                Reply::ok("RENAME completed")
            }
            Err(e) => service_error(&e),
        }
    }

    /// SUBSCRIBE needs an existing mailbox; UNSUBSCRIBE takes any name, so that a
    /// name whose mailbox was deleted (it stays subscribed, RFC 3501 6.3.6) can go.
    pub(crate) async fn cmd_subscribe(&mut self, raw: Vec<u8>, subscribe: bool) -> Reply {
        let Some(path) = self.mailbox_path(&raw) else {
            return no_such_mailbox();
        };
        match self
            .service()
            .set_subscription(self.user_id(), &path, subscribe)
            .await
        {
            Ok(()) if subscribe => Reply::ok("SUBSCRIBE completed"),
            Ok(()) => Reply::ok("UNSUBSCRIBE completed"),
            Err(e) => service_error(&e),
        }
    }

    pub(crate) async fn cmd_list(&mut self, list: ListCommand) -> io::Result<Reply> {
        let keyword = if list.lsub {
            "LSUB"
        } else if list.xlist {
            "XLIST"
        } else {
            "LIST"
        };
        let Some(reference) = self.mailbox_path(&list.reference) else {
            return Ok(Reply::ok(format!("{keyword} completed")));
        };
        // LIST "" "": the hierarchy delimiter and root.
        if list.patterns.len() == 1 && list.patterns[0].is_empty() && !list.select.subscribed {
            let root = reference.split(DELIMITER).next().unwrap_or("");
            let mut out = format!("* {keyword} (\\Noselect) \"/\" ").into_bytes();
            write_string(&mut out, to_wire(root, self.utf8).as_bytes(), self.utf8);
            out.extend_from_slice(b"\r\n");
            self.conn.out().extend_from_slice(&out);
            return Ok(Reply::ok(format!("{keyword} completed")));
        }
        // Matching costs pattern length x name length per mailbox: bound it.
        if list.patterns.iter().any(|p| p.len() > MAX_PATTERN) || list.reference.len() > MAX_PATTERN
        {
            return Ok(Reply::bad("Mailbox pattern too long"));
        }
        let patterns: Vec<Pattern> = list
            .patterns
            .iter()
            .filter_map(|p| self.mailbox_path(p))
            .map(|p| Pattern::new(&reference, &p))
            .collect();
        let user = self.user_id();
        let all = match self.service().list_mailboxes(user).await {
            Ok(m) => m,
            Err(e) => return Ok(service_error(&e)),
        };
        // Subscribed names (some without a mailbox), only when the command uses them.
        let subscribed: BTreeSet<String> =
            if list.lsub || list.select.subscribed || list.ret.subscribed {
                match self.service().list_subscriptions(user).await {
                    Ok(names) => names.into_iter().collect(),
                    Err(e) => return Ok(service_error(&e)),
                }
            } else {
                BTreeSet::new()
            };
        let entries = list_entries(&list, &patterns, &all, &subscribed);
        let status_items = list.ret.status.clone();
        for entry in entries {
            let mut out = format!("* {keyword} ({}) \"/\" ", entry.attrs.join(" ")).into_bytes();
            self.write_mailbox_name(&mut out, &entry.path);
            if entry.child_info_subscribed {
                out.extend_from_slice(b" (\"CHILDINFO\" (\"SUBSCRIBED\"))");
            }
            out.extend_from_slice(b"\r\n");
            self.conn.out().extend_from_slice(&out);
            if let (Some(items), Some(m)) = (&status_items, &entry.mailbox) {
                if let Ok(line) = self.status_line(m, items, true).await {
                    self.conn.out().extend_from_slice(&line);
                }
            }
            self.conn.maybe_flush().await?;
        }
        Ok(Reply::ok(format!("{keyword} completed")))
    }

    /// `* STATUS name (items)\r\n` for one mailbox. `implicit` marks a client's
    /// STATUS (or LIST-STATUS), where HIGHESTMODSEQ turns CONDSTORE on (RFC 7162
    /// 3.1); a NOTIFY event is not the client's asking.
    pub(crate) async fn status_line(
        &mut self,
        mailbox: &Mailbox,
        items: &[StatusItem],
        implicit: bool,
    ) -> Result<Vec<u8>, ServiceError> {
        let user = self.user_id();
        let counters = self.service().mailbox_counters(user, mailbox.id).await?;
        let mut parts: Vec<String> = Vec::new();
        for item in items {
            if *item == StatusItem::MailboxId {
                parts.push(format!("MAILBOXID ({})", mailbox.id.to_hex()));
                continue;
            }
            let value = match item {
                StatusItem::MailboxId => continue,
                StatusItem::Messages => counters.total,
                StatusItem::Unseen => counters.unseen,
                StatusItem::UidNext => u64::from(mailbox.uid_next),
                StatusItem::UidValidity => u64::from(mailbox.uid_validity),
                StatusItem::HighestModSeq => {
                    if implicit {
                        self.enable_condstore();
                    }
                    mailbox.modify_index
                }
                StatusItem::Deleted => {
                    let query = eider_service::model::SearchQuery {
                        user,
                        mailbox: Some(mailbox.id),
                        key: eider_service::model::SearchKey::Flag("\\Deleted".into(), true),
                    };
                    self.service().search(&query).await?.len() as u64
                }
                StatusItem::Size => counters.size,
                StatusItem::AppendLimit => self.shared.max_message,
                StatusItem::Recent => {
                    let uids = self.service().list_uids(user, mailbox.id).await?;
                    self.shared.count_recent(mailbox.id, &uids) as u64
                }
            };
            parts.push(format!("{} {value}", item.name()));
        }
        let mut out = b"* STATUS ".to_vec();
        self.write_mailbox_name(&mut out, &mailbox.path);
        out.extend_from_slice(format!(" ({})\r\n", parts.join(" ")).as_bytes());
        Ok(out)
    }

    pub(crate) async fn cmd_status(&mut self, raw: Vec<u8>, items: Vec<StatusItem>) -> Reply {
        let mailbox = match self.lookup_mailbox(&raw).await {
            Ok(m) => m,
            Err(r) => return r,
        };
        match self.status_line(&mailbox, &items, true).await {
            Ok(line) => {
                self.conn.out().extend_from_slice(&line);
                Reply::ok("STATUS completed")
            }
            Err(e) => service_error(&e),
        }
    }

    fn quota_line(used: u64, limit: u64) -> String {
        format!(
            "QUOTA \"\" (STORAGE {} {})",
            used.div_ceil(1024),
            limit / 1024
        )
    }

    pub(crate) async fn cmd_getquota(&mut self, root: Vec<u8>) -> Reply {
        if !root.is_empty() {
            return Reply::no("No such quota root").with_code("NONEXISTENT");
        }
        match self.service().quota_usage(self.user_id()).await {
            Ok((used, limit)) => {
                self.untagged(&Self::quota_line(used, limit));
                Reply::ok("GETQUOTA completed")
            }
            Err(e) => service_error(&e),
        }
    }

    pub(crate) async fn cmd_getquotaroot(&mut self, raw: Vec<u8>) -> Reply {
        let mailbox = match self.lookup_mailbox(&raw).await {
            Ok(m) => m,
            Err(r) => return r,
        };
        match self.service().quota_usage(self.user_id()).await {
            Ok((used, limit)) => {
                let mut out = b"* QUOTAROOT ".to_vec();
                self.write_mailbox_name(&mut out, &mailbox.path);
                out.extend_from_slice(b" \"\"\r\n");
                self.conn.out().extend_from_slice(&out);
                self.untagged(&Self::quota_line(used, limit));
                Reply::ok("GETQUOTAROOT completed")
            }
            Err(e) => service_error(&e),
        }
    }
}
