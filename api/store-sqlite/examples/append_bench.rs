//! Throughput of the embedded store: small appends from concurrent writers (group
//! commit) against one writer at a time (one fsync per append), then reads.
//!
//! Usage: cargo run --release -p eider-store-sqlite --example append_bench [messages] [writers] [full|normal]

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use eider_service::model::{
    AppendRequest, Mailbox, NewContent, SearchKey, SearchQuery, SortOrder, ThreadRef, UidSet, User,
    UserProfile,
};
use eider_service::{BlobStore, MessageStore, ObjectId, UserStore};
use eider_store_sqlite::{SqliteOptions, SqliteStore, Synchronous};

fn request(user: ObjectId, mailbox: ObjectId, n: usize) -> AppendRequest {
    let raw = format!(
        "From: Alice <alice@example.com>\r\nTo: bob@example.org\r\nSubject: Benchmark {n}\r\n\
         Message-ID: <{n}.{}@bench>\r\nDate: Mon, 01 Jan 2024 10:00:00 +0000\r\n\
         Content-Type: text/plain\r\n\r\nHello Bob, this is message number {n}.\r\n\
         It has a few lines of text so that it looks like mail.\r\nRegards, Alice\r\n",
        ObjectId::new()
    );
    let i = eider_message::ingest(raw.as_bytes(), &Default::default()).expect("ingest");
    AppendRequest {
        id: ObjectId::new(),
        user,
        mailbox,
        content: NewContent {
            index: i.index,
            layout: i.layout,
            skeleton: i.skeleton,
            blobs: i.blobs,
        },
        flags: Vec::new(),
        internal_date: Utc::now(),
        thread: ThreadRef::Id(ObjectId::new()),
        expires: None,
        meta_data: serde_json::json!({}),
        quota_limit: None,
        dedupe_message_id: false,
    }
}

async fn account(store: &SqliteStore, name: &str) -> (ObjectId, ObjectId) {
    let user = User {
        id: ObjectId::new(),
        username: name.into(),
        unameview: name.into(),
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
    };
    let inbox = Mailbox {
        id: ObjectId::new(),
        user: user.id,
        path: "INBOX".into(),
        special_use: None,
        uid_validity: 1,
        uid_next: 1,
        modify_index: 0,
        subscribed: true,
        retention: 0,
        hidden: false,
        created: Utc::now(),
    };
    store
        .create_user(&user, None, std::slice::from_ref(&inbox))
        .await
        .expect("create user");
    (user.id, inbox.id)
}

