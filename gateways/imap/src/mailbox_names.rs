//! Mailbox names on the wire: modified UTF-7 (RFC 3501 5.1.3) for clients that
//! did not enable UTF8=ACCEPT, and LIST pattern matching (`*` and `%`).

use base64::alphabet::Alphabet;
use base64::engine::{GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;

/// The hierarchy delimiter Eider announces; stored paths use it too.
pub const DELIMITER: char = '/';

fn engine() -> GeneralPurpose {
    // RFC 3501's modified BASE64: ',' instead of '/', no padding.
    let alphabet =
        Alphabet::new("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,")
            .unwrap_or(base64::alphabet::STANDARD);
    GeneralPurpose::new(
        &alphabet,
        GeneralPurposeConfig::new()
            .with_encode_padding(false)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone),
    )
}

/// Encode a UTF-8 name as modified UTF-7.
pub fn encode_utf7(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if pending.is_empty() {
            return;
        }
        let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
        out.push('&');
        out.push_str(&engine().encode(bytes));
        out.push('-');
        pending.clear();
    };
    for ch in name.chars() {
        if (' '..='~').contains(&ch) {
            flush(&mut pending, &mut out);
            if ch == '&' {
                out.push_str("&-");
            } else {
                out.push(ch);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(ch.encode_utf16(&mut buf));
        }
    }
    flush(&mut pending, &mut out);
    out
}

/// Decode a modified UTF-7 name; None when it is not valid modified UTF-7.
pub fn decode_utf7(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(pos) = rest.find('&') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let end = after.find('-')?;
        let encoded = &after[..end];
        if encoded.is_empty() {
            out.push('&');
        } else {
            let bytes = engine().decode(encoded).ok()?;
            if bytes.len() % 2 != 0 {
                return None;
            }
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            let decoded = String::from_utf16(&units).ok()?;
            // Printable ASCII must not be encoded (RFC 3501).
            if decoded.chars().any(|c| (' '..='~').contains(&c)) {
                return None;
            }
            out.push_str(&decoded);
        }
        rest = &after[end + 1..];
    }
    if rest.chars().any(|c| !(' '..='~').contains(&c)) {
        return None;
    }
    out.push_str(rest);
    Some(out)
}

/// A mailbox name from the client as a stored path. With UTF8=ACCEPT the name is
/// UTF-8 as is; otherwise modified UTF-7 is decoded, and raw UTF-8 from lenient
/// clients is accepted when it is not valid UTF-7.
pub fn from_wire(raw: &[u8], utf8_enabled: bool) -> Option<String> {
    let s = std::str::from_utf8(raw).ok()?;
    if utf8_enabled || !s.is_ascii() {
        return Some(s.to_string());
    }
    Some(decode_utf7(s).unwrap_or_else(|| s.to_string()))
}

/// A stored path as sent to the client.
pub fn to_wire(path: &str, utf8_enabled: bool) -> String {
    if utf8_enabled {
        path.to_string()
    } else {
        encode_utf7(path)
    }
}

/// A LIST pattern compiled for matching stored paths.
pub struct Pattern {
    chars: Vec<char>,
}

impl Pattern {
    /// `reference` and `pattern` as the client sent them, already decoded.
    pub fn new(reference: &str, pattern: &str) -> Self {
        let full = if pattern.starts_with(DELIMITER) || reference.is_empty() {
            pattern.to_string()
        } else {
            format!("{reference}{pattern}")
        };
        let mut chars: Vec<char> = full.chars().collect();
        // INBOX is case-insensitive: match it in canonical case.
        if chars.len() >= 5 {
            let head: String = chars[..5].iter().collect();
            if head.eq_ignore_ascii_case("INBOX")
                && matches!(
                    chars.get(5),
                    None | Some(&DELIMITER) | Some(&'*') | Some(&'%')
                )
            {
                for (i, c) in "INBOX".chars().enumerate() {
                    chars[i] = c;
                }
            }
        }
        Self { chars }
    }

    /// Whether `path` matches. `*` matches anything, `%` anything but the delimiter.
    /// Linear-space dynamic programming: no exponential backtracking on hostile patterns.
    pub fn matches(&self, path: &str) -> bool {
        let name: Vec<char> = path.chars().collect();
        let mut prev = vec![false; name.len() + 1];
        prev[0] = true;
        for &p in &self.chars {
            let mut cur = vec![false; name.len() + 1];
            match p {
                '*' | '%' => {
                    cur[0] = prev[0];
                    for j in 1..=name.len() {
                        cur[j] = prev[j] || (cur[j - 1] && (p == '*' || name[j - 1] != DELIMITER));
                    }
                }
                _ => {
                    for j in 1..=name.len() {
                        cur[j] = prev[j - 1] && name[j - 1] == p;
                    }
                }
            }
            prev = cur;
        }
        prev[name.len()]
    }

    /// True when the pattern ends in `%`, so that parents of deeper matches are listed.
    pub fn ends_with_percent(&self) -> bool {
        self.chars.last() == Some(&'%')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf7_round_trip() {
        for (utf8, utf7) in [
            ("Entwürfe", "Entw&APw-rfe"),
            ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
            ("A&B", "A&-B"),
            ("Отправленные", "&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-"),
            ("😀", "&2D3eAA-"),
        ] {
            assert_eq!(encode_utf7(utf8), utf7);
            assert_eq!(decode_utf7(utf7).as_deref(), Some(utf8));
        }
        assert_eq!(decode_utf7("&Jjo"), None);
        assert_eq!(decode_utf7("&AGE-"), None, "ASCII must not be encoded");
        assert_eq!(decode_utf7("&2D3-"), None, "lone surrogate");
        assert_eq!(
            from_wire("Entwürfe".as_bytes(), false).as_deref(),
            Some("Entwürfe")
        );
        assert_eq!(
            from_wire(b"Entw&APw-rfe", true).as_deref(),
            Some("Entw&APw-rfe")
        );
    }

    #[test]
    fn patterns() {
        let p = Pattern::new("", "*");
        assert!(p.matches("INBOX") && p.matches("a/b/c"));
        let p = Pattern::new("", "%");
        assert!(p.matches("INBOX") && !p.matches("a/b"));
        let p = Pattern::new("a/", "%");
        assert!(p.matches("a/b") && !p.matches("a/b/c") && !p.matches("a"));
        let p = Pattern::new("", "inbox");
        assert!(p.matches("INBOX"));
        let p = Pattern::new("", "Inbox/%");
        assert!(p.matches("INBOX/x"));
        let p = Pattern::new("", "a*c%e");
        assert!(p.matches("abcde") && p.matches("ab/cde") && !p.matches("abc/e"));
        let hostile = Pattern::new("", &"*%".repeat(200));
        assert!(!hostile.matches(&format!("{}/x", "a".repeat(300))) || hostile.matches("x"));
    }
}
