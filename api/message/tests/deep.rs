//! Deeply nested input: indexed down to the depth limit, kept opaque below it,
//! never overflowing a 2 MiB thread stack, and always round-tripping exactly.

mod common;

use common::roundtrip;
use eider_message::{ingest, BodyPart, IngestOptions, PartKind};

/// `depth` multiparts, each the only child of the previous one. (Boundaries end in
/// "x" so that none is a prefix of another: MIME matches boundaries by prefix.)
fn nested_multipart(depth: usize) -> Vec<u8> {
    let mut s = String::from("From: a@example.com\r\nSubject: deep\r\nMIME-Version: 1.0\r\n");
    for i in 0..depth {
        s.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{i}x\"\r\n\r\npreamble {i}\r\n--b{i}x\r\n"
        ));
    }
    s.push_str("Content-Type: text/plain\r\n\r\ninnermost\r\n");
    for i in (0..depth).rev() {
        s.push_str(&format!("--b{i}x--\r\nepilogue {i}\r\n"));
    }
    s.into_bytes()
}

fn nested_messages(depth: usize) -> Vec<u8> {
    let mut s = String::new();
    for i in 0..depth {
        s.push_str(&format!(
            "Subject: level {i}\r\nContent-Type: message/rfc822\r\n\r\n"
        ));
    }
    s.push_str("Subject: bottom\r\n\r\nbottom text\r\n");
    s.into_bytes()
}

/// Depth of the chain of containers below `part`.
fn depth(part: &BodyPart) -> usize {
    let mut d = 0;
    let mut p = part;
    loop {
        match &p.kind {
            PartKind::Multipart(c) if c.len() == 1 => p = &c[0],
            PartKind::Message { root, .. } => p = root,
            _ => return d,
        }
        d += 1;
    }
}

fn balanced(s: &str) -> bool {
    let mut n = 0i64;
    for c in s.chars() {
        match c {
            '(' => n += 1,
            ')' => n -= 1,
            _ => {}
        }
        if n < 0 {
            return false;
        }
    }
    n == 0
}

/// Run `f` on a thread with the stack a tokio worker gets by default.
fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("thread panicked (stack overflow would abort)");
}

#[test]
fn hundred_deep_multipart() {
    on_small_stack(|| {
        let raw = nested_multipart(100);
        let ing = roundtrip(&raw, &IngestOptions::default(), 300, 11);
        let idx = &ing.index;
        assert_eq!(depth(&idx.root), 100);
        assert!(idx.imap_bodystructure.starts_with(&"(".repeat(101)));
        assert!(balanced(&idx.imap_bodystructure));
        assert_eq!(idx.text.as_deref(), Some("innermost"));
        // Part 1.1.1...(100 times) is the text part.
        let path = vec![1u32; 100];
        let leaf = idx.section(&path).expect("innermost part");
        assert_eq!(
            &raw[leaf.body_start as usize..leaf.body_end as usize],
            b"innermost"
        );
    });
}

#[test]
fn depth_limit_keeps_deeper_parts_opaque() {
    on_small_stack(|| {
        let raw = nested_multipart(40);
        let opts = IngestOptions {
            max_depth: 10,
            ..Default::default()
        };
        let ing = roundtrip(&raw, &opts, 100, 12);
        assert_eq!(depth(&ing.index.root), 10);
        assert!(balanced(&ing.index.imap_bodystructure));
        // The opaque part is a leaf holding everything below it.
        let path = vec![1u32; 10];
        let opaque = ing.index.section(&path).expect("opaque part");
        assert!(matches!(opaque.kind, PartKind::Leaf));
        assert_eq!(opaque.media_type, "multipart");
    });
}

#[test]
fn absurd_depth_is_capped() {
    on_small_stack(|| {
        let opts = IngestOptions {
            max_depth: usize::MAX,
            ..Default::default()
        };
        let raw = nested_multipart(1000);
        let ing = roundtrip(&raw, &opts, 20, 13);
        assert_eq!(depth(&ing.index.root), 256);
        assert!(balanced(&ing.index.imap_bodystructure));

        let raw = nested_messages(1000);
        let ing = roundtrip(&raw, &opts, 20, 14);
        assert_eq!(depth(&ing.index.root), 256);
        let bs = &ing.index.imap_bodystructure;
        assert!(balanced(bs));
        // Below the limit, a message/rfc822 that is not parsed is described as an
        // opaque application/octet-stream (MESSAGE/RFC822 would need an envelope).
        assert!(bs.contains("(\"APPLICATION\" \"OCTET-STREAM\" NIL NIL NIL \"7BIT\""));
    });
}

#[test]
fn nested_messages_envelopes() {
    let raw = nested_messages(3);
    let ing = ingest(&raw, &IngestOptions::default()).expect("ingest");
    let bs = &ing.index.imap_bodystructure;
    assert!(bs.starts_with("(\"MESSAGE\" \"RFC822\" NIL NIL NIL \"7BIT\" "));
    assert!(bs.contains("(NIL \"level 1\" NIL NIL NIL NIL NIL NIL NIL NIL)"));
    assert!(bs.contains("(NIL \"bottom\" NIL NIL NIL NIL NIL NIL NIL NIL) (\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 13 1"));
    // A top-level message/rfc822 body is part 1; the message inside starts at 1.1.
    let p1 = ing.index.section(&[1]).expect("part 1");
    assert!(matches!(p1.kind, PartKind::Message { .. }));
    let inner = ing.index.section(&[1, 1]).expect("part 1.1");
    assert_eq!(inner.media_type, "message");
}

#[test]
fn part_count_is_bounded() {
    let mut s = String::from("Content-Type: multipart/mixed; boundary=p\r\n\r\n");
    for _ in 0..30_000 {
        s.push_str("--p\r\n\r\nx\r\n");
    }
    s.push_str("--p--\r\n");
    let raw = s.into_bytes();
    let ing = roundtrip(&raw, &IngestOptions::default(), 50, 15);
    match &ing.index.root.kind {
        PartKind::Multipart(children) => assert_eq!(children.len(), 9_999),
        other => panic!("not a multipart: {other:?}"),
    }
    assert!(balanced(&ing.index.imap_bodystructure));
}
