//! `MessageIndex::listing` keeps what a message list shows: the same intro (the
//! first 128 characters of the text with white space collapsed, and whether more
//! follow), addresses and the top-level type, without bodies or search text.

use eider_message::{ingest, IngestOptions, PartKind};

/// The intro as the API renders it (api/http message_view.rs `intro`).
fn intro(text: &str) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out: String = collapsed.chars().take(128).collect();
    if collapsed.chars().count() > 128 {
        out.push('…');
    }
    out
}

fn message(body: &str) -> Vec<u8> {
    format!(
        "From: Ann <ann@example.com>\r\nTo: bob@example.com\r\nCc: c@example.com\r\n\
         Subject: Hello\r\nMessage-ID: <m1@x>\r\nReferences: <r0@x>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n--b\r\n\
         Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         AAECAwQFBgcICQ==\r\n--b--\r\n"
    )
    .into_bytes()
}

#[test]
fn listing_keeps_the_intro_and_drops_the_bodies() {
    let word = "wörd ";
    let mut bodies: Vec<String> = vec![
        String::new(),
        "short text".into(),
        "  leading\t\tand   inner  \r\n  white space  ".into(),
        "x".repeat(500),
        word.repeat(200),
    ];
    // The 129th collapsed character is the space between two words, and lengths
    // around the boundary.
    for n in 120..135 {
        bodies.push(format!("{}  {}", "a".repeat(n), "b".repeat(10)));
        bodies.push("c".repeat(n));
    }
    for body in bodies {
        let ing = ingest(&message(&body), &IngestOptions::default()).expect("ingest");
        let full = &ing.index;
        let list = full.listing();
        let full_text = full.text.as_deref().unwrap_or_default();
        let list_text = list.text.as_deref().unwrap_or_default();
        assert_eq!(intro(list_text), intro(full_text), "body {body:?}");
        assert!(list_text.chars().count() <= 130);
        assert_eq!(list.subject, "Hello");
        assert_eq!(list.from, full.from);
        assert_eq!(list.to, full.to);
        assert_eq!(list.cc, full.cc);
        assert_eq!(list.message_id, full.message_id);
        assert_eq!(list.references, full.references);
        assert_eq!(list.headers, full.headers);
        assert_eq!(
            (
                &list.root.media_type,
                &list.root.media_subtype,
                &list.root.params
            ),
            (
                &full.root.media_type,
                &full.root.media_subtype,
                &full.root.params
            )
        );
        assert!(matches!(list.root.kind, PartKind::Leaf));
        assert!(list.attachments.is_empty() && list.html.is_empty());
        assert!(list.search_body.is_empty() && list.search_headers.is_empty());
    }
}
