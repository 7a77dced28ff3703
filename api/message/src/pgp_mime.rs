//! PGP/MIME (RFC 3156) for encryption at rest: whether a message is already
//! encrypted, and the `multipart/encrypted` message that wraps a ciphertext.
//!
//! The ciphertext (made by the caller) covers the whole original message, header
//! and body, so decrypting gives back exactly the bytes that arrived. The outer
//! header keeps the original's fields (From, To, Subject, Date, Message-ID, ...:
//! what lists, threads and search show) except its `Content-*` fields, which
//! described the original body and now live only inside the ciphertext. WildDuck
//! keeps the same outer fields (it drops Content-Type and Content-Transfer-Encoding)
//! and uses the same two parts, so its clients see the same shape.

/// The header fields of `raw`, each with its continuation lines and line end,
/// and where the body starts (after the blank line; `raw.len()` without one).
fn header_fields(raw: &[u8]) -> (Vec<&[u8]>, usize) {
    let mut fields: Vec<&[u8]> = Vec::new();
    let mut start: Option<usize> = None;
    let mut pos = 0;
    while pos < raw.len() {
        let end = memchr::memchr(b'\n', &raw[pos..]).map_or(raw.len(), |i| pos + i + 1);
        let line = &raw[pos..end];
        if line == b"\r\n" || line == b"\n" {
            if let Some(s) = start {
                fields.push(&raw[s..pos]);
            }
            return (fields, end);
        }
        if !matches!(line.first(), Some(b' ' | b'\t')) || start.is_none() {
            if let Some(s) = start {
                fields.push(&raw[s..pos]);
            }
            start = Some(pos);
        }
        pos = end;
    }
    if let Some(s) = start {
        fields.push(&raw[s..]);
    }
    (fields, raw.len())
}

/// The field's name, when the field has one.
fn field_name(field: &[u8]) -> Option<&[u8]> {
    let colon = memchr::memchr(b':', field)?;
    Some(trim(&field[..colon]))
}

/// The field's value unfolded (line breaks removed), lossily as text.
fn field_value(field: &[u8]) -> String {
    let colon = memchr::memchr(b':', field).map_or(field.len(), |i| i + 1);
    String::from_utf8_lossy(&field[colon..])
        .replace(['\r', '\n'], "")
        .trim()
        .to_string()
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &b[start..end]
}

/// A Content-Type parameter, lower-cased, unquoted (enough for `smime-type`).
fn param(value: &str, name: &str) -> Option<String> {
    let lower = value.to_ascii_lowercase();
    lower.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim() == name).then(|| v.trim().trim_matches('"').trim().to_string())
    })
}

/// Is this message already encrypted, so it must be stored as it is? PGP/MIME
/// (`multipart/encrypted`), S/MIME enveloped data (`application/pkcs7-mime`
/// without `smime-type` or with an enveloped one), or inline PGP (a plain-text
/// body that is an armored OpenPGP message).
pub fn is_encrypted(raw: &[u8]) -> bool {
    let (fields, body_start) = header_fields(raw);
    let value_of = |name: &[u8]| {
        fields
            .iter()
            .find(|f| field_name(f).is_some_and(|n| n.eq_ignore_ascii_case(name)))
            .map(|f| field_value(f))
    };
    let ctype = value_of(b"Content-Type");
    let media = ctype
        .as_deref()
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_else(|| "text/plain".into());
    match media.as_str() {
        "multipart/encrypted" => true,
        "application/pkcs7-mime" | "application/x-pkcs7-mime" => {
            let kind = ctype.as_deref().and_then(|v| param(v, "smime-type"));
            matches!(
                kind.as_deref(),
                None | Some("enveloped-data" | "authenveloped-data")
            )
        }
        "text/plain" => {
            let encoding = value_of(b"Content-Transfer-Encoding")
                .unwrap_or_default()
                .to_ascii_lowercase();
            let plain = matches!(encoding.as_str(), "" | "7bit" | "8bit" | "binary");
            let body = &raw[body_start.min(raw.len())..];
            let text = &body[body
                .iter()
                .position(|b| !b.is_ascii_whitespace())
                .unwrap_or(body.len())..];
            plain && text.starts_with(b"-----BEGIN PGP MESSAGE-----")
        }
        _ => false,
    }
}

