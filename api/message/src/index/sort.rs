//! SORT and THREAD keys (RFC 5256, RFC 5957), computed from the index so that a
//! SORT or THREAD over a large mailbox reads one small record per message and no
//! message content.
//!
//! The string keys are stored already folded for their comparator (RFC 5256 names
//! i;ascii-casemap; RFC 5957's display names use i;unicode-casemap, approximated by
//! Unicode upper-casing), so comparing two keys is a plain byte comparison, the same
//! on every backend.

use serde::{Deserialize, Serialize};

use crate::index::{Address, MessageIndex};

/// Bytes of one string key kept (base subject, mailbox, display name). Longer keys
/// sort by their first 1,000 bytes.
pub const MAX_SORT_KEY: usize = 1_000;
/// Parent message ids kept for THREAD=REFERENCES: the nearest ancestors (the end of
/// References), which are the ones that decide a message's parent.
pub const MAX_SORT_REFS: usize = 100;

/// The per-message keys SORT and THREAD compare.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SortKeys {
    /// Base subject (RFC 5256 2.1), ASCII upper-cased.
    #[serde(rename = "s", default)]
    pub subject: String,
    /// Local part of the first From address, ASCII upper-cased ("" without one).
    #[serde(rename = "f", default)]
    pub from: String,
    /// Local part of the first To address, ASCII upper-cased.
    #[serde(rename = "t", default)]
    pub to: String,
    /// Local part of the first Cc address, ASCII upper-cased.
    #[serde(rename = "c", default)]
    pub cc: String,
    /// RFC 5957 DISPLAYFROM: the first From's display name, else its address; folded.
    #[serde(rename = "df", default)]
    pub display_from: String,
    /// RFC 5957 DISPLAYTO, likewise for the first To.
    #[serde(rename = "dt", default)]
    pub display_to: String,
    /// The Date: header in unix seconds (UTC); None when missing or unparseable, and
    /// SORT DATE then uses the internal date (RFC 5256 2.2).
    #[serde(rename = "d", default)]
    pub date: Option<i64>,
    /// Parent ids for THREAD=REFERENCES (RFC 5256 section 4, step 1.A): the
    /// References ids, or else the first In-Reply-To id; oldest first.
    #[serde(rename = "r", default, skip_serializing_if = "Vec::is_empty")]
    pub refs: Vec<String>,
    /// The subject carried a reply or forward marker that base-subject extraction
    /// removed (RFC 5256 section 4, step 6: such a thread joins one without).
    #[serde(rename = "rf", default, skip_serializing_if = "std::ops::Not::not")]
    pub reply: bool,
}

