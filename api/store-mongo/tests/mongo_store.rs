//! MongoDB-specific behaviour beyond the shared suite: concurrent writers to one
//! mailbox (transaction retries on write conflicts), journal order per user under
//! concurrency, contents too large to inline, and the account security records.

mod support;

use std::sync::Arc;

use chrono::{Duration as ChronoDuration, Utc};
use eider_message::IngestOptions;
use eider_service::model::*;
use eider_service::{
    AccessToken, Asp, AspUse, AuthEvent, AuthEventQuery, AuthStore, BlobStore, MailboxStore,
    MessageStore, ObjectId, TwoFactor, UserStore,
};
use eider_store_mongo::MongoStore;
use serde_json::json;

async fn store(label: &str) -> Option<MongoStore> {
    let url = support::service_url("EIDER_TEST_MONGO_URL")?;
    let (url, _) = support::fresh_database(&url, label);
    Some(MongoStore::connect(&url).await.expect("connect"))
}

fn user_record(name: &str) -> User {
    User {
        id: ObjectId::new(),
        username: name.to_string(),
        unameview: name.to_string(),
        name: None,
        address: String::new(),
        password: Some("hash-1".into()),
        quota: 0,
        storage_used: 0,
        disabled: false,
        suspended: false,
        tags: Vec::new(),
        meta_data: json!({}),
        internal_data: json!({}),
        profile: UserProfile::default(),
        created: Utc::now(),
    }
}

