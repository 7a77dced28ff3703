//! Every fixture: ingest, reassemble byte for byte, serve random ranges exactly;
//! plus exact IMAP answers for the fixtures where they matter.

mod common;

use std::path::PathBuf;

use common::roundtrip;
use eider_message::{ingest, BlobEncoding, BlobHash, IngestOptions, Ingested, PartKind, Segment};

fn fixture(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn all_fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("fixtures dir")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn every_fixture_round_trips() {
    let fixtures = all_fixtures();
    assert!(fixtures.len() >= 20, "fixtures missing");
    for (i, (name, raw)) in fixtures.iter().enumerate() {
        for threshold in [2048, 16, 0] {
            let opts = IngestOptions {
                blob_threshold: threshold,
                ..Default::default()
            };
            let r = std::panic::catch_unwind(|| roundtrip(raw, &opts, 200, i as u64 + 1));
            assert!(r.is_ok(), "fixture {name} (threshold {threshold}) failed");
        }
    }
}

fn ingest_default(name: &str) -> (Vec<u8>, Ingested) {
    let raw = fixture(name);
    let ing = ingest(&raw, &IngestOptions::default()).expect("ingest");
    (raw, ing)
}

fn body<'a>(raw: &'a [u8], ing: &Ingested, path: &[u32]) -> &'a [u8] {
    let p = ing
        .index
        .section(path)
        .unwrap_or_else(|| panic!("no part {path:?}"));
    &raw[p.body_start as usize..p.body_end as usize]
}

fn blob_encodings(ing: &Ingested) -> Vec<BlobEncoding> {
    ing.layout
        .segments
        .iter()
        .filter_map(|s| match s {
            Segment::Blob { encoding, .. } => Some(*encoding),
            Segment::Inline { .. } => None,
        })
        .collect()
}

