//! Choosing which leaf bodies become blobs, and how each is re-encoded.
//!
//! - A base64 body whose decoded content is at least `blob_threshold` bytes is
//!   stored decoded when re-encoding it with uniform lines (`line_len` a multiple
//!   of 4, every line but the last full, one kind of line break, optional final
//!   break) reproduces the body exactly — checked by running the real
//!   [`Encoder`] over it. The hash is the sha256 of the decoded content, so the
//!   same file wrapped differently by different clients is stored once.
//! - Otherwise (odd line lengths, whitespace, junk, mixed line breaks, non-canonical
//!   padding; or quoted-printable, 7bit, 8bit, binary) a body of at least
//!   `blob_threshold` bytes is stored as is (`Identity`, hash of the raw bytes).
//! - Whitespace after the last base64 line beyond one line break (a blank line
//!   before the delimiter, trailing spaces) stays in the skeleton, so it does not
//!   defeat deduplication.
//! - Smaller bodies stay in the skeleton.

use std::collections::HashSet;

use super::{BlobEncoding, BlobHash, Encoder, Layout, Segment};
use crate::index::{BodyPart, MessageIndex, PartKind};
use crate::transfer::decode_base64;
use crate::{ExtractedBlob, IngestOptions};

/// The split of one message, with the blob chosen for each leaf body.
pub(crate) struct Split {
    pub layout: Layout,
    pub skeleton: Vec<u8>,
    pub blobs: Vec<ExtractedBlob>,
    /// `body_start` of each leaf moved to a blob, with its hash.
    pub by_body_start: Vec<(u64, BlobHash)>,
}

/// Split `raw` into a layout, its skeleton and its blobs. Every blob segment is
/// verified to re-encode to exactly the original bytes; a part that does not is kept raw.
pub fn split(
    raw: &[u8],
    index: &MessageIndex,
    opts: &IngestOptions,
) -> (Layout, Vec<u8>, Vec<ExtractedBlob>) {
    let s = split_parts(raw, &index.root, opts);
    (s.layout, s.skeleton, s.blobs)
}

fn collect_leaves<'a>(part: &'a BodyPart, out: &mut Vec<&'a BodyPart>) {
    match &part.kind {
        PartKind::Leaf => out.push(part),
        PartKind::Multipart(children) => {
            for c in children {
                collect_leaves(c, out);
            }
        }
        PartKind::Message { root, .. } => collect_leaves(root, out),
    }
}

/// Line parameters a base64 body appears to use (verified afterwards).
fn detect(body: &[u8]) -> Option<BlobEncoding> {
    let (line, crlf, final_newline) = match memchr::memchr(b'\n', body) {
        None => (body.len().div_ceil(4) * 4, false, false),
        Some(i) => {
            let crlf = i > 0 && body[i - 1] == b'\r';
            let len = i - usize::from(crlf);
            if i + 1 == body.len() {
                (len.div_ceil(4) * 4, crlf, true)
            } else {
                (len, crlf, body.ends_with(b"\n"))
            }
        }
    };
    if line == 0 || line % 4 != 0 {
        return None;
    }
    Some(BlobEncoding::Base64 {
        line_len: u32::try_from(line).ok()?,
        crlf,
        final_newline,
    })
}

/// Does re-encoding `decoded` with `enc` give back `body` exactly?
fn verify(enc: BlobEncoding, decoded: &[u8], body: &[u8]) -> bool {
    let len = decoded.len() as u64;
    if enc.encoded_len(len) != body.len() as u64 {
        return false;
    }
    let mut e = Encoder::new(enc, len, 0);
    let mut buf = Vec::with_capacity(96 * 1024);
    let mut off = 0usize;
    let check = |buf: &mut Vec<u8>, off: &mut usize| {
        let ok = body.get(*off..*off + buf.len()) == Some(&buf[..]);
        *off += buf.len();
        buf.clear();
        ok
    };
    for chunk in decoded.chunks(48 * 1024) {
        e.push(chunk, &mut buf);
        if !check(&mut buf, &mut off) {
            return false;
        }
    }
    e.finish(true, &mut buf);
    check(&mut buf, &mut off) && off == body.len()
}