fn mailbox_record(user: ObjectId, path: &str) -> Mailbox {
    Mailbox {
        id: ObjectId::new(),
        user,
        path: path.into(),
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

fn request(user: ObjectId, mailbox: ObjectId, raw: &[u8]) -> AppendRequest {
    let i = eider_message::ingest(raw, &IngestOptions::default()).expect("ingest");
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
        meta_data: json!({}),
        quota_limit: None,
        dedupe_message_id: false,
    }
}

fn message(n: usize, body: &str) -> Vec<u8> {
    format!(
        "From: a@example.com\r\nTo: b@example.com\r\nSubject: m{n}\r\n\
         Message-ID: <{n}.{}@example.com>\r\n\r\n{body}\r\n",
        ObjectId::new()
    )
    .into_bytes()
}

async fn account(s: &MongoStore, name: &str) -> (ObjectId, ObjectId) {
    let u = user_record(&format!("{name}{}", ObjectId::new()));
    let inbox = mailbox_record(u.id, "INBOX");
    s.create_user(&u, None, std::slice::from_ref(&inbox))
        .await
        .expect("create user");
    (u.id, inbox.id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_and_flag_updates_stay_consistent() {
    let Some(s) = store("concurrency").await else {
        return;
    };
    let s = Arc::new(s);
    let (user, inbox) = account(&s, "busy").await;
    let before = s.last_journal_id().await.expect("last id");
    let mut tasks = Vec::new();
    for n in 0..24 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.append(request(user, inbox, &message(n, "concurrent")))
                .await
                .expect("append")
        }));
    }
    // Flag updates race with the appends on the same mailbox.
    for _ in 0..6 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.update_flags(
                inbox,
                &UidSet::all(),
                &FlagUpdate {
                    op: FlagOp::Add,
                    flags: vec!["\\Seen".into()],
                    unchanged_since: None,
                },
            )
            .await
            .expect("flags");
            Appended {
                id: ObjectId::new(),
                uid: 0,
                modseq: 0,
                uid_validity: 0,
                duplicate: true,
            }
        }));
    }
    let mut appended = Vec::new();
    for t in tasks {
        let a = t.await.expect("task");
        if !a.duplicate {
            appended.push(a);
        }
    }
    let mut uids: Vec<u32> = appended.iter().map(|a| a.uid).collect();
    uids.sort_unstable();
    assert_eq!(
        uids,
        (1..=24).collect::<Vec<u32>>(),
        "UIDs unique and dense"
    );
    let mut modseqs: Vec<u64> = appended.iter().map(|a| a.modseq).collect();
    modseqs.sort_unstable();
    modseqs.dedup();
    assert_eq!(modseqs.len(), 24, "every append has its own MODSEQ");
    assert_eq!(s.list_uids(inbox).await.expect("uids"), uids);
    let metas = s
        .list_messages(inbox, &UidSet::all(), SortOrder::Ascending, 0)
        .await
        .expect("list");
    let c = s.mailbox_counters(inbox).await.expect("counters");
    assert_eq!(c.total, 24);
    assert_eq!(
        c.unseen,
        metas.iter().filter(|m| !m.seen()).count() as u64,
        "unseen counter matches the flags"
    );
    assert_eq!(c.size, metas.iter().map(|m| m.size).sum::<u64>());
    let u = s.get_user(user).await.expect("get").expect("user");
    assert_eq!(u.storage_used, c.size);
    // The journal: per mailbox in MODSEQ order, per user in id order, ids above `before`,
    // and id order agrees with MODSEQ order (the journal was written in commit order).
    let j = s.journal_since(inbox, 0).await.expect("journal");
    assert!(j.windows(2).all(|w| w[0].modseq <= w[1].modseq));
    let exists = j.iter().filter(|e| e.kind == JournalKind::Exists).count();
    assert_eq!(exists, 24);
    let by_user = s
        .user_journal_after(user, before, 0)
        .await
        .expect("journal");
    assert!(by_user.iter().all(|e| e.id > before));
    assert!(by_user.windows(2).all(|w| w[0].id < w[1].id));
    let modseqs_in_id_order: Vec<u64> = by_user
        .iter()
        .filter(|e| e.modseq > 0)
        .map(|e| e.modseq)
        .collect();
    assert!(
        modseqs_in_id_order.windows(2).all(|w| w[0] <= w[1]),
        "journal ids follow commit order: {modseqs_in_id_order:?}"
    );
    assert_eq!(
        s.mailbox_counters(inbox).await.expect("c").total,
        s.list_uids(inbox).await.expect("u").len() as u64
    );
    s.delete_user(user).await.expect("cleanup");
    s.database().drop().await.expect("drop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_text_and_index_live_in_blobs() {
    let Some(s) = store("large").await else {
        return;
    };
    let (user, inbox) = account(&s, "large").await;
    let base = s.blob_count().await.expect("count");
    // 3 MB of text: the search text (and index, which holds the text) exceed the
    // inline limits and go to the blob store.
    let mut body = String::new();
    let mut i = 0u64;
    while body.len() < 3 * 1024 * 1024 {
        body.push_str(&format!(
            "line {i} of a long letter with word{}\r\n",
            i * 7919 % 100_003
        ));
        i += 1;
    }
    body.push_str("the unmistakable zebra-crossing ending\r\n");
    let raw = message(1, &body);
    let r = s
        .append(request(user, inbox, &raw))
        .await
        .expect("append large");
    assert!(s.blob_count().await.expect("count") > base + 1);
    let stored = s
        .get_message(inbox, r.uid)
        .await
        .expect("get")
        .expect("exists");
    assert!(stored.index.search_body.contains("zebra-crossing"));
    assert_eq!(stored.meta.size, raw.len() as u64);
    let found = s
        .search(&SearchQuery {
            user,
            mailbox: Some(inbox),
            key: SearchKey::Body("ZEBRA-crossing ending".into()),
        })
        .await
        .expect("search");
    assert_eq!(found.iter().map(|m| m.uid).collect::<Vec<_>>(), vec![r.uid]);
    s.expunge(inbox, &UidSet::all(), false)
        .await
        .expect("expunge");
    assert_eq!(
        s.blob_count().await.expect("count"),
        base,
        "all blobs released"
    );
    s.delete_user(user).await.expect("cleanup");
    s.database().drop().await.expect("drop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_quota_leaves_no_chunks_behind() {
    let Some(s) = store("quota").await else {
        return;
    };
    let (user, inbox) = account(&s, "quota").await;
    let mut req = request(user, inbox, &message(1, &"x".repeat(200_000)));
    req.quota_limit = Some(10);
    assert!(matches!(
        s.append(req).await,
        Err(eider_service::StoreError::OverQuota)
    ));
    let chunks = s
        .database()
        .collection::<mongodb::bson::Document>("blobchunks")
        .count_documents(mongodb::bson::doc! {})
        .await
        .expect("count");
    assert_eq!(chunks, 0);
    assert_eq!(s.blob_count().await.expect("count"), 0);
    s.database().drop().await.expect("drop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_records() {
    let Some(s) = store("auth").await else {
        return;
    };
    let (user, _) = account(&s, "sec").await;
    // Password rehash only replaces the hash it was computed from.
    assert!(s
        .replace_password_hash(user, "hash-1", "hash-2")
        .await
        .expect("rehash"));
    assert!(!s
        .replace_password_hash(user, "hash-1", "hash-3")
        .await
        .expect("stale"));

    let asp = Asp {
        id: ObjectId::new(),
        user,
        description: "phone".into(),
        scopes: vec!["imap".into()],
        password: "asp-hash".into(),
        selector: "sel".into(),
        ttl: Some(60),
        expires: None,
        created: Utc::now(),
        last_use: None,
    };
    s.create_asp(&asp).await.expect("create asp");
    let listed = s.list_asps(user).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (
            &listed[0].id,
            &listed[0].scopes,
            &listed[0].password,
            listed[0].ttl
        ),
        (&asp.id, &asp.scopes, &asp.password, asp.ttl)
    );
    assert_eq!(
        listed[0].created.timestamp_millis(),
        asp.created.timestamp_millis(),
        "instants are kept to the millisecond"
    );
    let used = AspUse {
        time: Utc::now(),
        event: Some(ObjectId::new()),
        ip: Some("192.0.2.1".into()),
    };
    let exp = Utc::now() + ChronoDuration::seconds(60);
    s.record_asp_use(user, asp.id, &used, Some(exp))
        .await
        .expect("use");
    let got = s.get_asp(user, asp.id).await.expect("get").expect("asp");
    assert_eq!(got.last_use.map(|u| u.ip), Some(used.ip.clone()));
    assert_eq!(
        got.expires.map(|e| e.timestamp_millis()),
        Some(exp.timestamp_millis())
    );
    assert!(s
        .get_asp(ObjectId::new(), asp.id)
        .await
        .expect("get")
        .is_none());

    let tf = TwoFactor {
        enabled: vec!["totp".into()],
        totp_seed: Some("SEED".into()),
        ..TwoFactor::default()
    };
    s.put_two_factor(user, Some(&tf)).await.expect("put 2fa");
    assert_eq!(s.get_two_factor(user).await.expect("get"), Some(tf));
    assert_eq!(
        s.enabled_two_factor(&[ObjectId::new(), user])
            .await
            .expect("enabled"),
        vec![(user, vec!["totp".to_string()])]
    );
    s.put_two_factor(user, None).await.expect("clear");
    assert!(s.get_two_factor(user).await.expect("get").is_none());

    let token = AccessToken {
        hash: format!("{:064x}", 1),
        user,
        created: Utc::now(),
        expires: Utc::now() + ChronoDuration::hours(1),
        pending_2fa: true,
    };
    s.create_token(&token).await.expect("token");
    assert!(s.confirm_token(&token.hash).await.expect("confirm"));
    assert!(
        !s.get_token(&token.hash)
            .await
            .expect("get")
            .expect("t")
            .pending_2fa
    );
    let old = AccessToken {
        hash: format!("{:064x}", 2),
        expires: Utc::now() - ChronoDuration::hours(1),
        ..token.clone()
    };
    s.create_token(&old).await.expect("old token");
    assert_eq!(s.purge_expired_tokens(Utc::now()).await.expect("purge"), 1);
    assert_eq!(s.delete_user_tokens(user).await.expect("revoke"), 1);
    assert!(s.get_token(&token.hash).await.expect("get").is_none());

    let event = |key: &str| AuthEvent {
        id: ObjectId::new(),
        user,
        action: "authentication".into(),
        result: "success".into(),
        protocol: Some("imap".into()),
        required_scope: None,
        source: Some("master".into()),
        asp: None,
        aname: None,
        require2fa: None,
        ip: Some("192.0.2.1".into()),
        sess: None,
        created: Utc::now(),
        last: Utc::now(),
        events: 1,
        expires: Utc::now() + ChronoDuration::days(30),
        key: key.into(),
    };
    let since = Utc::now() - ChronoDuration::minutes(5);
    let first = s
        .record_auth_event(&event("k1"), since)
        .await
        .expect("event");
    let merged = s
        .record_auth_event(&event("k1"), since)
        .await
        .expect("merge");
    assert_eq!(first, merged, "same key within the window merges");
    for i in 0..4 {
        s.record_auth_event(&event(&format!("k{}", i + 2)), since)
            .await
            .expect("event");
    }
    let page = s
        .list_auth_events(&AuthEventQuery {
            user,
            action: None,
            ip: None,
            paging: Paging {
                limit: 2,
                ..Paging::default()
            },
        })
        .await
        .expect("list");
    assert_eq!(page.total, 5);
    assert_eq!(page.results.len(), 2);
    assert!(page.results[0].id > page.results[1].id, "newest first");
    assert!(page.previous.is_none() && page.next.is_some());
    let older = s
        .list_auth_events(&AuthEventQuery {
            user,
            action: None,
            ip: None,
            paging: Paging {
                limit: 2,
                next: page.next.clone(),
                ..Paging::default()
            },
        })
        .await
        .expect("older");
    assert!(older.results[0].id < page.results[1].id);
    assert!(older.previous.is_some());
    let e = s
        .get_auth_event(user, first)
        .await
        .expect("get")
        .expect("event");
    assert_eq!(e.events, 2);
    s.delete_user_auth(user).await.expect("delete auth");
    assert!(s.list_asps(user).await.expect("list").is_empty());
    assert!(s.get_auth_event(user, first).await.expect("get").is_none());
    s.database().drop().await.expect("drop");
}

/// Databases written before subscriptions had their own collection kept them only as
/// the mailboxes' `subscribed` flags: connecting copies those, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_are_backfilled_from_mailbox_flags() {
    use mongodb::bson::{doc, Document};
    let Some(url) = support::service_url("EIDER_TEST_MONGO_URL") else {
        return;
    };
    let (url, _) = support::fresh_database(&url, "backfill");
    let s = MongoStore::connect(&url).await.expect("connect");
    let (user, _) = account(&s, "old").await;
    let mut other = mailbox_record(user, "Other");
    other.subscribed = false;
    s.create_mailbox(&other).await.expect("create");
    // What an older version left: flags on the mailboxes, no subscriptions, no marker.
    let db = s.database();
    db.collection::<Document>("subscriptions")
        .delete_many(doc! {})
        .await
        .expect("clear");
    db.collection::<Document>("counters")
        .delete_one(doc! { "_id": "subscriptions-backfilled" })
        .await
        .expect("unmark");
    assert!(s.list_subscriptions(user).await.expect("list").is_empty());
    let upgraded = MongoStore::connect(&url).await.expect("reconnect");
    assert_eq!(
        upgraded.list_subscriptions(user).await.expect("list"),
        vec!["INBOX".to_string()]
    );
    // Once: a later start leaves the subscriptions as they are.
    upgraded
        .set_subscription(user, "INBOX", false)
        .await
        .expect("unsubscribe");
    db.collection::<Document>("mailboxes")
        .update_one(
            doc! { "path": "INBOX" },
            doc! { "$set": { "subscribed": true } },
        )
        .await
        .expect("stale flag");
    let again = MongoStore::connect(&url).await.expect("reconnect");
    assert!(again
        .list_subscriptions(user)
        .await
        .expect("list")
        .is_empty());
}
