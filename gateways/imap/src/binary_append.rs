//! BINARY APPEND (RFC 3516 section 4.4): content sent in a `~{n}` literal may hold
//! NUL bytes, which IMAP4rev1 can never send back in FETCH BODY. The server may
//! store the message in any form as long as it can return it in a form that
//! conforms to RFC 2045, so every part whose body holds a NUL byte is stored
//! base64-encoded (its Content-Transfer-Encoding replaced); BINARY[] then decodes
//! it back to the original octets.

use base64::Engine;
use eider_service::message::{index::build, BodyPart, IngestOptions, PartKind};

/// `raw` with every leaf part whose body holds a NUL byte re-encoded as base64.
/// Messages without NUL bytes (and ones whose structure does not allow the
/// rewrite) are returned unchanged.
pub(crate) fn encode_binary_parts(raw: Vec<u8>) -> Vec<u8> {
    if !raw.contains(&0) {
        return raw;
    }
    let Ok(index) = build(&raw, &IngestOptions::default()) else {
        return raw;
    };
    let mut leaves = Vec::new();
    collect(&index.root, &raw, &mut leaves);
    leaves.sort_by_key(|p| p.header_start);
    let mut out = Vec::with_capacity(raw.len() * 4 / 3 + 64);
    let mut pos = 0usize;
    for part in leaves {
        let (hs, bs, be) = (
            part.header_start as usize,
            part.body_start as usize,
            part.body_end as usize,
        );
        if hs < pos || bs < hs || be < bs || be > raw.len() {
            return raw;
        }
        let Some(header) = rewrite_header(&raw[hs..bs]) else {
            return raw;
        };
        out.extend_from_slice(&raw[pos..hs]);
        out.extend_from_slice(&header);
        let encoded = base64::engine::general_purpose::STANDARD.encode(&raw[bs..be]);
        for (i, line) in encoded.as_bytes().chunks(76).enumerate() {
            if i > 0 {
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(line);
        }
        pos = be;
    }
    out.extend_from_slice(&raw[pos..]);
    out
}

/// Leaf parts (at any depth, inside message/rfc822 too) whose body holds a NUL.
fn collect<'a>(part: &'a BodyPart, raw: &[u8], out: &mut Vec<&'a BodyPart>) {
    match &part.kind {
        PartKind::Multipart(children) => children.iter().for_each(|c| collect(c, raw, out)),
        PartKind::Message { root, .. } => collect(root, raw, out),
        PartKind::Leaf => {
            let body = raw.get(part.body_start as usize..part.body_end as usize);
            if body.is_some_and(|b| b.contains(&0)) {
                out.push(part);
            }
        }
    }
}

/// A part header (including its terminating blank line) without its
/// Content-Transfer-Encoding field and with `Content-Transfer-Encoding: base64`
/// added last. None when the header does not end in a blank line.
fn rewrite_header(header: &[u8]) -> Option<Vec<u8>> {
    let fields = header
        .strip_suffix(b"\r\n\r\n")
        .map(|f| [f, b"\r\n"].concat())
        .or_else(|| header.strip_suffix(b"\n\n").map(|f| [f, b"\n"].concat()))
        .or_else(|| (header == b"\r\n" || header == b"\n").then(Vec::new))?;
    let mut out = Vec::with_capacity(header.len() + 40);
    let mut skipping = false;
    for line in fields.split_inclusive(|&b| b == b'\n') {
        let continuation = matches!(line.first(), Some(b' ' | b'\t'));
        if !continuation {
            let name = line.split(|&b| b == b':').next().unwrap_or_default();
            skipping = name
                .trim_ascii()
                .eq_ignore_ascii_case(b"Content-Transfer-Encoding");
        }
        if !skipping {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(b"Content-Transfer-Encoding: base64\r\n\r\n");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_bodies_become_base64() {
        let raw = b"From: a@b\r\nContent-Transfer-Encoding: binary\r\n\
Content-Type: application/octet-stream\r\n\r\n -\0\xe4\r\n\r\n"
            .to_vec();
        let out = encode_binary_parts(raw);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "From: a@b\r\nContent-Type: application/octet-stream\r\n\
Content-Transfer-Encoding: base64\r\n\r\nIC0A5A0KDQo="
        );
    }

    #[test]
    fn multipart_only_the_nul_part_changes() {
        let raw = b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\
Content-Type: text/plain\r\n\r\nhello\r\n--x\r\nContent-Transfer-Encoding: binary\r\n\r\n\0\0\r\n--x--\r\n"
            .to_vec();
        let out = String::from_utf8(encode_binary_parts(raw)).unwrap();
        assert!(out.contains("\r\n\r\nhello\r\n--x\r\n"), "{out}");
        assert!(
            out.contains("Content-Transfer-Encoding: base64\r\n\r\nAAA=\r\n--x--"),
            "{out}"
        );
        assert!(!out.contains("binary"), "{out}");
    }

    #[test]
    fn without_nul_unchanged() {
        let raw = b"Subject: x\r\n\r\nbody\xff\r\n".to_vec();
        assert_eq!(encode_binary_parts(raw.clone()), raw);
    }
}
