//! Behaviour specific to the embedded store: group commit, reopening, readers seeing
//! every commit, and durability across kill -9.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use chrono::Utc;
use eider_message::BlobHash;
use eider_service::model::{
    AppendRequest, FlagOp, FlagUpdate, Mailbox, NewContent, SearchKey, SearchQuery, SortOrder,
    ThreadRef, UidSet, User, UserProfile,
};
use eider_service::{BlobStore, MailboxStore, MessageStore, ObjectId, UserStore};
use eider_store_sqlite::{SqliteOptions, SqliteStore};

fn user(name: &str) -> User {
    User {
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
    }
}

fn mailbox(user: ObjectId, path: &str) -> Mailbox {
    Mailbox {
        id: ObjectId::new(),
        user,
        path: path.into(),
        special_use: None,
        uid_validity: 7,
        uid_next: 1,
        modify_index: 0,
        subscribed: true,
        retention: 0,
        hidden: false,
        created: Utc::now(),
    }
}

fn raw(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: a@example.com\r\nTo: b@example.com\r\nSubject: {subject}\r\n\
         Message-ID: <{}@test>\r\nContent-Type: text/plain\r\n\r\n{body}\r\n",
        ObjectId::new()
    )
    .into_bytes()
}

fn with_attachment(subject: &str, lines: usize) -> Vec<u8> {
    let mut m = format!(
        "From: a@example.com\r\nSubject: {subject}\r\nMessage-ID: <{}@test>\r\n\
         Content-Type: multipart/mixed; boundary=\"x\"\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\n\
         hello\r\n--x\r\nContent-Type: application/octet-stream\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n",
        ObjectId::new()
    );
    for i in 0..lines {
        m.push_str(&format!(
            "{:0>8}QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJz\r\n",
            i
        ));
    }
    m.push_str("--x--\r\n");
    m.into_bytes()
}

fn request(user: ObjectId, mailbox: ObjectId, raw: &[u8]) -> AppendRequest {
    let i = eider_message::ingest(raw, &Default::default()).expect("ingest");
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

async fn setup(store: &SqliteStore) -> (ObjectId, ObjectId, ObjectId) {
    let u = user(&format!("u{}", ObjectId::new()));
    let inbox = mailbox(u.id, "INBOX");
    let archive = mailbox(u.id, "Archive");
    store
        .create_user(&u, None, &[inbox.clone(), archive.clone()])
        .await
        .expect("create user");
    (u.id, inbox.id, archive.id)
}

async fn assert_consistent(store: &SqliteStore) {
    let problems = store.verify().await.expect("verify");
    assert!(problems.is_empty(), "invariants broken: {problems:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_commit_of_200_concurrent_appends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open"));
    let (u, inbox, _) = setup(&store).await;
    let reqs: Vec<AppendRequest> = (0..200)
        .map(|i| request(u, inbox, &raw(&format!("m{i}"), "hello")))
        .collect();
    let before = store.write_stats();
    let tasks: Vec<_> = reqs
        .into_iter()
        .map(|r| {
            let s = Arc::clone(&store);
            tokio::spawn(async move { s.append(r).await })
        })
        .collect();
    let mut done = Vec::new();
    for t in tasks {
        done.push(t.await.expect("join").expect("every append succeeds"));
    }
    let stats = store.write_stats();
    let (requests, commits) = (
        stats.requests - before.requests,
        stats.commits - before.commits,
    );
    eprintln!("200 concurrent appends: {requests} requests in {commits} commits");
    assert_eq!(requests, 200);
    assert!(commits < 200, "appends shared commits ({commits} commits)");
    done.sort_by_key(|a| a.uid);
    assert_eq!(
        done.iter().map(|a| a.uid).collect::<Vec<_>>(),
        (1..=200).collect::<Vec<u32>>()
    );
    assert!(
        done.windows(2).all(|w| w[0].modseq < w[1].modseq),
        "MODSEQ strictly increases with UID"
    );
    let metas = store
        .list_messages(inbox, &UidSet::all(), SortOrder::Ascending, 0)
        .await
        .expect("list");
    assert_eq!(metas.len(), 200);
    assert_eq!(
        store.mailbox_counters(inbox).await.expect("counters").total,
        200
    );
    let mb = store
        .get_mailbox(u, inbox)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(mb.uid_next, 201);
    assert_eq!(mb.modify_index, done[199].modseq);
    assert_consistent(&store).await;
}