fn cut(mut s: String) -> String {
    if s.len() > MAX_SORT_KEY {
        let mut end = MAX_SORT_KEY;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// The mailbox (local part) of the first address, as RFC 5256 sorts FROM/TO/CC. A
/// group comes first as its marker, whose ENVELOPE mailbox is the group's name, so
/// the name is the key (as Dovecot sorts `Cc: team: a@x;`).
fn mailbox(list: &[Address]) -> String {
    let Some(a) = list.first() else {
        return String::new();
    };
    if a.address.is_empty() {
        return cut(a.name.to_ascii_uppercase());
    }
    let local = a.address.rsplit_once('@').map_or(&*a.address, |(l, _)| l);
    cut(local.to_ascii_uppercase())
}

/// RFC 5957 section 3: the display name when non-empty, else the addr-spec; a group
/// marker shows its name.
fn display(list: &[Address]) -> String {
    let Some(a) = list.first() else {
        return String::new();
    };
    let name = a.name.trim();
    let shown = if name.is_empty() { &a.address } else { name };
    cut(shown.to_uppercase())
}

impl MessageIndex {
    /// The keys SORT and THREAD compare for this message.
    pub fn sort_keys(&self) -> SortKeys {
        let mut refs: Vec<String> = if self.references.is_empty() {
            self.in_reply_to.iter().cloned().collect()
        } else {
            self.references.clone()
        };
        if refs.len() > MAX_SORT_REFS {
            refs.drain(..refs.len() - MAX_SORT_REFS);
        }
        let (subject, reply) = extract(&self.subject);
        SortKeys {
            subject: cut(subject.to_ascii_uppercase()),
            reply,
            from: mailbox(&self.from),
            to: mailbox(&self.to),
            cc: mailbox(&self.cc),
            display_from: display(&self.from),
            display_to: display(&self.to),
            date: self.date,
            refs,
        }
    }
}

fn is_wsp(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// Length of a `subj-blob` (`"[" *BLOBCHAR "]" *WSP`) at the start of `s`.
fn blob_len(s: &str) -> Option<usize> {
    let rest = s.strip_prefix('[')?;
    let end = rest.find([']', '['])?;
    if rest.as_bytes()[end] != b']' {
        return None;
    }
    let after = &rest[end + 1..];
    let wsp = after.len() - after.trim_start_matches(is_wsp).len();
    Some(1 + end + 1 + wsp)
}

/// Length of a `subj-leader` made of `*subj-blob subj-refwd` at the start of `s`,
/// where `subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"`.
fn leader_len(s: &str) -> Option<usize> {
    let mut i = 0;
    while let Some(n) = blob_len(&s[i..]) {
        i += n;
    }
    let rest = &s[i..];
    let head = rest.get(..2)?;
    if head.eq_ignore_ascii_case("re") {
        i += 2;
    } else if head.eq_ignore_ascii_case("fw") {
        i += 2;
        if s[i..].starts_with(['d', 'D']) {
            i += 1;
        }
    } else {
        return None;
    }
    let after = &s[i..];
    i += after.len() - after.trim_start_matches(is_wsp).len();
    if let Some(n) = blob_len(&s[i..]) {
        i += n;
    }
    s[i..].starts_with(':').then_some(i + 1)
}

/// The base subject of a decoded subject (RFC 5256 section 2.1): reply and forward
/// markers, `[blob]` prefixes, `(fwd)` trailers and `[fwd: ...]` wrappers removed,
/// runs of whitespace made one space. Case is kept; SORT folds it.
pub fn base_subject(subject: &str) -> String {
    extract(subject).0
}

/// The base subject, and whether a reply/forward marker (`Re:`, `Fwd:`, `(fwd)`,
/// `[fwd: ...]`) was removed on the way.
fn extract(subject: &str) -> (String, bool) {
    let mut reply = false;
    // Step 1: whitespace runs as one space (the index already decoded words).
    let mut s: String = subject.split(is_wsp).filter(|w| !w.is_empty()).fold(
        String::with_capacity(subject.len()),
        |mut acc, w| {
            if !acc.is_empty() {
                acc.push(' ');
            }
            acc.push_str(w);
            acc
        },
    );
    loop {
        // Step 2: trailers "(fwd)" and whitespace.
        loop {
            let t = s.trim_end_matches(is_wsp).len();
            s.truncate(t);
            let n = s.len();
            if n >= 5 && s.is_char_boundary(n - 5) && s[n - 5..].eq_ignore_ascii_case("(fwd)") {
                s.truncate(n - 5);
                reply = true;
            } else {
                break;
            }
        }
        // Steps 3 to 5: leaders, then one blob if something remains after it.
        loop {
            let mut start = 0;
            loop {
                let rest = &s[start..];
                if rest.starts_with(is_wsp) {
                    start += 1;
                } else if let Some(n) = leader_len(rest) {
                    start += n;
                    reply = true;
                } else {
                    break;
                }
            }
            let mut changed = start > 0;
            if let Some(n) = blob_len(&s[start..]) {
                if !s[start + n..].trim_matches(is_wsp).is_empty() {
                    start += n;
                    changed = true;
                }
            }
            s.drain(..start);
            if !changed {
                break;
            }
        }
        // Step 6: "[fwd: ...]" wraps a subject; unwrap and start again at step 2.
        let n = s.len();
        if n >= 6
            && s.is_char_boundary(5)
            && s[..5].eq_ignore_ascii_case("[fwd:")
            && s.ends_with(']')
        {
            s = s[5..n - 1].to_string();
            reply = true;
            continue;
        }
        return (s, reply);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_subject_follows_rfc5256() {
        // Step 2: trailers.
        assert_eq!(base_subject("hello (fwd)"), "hello");
        assert_eq!(base_subject("hello (FWD) (fwd)  "), "hello");
        // Step 3: subj-refwd with optional blobs and whitespace.
        assert_eq!(base_subject("Re: hello"), "hello");
        assert_eq!(base_subject("RE: re: Fwd: FW: hello"), "hello");
        assert_eq!(base_subject("Re [2]: hello"), "hello");
        assert_eq!(base_subject("[list] Re: hello"), "hello");
        assert_eq!(base_subject("re:hello"), "hello");
        assert_eq!(base_subject("Fwd :hello"), "hello");
        // Step 4: a leading blob goes only when something is left.
        assert_eq!(base_subject("[list] hello"), "hello");
        assert_eq!(base_subject("[list]"), "[list]");
        assert_eq!(base_subject("[a][b] hello"), "hello");
        // Step 6: [fwd: ...] wrappers, then again from step 2.
        assert_eq!(base_subject("[fwd: Re: hello]"), "hello");
        assert_eq!(base_subject("[Fwd: [fwd: hello (fwd)]]"), "hello");
        // Not markers.
        assert_eq!(base_subject("Regarding things"), "Regarding things");
        assert_eq!(base_subject("Fwdx: a"), "Fwdx: a");
        assert_eq!(base_subject("Re"), "Re");
        // Whitespace runs become one space; case is kept.
        assert_eq!(base_subject("  Re:\t A \t  B  "), "A B");
        assert_eq!(base_subject(""), "");
        assert_eq!(base_subject("Re: Ärger"), "Ärger");
        assert_eq!(base_subject("Re: "), "");
        assert!(extract("Re: x").1 && extract("x (fwd)").1 && extract("[fwd: x]").1);
        assert!(!extract("[list] x").1 && !extract("x").1);
    }

    fn addr(name: &str, address: &str) -> Address {
        Address {
            name: name.into(),
            address: address.into(),
        }
    }

    #[test]
    fn address_keys() {
        let list = vec![addr("Bob Smith", "bob.smith@Example.org")];
        assert_eq!(mailbox(&list), "BOB.SMITH");
        assert_eq!(display(&list), "BOB SMITH");
        // A group's marker comes first and sorts by the group's name.
        let group = vec![addr("team", ""), addr("", "zed@x.org")];
        assert_eq!(
            (mailbox(&group), display(&group)),
            ("TEAM".into(), "TEAM".into())
        );
        assert_eq!(display(&[addr("", "al@x.org")]), "AL@X.ORG");
        assert_eq!(mailbox(&[]), "");
        assert_eq!(display(&[]), "");
    }
}