#[test]
fn nested_rfc822() {
    let (raw, ing) = ingest_default("nested-rfc822.eml");
    let idx = &ing.index;
    assert_eq!(
        idx.imap_envelope,
        r#"("Tue, 03 Jan 2023 12:00:00 +0000" "Fwd: inner" (("Outer Sender" NIL "outer" "example.com")) (("Outer Sender" NIL "outer" "example.com")) (("Outer Sender" NIL "outer" "example.com")) ((NIL NIL "rcpt" "example.net")) NIL NIL NIL "<outer@example.com>")"#
    );
    // The message/rfc822 part: its own fields, then the envelope and structure of
    // the message inside and its line count (RFC 3501 body-type-msg).
    assert_eq!(
        idx.imap_bodystructure,
        concat!(
            r#"(("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 28 1 NIL NIL NIL NIL)"#,
            r#"("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 415 "#,
            r#"("Mon, 02 Jan 2023 08:00:00 -0500" "inner" (("Inner, Author" NIL "inner" "example.org")) (("Inner, Author" NIL "inner" "example.org")) (("Inner, Author" NIL "inner" "example.org")) ((NIL NIL "a" "example.org")(NIL NIL "b" "example.org")) NIL NIL "<parent@example.org>" "<inner@example.org>") "#,
            r#"(("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "7BIT" 7 1 NIL NIL NIL NIL)("TEXT" "HTML" ("CHARSET" "utf-8") NIL NIL "7BIT" 14 1 NIL NIL NIL NIL) "ALTERNATIVE" ("BOUNDARY" "inner") NIL NIL NIL) "#,
            r#"20 NIL ("ATTACHMENT" ("FILENAME" "inner.eml")) NIL NIL) "MIXED" ("BOUNDARY" "outer") NIL NIL NIL)"#
        )
    );
    assert_eq!(
        idx.imap_body,
        concat!(
            r#"(("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 28 1)"#,
            r#"("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 415 "#,
            r#"("Mon, 02 Jan 2023 08:00:00 -0500" "inner" (("Inner, Author" NIL "inner" "example.org")) (("Inner, Author" NIL "inner" "example.org")) (("Inner, Author" NIL "inner" "example.org")) ((NIL NIL "a" "example.org")(NIL NIL "b" "example.org")) NIL NIL "<parent@example.org>" "<inner@example.org>") "#,
            r#"(("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "7BIT" 7 1)("TEXT" "HTML" ("CHARSET" "utf-8") NIL NIL "7BIT" 14 1) "ALTERNATIVE") 20) "MIXED")"#
        )
    );
    // Sizes checked independently of the parser: the encapsulated message runs from
    // after its part header to the line break before the closing delimiter.
    let text = String::from_utf8(raw.clone()).unwrap();
    let start = text.find("filename=\"inner.eml\"\r\n\r\n").unwrap() + 24;
    let end = text.find("\r\n--outer--").unwrap();
    assert_eq!(end - start, 415);
    assert_eq!(text[start..end].matches('\n').count(), 20);

    // Section numbering (RFC 3501 6.4.5).
    assert_eq!(body(&raw, &ing, &[1]), b"See the forwarded message.\r\n");
    assert_eq!(body(&raw, &ing, &[2, 1]), b"Hello\r\n");
    assert_eq!(body(&raw, &ing, &[2, 2]), b"<b>Hello</b>\r\n");
    assert_eq!(body(&raw, &ing, &[2, 2, 1]), b"<b>Hello</b>\r\n");
    assert!(idx.section(&[3]).is_none());
    assert!(idx.section(&[2, 3]).is_none());
    assert!(matches!(
        idx.section(&[2]).unwrap().kind,
        PartKind::Message { .. }
    ));
    assert!(idx.section(&[]).is_some());

    assert_eq!(idx.attachments.len(), 1);
    let a = &idx.attachments[0];
    assert_eq!(
        (a.id.as_str(), a.part.as_str(), a.content_type.as_str()),
        ("ATT00001", "2", "message/rfc822")
    );
    assert_eq!(a.filename.as_deref(), Some("inner.eml"));
    assert_eq!(a.size, 415);
    assert_eq!(idx.text.as_deref(), Some("See the forwarded message.\r\n"));
    assert!(idx.html.is_empty());
    // Search covers the forwarded message's text too.
    assert!(idx.search_body.contains("Hello"));
    assert_eq!(idx.thread_subject, "inner");
    assert_eq!(idx.message_id.as_deref(), Some("outer@example.com"));
    assert_eq!(idx.date, Some(1672747200));
}

