//! The service layer on top of the embedded store: what gateways actually call.

use std::sync::Arc;

use eider_service::model::{SearchKey, SearchQuery};
use eider_service::{AppendOptions, InProcessBus, NewUser, Service, ServiceConfig};
use eider_store_sqlite::{SqliteOptions, SqliteStore};

fn big_message() -> Vec<u8> {
    let mut m = String::from(
        "From: a@example.com\r\nTo: b@example.com\r\nSubject: Report\r\n\
         Message-ID: <svc@test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"x\"\r\n\r\n--x\r\n\
         Content-Type: text/plain\r\n\r\nQuarterly figures attached.\r\n--x\r\n\
         Content-Type: application/pdf; name=\"r.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n",
    );
    // ~600 KB decoded: three blob chunks, read back through the streaming reader.
    for i in 0..11_000u32 {
        m.push_str(&format!(
            "{i:0>8}QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJz\r\n"
        ));
    }
    m.push_str("--x--\r\n");
    m.into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_round_trip_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open"));
    let service = Service::new(
        store.clone(),
        Arc::new(InProcessBus::new()),
        ServiceConfig::default(),
    );
    let user = service
        .create_user(NewUser {
            username: "svc".into(),
            address: Some("svc@example.com".into()),
            ..NewUser::default()
        })
        .await
        .expect("create user");
    let inbox = service.find_mailbox(user.id, "INBOX").await.expect("inbox");
    let raw = big_message();
    let done = service
        .append(user.id, inbox.id, raw.clone(), AppendOptions::default())
        .await
        .expect("append");
    let mut reader = service
        .message_body(user.id, inbox.id, done.uid)
        .await
        .expect("body");
    assert_eq!(reader.len(), raw.len() as u64);
    assert_eq!(
        reader.read_all().await.expect("read"),
        raw,
        "streamed bytes are exact"
    );
    let stored = service
        .get_message(user.id, inbox.id, done.uid)
        .await
        .expect("get");
    for (start, end) in [
        (0u64, 50u64),
        (1000, 400_000),
        (raw.len() as u64 - 9, raw.len() as u64),
    ] {
        let mut r = service.body_reader(&stored, start, end);
        assert_eq!(
            r.read_all().await.expect("range"),
            raw[start as usize..end as usize],
            "range {start}..{end}"
        );
    }
    let hits = service
        .search(&SearchQuery {
            user: user.id,
            mailbox: Some(inbox.id),
            key: SearchKey::Text("quarterly FIGURES".into()),
        })
        .await
        .expect("search");
    assert_eq!(
        hits.iter().map(|m| m.uid).collect::<Vec<_>>(),
        vec![done.uid]
    );
    let problems = store.verify().await.expect("verify");
    assert!(problems.is_empty(), "{problems:?}");
}

/// A 100-deep multipart tree survives storage: its index is read back whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_message_round_trips() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open"));
    let service = Service::new(
        store,
        Arc::new(InProcessBus::new()),
        ServiceConfig::default(),
    );
    let user = service
        .create_user(NewUser {
            username: "deep".into(),
            ..NewUser::default()
        })
        .await
        .expect("create user");
    let inbox = service.find_mailbox(user.id, "INBOX").await.expect("inbox");
    let mut raw = String::from("Subject: deep\r\n");
    for d in 0..100 {
        raw.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{d}\"\r\n\r\n--b{d}\r\n"
        ));
    }
    raw.push_str("Content-Type: text/plain\r\n\r\nbottom\r\n");
    for d in (0..100).rev() {
        raw.push_str(&format!("--b{d}--\r\n"));
    }
    let raw = raw.into_bytes();
    let done = service
        .append(user.id, inbox.id, raw.clone(), AppendOptions::default())
        .await
        .expect("append");
    let stored = service
        .get_message(user.id, inbox.id, done.uid)
        .await
        .expect("index reads back");
    let path = vec![1u32; 100];
    assert!(
        stored.index.section(&path).is_some(),
        "the deepest part is indexed"
    );
    let mut reader = service.body_reader(&stored, 0, u64::MAX);
    assert_eq!(reader.read_all().await.expect("read"), raw);
}

