//! IMAP flags and keywords: canonical spelling and validation.

use crate::{Error, Result};

pub const SEEN: &str = "\\Seen";
pub const ANSWERED: &str = "\\Answered";
pub const FLAGGED: &str = "\\Flagged";
pub const DELETED: &str = "\\Deleted";
pub const DRAFT: &str = "\\Draft";

/// The system flags a message can store (\Recent is session state, never stored).
pub const SYSTEM_FLAGS: [&str; 5] = [ANSWERED, FLAGGED, DELETED, SEEN, DRAFT];

/// Longest keyword accepted.
pub const MAX_KEYWORD_LEN: usize = 128;

/// Canonical spelling of one flag: system flags in RFC case, keywords as written.
pub fn canonical_flag(flag: &str) -> Result<String> {
    if let Some(sys) = SYSTEM_FLAGS.iter().find(|f| f.eq_ignore_ascii_case(flag)) {
        return Ok((*sys).to_string());
    }
    if flag.starts_with('\\') {
        return Err(Error::Validation(format!("unknown system flag {flag}")));
    }
    // RFC 3501 atom characters, minus the list/quote specials that make a flag unsendable.
    let valid = !flag.is_empty()
        && flag.len() <= MAX_KEYWORD_LEN
        && flag.bytes().all(|b| {
            b > 0x20
                && b < 0x7f
                && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
        });
    if valid {
        Ok(flag.to_string())
    } else {
        Err(Error::Validation(format!("invalid keyword {flag:?}")))
    }
}

/// Canonicalize, de-duplicate (case-insensitively) and sort a flag list.
pub fn normalize_flags<S: AsRef<str>>(flags: &[S]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(flags.len());
    for f in flags {
        let c = canonical_flag(f.as_ref())?;
        if !out.iter().any(|o| o.eq_ignore_ascii_case(&c)) {
            out.push(c);
        }
    }
    out.sort_by_key(|f| f.to_ascii_lowercase());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonicalizes_and_rejects() {
        assert_eq!(
            normalize_flags(&["\\seen", "$Label1", "\\SEEN", "$label1", "\\Flagged"]).ok(),
            Some(vec!["$Label1".into(), "\\Flagged".into(), "\\Seen".into()])
        );
        assert!(canonical_flag("\\Recent").is_err());
        assert!(canonical_flag("a b").is_err());
        assert!(canonical_flag("").is_err());
        assert!(canonical_flag("ok(").is_err());
    }
}
