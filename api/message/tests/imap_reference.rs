//! BODY/BODYSTRUCTURE/ENVELOPE against reference answers.
//!
//! The first group are Dovecot's own test vectors (src/lib-imap/test-imap-bodystructure.c).
//! Dovecot counts sizes as if line ends were CRLF, so the messages are fed with
//! CRLF line ends, where its virtual sizes equal our physical ones. Dovecot writes
//! types and parameter names as found; Eider upper-cases them (see `imap_render`),
//! so the expected strings go through `upcase_keys` with the list of such tokens
//! occurring in these vectors, and get the outer parentheses Eider includes.

mod common;

use common::crlf;
use eider_message::{index::build, IngestOptions};

/// Upper-case the quoted tokens that Eider renders in upper case.
fn upcase_keys(dovecot: &str) -> String {
    const KEYS: &[&str] = &[
        "text",
        "plain",
        "charset",
        "7bit",
        "8bit",
        "x-myown",
        "boundary",
        "mixed",
        "message",
        "rfc822",
        "html",
        "alternative",
        "inline",
        "foo",
        "format",
        "delsp",
    ];
    let mut out = dovecot.to_string();
    for k in KEYS {
        out = out.replace(
            &format!("\"{k}\""),
            &format!("\"{}\"", k.to_ascii_uppercase()),
        );
    }
    format!("({out})")
}

fn check(message: &str, body: &str, bodystructure: &str) {
    let raw = crlf(message);
    let idx = build(&raw, &IngestOptions::default()).expect("build");
    assert_eq!(
        idx.imap_bodystructure,
        upcase_keys(bodystructure),
        "BODYSTRUCTURE of {message:?}"
    );
    assert_eq!(idx.imap_body, upcase_keys(body), "BODY of {message:?}");
}

#[test]
fn dovecot_single_part() {
    check(
        "From: user@domain.org\nDate: Sat, 24 Mar 2017 23:00:00 +0200\nMime-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\nbody\n",
        r#""text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 6 1"#,
        r#""text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 6 1 NIL NIL NIL NIL"#,
    );
    check(
        "From: user@domain.org\nDate: Sat, 24 Mar 2017 23:00:00 +0200\nMime-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nbody\n\n",
        r#""text" "plain" ("charset" "utf-8") NIL NIL "8bit" 8 2"#,
        r#""text" "plain" ("charset" "utf-8") NIL NIL "8bit" 8 2 NIL NIL NIL NIL"#,
    );
}

#[test]
fn dovecot_folded_boundary() {
    check(
        "From: user@domain.org\nDate: Sat, 24 Mar 2007 23:00:00 +0200\nMime-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"foo\n bar\"\n\n--foo bar\nContent-Type: text/x-myown; charset=us-ascii\n\nhello\n\n--foo bar--\n\n",
        r#"("text" "x-myown" ("charset" "us-ascii") NIL NIL "7bit" 7 1) "mixed""#,
        r#"("text" "x-myown" ("charset" "us-ascii") NIL NIL "7bit" 7 1 NIL NIL NIL NIL) "mixed" ("boundary" "foo bar") NIL NIL NIL"#,
    );
}