/// Raw bytes through the batch read FETCH uses: a message over the read-ahead
/// limit with several attachments between text parts, whole and in ranges that
/// straddle skeleton and blob pieces, small ranges (read ahead in one call) and
/// large ones (read piece by piece).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_reader_ranges_are_exact() {
    use eider_service::model::{FetchWant, UidSet};

    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open"));
    let service = Service::new(
        store,
        Arc::new(InProcessBus::new()),
        ServiceConfig::default(),
    );
    let user = service
        .create_user(NewUser {
            username: "ranges".into(),
            ..NewUser::default()
        })
        .await
        .expect("create user");
    let inbox = service.find_mailbox(user.id, "INBOX").await.expect("inbox");
    let mut m = String::from(
        "Subject: parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"p\"\r\n\r\n",
    );
    for (n, lines) in [(0u32, 40u32), (1, 9_000), (2, 3), (3, 12_000), (4, 700)] {
        m.push_str(&format!(
            "--p\r\nContent-Type: text/plain\r\n\r\nPart {n} says hello.\r\n--p\r\n\
             Content-Type: application/octet-stream; name=\"f{n}.bin\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n"
        ));
        for i in 0..lines {
            m.push_str(&format!(
                "{n}{i:0>7}QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJz\r\n"
            ));
        }
    }
    m.push_str("--p--\r\n");
    let raw = m.into_bytes();
    assert!(raw.len() > 1_500_000);
    let done = service
        .append(user.id, inbox.id, raw.clone(), AppendOptions::default())
        .await
        .expect("append");
    let want = FetchWant {
        imap: false,
        body: true,
    };
    let fetched = service
        .fetch_messages(user.id, inbox.id, &UidSet::from_uids([done.uid]), want)
        .await
        .expect("fetch");
    let body = fetched[0].body.as_ref().expect("body asked for");
    let len = raw.len() as u64;
    let mut ranges = vec![(0, len), (0, 1), (len - 1, len), (100, 900_000)];
    // Every 97 KiB, a 1 KiB and a 300 KiB range.
    for start in (0..len).step_by(97 * 1024) {
        ranges.push((start, (start + 1024).min(len)));
        ranges.push((start, (start + 300 * 1024).min(len)));
    }
    for (start, end) in ranges {
        let mut r = service.content_reader(body, start, end);
        assert_eq!(r.len(), end - start);
        assert!(
            r.read_all().await.expect("range") == raw[start as usize..end as usize],
            "range {start}..{end}"
        );
    }
}

