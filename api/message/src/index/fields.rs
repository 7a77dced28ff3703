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

/// Windows-1252 characters for bytes 0x80..=0x9F (the rest of the upper half is Latin-1).
const CP1252_HIGH: [char; 32] = [
    '\u{20AC}', '\u{81}', '\u{201A}', '\u{192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{2C6}', '\u{2030}', '\u{160}', '\u{2039}', '\u{152}', '\u{8D}', '\u{17D}', '\u{8F}',
    '\u{90}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{2DC}', '\u{2122}', '\u{161}', '\u{203A}', '\u{153}', '\u{9D}', '\u{17E}', '\u{178}',
];

/// Bytes as a string: UTF-8 sequences as such, and every byte that is not part of
/// valid UTF-8 read as Windows-1252 — undeclared 8-bit text in headers is nearly
/// always UTF-8 or Latin-1/1252, and this keeps both readable.
pub(crate) fn lossy(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut rest = bytes;
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                out.push_str(s);
                return out;
            }
            Err(e) => {
                let (valid, bad) = rest.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                let n = e.error_len().unwrap_or(bad.len()).max(1);
                for &b in &bad[..n] {
                    out.push(match b {
                        0x80..=0x9f => CP1252_HIGH[usize::from(b - 0x80)],
                        _ => char::from(b),
                    });
                }
                rest = &bad[n..];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_unfolds() {
        let block =
            b"Subject: hello\r\n  world\r\nX-A : b\r\nbogus line\r\nTo: x@y\r\n\r\nBody: no\r\n";
        let f = split_fields(block);
        assert_eq!(f.len(), 3);
        assert_eq!(f[0].name, b"Subject");
        assert_eq!(unfold(f[0].value), b"hello  world");
        assert_eq!(f[1].name, b"X-A");
        assert_eq!(f[2].name, b"To");
        assert!(first(&f, "to").is_some());
    }

    #[test]
    fn lossy_mixes_utf8_and_cp1252() {
        assert_eq!(lossy(b"Ren\xe9 M\xc3\xbcller \x80"), "René Müller €");
    }

    #[test]
    fn no_final_newline() {
        let f = split_fields(b"A: 1\nB: 2");
        assert_eq!(f.len(), 2);
        assert_eq!(f[1].value, b" 2");
    }
}
