//! SEARCH: IMAP criteria mapped onto the service's [`SearchKey`]; sequence
//! numbers and \Recent are resolved here, against the session's view.

use std::io;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use eider_service::model::{DateField, SearchKey, SearchQuery, UidSet};

use crate::parser::{SearchKey as Key, SearchReturn, SequenceSet};
use crate::response::{compress_set, service_error, Reply};
use crate::session::{Selected, Session};

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    DateTime::from_naive_utc_and_offset(d.and_hms_opt(0, 0, 0).unwrap_or_default(), Utc)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn flag(name: &str, set: bool) -> SearchKey {
    SearchKey::Flag(name.to_string(), set)
}

fn on(field: DateField, d: NaiveDate) -> SearchKey {
    SearchKey::And(vec![
        SearchKey::Since(field, midnight(d)),
        SearchKey::Before(field, midnight(d) + Duration::days(1)),
    ])
}

/// Translate IMAP criteria for the selected mailbox. Sets `uses_modseq` when
/// MODSEQ appears (the answer then carries the highest MODSEQ).
pub fn translate(key: &Key, sel: &Selected, uses_modseq: &mut bool) -> SearchKey {
    let recent = || SearchKey::Uids(UidSet::from_uids(sel.recent.iter().copied()));
    match key {
        Key::All => SearchKey::All,
        Key::Answered => flag("\\Answered", true),
        Key::Deleted => flag("\\Deleted", true),
        Key::Draft => flag("\\Draft", true),
        Key::Flagged => flag("\\Flagged", true),
        Key::Seen => flag("\\Seen", true),
        Key::Unanswered => flag("\\Answered", false),
        Key::Undeleted => flag("\\Deleted", false),
        Key::Undraft => flag("\\Draft", false),
        Key::Unflagged => flag("\\Flagged", false),
        Key::Unseen => flag("\\Seen", false),
        Key::Recent => recent(),
        Key::New => SearchKey::And(vec![recent(), flag("\\Seen", false)]),
        Key::Old => SearchKey::Not(Box::new(recent())),
        Key::Keyword(k) => flag(k, true),
        Key::Unkeyword(k) => flag(k, false),
        Key::Bcc(s) => SearchKey::Header("Bcc".into(), text(s)),
        Key::Cc(s) => SearchKey::Header("Cc".into(), text(s)),
        Key::From(s) => SearchKey::Header("From".into(), text(s)),
        Key::To(s) => SearchKey::Header("To".into(), text(s)),
        Key::Subject(s) => SearchKey::Header("Subject".into(), text(s)),
        Key::Header(name, s) => SearchKey::Header(name.clone(), text(s)),
        Key::Body(s) => SearchKey::Body(text(s)),
        Key::Text(s) => SearchKey::Text(text(s)),
        Key::Before(d) => SearchKey::Before(DateField::Internal, midnight(*d)),
        Key::Since(d) => SearchKey::Since(DateField::Internal, midnight(*d)),
        Key::On(d) => on(DateField::Internal, *d),
        // The Date: header's own day, time and zone disregarded (RFC 3501 6.4.4).
        Key::SentBefore(d) => SearchKey::SentBefore(*d),
        Key::SentSince(d) => SearchKey::SentSince(*d),
        Key::SentOn(d) => match d.succ_opt() {
            Some(next) => {
                SearchKey::And(vec![SearchKey::SentSince(*d), SearchKey::SentBefore(next)])
            }
            None => SearchKey::SentSince(*d),
        },
        Key::Larger(n) => SearchKey::Larger(*n),
        Key::Smaller(n) => SearchKey::Smaller(*n),
        Key::Uid(set) => SearchKey::Uids(uid_set(sel, set, true)),
        Key::SeqSet(set) => SearchKey::Uids(uid_set(sel, set, false)),
        Key::ModSeq(n) => {
            *uses_modseq = true;
            SearchKey::ModSeq(*n)
        }
        Key::SavedBefore(d) => SearchKey::Before(DateField::Saved, midnight(*d)),
        Key::SavedSince(d) => SearchKey::Since(DateField::Saved, midnight(*d)),
        Key::SavedOn(d) => on(DateField::Saved, *d),
        // Every message has a save date (its id's time).
        Key::SaveDateSupported => SearchKey::All,
        Key::EmailId(id) => match crate::object_id::email_id(id) {
            Some(content) => SearchKey::Content(content),
            None => SearchKey::Not(Box::new(SearchKey::All)),
        },
        Key::ThreadId(id) => match crate::object_id::thread_id(id) {
            Some(thread) => SearchKey::Thread(thread),
            None => SearchKey::Not(Box::new(SearchKey::All)),
        },
        Key::Not(k) => SearchKey::Not(Box::new(translate(k, sel, uses_modseq))),
        Key::Or(a, b) => SearchKey::Or(
            Box::new(translate(a, sel, uses_modseq)),
            Box::new(translate(b, sel, uses_modseq)),
        ),
        Key::And(keys) => SearchKey::And(
            keys.iter()
                .map(|k| translate(k, sel, uses_modseq))
                .collect(),
        ),
    }
}