/// DKIM keys through the service: sealed at rest, the signer's lookup picks the
/// longest matching domain (then "*"), and the key it hands out is the one whose
/// public half the DNS record publishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dkim_keys_sealed_and_chosen_by_domain() {
    use eider_service::{DkimAlgorithm, NewDkimKey};
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open"));
    let mut config = ServiceConfig::default();
    config.security.secrets = Some(eider_service::security::SecretBox::new(b"dkim test key"));
    let service = Service::new(store.clone(), Arc::new(InProcessBus::new()), config);

    let parent = service
        .set_dkim_key(NewDkimKey {
            domain: "Example.COM".into(),
            selector: "s2024".into(),
            ..Default::default()
        })
        .await
        .expect("generate rsa");
    assert_eq!(parent.domain, "example.com");
    assert_eq!(parent.algorithm, DkimAlgorithm::Rsa);
    assert!(
        parent.private_key.starts_with("$eider-gcm$"),
        "sealed at rest"
    );
    let child = service
        .set_dkim_key(NewDkimKey {
            domain: "mail.example.com".into(),
            selector: "ed".into(),
            algorithm: Some(DkimAlgorithm::Ed25519),
            ..Default::default()
        })
        .await
        .expect("generate ed25519");
    assert!(child
        .dns_txt_value()
        .starts_with("v=DKIM1;k=ed25519;t=s;p="));

    for (domain, expect) in [
        ("example.com", &parent),
        ("deep.sub.example.com", &parent),
        ("mail.example.com", &child),
        ("x.mail.example.com", &child),
    ] {
        let key = service
            .dkim_key_for_domain(domain)
            .await
            .expect("lookup")
            .expect("a key");
        assert_eq!(key.domain, expect.domain, "{domain}");
        assert_eq!(key.selector, expect.selector);
        assert_eq!(key.algorithm, expect.algorithm);
        assert!(key
            .private_key_pem
            .starts_with("-----BEGIN PRIVATE KEY-----"));
        // The private key handed to the signer derives the published p= value.
        let derived = eider_auth::parse_dkim_key(&key.private_key_pem).expect("parse");
        let published = expect.dns_txt_value();
        let p = published.rsplit("p=").next().expect("p=");
        assert_eq!(derived.dns_public_key, p, "{domain}");
    }
    assert!(service
        .dkim_key_for_domain("example.org")
        .await
        .expect("lookup")
        .is_none());
    assert!(service
        .dkim_key_for_domain("com")
        .await
        .expect("tld")
        .is_none());

    // The "*" key signs for every other domain, as that domain.
    service
        .set_dkim_key(NewDkimKey {
            domain: "*".into(),
            selector: "any".into(),
            algorithm: Some(DkimAlgorithm::Ed25519),
            ..Default::default()
        })
        .await
        .expect("fallback key");
    let any = service
        .dkim_key_for_domain("example.org")
        .await
        .expect("lookup")
        .expect("fallback");
    assert_eq!(
        (any.domain.as_str(), any.selector.as_str()),
        ("example.org", "any")
    );

    // A key imported as a raw Ed25519 seed is stored as PKCS#8 and keeps its public key.
    use base64::Engine;
    let seed = base64::engine::general_purpose::STANDARD.encode([9u8; 32]);
    let imported = service
        .set_dkim_key(NewDkimKey {
            domain: "seed.example".into(),
            selector: "raw".into(),
            private_key: Some(seed.clone()),
            ..Default::default()
        })
        .await
        .expect("import");
    assert_eq!(
        imported.dns_public_key,
        eider_auth::parse_dkim_key(&seed)
            .expect("seed")
            .dns_public_key
    );
    let err = service
        .set_dkim_key(NewDkimKey {
            domain: "bad.example".into(),
            selector: "x".into(),
            private_key: Some(
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----".into(),
            ),
            ..Default::default()
        })
        .await
        .expect_err("garbage key");
    assert_eq!(err.code(), "InputValidationError");
    for (domain, selector) in [
        ("not a domain", "s"),
        ("ok.example", ""),
        ("ok.example", "a b"),
    ] {
        assert!(service
            .set_dkim_key(NewDkimKey {
                domain: domain.into(),
                selector: selector.into(),
                algorithm: Some(DkimAlgorithm::Ed25519),
                ..Default::default()
            })
            .await
            .is_err());
    }
}

/// The verified-credential cache: a second login with the same password skips the
/// hash; a wrong password is always hashed (never a hit) and fails; a password
/// changed through another instance (another `Service` on the same store, with its
/// own cache) ends the old password's entry on this one at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verified_credentials_are_cached_until_the_password_changes() {
    use eider_service::{AuthRequest, Error, Protocol, UserUpdate};
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open"));
    let one = Service::new(
        store.clone(),
        Arc::new(InProcessBus::new()),
        ServiceConfig::default(),
    );
    let other = Service::new(
        store.clone(),
        Arc::new(InProcessBus::new()),
        ServiceConfig::default(),
    );
    let user = one
        .create_user(NewUser {
            username: "cached".into(),
            password: Some("first-secret-1".into()),
            address: Some("cached@example.com".into()),
            ..NewUser::default()
        })
        .await
        .expect("create user");
    let login = |password: &str| AuthRequest {
        username: "cached".into(),
        password: password.into(),
        protocol: Protocol::Imap,
        remote_ip: None,
    };
    let cache = one.config().security.credential_cache.clone();
    assert!(!cache.ttl().is_zero(), "on by default");
    let ok = one
        .authenticate(&login("first-secret-1"))
        .await
        .expect("login");
    assert_eq!(ok.user.id, user.id);
    assert_eq!(cache.stats(), (0, 1), "the first login hashes");
    one.authenticate(&login("first-secret-1"))
        .await
        .expect("again");
    assert_eq!(cache.stats(), (1, 1), "the second login is a cache hit");

    let wrong = one.authenticate(&login("first-secret-2")).await;
    assert!(matches!(wrong, Err(Error::AuthFailed)), "{wrong:?}");
    assert_eq!(
        cache.stats(),
        (1, 2),
        "a wrong password is hashed, never a hit"
    );

    other
        .update_user(
            user.id,
            UserUpdate {
                password: Some(Some("second-secret-2".into())),
                ..UserUpdate::default()
            },
        )
        .await
        .expect("change password elsewhere");
    let old = one.authenticate(&login("first-secret-1")).await;
    assert!(
        matches!(old, Err(Error::AuthFailed)),
        "the old password is refused at once on the other instance: {old:?}"
    );
    assert_eq!(cache.stats().0, 1, "no hit for the old password");
    one.authenticate(&login("second-secret-2"))
        .await
        .expect("the new password works");
}

