//! Appends messages forever from several concurrent tasks and prints
//! `ACK <uid> <message-id>` the moment the store acknowledges each one.
//! The durability test kills it with SIGKILL mid-stream and checks that every
//! acknowledged message survived, exactly once.
//!
//! Usage: ack_writer <store-dir> [tasks]

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::Utc;
use eider_service::model::{AppendRequest, Mailbox, NewContent, ThreadRef, User, UserProfile};
use eider_service::{MailboxStore, MessageStore, ObjectId, UserStore};
use eider_store_sqlite::{SqliteOptions, SqliteStore};

fn user() -> User {
    User {
        id: ObjectId::new(),
        username: "ack".into(),
        unameview: "ack".into(),
        name: None,
        address: String::new(),
        password: None,
        quota: 0,
        storage_used: 0,
        disabled: false,
        suspended: false,
        tags: Vec::new(),
        meta_data: serde_json::json!({}),
        internal_data: serde_json::json!({}),
        profile: UserProfile::default(),
        created: Utc::now(),
    }
}

fn inbox(user: ObjectId) -> Mailbox {
    Mailbox {
        id: ObjectId::new(),
        user,
        path: "INBOX".into(),
        special_use: None,
        uid_validity: 1,
        uid_next: 1,
        modify_index: 0,
        subscribed: true,
        retention: 0,
        hidden: false,
        created: Utc::now(),
    }
}

/// Every tenth message carries a 270 KB attachment (two blob chunks), so a kill can
/// land in the middle of writing blob chunks too.
fn message(message_id: &str, n: u64) -> Vec<u8> {
    let mut raw = format!(
        "From: a@example.com\r\nTo: b@example.com\r\nSubject: ack {n}\r\n\
         Message-ID: <{message_id}>\r\nMIME-Version: 1.0\r\n"
    );
    if n % 10 == 0 {
        let line = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAx\r\n";
        raw.push_str(
            "Content-Type: multipart/mixed; boundary=\"x\"\r\n\r\n--x\r\n\
             Content-Type: text/plain\r\n\r\nhello\r\n--x\r\n\
             Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n",
        );
        // Vary the content so that not every attachment is the same blob.
        raw.push_str(&format!("{:0>72}\r\n", n % 7));
        for _ in 0..5000 {
            raw.push_str(line);
        }
        raw.push_str("--x--\r\n");
    } else {
        raw.push_str(&format!("Content-Type: text/plain\r\n\r\nbody {n}\r\n"));
    }
    raw.into_bytes()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or("usage: ack_writer <store-dir> [tasks]")?);
    let tasks: usize = args.next().map(|t| t.parse()).transpose()?.unwrap_or(8);
    let store = Arc::new(SqliteStore::open(&dir, SqliteOptions::default())?);
    let (uid, mailbox) = match store.find_user_by_unameview("ack").await? {
        Some(u) => {
            let m = store
                .find_mailbox(u.id, "INBOX")
                .await?
                .ok_or("the ack user has no INBOX")?;
            (u.id, m.id)
        }
        None => {
            let u = user();
            let m = inbox(u.id);
            store
                .create_user(&u, None, std::slice::from_ref(&m))
                .await?;
            (u.id, m.id)
        }
    };
    let run = format!("{:x}", std::process::id());
    let mut handles = Vec::new();
    for t in 0..tasks {
        let store = Arc::clone(&store);
        let run = run.clone();
        handles.push(tokio::spawn(async move {
            for n in 0u64.. {
                let message_id = format!("{run}.{t}.{n}@ack");
                let raw = message(&message_id, n);
                let ingested =
                    eider_message::ingest(&raw, &Default::default()).map_err(|e| e.to_string())?;
                let req = AppendRequest {
                    id: ObjectId::new(),
                    user: uid,
                    mailbox,
                    content: NewContent {
                        index: ingested.index,
                        layout: ingested.layout,
                        skeleton: ingested.skeleton,
                        blobs: ingested.blobs,
                    },
                    flags: Vec::new(),
                    internal_date: Utc::now(),
                    thread: ThreadRef::Id(ObjectId::new()),
                    expires: None,
                    meta_data: serde_json::json!({}),
                    quota_limit: None,
                    dedupe_message_id: false,
                };
                let done = store.append(req).await.map_err(|e| e.to_string())?;
                // Printed only after Ok: the store says this message is durable.
                let mut out = std::io::stdout().lock();
                writeln!(out, "ACK {} {message_id}", done.uid).map_err(|e| e.to_string())?;
                out.flush().map_err(|e| e.to_string())?;
            }
            Ok::<(), String>(())
        }));
    }
    for h in handles {
        h.await??;
    }
    Ok(())
}
