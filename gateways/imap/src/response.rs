//! Writing answers: strings (quoted or literal), sequence sets, flags, dates,
//! and the tagged/untagged status lines.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use eider_service::Error;

/// The state of a tagged answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    No,
    Bad,
}

impl Status {
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::No => "NO",
            Status::Bad => "BAD",
        }
    }
}

/// A tagged answer: status, optional response code and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: Status,
    pub code: Option<String>,
    pub text: Cow<'static, str>,
}

impl Reply {
    pub fn ok(text: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status: Status::Ok,
            code: None,
            text: text.into(),
        }
    }
    pub fn no(text: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status: Status::No,
            code: None,
            text: text.into(),
        }
    }
    pub fn bad(text: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status: Status::Bad,
            code: None,
            text: text.into(),
        }
    }
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Write `tag STATUS [CODE] text\r\n`.
    pub fn write(&self, tag: &str, out: &mut Vec<u8>) {
        out.extend_from_slice(tag.as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.status.as_str().as_bytes());
        out.push(b' ');
        if let Some(code) = &self.code {
            out.push(b'[');
            out.extend_from_slice(code.as_bytes());
            out.extend_from_slice(b"] ");
        }
        out.extend_from_slice(self.text.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

/// The answer for a service-layer failure.
pub fn service_error(e: &Error) -> Reply {
    match e {
        Error::NoSuchMailbox => Reply::no("Mailbox does not exist").with_code("NONEXISTENT"),
        Error::MailboxExists => Reply::no("Mailbox already exists").with_code("ALREADYEXISTS"),
        Error::MailboxNotAllowed(m) => Reply::no(*m).with_code("CANNOT"),
        Error::OverQuota => Reply::no("Over quota").with_code("OVERQUOTA"),
        Error::MessageTooLarge => Reply::no("Message too large").with_code("TOOBIG"),
        Error::EmptyMessage => Reply::no("Empty message"),
        Error::MessageNotFound => Reply::no("No such message").with_code("NONEXISTENT"),
        // A held (not yet valid) password fails like a wrong one here.
        Error::AuthFailed | Error::PasswordNotYetValid => {
            Reply::no("Authentication failed").with_code("AUTHENTICATIONFAILED")
        }
        Error::RateLimited => {
            Reply::no("Too many failed attempts, try later").with_code("UNAVAILABLE")
        }
        Error::Validation(m) | Error::InvalidField(_, m) => {
            Reply::no(sanitize(m)).with_code("CANNOT")
        }
        Error::UserNotFound => Reply::no("Account is not available").with_code("UNAVAILABLE"),
        // The store failed or is unreachable: the client may retry (RFC 5530).
        Error::Database(m) => {
            tracing::warn!("store error: {m}");
            Reply::no("Storage is unavailable, try again later").with_code("UNAVAILABLE")
        }
        e if e.is_internal() => {
            tracing::warn!("service error: {e}");
            Reply::no("Internal server error, try again later").with_code("SERVERBUG")
        }
        e => Reply::no(sanitize(&e.to_string())),
    }
}

/// Text that can go on a status line: no CR/LF, bounded length.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect()
}

/// Write `s` as a quoted string when possible, else as a literal.
/// `utf8` allows 8-bit characters in quoted strings (UTF8=ACCEPT).
pub fn write_string(out: &mut Vec<u8>, s: &[u8], utf8: bool) {
    let quotable = s.len() < 1024
        && s.iter()
            .all(|&b| b != b'\r' && b != b'\n' && b != 0 && (b < 0x80 || utf8));
    if quotable {
        out.push(b'"');
        for &b in s {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        write_literal(out, s);
    }
}

pub fn write_literal(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(format!("{{{}}}\r\n", s.len()).as_bytes());
    out.extend_from_slice(s);
}

pub fn write_nstring(out: &mut Vec<u8>, s: Option<&[u8]>, utf8: bool) {
    match s {
        Some(s) => write_string(out, s, utf8),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// `1:3,5,9:10` from ascending numbers.
/// The parts of `ranges` (sorted, disjoint, inclusive) that no UID of `present`
/// (sorted) falls in: what VANISHED (EARLIER) reports when the journal cannot say
/// which UIDs were expunged. Cost proportional to the ranges and the UIDs.
pub fn absent_ranges(ranges: &[(u32, u32)], present: &[u32]) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    for &(lo, hi) in ranges {
        // The first UID not yet accounted for; None once u32::MAX is present.
        let mut next = Some(lo);
        let start = present.partition_point(|&u| u < lo);
        for &u in present[start..].iter().take_while(|&&u| u <= hi) {
            if let Some(n) = next.filter(|&n| u > n) {
                out.push((n, u - 1));
            }
            next = u.checked_add(1);
        }
        if let Some(n) = next.filter(|&n| n <= hi) {
            out.push((n, hi));
        }
    }
    out
}

/// `a:b,c,...` for inclusive ranges.
pub fn format_ranges(ranges: &[(u32, u32)]) -> String {
    let mut out = String::new();
    for &(a, b) in ranges {
        if !out.is_empty() {
            out.push(',');
        }
        if a == b {
            out.push_str(&a.to_string());
        } else {
            out.push_str(&format!("{a}:{b}"));
        }
    }
    out
}

pub fn compress_set(nums: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < nums.len() {
        let start = nums[i];
        let mut end = start;
        while i + 1 < nums.len() && nums[i + 1] == end.wrapping_add(1) {
            i += 1;
            end = nums[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

/// `(\Seen $Label)` with `\Recent` appended when asked.
pub fn flag_list(flags: &[String], recent: bool) -> String {
    let mut out = String::from("(");
    for (i, f) in flags.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(f);
    }
    if recent {
        if !flags.is_empty() {
            out.push(' ');
        }
        out.push_str("\\Recent");
    }
    out.push(')');
    out
}

/// INTERNALDATE form: `"17-Jul-1996 02:44:25 +0000"`.
pub fn internal_date(d: &DateTime<Utc>) -> String {
    d.format("\"%d-%b-%Y %H:%M:%S +0000\"").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_ranges_are_the_gaps() {
        assert_eq!(
            absent_ranges(&[(1, 10)], &[3, 4, 8]),
            vec![(1, 2), (5, 7), (9, 10)]
        );
        assert_eq!(absent_ranges(&[(1, 5)], &[]), vec![(1, 5)]);
        assert_eq!(
            absent_ranges(&[(2, 3), (6, 9)], &[1, 2, 3, 9]),
            vec![(6, 8)]
        );
        assert_eq!(
            absent_ranges(&[(u32::MAX - 1, u32::MAX)], &[u32::MAX]),
            vec![(u32::MAX - 1, u32::MAX - 1)]
        );
        assert_eq!(format_ranges(&[(1, 2), (5, 5)]), "1:2,5");
    }

    #[test]
    fn strings() {
        let mut out = Vec::new();
        write_string(&mut out, b"a\"b\\c", false);
        assert_eq!(out, b"\"a\\\"b\\\\c\"");
        out.clear();
        write_string(&mut out, "ü".as_bytes(), false);
        assert_eq!(out, "{2}\r\nü".as_bytes());
        out.clear();
        write_string(&mut out, "ü".as_bytes(), true);
        assert_eq!(out, "\"ü\"".as_bytes());
        out.clear();
        write_string(&mut out, b"a\r\nb", true);
        assert_eq!(out, b"{4}\r\na\r\nb");
    }

    #[test]
    fn sets_and_flags() {
        assert_eq!(compress_set(&[1, 2, 3, 5, 7, 8]), "1:3,5,7:8");
        assert_eq!(compress_set(&[]), "");
        assert_eq!(compress_set(&[u32::MAX]), u32::MAX.to_string());
        assert_eq!(flag_list(&["\\Seen".into()], true), "(\\Seen \\Recent)");
        assert_eq!(flag_list(&[], false), "()");
        let mut out = Vec::new();
        Reply::no("x").with_code("TRYCREATE").write("a1", &mut out);
        assert_eq!(out, b"a1 NO [TRYCREATE] x\r\n");
    }
}