/// The UIDs a set names; in SEARCH, numbers past the end simply match nothing.
fn uid_set(sel: &Selected, set: &SequenceSet, uid_mode: bool) -> UidSet {
    if uid_mode {
        return UidSet::from_uids(sel.resolve(set, true).unwrap_or_default());
    }
    let n = sel.uids.len() as u32;
    let mut out = Vec::new();
    for (lo, hi) in set.ranges((n > 0).then_some(n)) {
        let (lo, hi) = (lo.max(1), hi.min(n));
        if lo <= hi {
            out.extend_from_slice(&sel.uids[(lo - 1) as usize..hi as usize]);
        }
    }
    UidSet::from_uids(out)
}

impl Session {
    pub(crate) async fn cmd_search(
        &mut self,
        tag: &str,
        uid_mode: bool,
        charset: Option<String>,
        criteria: Key,
        ret: Option<SearchReturn>,
    ) -> io::Result<Reply> {
        if let Some(cs) = &charset {
            if !matches!(cs.as_str(), "UTF-8" | "US-ASCII" | "UTF8") {
                return Ok(
                    Reply::no("Unsupported charset").with_code("BADCHARSET (UTF-8 US-ASCII)")
                );
            }
        }
        let Some(sel) = self.selected.as_ref() else {
            return Ok(Reply::bad("No mailbox selected"));
        };
        let mut uses_modseq = false;
        let key = translate(&criteria, sel, &mut uses_modseq);
        let query = SearchQuery {
            user: self.user_id(),
            mailbox: Some(sel.id),
            key,
        };
        let found = match self.service().search(&query).await {
            Ok(f) => f,
            Err(e) => return Ok(service_error(&e)),
        };
        if uses_modseq {
            self.enable_condstore();
        }
        // A message expunged elsewhere that the client still sees cannot match any
        // more. Read the journal now (EXPUNGE itself is held back for SEARCH, RFC 3501
        // 7.4.1; UID SEARCH may report it) and flag an answer that may lack such
        // messages with EXPUNGEISSUED (RFC 9051 7.1), as Dovecot does.
        self.sync(uid_mode).await?;
        let Some(sel) = self.selected.as_ref() else {
            return Ok(Reply::bad("No mailbox selected"));
        };
        let expunge_issued = !sel.pending_expunge.is_empty();
        // Only messages the client knows of can be named.
        let mut hits: Vec<(u32, u32, u64)> = found
            .iter()
            .filter(|m| !sel.pending_expunge.contains(&m.uid))
            .filter_map(|m| sel.seq_of(m.uid).map(|seq| (seq, m.uid, m.modseq)))
            .collect();
        hits.sort_unstable();
        let nums: Vec<u32> = hits
            .iter()
            .map(|&(seq, uid, _)| if uid_mode { uid } else { seq })
            .collect();
        let highest = hits.iter().map(|h| h.2).max();
        let mut line = String::new();
        match ret {
            None => {
                line.push_str("SEARCH");
                for n in &nums {
                    line.push(' ');
                    line.push_str(&n.to_string());
                }
                if let (true, Some(m)) = (uses_modseq, highest) {
                    line.push_str(&format!(" (MODSEQ {m})"));
                }
            }
            Some(r) => {
                let mut t = Vec::new();
                crate::response::write_string(&mut t, tag.as_bytes(), false);
                line.push_str(&format!("ESEARCH (TAG {})", String::from_utf8_lossy(&t)));
                if uid_mode {
                    line.push_str(" UID");
                }
                if r.min {
                    if let Some(m) = nums.iter().min() {
                        line.push_str(&format!(" MIN {m}"));
                    }
                }
                if r.max {
                    if let Some(m) = nums.iter().max() {
                        line.push_str(&format!(" MAX {m}"));
                    }
                }
                if r.count {
                    line.push_str(&format!(" COUNT {}", nums.len()));
                }
                if r.all && !nums.is_empty() {
                    line.push_str(&format!(" ALL {}", compress_set(&nums)));
                }
                // RFC 7162 3.1.5: with only MIN or only MAX, the MODSEQ of that message.
                let modseq = match (r.min, r.max, r.all || r.count) {
                    (true, false, false) => hits.first().map(|h| h.2),
                    (false, true, false) => hits.last().map(|h| h.2),
                    _ => highest,
                };
                if let (true, Some(m)) = (uses_modseq, modseq) {
                    line.push_str(&format!(" MODSEQ {m}"));
                }
            }
        }
        self.untagged(&line);
        self.conn.maybe_flush().await?;
        let reply = Reply::ok("SEARCH completed");
        Ok(if expunge_issued {
            reply.with_code("EXPUNGEISSUED")
        } else {
            reply
        })
    }
}