#[test]
fn dovecot_message_rfc822() {
    check(
        "From: user@domain.org\nDate: Sat, 24 Mar 2017 23:00:00 +0200\nMime-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"foo bar\"\n\n--foo bar\nContent-Type: text/plain; charset=us-ascii\n\nSee attached...\n\n--foo bar\nContent-Type: message/rfc822\n\nFrom: user@domain.org\nDate: Sat, 24 Mar 2017 23:00:00 +0200\nMime-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\nbody\n\n--foo bar--\n\n",
        r#"("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 17 1)("message" "rfc822" NIL NIL NIL "7bit" 133 ("Sat, 24 Mar 2017 23:00:00 +0200" NIL ((NIL NIL "user" "domain.org")) ((NIL NIL "user" "domain.org")) ((NIL NIL "user" "domain.org")) NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 6 1) 6) "mixed""#,
        r#"("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 17 1 NIL NIL NIL NIL)("message" "rfc822" NIL NIL NIL "7bit" 133 ("Sat, 24 Mar 2017 23:00:00 +0200" NIL ((NIL NIL "user" "domain.org")) ((NIL NIL "user" "domain.org")) ((NIL NIL "user" "domain.org")) NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 6 1 NIL NIL NIL NIL) 6 NIL NIL NIL NIL) "mixed" ("boundary" "foo bar") NIL NIL NIL"#,
    );
    check(
        "From: user@domain.org\nDate: Sat, 24 Mar 2017 23:00:00 +0200\nMime-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"foo bar\"\n\n--foo bar\nContent-Type: text/plain; charset=us-ascii\nContent-ID: <A.frop.example.com>\nContent-Description: Container message\n\nSee attached...\n\n--foo bar\nContent-Type: message/rfc822\nContent-ID: <B.frop.example.com>\nContent-Description: Forwarded\n\nFrom: user@domain.org\nDate: Sat, 24 Mar 2017 23:00:00 +0200\nMime-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\nbody\n\n--foo bar--\n",
        r#"("text" "plain" ("charset" "us-ascii") "<A.frop.example.com>" "Container message" "7bit" 17 1)("message" "rfc822" NIL "<B.frop.example.com>" "Forwarded" "7bit" 133 ("Sat, 24 Mar 2017 23:00:00 +0200" NIL ((NIL NIL "user" "domain.org")) ((NIL NIL "user" "domain.org")) ((NIL NIL "user" "domain.org")) NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 6 1) 6) "mixed""#,
        r#"("text" "plain" ("charset" "us-ascii") "<A.frop.example.com>" "Container message" "7bit" 17 1 NIL NIL NIL NIL)("message" "rfc822" NIL "<B.frop.example.com>" "Forwarded" "7bit" 133 ("Sat, 24 Mar 2017 23:00:00 +0200" NIL ((NIL NIL "user" "domain.org")) ((NIL NIL "user" "domain.org")) ((NIL NIL "user" "domain.org")) NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 6 1 NIL NIL NIL NIL) 6 NIL NIL NIL NIL) "mixed" ("boundary" "foo bar") NIL NIL NIL"#,
    );
}

#[test]
fn dovecot_everything() {
    check(
        "From: user@domain.org\nDate: Sat, 24 Mar 2007 23:00:00 +0200\nMime-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"foo\n bar\"\n\nRoot MIME prologue\n\n--foo bar\nContent-Type: text/x-myown; charset=us-ascii; foo=\"quoted\\\"string\"\nContent-ID: <foo@example.com>\nContent-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\nContent-Disposition: inline; foo=bar\nContent-Description: hellodescription\nContent-Language: en, fi, se\nContent-Location: http://example.com/test.txt\n\nhello\n\n--foo bar\nContent-Type: message/rfc822\n\nFrom: sub@domain.org\nTo: sub-to1@domain.org, sub-to2@domain.org\nDate: Sun, 12 Aug 2012 12:34:56 +0300\nSubject: submsg\nContent-Type: multipart/alternative; boundary=\"sub1\"\n\nSub MIME prologue\n--sub1\nContent-Type: text/html\nContent-Transfer-Encoding: 8bit\n\n<p>Hello world</p>\n\n--sub1\nContent-Type: text/plain\nContent-Transfer-Encoding: ?invalid\n\nHello another world\n\n--sub1--\nSub MIME epilogue\n\n--foo bar--\nRoot MIME epilogue\n",
        r#"("text" "x-myown" ("charset" "us-ascii" "foo" "quoted\"string") "<foo@example.com>" "hellodescription" "7bit" 7 1)("message" "rfc822" NIL NIL NIL "7bit" 412 ("Sun, 12 Aug 2012 12:34:56 +0300" "submsg" ((NIL NIL "sub" "domain.org")) ((NIL NIL "sub" "domain.org")) ((NIL NIL "sub" "domain.org")) ((NIL NIL "sub-to1" "domain.org")(NIL NIL "sub-to2" "domain.org")) NIL NIL NIL NIL) (("text" "html" ("charset" "us-ascii") NIL NIL "8bit" 20 1)("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 21 1) "alternative") 21) "mixed""#,
        r#"("text" "x-myown" ("charset" "us-ascii" "foo" "quoted\"string") "<foo@example.com>" "hellodescription" "7bit" 7 1 "Q2hlY2sgSW50ZWdyaXR5IQ==" ("inline" ("foo" "bar")) ("en" "fi" "se") "http://example.com/test.txt")("message" "rfc822" NIL NIL NIL "7bit" 412 ("Sun, 12 Aug 2012 12:34:56 +0300" "submsg" ((NIL NIL "sub" "domain.org")) ((NIL NIL "sub" "domain.org")) ((NIL NIL "sub" "domain.org")) ((NIL NIL "sub-to1" "domain.org")(NIL NIL "sub-to2" "domain.org")) NIL NIL NIL NIL) (("text" "html" ("charset" "us-ascii") NIL NIL "8bit" 20 1 NIL NIL NIL NIL)("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 21 1 NIL NIL NIL NIL) "alternative" ("boundary" "sub1") NIL NIL NIL) 21 NIL NIL NIL NIL) "mixed" ("boundary" "foo bar") NIL NIL NIL"#,
    );
}