/// A mailbox list page is read by UID ranges (keyset) with the cursors and totals of
/// the full-list paging, in both orders, forward and back, and page numbers past the
/// first still work; each row carries its listing (intro text, addresses).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_list_pages_by_cursor() {
    use eider_service::api::{MessageListOptions, PageRequest};
    use eider_service::model::SortOrder;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open"));
    let service = Service::new(
        store,
        Arc::new(InProcessBus::new()),
        ServiceConfig::default(),
    );
    let user = service
        .create_user(NewUser {
            username: "lister".into(),
            address: Some("lister@example.com".into()),
            ..NewUser::default()
        })
        .await
        .expect("create user");
    let inbox = service.find_mailbox(user.id, "INBOX").await.expect("inbox");
    for n in 1..=8 {
        let raw = format!(
            "From: a{n}@example.com\r\nTo: b@example.com\r\nSubject: m{n}\r\n\r\n{}\r\n",
            format!("word{n}  ").repeat(100)
        );
        service
            .append(
                user.id,
                inbox.id,
                raw.into_bytes(),
                AppendOptions::default(),
            )
            .await
            .expect("append");
    }
    // UID 4 goes: the pages skip it.
    service
        .expunge(
            user.id,
            inbox.id,
            &eider_service::model::UidSet::from_uids([4]),
            false,
        )
        .await
        .expect("expunge");
    let page = |order: SortOrder, next: Option<&str>, previous: Option<&str>, n: u32| {
        let service = &service;
        let opts = MessageListOptions {
            unseen: false,
            order,
            page: PageRequest {
                limit: 3,
                next: next.map(String::from),
                previous: previous.map(String::from),
                page: n,
            },
        };
        async move {
            let (_, p) = service
                .list_mailbox_messages(user.id, inbox.id, &opts)
                .await
                .expect("list");
            let uids: Vec<u32> = p.messages.iter().map(|m| m.meta.uid).collect();
            (uids, p.total, p.next, p.previous)
        }
    };
    let desc = SortOrder::Descending;
    let (uids, total, next, prev) = page(desc, None, None, 1).await;
    assert_eq!((uids, total, prev), (vec![8, 7, 6], 7, None));
    assert_eq!(next.as_deref(), Some("u6"));
    let (uids, _, next, prev) = page(desc, Some("u6"), None, 1).await;
    assert_eq!(
        (uids, next.as_deref(), prev.as_deref()),
        (vec![5, 3, 2], Some("u2"), Some("u5"))
    );
    let (uids, _, next, prev) = page(desc, Some("u2"), None, 1).await;
    assert_eq!((uids, next, prev.as_deref()), (vec![1], None, Some("u1")));
    let (uids, _, next, prev) = page(desc, None, Some("u1"), 1).await;
    assert_eq!(
        (uids, next.as_deref(), prev.as_deref()),
        (vec![5, 3, 2], Some("u2"), Some("u5"))
    );
    let (uids, _, next, prev) = page(desc, None, Some("u5"), 1).await;
    assert_eq!(
        (uids, next.as_deref(), prev),
        (vec![8, 7, 6], Some("u6"), None)
    );
    // Page numbers past the first read the full list.
    let (uids, _, next, _) = page(desc, None, None, 2).await;
    assert_eq!((uids, next.as_deref()), (vec![5, 3, 2], Some("u2")));
    let asc = SortOrder::Ascending;
    let (uids, _, next, prev) = page(asc, None, None, 1).await;
    assert_eq!(
        (uids, next.as_deref(), prev),
        (vec![1, 2, 3], Some("u3"), None)
    );
    let (uids, _, next, prev) = page(asc, Some("u3"), None, 1).await;
    assert_eq!(
        (uids, next.as_deref(), prev.as_deref()),
        (vec![5, 6, 7], Some("u7"), Some("u5"))
    );
    let (uids, _, next, prev) = page(asc, Some("u7"), None, 1).await;
    assert_eq!((uids, next, prev.as_deref()), (vec![8], None, Some("u8")));
    let (uids, _, next, prev) = page(asc, None, Some("u5"), 1).await;
    assert_eq!(
        (uids, next.as_deref(), prev),
        (vec![1, 2, 3], Some("u3"), None)
    );
    // A cursor past either end.
    let (uids, _, next, prev) = page(desc, Some("u1"), None, 1).await;
    assert_eq!((uids, next, prev), (vec![], None, None));
    let (uids, _, next, prev) = page(asc, None, Some("u1"), 1).await;
    assert_eq!((uids, next, prev), (vec![], None, None));

    // The rows carry the listing: addresses and the start of the text, not all of it.
    let opts = MessageListOptions {
        order: desc,
        ..Default::default()
    };
    let (_, p) = service
        .list_mailbox_messages(user.id, inbox.id, &opts)
        .await
        .expect("list");
    let first = &p.messages[0];
    assert_eq!(first.index.subject, "m8");
    assert_eq!(first.index.from[0].address, "a8@example.com");
    let text = first.index.text.as_deref().expect("text");
    assert!(
        text.starts_with("word8 word8 ") && text.len() < 200,
        "{text:?}"
    );
}

