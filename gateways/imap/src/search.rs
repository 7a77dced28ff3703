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
/// `$` is the saved result (RFC 5182).
fn uid_set(sel: &Selected, set: &SequenceSet, uid_mode: bool) -> UidSet {
    if set.is_saved() {
        return UidSet::from_uids(sel.saved.iter().copied());
    }
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

/// What a SEARCH program matched, in the session's terms.
pub(crate) struct Matched {
    /// (sequence number, UID, MODSEQ) ascending.
    pub hits: Vec<(u32, u32, u64)>,
    /// The program as the store ran it (kept by CONTEXT updates).
    pub key: SearchKey,
    pub uses_modseq: bool,
    /// Some matches may be missing: expunged elsewhere, not yet reported.
    pub expunge_issued: bool,
}

/// The positions a PARTIAL range (RFC 9394) selects from a result of `len`
/// entries, as a slice range; negative positions count from the end.
pub(crate) fn partial_slice(range: (i64, i64), len: usize) -> std::ops::Range<usize> {
    let len = len as i64;
    // Ranges come ordered by magnitude: 2:4, or -1:-3 (the last three).
    let (lo, hi) = if range.0 < 0 {
        (len + range.1 + 1, len + range.0 + 1)
    } else {
        range
    };
    let lo = lo.clamp(1, len + 1);
    let hi = hi.clamp(0, len);
    if hi < lo {
        return 0..0;
    }
    (lo - 1) as usize..hi as usize
}

/// `ESEARCH (TAG "t") [UID] ...` for a result in its order (ascending for SEARCH,
/// sorted for SORT: MIN and MAX then name its first and last, RFC 5267 3.1).
pub(crate) fn esearch_line(
    tag: &str,
    uid_mode: bool,
    r: &SearchReturn,
    nums: &[u32],
    modseqs: &[u64],
    uses_modseq: bool,
    sorted: bool,
) -> String {
    let mut line = String::from("ESEARCH");
    tag_and_uid(&mut line, tag, uid_mode);
    let (min, max) = if sorted {
        (nums.first().copied(), nums.last().copied())
    } else {
        (nums.iter().min().copied(), nums.iter().max().copied())
    };
    if r.min {
        if let Some(m) = min {
            line.push_str(&format!(" MIN {m}"));
        }
    }
    if r.max {
        if let Some(m) = max {
            line.push_str(&format!(" MAX {m}"));
        }
    }
    if r.count {
        line.push_str(&format!(" COUNT {}", nums.len()));
    }
    if r.all && !nums.is_empty() {
        line.push_str(&format!(" ALL {}", compress_set(nums)));
    }
    if let Some(range) = r.partial {
        let part = &nums[partial_slice(range, nums.len())];
        let set = if part.is_empty() {
            "NIL".to_string()
        } else {
            compress_set(part)
        };
        line.push_str(&format!(" PARTIAL ({}:{} {set})", range.0, range.1));
    }
    // RFC 7162 3.1.5: with only MIN or only MAX, the MODSEQ of that message.
    let at = |n: Option<u32>| {
        n.and_then(|n| nums.iter().position(|&x| x == n))
            .and_then(|i| modseqs.get(i).copied())
    };
    let modseq = match (r.min, r.max, r.all || r.count) {
        (true, false, false) => at(min),
        (false, true, false) => at(max),
        _ => modseqs.iter().copied().max(),
    };
    if let (true, Some(m)) = (uses_modseq, modseq) {
        line.push_str(&format!(" MODSEQ {m}"));
    }
    line
}

/// ` (TAG "t")` and ` UID` as ESEARCH answers start.
pub(crate) fn tag_and_uid(line: &mut String, tag: &str, uid_mode: bool) {
    let mut t = Vec::new();
    crate::response::write_string(&mut t, tag.as_bytes(), false);
    line.push_str(&format!(" (TAG {})", String::from_utf8_lossy(&t)));
    if uid_mode {
        line.push_str(" UID");
    }
}

impl Session {
    /// Run a SEARCH program against the selected mailbox: translate, search, read
    /// the journal (RFC 9051 EXPUNGEISSUED), keep what the client can name. Err is
    /// the tagged answer of a refusal.
    pub(crate) async fn run_search(
        &mut self,
        uid_mode: bool,
        charset: Option<&str>,
        criteria: &Key,
    ) -> io::Result<Result<Matched, Reply>> {
        if let Some(cs) = charset {
            if !matches!(cs, "UTF-8" | "US-ASCII" | "UTF8") {
                return Ok(Err(
                    Reply::no("Unsupported charset").with_code("BADCHARSET (UTF-8 US-ASCII)")
                ));
            }
        }
        let Some(sel) = self.selected.as_ref() else {
            return Ok(Err(Reply::bad("No mailbox selected")));
        };
        let mut uses_modseq = false;
        let key = translate(criteria, sel, &mut uses_modseq);
        let query = SearchQuery {
            user: self.user_id(),
            mailbox: Some(sel.id),
            key,
        };
        let found = match self.service().search(&query).await {
            Ok(f) => f,
            Err(e) => return Ok(Err(service_error(&e))),
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
            return Ok(Err(Reply::bad("No mailbox selected")));
        };
        let expunge_issued = !sel.pending_expunge.is_empty();
        // Only messages the client knows of can be named.
        let mut hits: Vec<(u32, u32, u64)> = found
            .iter()
            .filter(|m| !sel.pending_expunge.contains(&m.uid))
            .filter_map(|m| sel.seq_of(m.uid).map(|seq| (seq, m.uid, m.modseq)))
            .collect();
        hits.sort_unstable();
        Ok(Ok(Matched {
            hits,
            key: query.key,
            uses_modseq,
            expunge_issued,
        }))
    }

    /// RFC 5182: SAVE keeps the result (as UIDs); a failed SAVE search empties it.
    pub(crate) fn save_result(&mut self, uids: Option<Vec<u32>>) {
        if let Some(sel) = self.selected.as_mut() {
            let mut uids = uids.unwrap_or_default();
            uids.sort_unstable();
            sel.saved = uids;
        }
    }

    pub(crate) async fn cmd_search(
        &mut self,
        tag: &str,
        uid_mode: bool,
        charset: Option<String>,
        criteria: Key,
        ret: Option<SearchReturn>,
    ) -> io::Result<Reply> {
        // IMAP4rev2 answers SEARCH with ESEARCH, ALL by default (RFC 9051 6.4.4).
        let ret = match ret {
            None if self.rev2 => Some(SearchReturn {
                all: true,
                ..SearchReturn::default()
            }),
            r => r,
        };
        let m = match self
            .run_search(uid_mode, charset.as_deref(), &criteria)
            .await?
        {
            Ok(m) => m,
            Err(reply) => {
                if ret.is_some_and(|r| r.save) {
                    self.save_result(None);
                }
                return Ok(reply);
            }
        };
        let nums: Vec<u32> = m
            .hits
            .iter()
            .map(|&(seq, uid, _)| if uid_mode { uid } else { seq })
            .collect();
        let modseqs: Vec<u64> = m.hits.iter().map(|h| h.2).collect();
        match ret {
            None => {
                let mut line = String::from("SEARCH");
                for n in &nums {
                    line.push(' ');
                    line.push_str(&n.to_string());
                }
                if let (true, Some(h)) = (m.uses_modseq, modseqs.iter().max()) {
                    line.push_str(&format!(" (MODSEQ {h})"));
                }
                self.untagged(&line);
            }
            Some(r) => {
                if r.save {
                    self.save_result(Some(m.hits.iter().map(|h| h.1).collect()));
                }
                if r.answers() {
                    let line =
                        esearch_line(tag, uid_mode, &r, &nums, &modseqs, m.uses_modseq, false);
                    self.untagged(&line);
                }
                if r.update {
                    let result = m.hits.iter().map(|h| h.1).collect();
                    self.add_context(tag, uid_mode, m.key, None, result);
                }
            }
        }
        self.conn.maybe_flush().await?;
        let reply = Reply::ok("SEARCH completed");
        Ok(if m.expunge_issued {
            reply.with_code("EXPUNGEISSUED")
        } else {
            reply
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_ranges() {
        assert_eq!(partial_slice((1, 1), 5), 0..1);
        assert_eq!(partial_slice((2, 4), 5), 1..4);
        assert_eq!(partial_slice((1, 6), 5), 0..5);
        assert_eq!(partial_slice((6, 6), 5), 0..0);
        assert_eq!(partial_slice((-1, -1), 5), 4..5);
        assert_eq!(partial_slice((-1, -3), 5), 2..5);
        assert_eq!(partial_slice((-4, -10), 5), 0..2);
        assert_eq!(partial_slice((-6, -10), 5), 0..0);
        assert_eq!(partial_slice((1, 10), 0), 0..0);
    }
}