#[test]
fn groups_encoded_words_and_rfc2231() {
    let (_, ing) = ingest_default("groups-and-2231.eml");
    let idx = &ing.index;
    // Names and subject stay encoded in ENVELOPE; groups use RFC 3501's markers.
    assert_eq!(
        idx.imap_envelope,
        concat!(
            r#"("Wed, 04 Jan 2023 09:30:00 +0200" "=?utf-8?b?R3LDvMOfZQ==?= [list] tags" "#,
            r#"(("=?utf-8?q?J=C3=B6rg?=" NIL "joerg" "example.de")) (("=?utf-8?q?J=C3=B6rg?=" NIL "joerg" "example.de")) (("=?utf-8?q?J=C3=B6rg?=" NIL "joerg" "example.de")) "#,
            r#"((NIL NIL "Team" NIL)(NIL NIL "alice" "example.com")("Bob B." NIL "bob" "example.com")(NIL NIL NIL NIL)("Carol C" NIL "carol" "example.com")) "#,
            r#"((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL)) NIL "<r2@x>" NIL)"#
        )
    );
    // RFC 2231 parameters stay in their encoded form, continuations merged.
    assert_eq!(
        idx.imap_bodystructure,
        concat!(
            r#"(("TEXT" "PLAIN" ("CHARSET" "iso-8859-1") NIL NIL "QUOTED-PRINTABLE" 9 0 NIL NIL NIL NIL)"#,
            r#"("APPLICATION" "PDF" ("NAME*" "utf-8''%E2%82%AC%20rate.pdf") NIL NIL "BASE64" 12 NIL ("ATTACHMENT" ("FILENAME*" "utf-8''%E2%82%AC%20rate.pdf")) NIL NIL) "#,
            r#""MIXED" ("BOUNDARY" "g") NIL NIL NIL)"#
        )
    );
    assert_eq!(idx.subject, "Grüße [list] tags");
    assert_eq!(idx.thread_subject, "grüße [list] tags");
    assert_eq!(idx.from[0].name, "Jörg");
    assert_eq!(idx.from[0].address, "joerg@example.de");
    let to: Vec<(&str, &str)> = idx
        .to
        .iter()
        .map(|a| (a.name.as_str(), a.address.as_str()))
        .collect();
    assert_eq!(
        to,
        vec![
            ("Team", ""),
            ("", "alice@example.com"),
            ("Bob B.", "bob@example.com"),
            ("Carol C", "carol@example.com")
        ]
    );
    assert_eq!(idx.references, vec!["r1@x".to_string(), "r2@x".to_string()]);
    assert_eq!(idx.in_reply_to.as_deref(), Some("r2@x"));
    assert_eq!(idx.list_id.as_deref(), Some("list.example.com"));
    assert_eq!(idx.date, Some(1672817400));
    assert_eq!(idx.text.as_deref(), Some("Grüße"));
    let a = &idx.attachments[0];
    assert_eq!(a.filename.as_deref(), Some("€ rate.pdf"));
    assert_eq!(
        (a.size, a.transfer_encoding.as_str(), a.blob),
        (9, "base64", None)
    );
    assert!(idx.search_headers.contains("Subject: Grüße [list] tags\n"));
    assert!(idx
        .headers
        .iter()
        .any(|h| h.key == "From" && h.value == "Jörg <joerg@example.de>"));
}

#[test]
fn eight_bit_headers() {
    let (_, ing) = ingest_default("8bit-headers.eml");
    let idx = &ing.index;
    // 8-bit strings go out as literals; bytes that are not UTF-8 read as Windows-1252.
    assert_eq!(
        idx.imap_envelope,
        "(\"Mon, 02 Jan 2023 10:00:00 +0100\" {20}\r\nGrüße aus München (({13}\r\nJörg Müller NIL \"joerg\" \"example.de\")) (({13}\r\nJörg Müller NIL \"joerg\" \"example.de\")) (({13}\r\nJörg Müller NIL \"joerg\" \"example.de\")) (({5}\r\nRené NIL \"rene\" \"example.fr\")(\"Smith, John\" NIL \"john\" \"example.com\")) NIL NIL NIL \"<8bit@example.de>\")"
    );
    assert_eq!(idx.subject, "Grüße aus München");
    assert_eq!(idx.to[0].name, "René");
    assert_eq!(idx.text.as_deref(), Some("Hallo René, schöne Grüße.\r\n"));
    assert_eq!(
        idx.imap_bodystructure,
        r#"("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 30 1 NIL NIL NIL NIL)"#
    );
}

