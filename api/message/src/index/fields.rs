//! Raw header fields: names and undecoded values, split out of a header block.
//!
//! ENVELOPE and BODYSTRUCTURE want values as written (RFC 3501), so fields are
//! kept as byte ranges here; decoding for display happens elsewhere.

/// One header field of a header block.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawField<'a> {
    /// Field name as written (trailing whitespace before the colon removed).
    pub name: &'a [u8],
    /// Everything after the colon up to the field's last line break (excluded),
    /// continuation lines included.
    pub value: &'a [u8],
}

impl<'a> RawField<'a> {
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name.as_bytes())
    }
}

/// Split a header block into fields. Stops at the first empty line. Lines
/// starting with whitespace continue the previous field; lines without a colon
/// that are not continuations are skipped.
pub(crate) fn split_fields(block: &[u8]) -> Vec<RawField<'_>> {
    let mut fields: Vec<RawField<'_>> = Vec::new();
    // (name, value start, value end) of the field being collected.
    let mut current: Option<(usize, usize, usize, usize)> = None;
    let mut pos = 0;
    while pos < block.len() {
        let (content_end, next) = match memchr::memchr(b'\n', &block[pos..]) {
            Some(i) => {
                let lf = pos + i;
                let end = if lf > pos && block[lf - 1] == b'\r' {
                    lf - 1
                } else {
                    lf
                };
                (end, lf + 1)
            }
            None => (block.len(), block.len()),
        };
        let line = &block[pos..content_end];
        if line.is_empty() {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if let Some(c) = current.as_mut() {
                c.3 = content_end;
            }
        } else if let Some(colon) = memchr::memchr(b':', line) {
            if let Some((ns, ne, vs, ve)) = current.take() {
                fields.push(RawField {
                    name: &block[ns..ne],
                    value: &block[vs..ve],
                });
            }
            let mut name_end = pos + colon;
            while name_end > pos && matches!(block[name_end - 1], b' ' | b'\t') {
                name_end -= 1;
            }
            current = Some((pos, name_end, pos + colon + 1, content_end));
        } else if let Some((ns, ne, vs, ve)) = current.take() {
            fields.push(RawField {
                name: &block[ns..ne],
                value: &block[vs..ve],
            });
        }
        pos = next;
    }
    if let Some((ns, ne, vs, ve)) = current {
        fields.push(RawField {
            name: &block[ns..ne],
            value: &block[vs..ve],
        });
    }
    fields
}

/// First field named `name` (case-insensitive).
pub(crate) fn first<'a>(fields: &[RawField<'a>], name: &str) -> Option<RawField<'a>> {
    fields.iter().find(|f| f.is(name)).copied()
}

/// Unfold a value (drop the line breaks of folding, keep the whitespace) and trim it.
pub(crate) fn unfold(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    let mut i = 0;
    while i < value.len() {
        match value[i] {
            b'\r' if value.get(i + 1) == Some(&b'\n') => i += 2,
            b'\n' => i += 1,
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    let start = out
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(out.len());
    let end = out
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |e| e + 1);
    out.truncate(end);
    out.drain(..start);
    out
}

/// Bytes as a string: UTF-8 when valid, otherwise lossily (8-bit headers in
/// legacy charsets have no declared charset to go by).
pub(crate) fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_unfolds() {
        let block = b"Subject: hello\r\n  world\r\nX-A : b\r\nbogus line\r\nTo: x@y\r\n\r\nBody: no\r\n";
        let f = split_fields(block);
        assert_eq!(f.len(), 3);
        assert_eq!(f[0].name, b"Subject");
        assert_eq!(unfold(f[0].value), b"hello  world");
        assert_eq!(f[1].name, b"X-A");
        assert_eq!(f[2].name, b"To");
        assert!(first(&f, "to").is_some());
    }

    #[test]
    fn no_final_newline() {
        let f = split_fields(b"A: 1\nB: 2");
        assert_eq!(f.len(), 2);
        assert_eq!(f[1].value, b" 2");
    }
}
