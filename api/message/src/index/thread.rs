//! Subject normalization for threading: replies and forwards of a message
//! should land on the same key as the original.

/// Reply/forward markers in common languages (English, German, Nordic, Dutch,
/// French, Polish), matched case-insensitively before a colon.
const PREFIXES: &[&str] = &[
    "re", "fwd", "fw", "aw", "sv", "vs", "wg", "tr", "antw", "odp",
];

/// Strip one leading reply/forward marker (`Re:`, `RE[2]:`, `Fwd :`) if present.
fn strip_marker(s: &str) -> Option<&str> {
    let word_end = s
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(s.len());
    let word = &s[..word_end];
    if !PREFIXES.iter().any(|p| word.eq_ignore_ascii_case(p)) {
        return None;
    }
    let mut rest = s[word_end..].trim_start();
    // Optional counter: [2] or (2).
    for (open, close) in [('[', ']'), ('(', ')')] {
        if let Some(r) = rest.strip_prefix(open) {
            let end = r.find(close)?;
            if !r[..end].chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            rest = r[end + 1..].trim_start();
        }
    }
    rest.strip_prefix(':')
}

/// Strip one leading `[list tag]`.
fn strip_tag(s: &str) -> Option<&str> {
    let r = s.strip_prefix('[')?;
    let end = r.find(']')?;
    Some(&r[end + 1..])
}

/// The thread key of a (decoded) subject: reply/forward markers and `[list]` tags
/// stripped from the front (repeatedly), a trailing `(fwd)` removed, whitespace
/// collapsed, lower-cased.
pub(crate) fn thread_subject(subject: &str) -> String {
    let mut s = subject.trim();
    while let Some(r) = strip_marker(s).or_else(|| strip_tag(s)) {
        let r = r.trim_start();
        if r.is_empty() {
            // "Re:" alone, or "[tag]" alone: keep what we have.
            break;
        }
        s = r;
    }
    loop {
        let t = s.trim_end();
        match t.len().checked_sub(5).and_then(|i| t.get(i..)) {
            Some(tail) if tail.eq_ignore_ascii_case("(fwd)") => s = &t[..t.len() - 5],
            _ => break,
        }
    }
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes() {
        assert_eq!(thread_subject("Re: RE: Fwd:  Hello   World"), "hello world");
        assert_eq!(thread_subject("[list] Re: [other]  AW: Sv: Fw: x"), "x");
        assert_eq!(thread_subject("Re[2]: Report (fwd)"), "report");
        assert_eq!(thread_subject("Regarding things"), "regarding things");
        assert_eq!(thread_subject("Re:"), "re:");
        assert_eq!(thread_subject(""), "");
        assert_eq!(thread_subject("Ärger"), "ärger");
    }
}