#[test]
fn alternative_with_related_html() {
    let (raw, ing) = ingest_default("alternative-html.eml");
    let idx = &ing.index;
    assert_eq!(
        idx.imap_bodystructure,
        concat!(
            r#"(("TEXT" "PLAIN" ("CHARSET" "utf-8" "FORMAT" "flowed") NIL NIL "7BIT" 15 1 NIL NIL NIL NIL)"#,
            r#"(("TEXT" "HTML" ("CHARSET" "utf-8") NIL NIL "7BIT" 79 1 NIL NIL NIL NIL)"#,
            r#"("IMAGE" "PNG" ("NAME" "logo.png") "<logo@example.com>" NIL "BASE64" 4106 NIL ("INLINE" ("FILENAME" "logo.png")) NIL NIL) "#,
            r#""RELATED" ("BOUNDARY" "rel" "TYPE" "text/html") NIL NIL NIL) "ALTERNATIVE" ("BOUNDARY" "alt") NIL NIL NIL)"#
        )
    );
    assert_eq!(idx.text.as_deref(), Some("Plain version\r\n"));
    assert_eq!(idx.html.len(), 1);
    assert!(idx.html[0].contains("cid:logo@example.com"));
    assert_eq!(idx.attachments.len(), 1);
    let a = &idx.attachments[0];
    assert_eq!(a.part, "2.2");
    assert_eq!(a.content_id.as_deref(), Some("logo@example.com"));
    assert!(a.related);
    assert_eq!(a.size, 3000);
    // The image went to a blob; the listing points at it, and it decodes to the body.
    let hash = a.blob.expect("blob");
    let blob = ing.blobs.iter().find(|b| b.hash == hash).unwrap();
    let part = idx.section(&[2, 2]).unwrap();
    assert_eq!(
        eider_message::decode_body(part, body(&raw, &ing, &[2, 2])),
        blob.data
    );
    assert_eq!(
        blob_encodings(&ing),
        vec![BlobEncoding::Base64 {
            line_len: 76,
            crlf: true,
            final_newline: true
        }]
    );
    assert!(idx.search_body.contains("Html version"));
    assert!(!idx.search_body.contains("<p>"));
}

#[test]
fn digest_defaults_to_message_rfc822() {
    let (_, ing) = ingest_default("digest.eml");
    assert_eq!(
        ing.index.imap_bodystructure,
        concat!(
            r#"(("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 51 (NIL "first" ((NIL NIL "one" "example.com")) ((NIL NIL "one" "example.com")) ((NIL NIL "one" "example.com")) NIL NIL NIL NIL NIL) ("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 10 1 NIL NIL NIL NIL) 4 NIL NIL NIL NIL)"#,
            r#"("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 52 (NIL "second" ((NIL NIL "two" "example.com")) ((NIL NIL "two" "example.com")) ((NIL NIL "two" "example.com")) NIL NIL NIL NIL NIL) ("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 10 1 NIL NIL NIL NIL) 4 NIL NIL NIL NIL) "#,
            r#""DIGEST" ("BOUNDARY" "d") NIL NIL NIL)"#
        )
    );
}

#[test]
fn broken_and_missing_boundaries() {
    let (raw, ing) = ingest_default("broken-boundaries.eml");
    // "--goo" and "--" are not delimiters; the inner multipart is ended by the
    // outer delimiter; the last part runs to EOF without a closing delimiter.
    assert_eq!(
        ing.index.imap_bodystructure,
        concat!(
            r#"(("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 30 3 NIL NIL NIL NIL)"#,
            r#"(("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 10 0 NIL NIL NIL NIL) "ALTERNATIVE" ("BOUNDARY" "inner") NIL NIL NIL)"#,
            r#"("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 56 1 NIL NIL NIL NIL) "MIXED" ("BOUNDARY" "good") NIL NIL NIL)"#
        )
    );
    assert_eq!(body(&raw, &ing, &[2, 1]), b"inner text");
    assert!(body(&raw, &ing, &[3]).ends_with(b"no final boundary\r\n"));

    let (_, ing) = ingest_default("missing-boundary-param.eml");
    // No boundary: the multipart is an opaque part (basic fields, as WildDuck).
    assert_eq!(
        ing.index.imap_bodystructure,
        r#"("MULTIPART" "MIXED" NIL NIL NIL "7BIT" 44 NIL NIL NIL NIL)"#
    );
    let (_, ing) = ingest_default("boundary-never-appears.eml");
    assert_eq!(
        ing.index.imap_bodystructure,
        r#"(("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 0 0 NIL NIL NIL NIL) "MIXED" ("BOUNDARY" "ghost") NIL NIL NIL)"#
    );
    assert_eq!(ing.index.root.size, 11);
}