/// Everything a client could observe of one user, rendered for comparison.
async fn snapshot(s: &SqliteStore, u: ObjectId, inbox: ObjectId, archive: ObjectId) -> String {
    let all = UidSet::all();
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        s.get_user(u).await.expect("user"),
        s.list_mailboxes(u).await.expect("mailboxes"),
        s.list_messages(inbox, &all, SortOrder::Ascending, 0)
            .await
            .expect("inbox"),
        s.list_messages(archive, &all, SortOrder::Ascending, 0)
            .await
            .expect("archive"),
        s.user_journal_after(u, 0, 0).await.expect("journal"),
        s.last_journal_id().await.expect("last id"),
        s.blob_count().await.expect("blobs"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopen_after_close_keeps_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open");
    let (u, inbox, archive) = setup(&store).await;
    for i in 0..4 {
        store
            .append(request(u, inbox, &raw(&format!("m{i}"), "text")))
            .await
            .expect("append");
    }
    let big = store
        .append(request(u, inbox, &with_attachment("big", 6000)))
        .await
        .expect("append big");
    store
        .update_flags(
            inbox,
            &UidSet::range(1, 2),
            &FlagUpdate {
                op: FlagOp::Add,
                flags: vec!["\\Seen".into()],
                unchanged_since: None,
            },
        )
        .await
        .expect("flags");
    store
        .copy_messages(u, inbox, &UidSet::from_uids([big.uid]), archive, None)
        .await
        .expect("copy");

    let before = snapshot(&store, u, inbox, archive).await;
    let stored = store
        .get_message(inbox, big.uid)
        .await
        .expect("get")
        .expect("exists");
    let hashes: Vec<BlobHash> = stored.layout.blob_hashes();
    let mut blobs = HashMap::new();
    for h in hashes.iter().chain([&stored.skeleton]) {
        blobs.insert(*h, store.read_blob(h, 0, u64::MAX).await.expect("blob"));
    }
    store.close().await;

    let store = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("reopen");
    let after = snapshot(&store, u, inbox, archive).await;
    assert_eq!(before, after);
    for (h, data) in &blobs {
        assert_eq!(&store.read_blob(h, 0, u64::MAX).await.expect("blob"), data);
    }
    let again = store
        .get_message(inbox, big.uid)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(again.index, stored.index);
    assert_eq!(again.layout, stored.layout);
    let next = store
        .append(request(u, inbox, &raw("after", "reopen")))
        .await
        .expect("append after reopen");
    assert_eq!(next.uid, big.uid + 1);
    let top = store
        .get_mailbox(u, inbox)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(top.modify_index, next.modseq);
    assert_consistent(&store).await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reader_sees_every_committed_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open"));
    let (u, inbox, _) = setup(&store).await;
    let mut tokens = Vec::new();
    for i in 0..40 {
        let token = format!("tok{}x{i}", ObjectId::new());
        let done = store
            .append(request(
                u,
                inbox,
                &raw("s", &format!("body with {token} inside")),
            ))
            .await
            .expect("append");
        tokens.push((token, done.uid));
        // Several searches at once so that different reader connections answer;
        // each must see the commit that was just acknowledged.
        let mut checks = Vec::new();
        for (t, uid) in [tokens[0].clone(), tokens[i].clone(), tokens[i / 2].clone()] {
            for _ in 0..2 {
                let s = Arc::clone(&store);
                let t = t.clone();
                checks.push(tokio::spawn(async move {
                    let hits = s
                        .search(&SearchQuery {
                            user: u,
                            mailbox: Some(inbox),
                            key: SearchKey::Text(t.to_uppercase()),
                        })
                        .await
                        .expect("search");
                    (hits.iter().map(|m| m.uid).collect::<Vec<_>>(), uid)
                }));
            }
        }
        for c in checks {
            let (hits, uid) = c.await.expect("join");
            assert_eq!(hits, vec![uid]);
        }
    }
    assert_consistent(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_mixed_writes_keep_every_invariant() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open"));
    let (u, inbox, archive) = setup(&store).await;
    let mut tasks = Vec::new();
    for t in 0..8u32 {
        let s = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            for i in 0..25u32 {
                let (from, to) = if t % 2 == 0 {
                    (inbox, archive)
                } else {
                    (archive, inbox)
                };
                let body = if i % 5 == 0 {
                    with_attachment(&format!("t{t}"), 100 + (i as usize % 3))
                } else {
                    raw(&format!("t{t} m{i}"), "text")
                };
                let done = s.append(request(u, from, &body)).await.expect("append");
                let one = UidSet::from_uids([done.uid]);
                // The other operations may lose races (the message already moved):
                // they must then do nothing, never fail or corrupt.
                match i % 4 {
                    0 => {
                        s.copy_messages(u, from, &one, to, None)
                            .await
                            .expect("copy");
                    }
                    1 => {
                        s.move_messages(u, from, &one, to).await.expect("move");
                    }
                    2 => {
                        s.update_flags(
                            from,
                            &UidSet::all(),
                            &FlagUpdate {
                                op: if t % 3 == 0 {
                                    FlagOp::Remove
                                } else {
                                    FlagOp::Add
                                },
                                flags: vec!["\\Seen".into(), format!("$t{t}")],
                                unchanged_since: None,
                            },
                        )
                        .await
                        .expect("flags");
                    }
                    _ => {
                        s.expunge(from, &UidSet::range(1, done.uid), false)
                            .await
                            .expect("expunge");
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("join");
    }
    assert_consistent(&store).await;
    // Replaying each mailbox's journal gives exactly its current UIDs.
    for mailbox in [inbox, archive] {
        let journal = store.journal_since(mailbox, 0).await.expect("journal");
        assert!(journal.windows(2).all(|w| w[0].modseq <= w[1].modseq));
        let mut uids = std::collections::BTreeSet::new();
        for e in &journal {
            match e.kind {
                eider_service::model::JournalKind::Exists => {
                    assert!(uids.insert(e.uid.expect("uid")), "EXISTS twice");
                }
                eider_service::model::JournalKind::Expunge => {
                    assert!(
                        uids.remove(&e.uid.expect("uid")),
                        "EXPUNGE of an unknown UID"
                    );
                }
                _ => {}
            }
        }
        let now: Vec<u32> = store.list_uids(mailbox).await.expect("uids");
        assert_eq!(uids.into_iter().collect::<Vec<_>>(), now);
        let mb = store
            .get_mailbox(u, mailbox)
            .await
            .expect("get")
            .expect("exists");
        assert_eq!(Some(mb.modify_index), journal.last().map(|e| e.modseq));
    }
}

/// The ack_writer example, built if needed (cargo builds examples for a full
/// `cargo test`, not when a single test target is selected).
fn ack_writer() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let bin = profile_dir.join("examples").join("ack_writer");
    let release = profile_dir.ends_with("release");
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args([
        "build",
        "-q",
        "--locked",
        "-p",
        "eider-store-sqlite",
        "--example",
        "ack_writer",
    ]);
    if release {
        cmd.arg("--release");
    }
    let status = cmd.status().expect("run cargo");
    assert!(status.success(), "building the ack_writer example failed");
    assert!(bin.exists(), "{} is missing", bin.display());
    bin
}

/// Run ack_writer on `dir` until `acks` acknowledgements, then SIGKILL it.
/// Returns every acknowledgement it printed (uid, message-id).
fn run_and_kill(bin: &Path, dir: &Path, acks: usize) -> Vec<(u32, String)> {
    let mut child = Command::new(bin)
        .arg(dir)
        .arg("8")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn ack_writer");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut got = Vec::new();
    let parse = |line: &str| -> (u32, String) {
        let mut parts = line.split(' ');
        assert_eq!(parts.next(), Some("ACK"), "unexpected output {line:?}");
        let uid = parts.next().and_then(|u| u.parse().ok()).expect("uid");
        (uid, parts.next().expect("message id").to_string())
    };
    for line in lines.by_ref() {
        got.push(parse(&line.expect("read")));
        if got.len() >= acks {
            break;
        }
    }
    assert_eq!(got.len(), acks, "ack_writer stopped early");
    // SIGKILL while the tasks are mid-append.
    child.kill().expect("kill");
    // Lines already in the pipe were acknowledged before the kill: they count too.
    for line in lines {
        match line {
            Ok(l) if !l.is_empty() => got.push(parse(&l)),
            _ => break,
        }
    }
    let status = child.wait().expect("wait");
    assert!(!status.success(), "ack_writer was killed");
    got
}

#[test]
fn kill_9_loses_no_acknowledged_message() {
    let bin = ack_writer();
    let dir = tempfile::tempdir().expect("tempdir");
    // Two crash cycles: the second starts from the state the first left behind.
    let mut acked = run_and_kill(&bin, dir.path(), 300);
    acked.extend(run_and_kill(&bin, dir.path(), 150));

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let store = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("reopen");
        assert_consistent(&store).await;
        let u = store
            .find_user_by_unameview("ack")
            .await
            .expect("find")
            .expect("ack user");
        let inbox = store
            .find_mailbox(u.id, "INBOX")
            .await
            .expect("find")
            .expect("inbox");
        let metas = store
            .list_messages(inbox.id, &UidSet::all(), SortOrder::Ascending, 0)
            .await
            .expect("list");
        let mut by_id: HashMap<String, Vec<u32>> = HashMap::new();
        for m in &metas {
            by_id
                .entry(m.message_id.clone().expect("message id"))
                .or_default()
                .push(m.uid);
        }
        assert!(
            by_id.values().all(|v| v.len() == 1),
            "no message is stored twice"
        );
        for (uid, mid) in &acked {
            assert_eq!(
                by_id.get(mid).map(Vec::as_slice),
                Some(&[*uid][..]),
                "acknowledged {mid} (uid {uid}) must be present exactly once"
            );
        }
        // Every row is whole: its content and blobs can be read back.
        for m in metas.iter().rev().take(30) {
            let stored = store
                .get_message(inbox.id, m.uid)
                .await
                .expect("get")
                .expect("exists");
            for h in stored.layout.blob_hashes().iter().chain([&stored.skeleton]) {
                let len = store.blob_len(h).await.expect("len").expect("blob present");
                assert_eq!(
                    store.read_blob(h, 0, u64::MAX).await.expect("read").len() as u64,
                    len
                );
            }
        }
        eprintln!(
            "kill -9: {} acknowledged, {} stored after two crashes",
            acked.len(),
            metas.len()
        );
        let next = store
            .append(request(u.id, inbox.id, &raw("after", "crash")))
            .await
            .expect("writable after crash");
        assert!(next.uid > metas.last().map_or(0, |m| m.uid));
        store.close().await;
    });
}

/// Contents stored before schema v6 keep ENVELOPE/BODYSTRUCTURE only inside their
/// index; the batch FETCH read and the whole-message read both fall back to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contents_from_before_fetch_columns_are_still_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let message = with_attachment("Old format", 50);
    let index = eider_message::ingest(&message, &Default::default())
        .expect("ingest")
        .index;
    let (inbox, uid) = {
        let store = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open");
        let (u, inbox, _) = setup(&store).await;
        let done = store
            .append(request(u, inbox, &message))
            .await
            .expect("append");
        store.close().await;
        (inbox, done.uid)
    };
    {
        // Rewrite the row the way the store wrote it before v6.
        let conn = rusqlite::Connection::open(dir.path().join(eider_store_sqlite::DATABASE_FILE))
            .expect("open db");
        let mut old = index.clone();
        old.search_headers.clear();
        old.search_body.clear();
        let packed =
            zstd::bulk::compress(&serde_json::to_vec(&old).expect("json"), 3).expect("compress");
        let n = conn
            .execute(
                "UPDATE contents SET idx = ?1, imap_envelope = NULL, imap_bodystructure = NULL,
                     imap_body = NULL, mime = NULL",
                [packed],
            )
            .expect("rewrite");
        assert_eq!(n, 1);
    }
    let store = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("reopen");
    let want = eider_service::model::FetchWant {
        imap: true,
        body: true,
    };
    let got = store
        .fetch_messages(inbox, &UidSet::all(), want)
        .await
        .expect("fetch");
    assert_eq!(got.len(), 1);
    let imap = got[0].imap.as_ref().expect("imap");
    assert_eq!(imap.envelope, index.imap_envelope);
    assert_eq!(imap.body_structure, index.imap_bodystructure);
    assert_eq!(imap.body, index.imap_body);
    assert_eq!(got[0].body.as_ref().map(|b| &b.root), Some(&index.root));
    let whole = store
        .get_message(inbox, uid)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(whole.index.imap_bodystructure, index.imap_bodystructure);
    assert_consistent(&store).await;
}
