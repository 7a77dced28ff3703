//! Raw header fields: names and undecoded values, split out of a header block.
//!
//! ENVELOPE and BODYSTRUCTURE want values as written (RFC 3501), so fields are
//! kept as byte ranges here; decoding for display happens elsewhere.

use crate::index::{MAX_INDEXED_FIELDS, MAX_INDEXED_VALUE};

/// One header field of a header block.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawField<'a> {
    /// Field name as written (trailing whitespace before the colon removed).
    pub name: &'a [u8],
    /// Everything after the colon up to the field's last line break (excluded),
    /// continuation lines included; at most [`MAX_INDEXED_VALUE`] bytes.
    pub value: &'a [u8],
    /// The value was longer and was cut to [`MAX_INDEXED_VALUE`] bytes.
    pub cut: bool,
}

impl<'a> RawField<'a> {
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name.as_bytes())
    }
}

/// Fields that keep being indexed past [`MAX_INDEXED_FIELDS`] (their first
/// occurrence only): what ENVELOPE, BODYSTRUCTURE, threading and delivery read.
const KEY_FIELDS: [&str; 24] = [
    "From",
    "Sender",
    "Reply-To",
    "To",
    "Cc",
    "Bcc",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "List-ID",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Content-Disposition",
    "Content-ID",
    "Content-Description",
    "Content-MD5",
    "Content-Language",
    "Content-Location",
    "Auto-Submitted",
    "Precedence",
    "X-Spam-Status",
];

/// Collects fields within the limits: the first [`MAX_INDEXED_FIELDS`] fields,
/// then only the first occurrence of each of [`KEY_FIELDS`]; values cut to
/// [`MAX_INDEXED_VALUE`] bytes.
struct Collector<'a> {
    block: &'a [u8],
    fields: Vec<RawField<'a>>,
    /// Bit i: `KEY_FIELDS[i]` was kept past the field limit.
    late_keys: u32,
}

impl<'a> Collector<'a> {
    fn push(&mut self, (ns, ne, vs, ve): (usize, usize, usize, usize)) {
        let name = &self.block[ns..ne];
        if self.fields.len() >= MAX_INDEXED_FIELDS {
            let Some(k) = KEY_FIELDS
                .iter()
                .position(|k| name.eq_ignore_ascii_case(k.as_bytes()))
            else {
                return;
            };
            if self.late_keys & (1 << k) != 0 {
                return;
            }
            self.late_keys |= 1 << k;
        }
        let whole = &self.block[vs..ve];
        let value = cut_value(whole);
        self.fields.push(RawField {
            name,
            value,
            cut: value.len() < whole.len(),
        });
    }
}

/// `value` cut to at most [`MAX_INDEXED_VALUE`] bytes, preferably after a
/// separator (comma, whitespace, line break) so that the last address or
/// encoded word kept is whole.
fn cut_value(value: &[u8]) -> &[u8] {
    if value.len() <= MAX_INDEXED_VALUE {
        return value;
    }
    let head = &value[..MAX_INDEXED_VALUE];
    let floor = MAX_INDEXED_VALUE / 2;
    match head[floor..]
        .iter()
        .rposition(|b| matches!(b, b',' | b' ' | b'\t' | b'\r' | b'\n'))
    {
        Some(i) => &head[..floor + i],
        None => head,
    }
}

/// Split a header block into fields. Stops at the first empty line. Lines
/// starting with whitespace continue the previous field; lines without a colon
/// that are not continuations are skipped.
///
/// Only what is indexed is kept (see [`MAX_INDEXED_FIELDS`], [`MAX_INDEXED_VALUE`]):
/// a header section of 200,000 fields or one 20 MB field costs the index a bounded
/// amount, while the raw bytes stay untouched in the store.
pub(crate) fn split_fields(block: &[u8]) -> Vec<RawField<'_>> {
    let mut out = Collector {
        block,
        fields: Vec::new(),
        late_keys: 0,
    };
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
            if let Some(f) = current.take() {
                out.push(f);
            }
            let mut name_end = pos + colon;
            while name_end > pos && matches!(block[name_end - 1], b' ' | b'\t') {
                name_end -= 1;
            }
            current = Some((pos, name_end, pos + colon + 1, content_end));
        } else if let Some(f) = current.take() {
            out.push(f);
        }
        pos = next;
    }
    if let Some(f) = current {
        out.push(f);
    }
    out.fields
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
    fn fields_past_the_limit_keep_only_key_fields_once() {
        let mut block = Vec::new();
        for i in 0..MAX_INDEXED_FIELDS + 500 {
            block.extend_from_slice(format!("X-N{i}: v\r\n").as_bytes());
        }
        block.extend_from_slice(b"Subject: late\r\nX-Other: no\r\nsubject: again\r\n\r\n");
        let f = split_fields(&block);
        assert_eq!(f.len(), MAX_INDEXED_FIELDS + 1);
        assert_eq!(f[MAX_INDEXED_FIELDS].name, b"Subject");
        assert_eq!(first(&f, "subject").map(|f| f.value), Some(&b" late"[..]));
    }

    #[test]
    fn long_values_are_cut_after_a_separator() {
        let mut block = b"To: ".to_vec();
        for i in 0..20_000 {
            block.extend_from_slice(format!("u{i}@example.net,\r\n ").as_bytes());
        }
        block.extend_from_slice(b"last@x\r\n\r\n");
        let f = split_fields(&block);
        assert_eq!(f.len(), 1);
        assert!(f[0].value.len() <= MAX_INDEXED_VALUE);
        assert!(f[0].value.len() > MAX_INDEXED_VALUE / 2);
        assert!(matches!(
            f[0].value.last(),
            Some(b',' | b' ' | b'\r' | b'\n')
        ));
        let one_word = [b'x'; 3 * MAX_INDEXED_VALUE];
        assert_eq!(cut_value(&one_word).len(), MAX_INDEXED_VALUE);
    }

    #[test]
    fn no_final_newline() {
        let f = split_fields(b"A: 1\nB: 2");
        assert_eq!(f.len(), 2);
        assert_eq!(f[1].value, b" 2");
    }
}