/// Append `reqs` with `writers` concurrent tasks; returns (seconds, commits).
async fn run(store: &Arc<SqliteStore>, reqs: Vec<AppendRequest>, writers: usize) -> (f64, u64) {
    let before = store.write_stats();
    let mut lanes: Vec<Vec<AppendRequest>> = (0..writers).map(|_| Vec::new()).collect();
    for (i, r) in reqs.into_iter().enumerate() {
        lanes[i % writers].push(r);
    }
    let start = Instant::now();
    let tasks: Vec<_> = lanes
        .into_iter()
        .map(|lane| {
            let s = Arc::clone(store);
            tokio::spawn(async move {
                for r in lane {
                    s.append(r).await.expect("append");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("join");
    }
    let secs = start.elapsed().as_secs_f64();
    (secs, store.write_stats().commits - before.commits)
}

/// A 30 MB attachment (incompressible): append time, then a 1 KB range read at its end.
async fn big_attachment(store: &Arc<SqliteStore>) {
    let (user, inbox) = account(store, "benchbig").await;
    let mut x: u32 = 9;
    let data: Vec<u8> = (0..30 * 1024 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 8) as u8
        })
        .collect();
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = Vec::with_capacity(data.len() / 3 * 4 + data.len() / 57 * 2 + 8);
    for (i, c) in data.chunks(3).enumerate() {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for k in 0..4 {
            b64.push(if k <= c.len() {
                A[((n >> (18 - 6 * k)) & 63) as usize]
            } else {
                b'='
            });
        }
        if (i + 1) % 19 == 0 {
            b64.extend_from_slice(b"\r\n");
        }
    }
    if !b64.ends_with(b"\r\n") {
        b64.extend_from_slice(b"\r\n");
    }
    let mut raw = b"From: a@example.com\r\nSubject: big\r\nMessage-ID: <big@bench>\r\n\
        Content-Type: multipart/mixed; boundary=\"x\"\r\n\r\n--x\r\n\
        Content-Type: text/plain\r\n\r\nsee attached\r\n--x\r\n\
        Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        .to_vec();
    raw.extend_from_slice(&b64);
    raw.extend_from_slice(b"--x--\r\n");
    let t = Instant::now();
    let i = eider_message::ingest(&raw, &Default::default()).expect("ingest");
    let ingest_ms = t.elapsed().as_secs_f64() * 1e3;
    let hash = eider_message::BlobHash::of(&data);
    let mut req = request(user, inbox, 0);
    req.content = NewContent {
        index: i.index,
        layout: i.layout,
        skeleton: i.skeleton,
        blobs: i.blobs,
    };
    let t = Instant::now();
    store.append(req).await.expect("append big");
    let append_ms = t.elapsed().as_secs_f64() * 1e3;
    let len = data.len() as u64;
    let t = Instant::now();
    let tail = store
        .read_blob(&hash, len - 1024, len)
        .await
        .expect("read tail");
    let read_us = t.elapsed().as_secs_f64() * 1e6;
    assert_eq!(&tail[..], &data[data.len() - 1024..]);
    println!(
        "30 MB attachment: ingest {ingest_ms:.0} ms, append {append_ms:.0} ms, last 1 KB read in {read_us:.0} µs"
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let writers: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(8);
    let sync: Synchronous = args
        .next()
        .map(|s| s.parse().expect("synchronous: full or normal"))
        .unwrap_or_default();
    let tmp = tempfile::tempdir().expect("tempdir");
    let opts = SqliteOptions {
        synchronous: sync,
        ..SqliteOptions::default()
    };
    let store = Arc::new(SqliteStore::open(tmp.path(), opts).expect("open"));
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!(
        "store in {} ({profile} build, synchronous={sync:?})",
        tmp.path().display()
    );

    // The one-writer pass is fsync-bound; a thousand appends show its rate.
    for (label, w, count) in [("concurrent", writers, n), ("sequential", 1, n.min(1000))] {
        let (user, inbox) = account(&store, &format!("bench{label}")).await;
        let reqs: Vec<_> = (0..count).map(|i| request(user, inbox, i)).collect();
        let (secs, commits) = run(&store, reqs, w).await;
        let n = count;
        println!(
            "{label:>10}: {n} appends, {w} writer(s): {secs:.3} s, {:.0} appends/s, {commits} commits ({:.1} appends/commit)",
            n as f64 / secs,
            n as f64 / commits.max(1) as f64
        );
        if w == writers {
            let t = Instant::now();
            let all = store
                .list_messages(inbox, &UidSet::all(), SortOrder::Ascending, 0)
                .await
                .expect("list");
            println!(
                "  list_messages of {}: {:.2} ms",
                all.len(),
                t.elapsed().as_secs_f64() * 1e3
            );
            for key in [
                SearchKey::Text("number 77".into()),
                SearchKey::Body("zz".into()),
                SearchKey::Flag("\\Seen".into(), false),
            ] {
                let t = Instant::now();
                let hits = store
                    .search(&SearchQuery {
                        user,
                        mailbox: Some(inbox),
                        key: key.clone(),
                    })
                    .await
                    .expect("search");
                println!(
                    "  search {key:?}: {} hits in {:.2} ms",
                    hits.len(),
                    t.elapsed().as_secs_f64() * 1e3
                );
            }
        }
    }
    big_attachment(&store).await;
    match Arc::try_unwrap(store) {
        Ok(s) => s.close().await,
        Err(_) => eprintln!("store still shared at exit"),
    }
}