#[test]
fn dovecot_multipart_without_parts() {
    // (Written out: the boundary value "foo" is also a parameter name elsewhere.)
    let raw = crlf("Content-Type: multipart/mixed; boundary=\"foo\"\n\n");
    let idx = build(&raw, &IngestOptions::default()).expect("build");
    assert_eq!(
        idx.imap_bodystructure,
        r#"(("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 0 0 NIL NIL NIL NIL) "MIXED" ("BOUNDARY" "foo") NIL NIL NIL)"#
    );
    assert_eq!(
        idx.imap_body,
        r#"(("TEXT" "PLAIN" ("CHARSET" "us-ascii") NIL NIL "7BIT" 0 0) "MIXED")"#
    );
}

/// RFC 3501 7.4.2's ENVELOPE example, from the header it describes.
#[test]
fn rfc3501_envelope_example() {
    let raw = crlf(
        "Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\nFrom: Terry Gray <gray@cac.washington.edu>\nSubject: IMAP4rev1 WG mtg summary and minutes\nTo: imap@cac.washington.edu\ncc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>\nMessage-Id: <B27397-0100000@cac.washington.edu>\nMIME-Version: 1.0\nContent-Type: TEXT/PLAIN; CHARSET=US-ASCII\n\nbody\n",
    );
    let idx = build(&raw, &IngestOptions::default()).expect("build");
    assert_eq!(
        idx.imap_envelope,
        r#"("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)" "IMAP4rev1 WG mtg summary and minutes" (("Terry Gray" NIL "gray" "cac.washington.edu")) (("Terry Gray" NIL "gray" "cac.washington.edu")) (("Terry Gray" NIL "gray" "cac.washington.edu")) ((NIL NIL "imap" "cac.washington.edu")) ((NIL NIL "minutes" "CNRI.Reston.VA.US")("John Klensin" NIL "KLENSIN" "MIT.EDU")) NIL NIL "<B27397-0100000@cac.washington.edu>")"#
    );
    // Type names are case-insensitive; parameter values keep their case.
    assert_eq!(
        idx.imap_bodystructure,
        r#"("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 6 1 NIL NIL NIL NIL)"#
    );
}

/// SEARCH FROM/TO match the parsed address and name even when the header has
/// comments inside or after the address (imaptest search-addresses).
#[test]
fn search_headers_hold_parsed_addresses() {
    let raw = b"From: <user-from (comment)@ (comment) domain.org>\r\n\
To: user-to@domain.org (RealTo)\r\nSubject: x\r\n\r\nbody\r\n";
    let idx = build(raw, &IngestOptions::default()).unwrap();
    let from = idx
        .search_headers
        .lines()
        .find(|l| l.starts_with("From: "))
        .unwrap();
    assert!(from.contains("user-from@domain.org"), "{from}");
    let to = idx
        .search_headers
        .lines()
        .find(|l| l.starts_with("To: "))
        .unwrap();
    assert!(
        to.contains("user-to@domain.org") && to.contains("RealTo"),
        "{to}"
    );
    assert!(idx.search_headers.contains("Subject: x\n"));
}