/// Rows stored before the SORT keys existed (schema v14 leaves them NULL) are sorted
/// right and get their keys written back on first use (the lazy backfill).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sort_backfills_keys_of_old_rows() {
    use eider_service::model::UidSet;
    use eider_service::{MessageStore, SortCriterion, SortKey};
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open"));
    let service = Service::new(
        store.clone(),
        Arc::new(InProcessBus::new()),
        ServiceConfig::default(),
    );
    let user = service
        .create_user(NewUser {
            username: "sorter".into(),
            address: Some("sorter@example.com".into()),
            ..NewUser::default()
        })
        .await
        .expect("create user");
    let inbox = service.find_mailbox(user.id, "INBOX").await.expect("inbox");
    for subject in ["Re: zebra", "[x] apple", "mango"] {
        let raw = format!("From: a@example.com\r\nSubject: {subject}\r\n\r\nbody\r\n");
        service
            .append(
                user.id,
                inbox.id,
                raw.into_bytes(),
                AppendOptions::default(),
            )
            .await
            .expect("append");
    }
    // Make the rows look like ones written before v14.
    let conn = rusqlite::Connection::open(dir.path().join(eider_store_sqlite::DATABASE_FILE))
        .expect("open raw");
    conn.execute("UPDATE messages SET sort_keys = NULL", [])
        .expect("clear keys");
    drop(conn);
    let rows = store
        .sort_rows(inbox.id, &UidSet::all())
        .await
        .expect("rows");
    assert!(rows.iter().all(|r| r.keys.is_none()));
    let by_subject = [SortCriterion {
        key: SortKey::Subject,
        reverse: false,
    }];
    let sorted = service
        .sort_messages(user.id, inbox.id, &[1, 2, 3], &by_subject)
        .await
        .expect("sort");
    assert_eq!(sorted, vec![2, 3, 1], "apple, mango, zebra");
    let rows = store
        .sort_rows(inbox.id, &UidSet::all())
        .await
        .expect("rows");
    let subjects: Vec<_> = rows
        .iter()
        .map(|r| r.keys.as_ref().map(|k| k.subject.clone()))
        .collect();
    assert_eq!(
        subjects,
        vec![
            Some("ZEBRA".to_string()),
            Some("APPLE".to_string()),
            Some("MANGO".to_string())
        ],
        "keys written back"
    );
}