/// The PGP/MIME message stored in place of `raw`: its header without `Content-*`
/// fields, then a `multipart/encrypted` body holding the version part and
/// `armored` (the OpenPGP message of the whole of `raw`) as `encrypted.asc`.
/// `boundary` must not occur in `armored`: one with `_` never does (armor is
/// base64 and fixed text).
pub fn pgp_mime(raw: &[u8], armored: &str, boundary: &str) -> Vec<u8> {
    let (fields, _) = header_fields(raw);
    let mut out = Vec::with_capacity(armored.len() + 1024);
    let mut mime_version = false;
    for f in &fields {
        let name = field_name(f).unwrap_or_default();
        if name.len() >= 8 && name[..8].eq_ignore_ascii_case(b"content-") {
            continue;
        }
        mime_version |= name.eq_ignore_ascii_case(b"MIME-Version");
        out.extend_from_slice(f);
        if !f.ends_with(b"\n") {
            out.extend_from_slice(b"\r\n");
        }
    }
    if !mime_version {
        out.extend_from_slice(b"MIME-Version: 1.0\r\n");
    }
    let armored = armored.trim_end_matches(['\r', '\n']);
    let b = boundary;
    out.extend_from_slice(
        format!(
            "Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\";\r\n \
             boundary=\"{b}\"\r\n\
             Content-Description: OpenPGP encrypted message\r\n\
             Content-Transfer-Encoding: 7bit\r\n\
             \r\n\
             This is an OpenPGP/MIME encrypted message\r\n\
             \r\n\
             --{b}\r\n\
             Content-Type: application/pgp-encrypted\r\n\
             Content-Transfer-Encoding: 7bit\r\n\
             \r\n\
             Version: 1\r\n\
             \r\n\
             --{b}\r\n\
             Content-Type: application/octet-stream; name=encrypted.asc\r\n\
             Content-Disposition: inline; filename=encrypted.asc\r\n\
             Content-Transfer-Encoding: 7bit\r\n\
             \r\n"
        )
        .as_bytes(),
    );
    out.extend_from_slice(armored.as_bytes());
    out.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ingest, IngestOptions};

    const ARMOR: &str =
        "-----BEGIN PGP MESSAGE-----\r\n\r\nhF4DAAAA\r\n=abcd\r\n-----END PGP MESSAGE-----\r\n";

    #[test]
    fn outer_header_keeps_all_but_content_fields() {
        let raw = b"Delivered-To: x@y.test\r\nFrom: A <a@example.com>\r\nTo: b@example.com\r\nSubject: =?utf-8?q?h=C3=A9?=\r\n folded\r\nContent-Type: multipart/mixed;\r\n boundary=\"zz\"\r\nMIME-Version: 1.0\r\nContent-Disposition: attachment; filename=x.pdf\r\nMessage-ID: <m1@example.com>\r\n\r\n--zz\r\nbody\r\n--zz--\r\n";
        let out = pgp_mime(raw, ARMOR, "eider_pgp_1");
        let text = String::from_utf8(out.clone()).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert_eq!(
            head,
            "Delivered-To: x@y.test\r\nFrom: A <a@example.com>\r\nTo: b@example.com\r\nSubject: =?utf-8?q?h=C3=A9?=\r\n folded\r\nMIME-Version: 1.0\r\nMessage-ID: <m1@example.com>\r\nContent-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\";\r\n boundary=\"eider_pgp_1\"\r\nContent-Description: OpenPGP encrypted message\r\nContent-Transfer-Encoding: 7bit"
        );
        assert!(body.ends_with("-----END PGP MESSAGE-----\r\n--eider_pgp_1--\r\n"));

        // What readers see: the outer fields, two attachments (RFC 3156's parts),
        // no text to search.
        let i = ingest(&out, &IngestOptions::default()).unwrap().index;
        assert_eq!(i.subject, "hé folded");
        assert_eq!(i.from[0].address, "a@example.com");
        assert_eq!(i.message_id.as_deref(), Some("m1@example.com"));
        assert_eq!(i.root.media_type, "multipart");
        assert_eq!(i.root.media_subtype, "encrypted");
        let kinds: Vec<_> = i
            .attachments
            .iter()
            .map(|a| a.content_type.as_str())
            .collect();
        assert_eq!(
            kinds,
            ["application/pgp-encrypted", "application/octet-stream"]
        );
        assert_eq!(i.attachments[1].filename.as_deref(), Some("encrypted.asc"));
        assert!(i.text.is_none() && i.search_body.is_empty());
        assert!(is_encrypted(&out));
    }

    #[test]
    fn bare_messages_get_a_mime_version() {
        let out = pgp_mime(b"Subject: x\nFrom: a@b.test\n\nhi\n", ARMOR, "b_1");
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with(
            "Subject: x\nFrom: a@b.test\nMIME-Version: 1.0\r\nContent-Type: multipart/encrypted;"
        ));
        // No header at all (a body only).
        let out = pgp_mime(b"\r\njust a body\r\n", ARMOR, "b_1");
        assert!(out.starts_with(b"MIME-Version: 1.0\r\nContent-Type: multipart/encrypted;"));
    }

    #[test]
    fn encrypted_forms_are_recognised() {
        let yes: [&[u8]; 6] = [
            b"Content-Type: Multipart/Encrypted;\r\n protocol=\"application/pgp-encrypted\"; boundary=x\r\n\r\n",
            b"Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\r\n\r\nMIIB",
            b"Content-Type: application/x-pkcs7-mime; name=smime.p7m\r\n\r\nMIIB",
            b"Content-Type: application/pkcs7-mime; smime-type=\"authEnveloped-data\"\r\n\r\nMIIB",
            b"Subject: inline\r\n\r\n\r\n-----BEGIN PGP MESSAGE-----\r\n\r\nhQ\r\n-----END PGP MESSAGE-----\r\n",
            b"Content-Type: text/plain; charset=us-ascii\r\n\r\n-----BEGIN PGP MESSAGE-----\r\n",
        ];
        for raw in yes {
            assert!(is_encrypted(raw), "{}", String::from_utf8_lossy(raw));
        }
        let no: [&[u8]; 6] = [
            b"Subject: plain\r\n\r\nhello\r\n",
            b"Content-Type: application/pkcs7-mime; smime-type=signed-data\r\n\r\nMIIB",
            b"Content-Type: multipart/signed; protocol=\"application/pgp-signature\"\r\n\r\n",
            b"Content-Type: text/html\r\n\r\n-----BEGIN PGP MESSAGE-----\r\n",
            b"Subject: quoted\r\n\r\nsee below\r\n-----BEGIN PGP MESSAGE-----\r\n",
            b"X-Note: Content-Type: multipart/encrypted\r\n\r\nhello\r\n",
        ];
        for raw in no {
            assert!(!is_encrypted(raw), "{}", String::from_utf8_lossy(raw));
        }
    }
}
