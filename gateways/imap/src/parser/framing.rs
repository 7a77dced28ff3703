//! Where a command ends: a line that does not announce a literal. The transport
//! reads line by line; a line ending in `{N}` (or `{N+}`, `~{N}`) is followed by
//! N bytes of literal and then more of the same command.

use super::lexer::is_tag_char;

/// A literal announced at the end of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiteralHeader {
    pub len: u64,
    /// `{N+}`: LITERAL+ — the client sends the data without waiting for "+".
    pub non_sync: bool,
}

/// The literal announced at the end of `line` (without its CRLF), if any.
pub fn literal_at_end(line: &[u8]) -> Option<LiteralHeader> {
    let body = line.strip_suffix(b"}")?;
    let (body, non_sync) = match body.strip_suffix(b"+") {
        Some(b) => (b, true),
        None => (body, false),
    };
    let digits_start = body
        .iter()
        .rposition(|b| !b.is_ascii_digit())
        .map_or(0, |p| p + 1);
    let digits = &body[digits_start..];
    if digits.is_empty()
        || digits.len() > 19
        || body.get(digits_start.checked_sub(1)?) != Some(&b'{')
    {
        return None;
    }
    let len = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some(LiteralHeader { len, non_sync })
}

/// The tag and command name of a (partial) command, for error answers and for
/// choosing the literal size limit before the whole command is read.
pub fn peek_tag_and_name(first_line: &[u8]) -> (Option<String>, String) {
    let mut parts = first_line.splitn(3, |&b| b == b' ');
    let tag = parts
        .next()
        .filter(|t| !t.is_empty() && t.len() <= 256 && t.iter().all(|&b| is_tag_char(b)))
        .map(|t| String::from_utf8_lossy(t).into_owned());
    let mut name = parts
        .next()
        .map(|n| String::from_utf8_lossy(n).to_ascii_uppercase())
        .unwrap_or_default();
    if name == "UID" {
        if let Some(rest) = parts.next() {
            let sub = rest.split(|&b| b == b' ').next().unwrap_or_default();
            name = format!("UID {}", String::from_utf8_lossy(sub).to_ascii_uppercase());
        }
    }
    (tag, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_literals() {
        assert_eq!(
            literal_at_end(b"a APPEND INBOX {310}"),
            Some(LiteralHeader {
                len: 310,
                non_sync: false
            })
        );
        assert_eq!(
            literal_at_end(b"a LOGIN {4+}"),
            Some(LiteralHeader {
                len: 4,
                non_sync: true
            })
        );
        assert_eq!(
            literal_at_end(b"a APPEND INBOX ~{5}"),
            Some(LiteralHeader {
                len: 5,
                non_sync: false
            })
        );
        assert_eq!(literal_at_end(b"a NOOP"), None);
        assert_eq!(literal_at_end(b"a x}"), None);
        assert_eq!(literal_at_end(b"{}"), None);
        assert_eq!(literal_at_end(b"}"), None);
        assert_eq!(literal_at_end(b"{99999999999999999999}"), None);
    }

    #[test]
    fn peeks() {
        assert_eq!(
            peek_tag_and_name(b"a1 uid fetch 1 x"),
            (Some("a1".into()), "UID FETCH".into())
        );
        assert_eq!(peek_tag_and_name(b""), (None, String::new()));
    }
}
