//! Generate a small embedded store with the FIRST release's schema (migration v1,
//! `src/schema/v1_initial.sql`, and nothing after it), for the upgrade tests: one
//! user who can log in, an INBOX with a few messages (plain, with an attachment
//! stored as a blob, 8-bit), written with plain SQL in v1's column layout.
//!
//! ```text
//! cargo run -p eider-store-sqlite --example v1_fixture -- STORE_DIR EXPECTED_DIR
//! ```
//!
//! STORE_DIR receives `eider.sqlite3` (user_version 1); EXPECTED_DIR receives
//! `<uid>.eml`, the exact bytes IMAP must serve for each message, and
//! `login.txt` (username, password on two lines).

use std::path::PathBuf;

use eider_message::{ingest, BlobHash, IngestOptions};
use eider_service::ObjectId;
use rusqlite::{params, Connection};

const V1: &str = include_str!("../src/schema/v1_initial.sql");
const USERNAME: &str = "fixtureuser";
const PASSWORD: &str = "fixture-password";
const CHUNK: usize = 256 * 1024;

fn messages() -> Vec<Vec<u8>> {
    let attachment: String = (0..6000u32)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let b64 = {
        use base64::Engine;
        let enc = base64::engine::general_purpose::STANDARD.encode(attachment.as_bytes());
        enc.as_bytes()
            .chunks(76)
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect::<Vec<_>>()
            .join("\r\n")
    };
    vec![
        b"From: Alice <alice@example.com>\r\nTo: fixtureuser@example.com\r\nSubject: first release\r\nDate: Mon, 1 Jun 2026 10:00:00 +0000\r\nMessage-ID: <v1-1@example.com>\r\n\r\nHello from the first schema.\r\n".to_vec(),
        format!(
            "From: Bob <bob@example.com>\r\nTo: fixtureuser@example.com\r\nSubject: with attachment\r\nDate: Mon, 1 Jun 2026 11:00:00 +0000\r\nMessage-ID: <v1-2@example.com>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee the file.\r\n--b1\r\nContent-Type: application/octet-stream; name=\"data.txt\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"data.txt\"\r\n\r\n{b64}\r\n--b1--\r\n"
        )
        .into_bytes(),
        "From: Chloé <chloe@example.com>\r\nTo: fixtureuser@example.com\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\nDate: Tue, 2 Jun 2026 09:30:00 +0200\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nUn café, s'il vous plaît.\r\n"
            .as_bytes()
            .to_vec(),
    ]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let (Some(store), Some(expected)) = (args.next(), args.next()) else {
        return Err("usage: v1_fixture STORE_DIR EXPECTED_DIR".into());
    };
    let (store, expected) = (PathBuf::from(store), PathBuf::from(expected));
    std::fs::create_dir_all(&store)?;
    std::fs::create_dir_all(&expected)?;
    let mut conn = Connection::open(store.join("eider.sqlite3"))?;
    let tx = conn.transaction()?;
    tx.execute_batch(V1)?;
    tx.pragma_update(None, "user_version", 1)?;

    let now = 1_780_000_000_000i64;
    let user = ObjectId::new();
    let address = format!("{USERNAME}@example.com");
    let hash = eider_auth::hash_password(PASSWORD)?;
    let raws = messages();
    let total_size: usize = raws.iter().map(Vec::len).sum();
    tx.execute(
        "INSERT INTO users (id, username, unameview, name, address, password, quota, storage_used,
                            disabled, suspended, tags, meta_data, internal_data, profile, created)
         VALUES (?1, ?2, ?2, 'Fixture User', ?3, ?4, 0, ?5, 0, 0, '[]', '{}', '{}', '{}', ?6)",
        params![&user.0[..], USERNAME, address, hash, total_size as i64, now],
    )?;
    tx.execute(
        "INSERT INTO addresses (id, user, address, addrview, name, main, tags, targets, forwards,
                                meta_data, internal_data, created)
         VALUES (?1, ?2, ?3, ?3, NULL, 1, '[]', '[]', NULL, '{}', '{}', ?4)",
        params![&ObjectId::new().0[..], &user.0[..], address, now],
    )?;
    let inbox = ObjectId::new();
    let n = raws.len() as i64;
    tx.execute(
        "INSERT INTO mailboxes (id, user, path, special_use, uid_validity, uid_next, modify_index,
                                subscribed, retention, hidden, created, total, unseen, size)
         VALUES (?1, ?2, 'INBOX', NULL, 1780000000, ?3, ?4, 1, 0, 0, ?5, ?6, ?6, ?7)",
        params![
            &inbox.0[..],
            &user.0[..],
            n + 1,
            n,
            now,
            n,
            total_size as i64
        ],
    )?;
    let mut blob_refs: std::collections::HashMap<BlobHash, i64> = Default::default();
    for (i, raw) in raws.iter().enumerate() {
        let uid = i as i64 + 1;
        let ingested = ingest(raw, &IngestOptions::default())?;
        let mut index = ingested.index.clone();
        let (search_headers, search_body) = (
            std::mem::take(&mut index.search_headers),
            std::mem::take(&mut index.search_body),
        );
        let skeleton = BlobHash::of(&ingested.skeleton);
        let mut blobs: Vec<(BlobHash, &[u8])> = vec![(skeleton, &ingested.skeleton)];
        for b in &ingested.blobs {
            if b.hash != skeleton {
                blobs.push((b.hash, &b.data));
            }
        }
        let content_oid = ObjectId::new();
        tx.execute(
            "INSERT INTO contents (id, oid, skeleton, layout, idx, refcount) VALUES (?1, ?2, ?3, ?4, ?5, 1)",
            params![
                uid,
                &content_oid.0[..],
                &skeleton.0[..],
                serde_json::to_string(&ingested.layout)?,
                zstd::bulk::compress(&serde_json::to_vec(&index)?, 3)?
            ],
        )?;
        tx.execute(
            "INSERT INTO content_text (rowid, headers, body) VALUES (?1, ?2, ?3)",
            params![uid, search_headers, search_body],
        )?;
        for (hash, data) in &blobs {
            tx.execute(
                "INSERT INTO content_blobs (content, blob) VALUES (?1, ?2)",
                params![uid, &hash.0[..]],
            )?;
            let refs = blob_refs.entry(*hash).or_insert(0);
            *refs += 1;
            if *refs == 1 {
                tx.execute(
                    "INSERT INTO blobs (hash, length, chunk_size, refcount) VALUES (?1, ?2, ?3, 0)",
                    params![&hash.0[..], data.len() as i64, CHUNK as i64],
                )?;
                for (idx, chunk) in data.chunks(CHUNK).enumerate() {
                    tx.execute(
                        "INSERT INTO blob_chunks (hash, idx, compressed, data) VALUES (?1, ?2, 0, ?3)",
                        params![&hash.0[..], idx as i64, chunk],
                    )?;
                }
            }
        }
        let thread = ObjectId::new();
        tx.execute(
            "INSERT INTO threads (id, user, subject, updated) VALUES (?1, ?2, ?3, ?4)",
            params![&thread.0[..], &user.0[..], index.thread_subject, now],
        )?;
        let message = ObjectId::new();
        tx.execute(
            "INSERT INTO messages (oid, user, mailbox, uid, modseq, flags, seen, deleted, flagged,
                                   internal_date, header_date, size, thread, content, content_oid,
                                   subject, message_id, has_attachments, expires, meta_data)
             VALUES (?1, ?2, ?3, ?4, ?4, '', 0, 0, 0, ?5, ?6, ?7, ?8, ?4, ?9, ?10, ?11, ?12, NULL, '{}')",
            params![
                &message.0[..],
                &user.0[..],
                &inbox.0[..],
                uid,
                now + uid,
                index.date.map(|d| d * 1000),
                raw.len() as i64,
                &thread.0[..],
                &content_oid.0[..],
                index.subject,
                index.message_id,
                !index.attachments.is_empty()
            ],
        )?;
        tx.execute(
            "INSERT INTO journal (user, mailbox, modseq, kind, uid, message, flags, path, created)
             VALUES (?1, ?2, ?3, 1, ?3, ?4, '', NULL, ?5)",
            params![&user.0[..], &inbox.0[..], uid, &message.0[..], now],
        )?;
        std::fs::write(expected.join(format!("{uid}.eml")), raw)?;
    }
    for (hash, refs) in &blob_refs {
        tx.execute(
            "UPDATE blobs SET refcount = ?2 WHERE hash = ?1",
            params![&hash.0[..], refs],
        )?;
    }
    tx.commit()?;
    std::fs::write(
        expected.join("login.txt"),
        format!("{USERNAME}\n{PASSWORD}\n"),
    )?;
    println!("v1 store written to {}", store.display());
    Ok(())
}
