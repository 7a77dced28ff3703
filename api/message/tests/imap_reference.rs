//! ENVELOPE and the header search text against reference answers from RFC 3501.
//! (Exact BODYSTRUCTURE answers for the hard cases are asserted in `fixtures.rs`.)

mod common;

use common::crlf;
use eider_message::{index::build, IngestOptions};

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
/// comments inside or after the address (RFC 5322 comments, CFWS).
#[test]
fn search_headers_hold_parsed_addresses() {
    let raw = b"From: <mia.sender (comment)@ (comment) post.example>\r\n\
To: otto.reader@post.example (Otto Reader)\r\nSubject: x\r\n\r\nbody\r\n";
    let idx = build(raw, &IngestOptions::default()).unwrap();
    let from = idx
        .search_headers
        .lines()
        .find(|l| l.starts_with("From: "))
        .unwrap();
    assert!(from.contains("mia.sender@post.example"), "{from}");
    let to = idx
        .search_headers
        .lines()
        .find(|l| l.starts_with("To: "))
        .unwrap();
    assert!(
        to.contains("otto.reader@post.example") && to.contains("Otto Reader"),
        "{to}"
    );
    assert!(idx.search_headers.contains("Subject: x\n"));
}