/// The blob for one leaf body, if it becomes one: its encoding, its stored
/// content and how many bytes of the body it covers (whitespace after the last
/// base64 line, like a blank line before the delimiter, stays in the skeleton).
fn blob_for(
    part: &BodyPart,
    body: &[u8],
    threshold: usize,
) -> Option<(BlobEncoding, Vec<u8>, usize)> {
    if body.is_empty() {
        return None;
    }
    if part.encoding == "BASE64" {
        let decoded = decode_base64(body);
        if decoded.len() < threshold {
            return None;
        }
        let core = body
            .iter()
            .rposition(|b| !matches!(b, b'\r' | b'\n' | b' ' | b'\t'))
            .map_or(0, |i| i + 1);
        let rest = &body[core..];
        let newline = if rest.starts_with(b"\r\n") {
            2
        } else if rest.starts_with(b"\n") {
            1
        } else {
            0
        };
        // With the line break after the last line if there is one, else without.
        let with_break = (newline > 0).then_some(core + newline);
        for len in with_break.into_iter().chain(std::iter::once(core)) {
            let candidate = &body[..len];
            if len > 0 {
                if let Some(enc) = detect(candidate) {
                    if verify(enc, &decoded, candidate) {
                        return Some((enc, decoded, len));
                    }
                }
            }
        }
    }
    (body.len() >= threshold).then(|| (BlobEncoding::Identity, body.to_vec(), body.len()))
}

pub(crate) fn split_parts(raw: &[u8], root: &BodyPart, opts: &IngestOptions) -> Split {
    let mut leaves = Vec::new();
    collect_leaves(root, &mut leaves);

    // (body range, encoding, hash, decoded length), in message order.
    let mut chosen: Vec<(usize, usize, BlobEncoding, BlobHash, u64)> = Vec::new();
    let mut blobs: Vec<ExtractedBlob> = Vec::new();
    let mut seen: HashSet<BlobHash> = HashSet::new();
    let mut last_end = 0usize;
    for part in leaves {
        let (s, e) = (part.body_start as usize, part.body_end as usize);
        if s < last_end || e > raw.len() || s > e {
            continue;
        }
        let Some((enc, data, len)) = blob_for(part, &raw[s..e], opts.blob_threshold) else {
            continue;
        };
        let hash = BlobHash::of(&data);
        chosen.push((s, s + len, enc, hash, data.len() as u64));
        if seen.insert(hash) {
            blobs.push(ExtractedBlob { hash, data });
        }
        last_end = e;
    }

    let in_blobs: usize = chosen.iter().map(|c| c.1 - c.0).sum();
    let mut skeleton = Vec::with_capacity(raw.len() - in_blobs);
    let mut segments = Vec::with_capacity(chosen.len() * 2 + 1);
    let mut by_body_start = Vec::with_capacity(chosen.len());
    let mut pos = 0usize;
    let inline = |skeleton: &mut Vec<u8>, segments: &mut Vec<Segment>, bytes: &[u8]| {
        if !bytes.is_empty() {
            segments.push(Segment::Inline {
                offset: skeleton.len() as u64,
                len: bytes.len() as u64,
            });
            skeleton.extend_from_slice(bytes);
        }
    };
    for (s, e, encoding, hash, decoded_len) in chosen {
        inline(&mut skeleton, &mut segments, &raw[pos..s]);
        let encoded_len = (e - s) as u64;
        debug_assert_eq!(encoding.encoded_len(decoded_len), encoded_len);
        segments.push(Segment::Blob {
            hash,
            decoded_len,
            encoding,
            encoded_len,
        });
        by_body_start.push((s as u64, hash));
        pos = e;
    }
    inline(&mut skeleton, &mut segments, &raw[pos..]);

    Split {
        layout: Layout { segments },
        skeleton,
        blobs,
        by_body_start,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_shapes() {
        let e = |l, c, f| {
            Some(BlobEncoding::Base64 {
                line_len: l,
                crlf: c,
                final_newline: f,
            })
        };
        assert_eq!(detect(b"QUJD\r\nREVG\r\nRw==\r\n"), e(4, true, true));
        assert_eq!(detect(b"QUJD\nREVG\nRw=="), e(4, false, false));
        assert_eq!(detect(b"QUJDREVGRw=="), e(12, false, false));
        assert_eq!(detect(b"QUJDREVGRw==\n"), e(12, false, true));
        assert_eq!(detect(b"QUJ\nDREVGRw=="), None);
    }

    #[test]
    fn verify_rejects_irregular() {
        let body = b"QUJD\r\nREVG\nRw==\r\n";
        let decoded = decode_base64(body);
        let enc = detect(body).unwrap_or(BlobEncoding::Identity);
        assert!(!verify(enc, &decoded, body));
        let good = b"QUJD\r\nREVG\r\nRw==\r\n";
        assert!(verify(enc, &decode_base64(good), good));
    }
}