#[test]
fn preamble_and_epilogue() {
    let (raw, ing) = ingest_default("preamble-epilogue.eml");
    assert_eq!(
        ing.index.imap_bodystructure,
        r#"(("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 8 0 NIL NIL NIL NIL)("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 24 0 NIL NIL NIL NIL) "MIXED" ("BOUNDARY" "pe") NIL NIL NIL)"#
    );
    // BODY[TEXT] of the message holds preamble and epilogue.
    let root = &ing.index.root;
    let text = &raw[root.body_start as usize..root.body_end as usize];
    assert!(text.starts_with(b"This is a multi-part message"));
    assert!(text.ends_with(b"has two lines\r\n"));
    assert_eq!(body(&raw, &ing, &[1]), b"part one");
    assert_eq!(body(&raw, &ing, &[2]), b"implicit text/plain part");
}

#[test]
fn empty_and_header_only() {
    for name in ["empty-body.eml", "headers-only.eml"] {
        let (raw, ing) = ingest_default(name);
        assert_eq!(
            ing.index.imap_bodystructure,
            r#"("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 0 0 NIL NIL NIL NIL)"#,
            "{name}"
        );
        assert_eq!(ing.index.root.body_start as usize, raw.len());
        assert_eq!(ing.index.text, None);
    }
    let (_, ing) = ingest_default("headers-only.eml");
    assert_eq!(ing.index.subject, "no blank line");
    assert!(ingest(b"", &IngestOptions::default()).is_err());
}

#[test]
fn no_final_newline() {
    let (_, ing) = ingest_default("no-final-newline.eml");
    // Lines are counted as line feeds, as Dovecot does: the unterminated last line adds none.
    assert_eq!(
        ing.index.imap_bodystructure,
        r#"("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 37 1 NIL NIL NIL NIL)"#
    );
    let (_, ing) = ingest_default("no-final-newline-multipart.eml");
    assert_eq!(
        blob_encodings(&ing),
        vec![BlobEncoding::Base64 {
            line_len: 76,
            crlf: true,
            final_newline: false
        }]
    );
}

#[test]
fn base64_line_shapes_dedupe() {
    let mut hashes: Vec<BlobHash> = Vec::new();
    for line in [60u32, 72, 76] {
        for (tag, crlf) in [("crlf", true), ("lf", false)] {
            let (_, ing) = ingest_default(&format!("base64-{line}-{tag}.eml"));
            assert_eq!(
                blob_encodings(&ing),
                vec![
                    BlobEncoding::Base64 {
                        line_len: line,
                        crlf,
                        final_newline: true
                    },
                    BlobEncoding::Base64 {
                        line_len: line,
                        crlf,
                        final_newline: false
                    },
                ]
            );
            // Same content twice in one message: one blob.
            assert_eq!(ing.blobs.len(), 1);
            hashes.extend(ing.index.attachments.iter().filter_map(|a| a.blob));
        }
    }
    assert_eq!(hashes.len(), 12);
    assert!(hashes.iter().all(|h| *h == hashes[0]));
}

#[test]
fn irregular_bodies_are_stored_raw() {
    let (_, ing) = ingest_default("mixed-endings.eml");
    assert_eq!(blob_encodings(&ing), vec![BlobEncoding::Identity]);
    let (_, ing) = ingest_default("quoted-printable.eml");
    assert_eq!(blob_encodings(&ing), vec![BlobEncoding::Identity]);
    assert!(ing
        .index
        .text
        .as_deref()
        .unwrap_or_default()
        .starts_with("Zeile 0 mit Umlauten: äöü"));
    assert_eq!(ing.index.html, vec!["<p>Grüße</p>".to_string()]);
    assert_eq!(ing.index.subject, "Quöted");
}
