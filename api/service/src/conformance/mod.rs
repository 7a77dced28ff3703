//! The Store conformance suite: the rules of `store.rs`, checked through the traits
//! alone, so that every backend is held to the same behaviour.
//!
//! A backend runs it from its tests: one test per rule of [`all_rules`] (so a failure
//! names its rule), or `eider_service::conformance::run_all(&store).await`. Each rule creates its own users, so rules never see each
//! other's data; store-wide numbers (blob count, journal ids) are compared as
//! differences, which is why the rules run one after another. Messages are real:
//! literal RFC 5322 text through `eider_message::ingest`.

use std::collections::HashMap;

use chrono::{DateTime, TimeZone, Utc};
use eider_message::{BlobHash, IngestOptions};
use serde_json::json;

use crate::model::*;
use crate::{ObjectId, Store, StoreError};

mod audit;
mod auth;
mod certs;
mod dkim;
mod files;
mod filters;
mod imap;
mod imap_ext;
mod journal;
mod lifecycle;
mod operator;
mod queue;
mod register;

use imap::{sent_day_search, sort_rows, subscriptions};
use imap_ext::{metadata_entries, saved_date_and_content_search};
use lifecycle::{archive, archive_paging, deleted_users, leases};

/// One rule of the suite: its name (`area::rule`, or the rule alone for the core
/// rules of this module) and the check, run against a backend's store.
pub struct Rule<S> {
    pub name: &'static str,
    pub run: for<'a> fn(&'a S) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + 'a>>,
}

impl<S> Rule<S> {
    /// The name without the crate's module path (`auth::totp`, `users_crud`).
    pub fn short_name(&self) -> &'static str {
        let name = self.name.trim_start_matches("eider_service::conformance");
        name.trim_start_matches("::")
    }
}

/// Every rule, in the order they are meant to run: rules share one store and compare
/// store-wide numbers as differences, so a backend's harness runs them one at a time.
pub fn all_rules<S: Store>() -> Vec<Rule<S>> {
    let mut rules = crate::conformance_rules![
        users_crud,
        addresses_crud,
        domain_aliases_crud,
        mailboxes_crud,
        append_allocates_uid_and_modseq,
        raise_uid_next,
        journal_order_and_content,
        flag_updates,
        copy_move_expunge_and_quota,
        content_and_blob_refcounting,
        range_reads,
        fetch_reads_parts,
        list_entries_read_listings,
        search_keys,
        paging_cursors,
        thread_resolution,
        delete_user_cleanup,
        dedupe_message_id,
        attributes_and_expiry,
        recalculate_storage,
        sent_day_search,
        sort_rows,
        subscriptions,
        metadata_entries,
        saved_date_and_content_search,
        leases,
        archive,
        archive_paging,
        deleted_users,
    ];
    rules.extend(auth::rules());
    rules.extend(filters::rules());
    rules.extend(register::rules());
    rules.extend(files::rules());
    rules.extend(audit::rules());
    rules.extend(queue::rules());
    rules.extend(dkim::rules());
    rules.extend(certs::rules());
    rules.extend(operator::rules());
    // Last: pruning and the orphan purge are store-wide.
    rules.extend(journal::rules());
    rules
}

/// Runs every rule as its own test (`cargo test --test conformance -- <name>` runs one)
/// against one store, one at a time unless `--test-threads` says otherwise: rules
/// share the store and compare store-wide numbers as differences.
pub fn run_as_tests<S: Store + 'static>(
    runtime: std::sync::Arc<tokio::runtime::Runtime>,
    store: std::sync::Arc<S>,
) -> libtest_mimic::Conclusion {
    let mut args = libtest_mimic::Arguments::from_args();
    if args.test_threads.is_none() {
        args.test_threads = Some(1);
    }
    let trials = all_rules::<S>()
        .into_iter()
        .map(|rule| {
            let (runtime, store) = (runtime.clone(), store.clone());
            libtest_mimic::Trial::test(rule.short_name(), move || {
                runtime.block_on((rule.run)(&store));
                Ok(())
            })
        })
        .collect();
    libtest_mimic::run(&args, trials)
}

/// Run every rule in turn; panics (with the rule's message) on the first violation.
pub async fn run_all<S: Store>(store: &S) {
    for rule in all_rules::<S>() {
        (rule.run)(store).await;
        eprintln!("conformance: {} ok", rule.short_name());
    }
}

// ---------------------------------------------------------------------------
// Fixtures

fn unique(prefix: &str) -> String {
    format!("{prefix}{}", ObjectId::new().to_hex())
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn day(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 0, 0, 0)
        .single()
        .expect("valid date")
}

fn user_record(name: &str) -> User {
    User {
        id: ObjectId::new(),
        username: name.to_string(),
        unameview: name.to_lowercase().replace('.', ""),
        name: Some("Test User".into()),
        address: format!("{}@example.com", name.to_lowercase()),
        password: None,
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

fn address_record(user: Option<ObjectId>, address: &str, main: bool) -> Address {
    Address {
        id: ObjectId::new(),
        user,
        address: address.to_string(),
        addrview: address.to_lowercase(),
        name: None,
        main,
        tags: Vec::new(),
        targets: Vec::new(),
        forwards: None,
        meta_data: json!({}),
        internal_data: json!({}),
        created: Utc::now(),
    }
}

fn mailbox_record(user: ObjectId, path: &str, special_use: Option<SpecialUse>) -> Mailbox {
    Mailbox {
        id: ObjectId::new(),
        user,
        path: path.to_string(),
        special_use,
        uid_validity: 1_700_000_000,
        uid_next: 1,
        modify_index: 0,
        subscribed: true,
        retention: 0,
        hidden: false,
        created: Utc::now(),
    }
}

/// A user with its main address, INBOX and Archive.
struct Account {
    user: User,
    address: Address,
    inbox: Mailbox,
    archive: Mailbox,
}

async fn account<S: Store>(s: &S, label: &str) -> Account {
    let user = user_record(&unique(label));
    let address = address_record(Some(user.id), &user.address, true);
    let inbox = mailbox_record(user.id, "INBOX", None);
    let archive = mailbox_record(user.id, "Archive", Some(SpecialUse::Archive));
    s.create_user(&user, Some(&address), &[inbox.clone(), archive.clone()])
        .await
        .expect("create user");
    Account {
        user,
        address,
        inbox,
        archive,
    }
}

fn ingest(raw: &[u8]) -> NewContent {
    let i = eider_message::ingest(raw, &IngestOptions::default()).expect("ingest");
    NewContent {
        index: i.index,
        layout: i.layout,
        skeleton: i.skeleton,
        blobs: i.blobs,
    }
}

/// A text/plain message. `extra` is inserted as header lines (each ending in CRLF).
fn text_message(subject: &str, body: &str, message_id: &str, date: &str, extra: &str) -> Vec<u8> {
    format!(
        "From: Alice <alice@example.com>\r\nTo: Bob <bob@example.org>\r\n\
         Subject: {subject}\r\nMessage-ID: <{message_id}>\r\nDate: {date}\r\n{extra}\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// A multipart/mixed message with a text part and `attachment` in base64 lines of `line_len`.
fn attachment_message(
    subject: &str,
    message_id: &str,
    attachment: &[u8],
    line_len: usize,
) -> Vec<u8> {
    format!(
        "From: Alice <alice@example.com>\r\nTo: Bob <bob@example.org>\r\n\
         Subject: {subject}\r\nMessage-ID: <{message_id}>\r\n\
         Date: Fri, 01 Mar 2024 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee the photo.\r\n\
         --b1\r\nContent-Type: application/octet-stream; name=\"photo.bin\"\r\n\
         Content-Disposition: attachment; filename=\"photo.bin\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}--b1--\r\n",
        base64_lines(attachment, line_len)
    )
    .into_bytes()
}

fn base64_lines(data: &[u8], line_len: usize) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut flat = String::with_capacity(data.len() * 4 / 3 + 4);
    for c in data.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= c.len() {
                flat.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                flat.push('=');
            }
        }
    }
    let mut out = String::with_capacity(flat.len() + flat.len() / line_len * 2 + 2);
    for line in flat.as_bytes().chunks(line_len) {
        out.push_str(std::str::from_utf8(line).expect("ascii"));
        out.push_str("\r\n");
    }
    out
}

/// Deterministic incompressible bytes.
fn noise(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.max(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 8) as u8
        })
        .collect()
}

fn request(user: ObjectId, mailbox: ObjectId, raw: &[u8], flags: &[&str]) -> AppendRequest {
    AppendRequest {
        id: ObjectId::new(),
        user,
        mailbox,
        content: ingest(raw),
        flags: flags.iter().map(|f| f.to_string()).collect(),
        internal_date: Utc::now(),
        thread: ThreadRef::Id(ObjectId::new()),
        expires: None,
        meta_data: json!({}),
        quota_limit: None,
        dedupe_message_id: false,
    }
}

async fn append<S: Store>(
    s: &S,
    user: ObjectId,
    mailbox: ObjectId,
    raw: &[u8],
    flags: &[&str],
) -> Appended {
    s.append(request(user, mailbox, raw, flags))
        .await
        .expect("append")
}

fn simple(n: usize) -> Vec<u8> {
    text_message(
        &format!("Message {n}"),
        &format!("Body of message {n}."),
        &unique(&format!("m{n}.")),
        "Mon, 01 Jan 2024 10:00:00 +0000",
        "",
    )
}

/// The raw bytes of a stored message, rebuilt from the blobs the store returns.
async fn raw_range<S: Store>(s: &S, mailbox: ObjectId, uid: u32, start: u64, end: u64) -> Vec<u8> {
    let m = s
        .get_message(mailbox, uid)
        .await
        .expect("get message")
        .expect("message exists");
    let mut blobs: HashMap<BlobHash, Vec<u8>> = HashMap::new();
    for h in m.layout.blob_hashes() {
        let data = s.read_blob(&h, 0, u64::MAX).await.expect("read blob");
        blobs.insert(h, data.to_vec());
    }
    let skeleton = s
        .read_blob(&m.skeleton, 0, u64::MAX)
        .await
        .expect("read skeleton");
    eider_message::read_range(
        &m.layout,
        &skeleton,
        |h| blobs.get(h).map(|v| v.as_slice()),
        start,
        end,
    )
    .expect("reassemble")
}

async fn raw_of<S: Store>(s: &S, mailbox: ObjectId, uid: u32) -> Vec<u8> {
    raw_range(s, mailbox, uid, 0, u64::MAX).await
}

async fn all_meta<S: Store>(s: &S, mailbox: ObjectId) -> Vec<MessageMeta> {
    s.list_messages(mailbox, &UidSet::all(), SortOrder::Ascending, 0)
        .await
        .expect("list messages")
}

async fn storage<S: Store>(s: &S, user: ObjectId) -> u64 {
    s.get_user(user)
        .await
        .expect("get user")
        .expect("user exists")
        .storage_used
}

/// The mailbox's counters agree with its messages.
async fn assert_counters<S: Store>(s: &S, mailbox: ObjectId) {
    let msgs = all_meta(s, mailbox).await;
    let c = s.mailbox_counters(mailbox).await.expect("counters");
    assert_eq!(c.total, msgs.len() as u64, "counter total");
    assert_eq!(
        c.unseen,
        msgs.iter().filter(|m| !m.seen()).count() as u64,
        "counter unseen"
    );
    assert_eq!(
        c.size,
        msgs.iter().map(|m| m.size).sum::<u64>(),
        "counter size"
    );
}

fn is_conflict<T: std::fmt::Debug>(r: Result<T, StoreError>, key: &str) -> bool {
    matches!(r, Err(StoreError::Conflict(k)) if k == key)
}

// ---------------------------------------------------------------------------
// Rules

/// Users: create with address and mailboxes atomically, read, conflicts, update, delete.
pub async fn users_crud<S: Store>(s: &S) {
    let a = account(s, "crud.user").await;
    let got = s
        .get_user(a.user.id)
        .await
        .expect("get")
        .expect("user stored");
    assert_eq!(got.username, a.user.username);
    assert_eq!(got.unameview, a.user.unameview);
    assert_eq!(got.address, a.user.address);
    assert_eq!(got.name, a.user.name);
    assert_eq!(got.profile, a.user.profile);
    assert_eq!(got.storage_used, 0);
    assert_eq!(ms(got.created), ms(a.user.created));
    let found = s
        .find_user_by_unameview(&a.user.unameview)
        .await
        .expect("find");
    assert_eq!(found.map(|u| u.id), Some(a.user.id));
    assert!(s
        .find_user_by_unameview(&unique("nobody"))
        .await
        .expect("find")
        .is_none());
    assert_eq!(s.list_mailboxes(a.user.id).await.expect("list").len(), 2);
    assert_eq!(
        s.find_address(&a.address.addrview)
            .await
            .expect("find address")
            .map(|x| x.user),
        Some(Some(a.user.id))
    );

    // Taken username: nothing of the second user is stored.
    let mut dup = user_record(&a.user.username);
    dup.address = String::new();
    let dup_box = mailbox_record(dup.id, "INBOX", None);
    assert!(is_conflict(
        s.create_user(&dup, None, std::slice::from_ref(&dup_box))
            .await,
        "username"
    ));
    assert!(s.get_user(dup.id).await.expect("get").is_none());
    assert!(s
        .get_mailbox(dup.id, dup_box.id)
        .await
        .expect("get")
        .is_none());
    // Taken address: the user is not created either.
    let other = user_record(&unique("crud.other"));
    let taken = address_record(Some(other.id), &a.address.address, true);
    assert!(is_conflict(
        s.create_user(&other, Some(&taken), &[]).await,
        "address"
    ));
    assert!(s.get_user(other.id).await.expect("get").is_none());

    // Update replaces mutable fields; storage_used and created are the store's.
    let mut upd = got.clone();
    upd.name = Some("Renamed".into());
    upd.quota = 1234;
    upd.tags = vec!["alpha".into()];
    upd.storage_used = 999;
    upd.disabled = true;
    upd.meta_data = json!({"k": "v"});
    upd.profile.language = Some("et".into());
    upd.profile.retention = 5000;
    // Encryption at rest: the key (multi-line text) and both switches are kept.
    upd.profile.pub_key =
        "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----"
            .into();
    upd.profile.encrypt_messages = true;
    upd.profile.encrypt_forwarded = true;
    s.update_user(&upd).await.expect("update");
    let after = s.get_user(a.user.id).await.expect("get").expect("exists");
    assert_eq!(after.name.as_deref(), Some("Renamed"));
    assert_eq!(after.quota, 1234);
    assert_eq!(after.tags, vec!["alpha".to_string()]);
    assert!(after.disabled);
    assert_eq!(after.meta_data, json!({"k": "v"}));
    assert_eq!(after.profile.language.as_deref(), Some("et"));
    assert_eq!(after.profile.retention, 5000);
    assert_eq!(after.profile.pub_key, upd.profile.pub_key);
    assert!(after.profile.encrypt_messages && after.profile.encrypt_forwarded);
    assert_eq!(
        after.storage_used, 0,
        "update_user must not touch storage_used"
    );
    assert!(s.update_user(&user_record(&unique("ghost"))).await.is_err());

    assert!(s.delete_user(a.user.id).await.expect("delete"));
    assert!(s.get_user(a.user.id).await.expect("get").is_none());
    assert!(!s.delete_user(a.user.id).await.expect("delete again"));
}

/// Addresses: conflicts, main-address switching, forwarded addresses, listing.
pub async fn addresses_crud<S: Store>(s: &S) {
    let a = account(s, "crud.addr").await;
    let domain = format!("{}.example.net", unique("d"));
    let mut second = address_record(Some(a.user.id), &format!("second@{domain}"), false);
    second.tags = vec!["Work".into(), "x".into()];
    s.create_address(&second).await.expect("create");
    let mut clash = address_record(Some(a.user.id), &second.address, false);
    clash.id = ObjectId::new();
    assert!(is_conflict(s.create_address(&clash).await, "address"));

    let got = s
        .get_address(second.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(got.address, second.address);
    assert_eq!(got.tags, second.tags);
    assert!(!got.main);
    let mine = s.list_user_addresses(a.user.id).await.expect("list");
    assert_eq!(mine.len(), 2);

    // Making the second address main demotes the first and renames the user's address.
    let mut main = got.clone();
    main.main = true;
    s.update_address(&main).await.expect("update");
    let first = s
        .get_address(a.address.id)
        .await
        .expect("get")
        .expect("exists");
    assert!(!first.main, "the previous main address loses main");
    let user = s.get_user(a.user.id).await.expect("get").expect("exists");
    assert_eq!(user.address, second.address);

    // Forwarded addresses have no user.
    let mut fwd = address_record(None, &format!("fwd@{domain}"), false);
    fwd.targets = vec![
        "smtp://relay.example:25".into(),
        "someone@example.org".into(),
    ];
    fwd.forwards = Some(100);
    s.create_address(&fwd).await.expect("create forwarded");
    let f = s.get_address(fwd.id).await.expect("get").expect("exists");
    assert!(f.is_forwarded());
    assert_eq!(f.targets, fwd.targets);
    assert_eq!(f.forwards, Some(100));

    let q = |query: &str, forwarded_only: bool, tags: &[&str], required: &[&str]| AddressQuery {
        query: Some(query.to_string()),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        required_tags: required.iter().map(|t| t.to_string()).collect(),
        forwarded_only,
        forward: None,
        user: None,
        paging: Paging::default(),
    };
    let page = s
        .list_addresses(&q(&domain, false, &[], &[]))
        .await
        .expect("list");
    assert_eq!(page.total, 2);
    // A user's own listing (a user token's GET /addresses).
    let page = s
        .list_addresses(&AddressQuery {
            user: Some(a.user.id),
            ..q(&domain, false, &[], &[])
        })
        .await
        .expect("list");
    assert_eq!(
        page.results.iter().map(|x| x.id).collect::<Vec<_>>(),
        vec![second.id]
    );
    let page = s
        .list_addresses(&q(&domain, true, &[], &[]))
        .await
        .expect("list");
    assert_eq!(
        page.results.iter().map(|x| x.id).collect::<Vec<_>>(),
        vec![fwd.id]
    );
    let page = s
        .list_addresses(&q(&domain.to_uppercase(), false, &["work"], &[]))
        .await
        .expect("list");
    assert_eq!(page.results.len(), 1, "tags match ignoring case");
    let page = s
        .list_addresses(&q(&domain, false, &[], &["work", "missing"]))
        .await
        .expect("list");
    assert_eq!(page.total, 0, "required tags must all be present");

    assert!(s.delete_address(fwd.id).await.expect("delete"));
    assert!(!s.delete_address(fwd.id).await.expect("delete again"));
    assert!(s.find_address(&fwd.addrview).await.expect("find").is_none());
    s.delete_user(a.user.id).await.expect("cleanup");
}

/// Domain aliases: unique alias, lookups, listing, deletion.
pub async fn domain_aliases_crud<S: Store>(s: &S) {
    let alias = DomainAlias {
        id: ObjectId::new(),
        alias: format!("{}.example", unique("alias")),
        domain: "example.com".into(),
        created: Utc::now(),
    };
    s.create_domain_alias(&alias).await.expect("create");
    let mut dup = alias.clone();
    dup.id = ObjectId::new();
    assert!(matches!(
        s.create_domain_alias(&dup).await,
        Err(StoreError::Conflict(_))
    ));
    let found = s
        .find_domain_alias(&alias.alias)
        .await
        .expect("find")
        .expect("exists");
    assert_eq!(found.domain, "example.com");
    assert_eq!(found.id, alias.id);
    assert!(s.get_domain_alias(alias.id).await.expect("get").is_some());
    let all = s
        .list_domain_aliases(&Paging::default())
        .await
        .expect("list");
    assert!(all.results.iter().any(|a| a.id == alias.id));
    assert!(s.delete_domain_alias(alias.id).await.expect("delete"));
    assert!(!s.delete_domain_alias(alias.id).await.expect("delete again"));
    assert!(s
        .find_domain_alias(&alias.alias)
        .await
        .expect("find")
        .is_none());
}

/// Mailboxes: create (journaled), conflicts, renames of a folder with its children,
/// settings, deletion releasing messages and quota.
pub async fn mailboxes_crud<S: Store>(s: &S) {
    let a = account(s, "crud.mbox").await;
    let uid = a.user.id;
    let work = mailbox_record(uid, "Work", None);
    s.create_mailbox(&work).await.expect("create");
    assert!(is_conflict(
        s.create_mailbox(&mailbox_record(uid, "Work", None)).await,
        "path"
    ));
    let sub = mailbox_record(uid, "Work/Sub", None);
    s.create_mailbox(&sub).await.expect("create child");
    assert_eq!(
        s.find_mailbox(uid, "Work")
            .await
            .expect("find")
            .map(|m| m.id),
        Some(work.id)
    );
    let stranger = ObjectId::new();
    assert!(s
        .get_mailbox(stranger, work.id)
        .await
        .expect("get")
        .is_none());
    let j = s.user_journal_after(uid, 0, 0).await.expect("journal");
    assert!(j.iter().any(|e| e.kind == JournalKind::MailboxCreate
        && e.mailbox == work.id
        && e.path.as_deref() == Some("Work")
        && e.modseq == 0));

    s.rename_mailboxes(
        uid,
        &[(work.id, "Jobs".into()), (sub.id, "Jobs/Sub".into())],
    )
    .await
    .expect("rename");
    assert!(s.find_mailbox(uid, "Work").await.expect("find").is_none());
    assert_eq!(
        s.find_mailbox(uid, "Jobs/Sub")
            .await
            .expect("find")
            .map(|m| m.id),
        Some(sub.id)
    );
    let j = s.user_journal_after(uid, 0, 0).await.expect("journal");
    let renames: Vec<_> = j
        .iter()
        .filter(|e| e.kind == JournalKind::MailboxRename)
        .map(|e| (e.mailbox, e.path.clone().unwrap_or_default()))
        .collect();
    assert_eq!(
        renames,
        vec![
            (work.id, "Jobs".to_string()),
            (sub.id, "Jobs/Sub".to_string())
        ]
    );
    // A rename onto an existing path fails and changes nothing.
    assert!(is_conflict(
        s.rename_mailboxes(
            uid,
            &[(work.id, "Archive".into()), (sub.id, "Archive/Sub".into())]
        )
        .await,
        "path"
    ));
    assert!(s.find_mailbox(uid, "Jobs").await.expect("find").is_some());
    assert!(s
        .find_mailbox(uid, "Jobs/Sub")
        .await
        .expect("find")
        .is_some());

    let mut m = s
        .get_mailbox(uid, work.id)
        .await
        .expect("get")
        .expect("exists");
    m.subscribed = false;
    m.retention = 86_400_000;
    m.hidden = true;
    m.special_use = Some(SpecialUse::Junk);
    s.update_mailbox(&m).await.expect("update");
    let m2 = s
        .get_mailbox(uid, work.id)
        .await
        .expect("get")
        .expect("exists");
    assert!(!m2.subscribed && m2.hidden);
    assert_eq!(m2.retention, 86_400_000);
    assert_eq!(m2.special_use, Some(SpecialUse::Junk));
    assert_eq!(m2.path, "Jobs");

    // Deleting a mailbox with messages releases their storage.
    let blobs0 = s.blob_count().await.expect("count");
    append(s, uid, sub.id, &simple(1), &[]).await;
    append(s, uid, sub.id, &simple(2), &["\\Seen"]).await;
    assert!(storage(s, uid).await > 0);
    assert_counters(s, sub.id).await;
    assert!(s.delete_mailbox(uid, sub.id).await.expect("delete"));
    assert!(!s.delete_mailbox(uid, sub.id).await.expect("delete again"));
    assert!(s.get_mailbox(uid, sub.id).await.expect("get").is_none());
    assert_eq!(storage(s, uid).await, 0);
    assert_eq!(s.blob_count().await.expect("count"), blobs0);
    let j = s.user_journal_after(uid, 0, 0).await.expect("journal");
    assert!(j
        .iter()
        .any(|e| e.kind == JournalKind::MailboxDelete && e.mailbox == sub.id));
    s.delete_user(uid).await.expect("cleanup");
}

/// Append: UIDs from uid_next, MODSEQ from modify_index, meta from the index, exact bytes.
pub async fn append_allocates_uid_and_modseq<S: Store>(s: &S) {
    let a = account(s, "append").await;
    let (uid, inbox) = (a.user.id, a.inbox.id);
    let raws: Vec<Vec<u8>> = (1..=3).map(simple).collect();
    let mut last = 0;
    let mut ids = Vec::new();
    for (i, raw) in raws.iter().enumerate() {
        let flags: &[&str] = if i == 0 { &["\\Seen"] } else { &[] };
        let r = append(s, uid, inbox, raw, flags).await;
        assert_eq!(r.uid, i as u32 + 1, "UIDs are allocated 1, 2, 3");
        assert!(r.modseq > last, "MODSEQ increases");
        assert_eq!(r.uid_validity, a.inbox.uid_validity);
        assert!(!r.duplicate);
        last = r.modseq;
        ids.push(r.id);
    }
    let mb = s
        .get_mailbox(uid, inbox)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(mb.uid_next, 4);
    assert_eq!(mb.modify_index, last);
    assert_eq!(s.list_uids(inbox).await.expect("uids"), vec![1, 2, 3]);

    let desc = s
        .list_messages(inbox, &UidSet::all(), SortOrder::Descending, 2)
        .await
        .expect("list");
    assert_eq!(desc.iter().map(|m| m.uid).collect::<Vec<_>>(), vec![3, 2]);
    let some = s
        .list_messages(
            inbox,
            &UidSet::from_uids([1, 3, 9]),
            SortOrder::Ascending,
            0,
        )
        .await
        .expect("list");
    assert_eq!(some.iter().map(|m| m.uid).collect::<Vec<_>>(), vec![1, 3]);

    let metas = all_meta(s, inbox).await;
    for (i, m) in metas.iter().enumerate() {
        assert_eq!(m.id, ids[i]);
        assert_eq!(m.user, uid);
        assert_eq!(m.mailbox, inbox);
        assert_eq!(m.size, raws[i].len() as u64, "size is RFC822.SIZE");
        assert_eq!(m.subject, format!("Message {}", i + 1));
        assert!(m
            .message_id
            .as_deref()
            .is_some_and(|id| id.starts_with(&format!("m{}.", i + 1))));
        assert_eq!(
            m.header_date.map(ms),
            Some(ms(Utc
                .with_ymd_and_hms(2024, 1, 1, 10, 0, 0)
                .single()
                .expect("date")))
        );
        assert!(!m.has_attachments);
    }
    assert_eq!(metas[0].flags, vec!["\\Seen".to_string()]);
    assert_ne!(metas[0].content, metas[1].content);

    let stored = s.get_message(inbox, 2).await.expect("get").expect("exists");
    assert_eq!(stored.meta.uid, 2);
    assert_eq!(stored.index.subject, "Message 2");
    assert_eq!(stored.layout.len(), raws[1].len() as u64);
    assert!(stored.index.search_body.contains("Body of message 2"));
    assert_eq!(
        raw_of(s, inbox, 2).await,
        raws[1],
        "bytes are reassembled exactly"
    );
    assert!(s.get_message(inbox, 99).await.expect("get").is_none());
    // Several at once: in the order asked, absent UIDs left out, each whole.
    let many = s
        .get_messages(inbox, &[3, 99, 1, 2])
        .await
        .expect("get many");
    assert_eq!(
        many.iter().map(|m| m.meta.uid).collect::<Vec<_>>(),
        vec![3, 1, 2]
    );
    assert_eq!(many[2].index.subject, "Message 2");
    assert_eq!(many[2].layout.len(), raws[1].len() as u64);
    assert!(many[2].index.search_body.contains("Body of message 2"));
    assert!(s.get_messages(inbox, &[]).await.expect("none").is_empty());
    assert_eq!(
        s.get_message_meta_by_id(uid, ids[2])
            .await
            .expect("by id")
            .map(|m| m.uid),
        Some(3)
    );
    assert!(s
        .get_message_meta_by_id(ObjectId::new(), ids[2])
        .await
        .expect("by id")
        .is_none());

    assert_counters(s, inbox).await;
    let total: u64 = raws.iter().map(|r| r.len() as u64).sum();
    assert_eq!(
        storage(s, uid).await,
        total,
        "storage_used counts appended sizes"
    );

    // A mailbox of another user is not a target.
    let b = account(s, "append.other").await;
    assert!(s
        .append(request(uid, b.inbox.id, &simple(9), &[]))
        .await
        .is_err());
    s.delete_user(uid).await.expect("cleanup");
    s.delete_user(b.user.id).await.expect("cleanup");
}

/// The journal records every change, in MODSEQ order, with what a session needs.
/// `raise_uid_next` moves UIDNEXT up only; the next append takes it.
pub async fn raise_uid_next<S: Store>(s: &S) {
    let a = account(s, "raise.uid").await;
    let (uid, inbox) = (a.user.id, a.inbox.id);
    s.raise_uid_next(uid, inbox, 7).await.expect("raise");
    let r = append(s, uid, inbox, &simple(1), &[]).await;
    assert_eq!(r.uid, 7, "the next append takes the raised UID");
    s.raise_uid_next(uid, inbox, 3)
        .await
        .expect("lower is a no-op");
    let r = append(s, uid, inbox, &simple(2), &[]).await;
    assert_eq!(r.uid, 8, "UIDNEXT never goes back");
    s.raise_uid_next(uid, inbox, 20).await.expect("raise");
    let mb = s
        .get_mailbox(uid, inbox)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(mb.uid_next, 20);
    assert!(matches!(
        s.raise_uid_next(ObjectId::new(), inbox, 30).await,
        Err(StoreError::NotFound)
    ));
    let mb = s
        .get_mailbox(uid, inbox)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(mb.uid_next, 20, "another user's call changes nothing");
}

pub async fn journal_order_and_content<S: Store>(s: &S) {
    let a = account(s, "journal").await;
    let (uid, inbox) = (a.user.id, a.inbox.id);
    let before = s.last_journal_id().await.expect("last id");
    let m1 = append(s, uid, inbox, &simple(1), &["$Label"]).await;
    let m2 = append(s, uid, inbox, &simple(2), &[]).await;
    let f = s
        .update_flags(
            inbox,
            &UidSet::from_uids([1]),
            &FlagUpdate {
                op: FlagOp::Add,
                flags: vec!["\\Flagged".into()],
                unchanged_since: None,
            },
        )
        .await
        .expect("flags");
    let removed = s
        .expunge(inbox, &UidSet::from_uids([2]), false)
        .await
        .expect("expunge");
    assert_eq!(removed, vec![2]);

    let j = s.journal_since(inbox, 0).await.expect("journal");
    let kinds: Vec<_> = j.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![
            JournalKind::Exists,
            JournalKind::Exists,
            JournalKind::Flags,
            JournalKind::Expunge
        ]
    );
    let modseqs: Vec<u64> = j.iter().map(|e| e.modseq).collect();
    assert!(
        modseqs.windows(2).all(|w| w[0] < w[1]),
        "modseqs increase: {modseqs:?}"
    );
    assert_eq!(modseqs[0], m1.modseq);
    assert_eq!(modseqs[1], m2.modseq);
    assert_eq!(modseqs[2], f.modseq);
    assert_eq!(
        j.iter().map(|e| e.uid).collect::<Vec<_>>(),
        vec![Some(1), Some(2), Some(1), Some(2)]
    );
    assert_eq!(j[0].message, Some(m1.id));
    assert_eq!(j[3].message, Some(m2.id));
    assert_eq!(
        j[0].flags,
        vec!["$Label".to_string()],
        "Exists carries the initial flags"
    );
    assert_eq!(
        j[2].flags,
        vec!["$Label".to_string(), "\\Flagged".to_string()]
    );
    assert!(j.iter().all(|e| e.user == uid && e.mailbox == inbox));
    assert!(j.windows(2).all(|w| w[0].id < w[1].id));
    assert!(j[0].id > before);
    let mb = s
        .get_mailbox(uid, inbox)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(
        mb.modify_index, modseqs[3],
        "the last entry has the mailbox's MODSEQ"
    );

    let tail = s.journal_since(inbox, m2.modseq).await.expect("journal");
    assert_eq!(
        tail.iter().map(|e| e.kind).collect::<Vec<_>>(),
        vec![JournalKind::Flags, JournalKind::Expunge]
    );

    let user_j = s.user_journal_after(uid, 0, 0).await.expect("user journal");
    let msg_ids: Vec<u64> = user_j
        .iter()
        .filter(|e| e.mailbox == inbox)
        .map(|e| e.id)
        .collect();
    assert_eq!(msg_ids, j.iter().map(|e| e.id).collect::<Vec<_>>());
    let limited = s.user_journal_after(uid, 0, 2).await.expect("user journal");
    assert_eq!(limited.len(), 2);
    let after = s
        .user_journal_after(uid, j[1].id, 0)
        .await
        .expect("user journal");
    assert_eq!(after.first().map(|e| e.id), Some(j[2].id));
    assert!(s.last_journal_id().await.expect("last id") >= j[3].id);
    s.delete_user(uid).await.expect("cleanup");
}

/// Flag updates: add/remove/replace, no-ops skipped, one MODSEQ per call, UNCHANGEDSINCE.
pub async fn flag_updates<S: Store>(s: &S) {
    let a = account(s, "flags").await;
    let (uid, inbox) = (a.user.id, a.inbox.id);
    append(s, uid, inbox, &simple(1), &[]).await;
    append(s, uid, inbox, &simple(2), &["\\Seen"]).await;
    append(s, uid, inbox, &simple(3), &["$Work"]).await;
    let upd = |op, flags: &[&str], since| FlagUpdate {
        op,
        flags: flags.iter().map(|f| f.to_string()).collect(),
        unchanged_since: since,
    };
    let before = s
        .get_mailbox(uid, inbox)
        .await
        .expect("get")
        .expect("exists")
        .modify_index;
    let r = s
        .update_flags(
            inbox,
            &UidSet::range(1, 3),
            &upd(FlagOp::Add, &["\\Seen"], None),
        )
        .await
        .expect("add");
    assert_eq!(
        r.changed.iter().map(|c| c.0).collect::<Vec<_>>(),
        vec![1, 3],
        "no-op on 2 skipped"
    );
    assert!(
        r.changed.iter().all(|c| c.2 == before + 1),
        "one MODSEQ for the call"
    );
    assert_eq!(r.modseq, before + 1);
    assert!(r.conflicts.is_empty());
    assert_eq!(
        r.changed[1].1,
        vec!["$Work".to_string(), "\\Seen".to_string()]
    );
    assert_counters(s, inbox).await;

    let entries = s.journal_since(inbox, 0).await.expect("journal").len();
    let noop = s
        .update_flags(
            inbox,
            &UidSet::range(1, 3),
            &upd(FlagOp::Add, &["\\Seen"], None),
        )
        .await
        .expect("noop");
    assert!(noop.changed.is_empty());
    assert_eq!(noop.modseq, before + 1, "a no-op does not bump MODSEQ");
    assert_eq!(
        s.journal_since(inbox, 0).await.expect("journal").len(),
        entries
    );

    let r = s
        .update_flags(
            inbox,
            &UidSet::from_uids([3]),
            &upd(FlagOp::Remove, &["$work"], None),
        )
        .await
        .expect("remove");
    assert_eq!(
        r.changed[0].1,
        vec!["\\Seen".to_string()],
        "removal ignores keyword case"
    );
    let r = s
        .update_flags(
            inbox,
            &UidSet::from_uids([2]),
            &upd(FlagOp::Replace, &["\\Flagged", "$X"], None),
        )
        .await
        .expect("replace");
    assert_eq!(
        r.changed[0].1,
        vec!["$X".to_string(), "\\Flagged".to_string()]
    );
    assert_counters(s, inbox).await;

    // UNCHANGEDSINCE: message 2 changed after message 1's MODSEQ, so it conflicts.
    let metas = all_meta(s, inbox).await;
    let since = metas[0].modseq;
    assert!(metas[1].modseq > since);
    let r = s
        .update_flags(
            inbox,
            &UidSet::range(1, 2),
            &upd(FlagOp::Add, &["\\Answered"], Some(since)),
        )
        .await
        .expect("conditional");
    assert_eq!(r.conflicts, vec![2]);
    assert_eq!(r.changed.iter().map(|c| c.0).collect::<Vec<_>>(), vec![1]);
    let metas = all_meta(s, inbox).await;
    assert!(metas[0].has_flag("\\Answered") && !metas[1].has_flag("\\Answered"));
    assert_eq!(metas[0].modseq, r.modseq);
    assert!(s
        .update_flags(
            ObjectId::new(),
            &UidSet::all(),
            &upd(FlagOp::Add, &["\\Seen"], None)
        )
        .await
        .is_err());
    s.delete_user(uid).await.expect("cleanup");
}

/// COPY shares content and counts quota; MOVE journals both sides and keeps quota;
/// EXPUNGE releases; OverQuota is checked inside the transaction.
pub async fn copy_move_expunge_and_quota<S: Store>(s: &S) {
    let a = account(s, "copymove").await;
    let (uid, inbox, archive) = (a.user.id, a.inbox.id, a.archive.id);
    let raws: Vec<Vec<u8>> = (1..=3).map(simple).collect();
    for (i, raw) in raws.iter().enumerate() {
        append(s, uid, inbox, raw, if i == 1 { &["\\Seen"] } else { &[] }).await;
    }
    let src = all_meta(s, inbox).await;
    let used = storage(s, uid).await;
    let blobs = s.blob_count().await.expect("count");

    let copied = s
        .copy_messages(uid, inbox, &UidSet::range(1, 2), archive, None)
        .await
        .expect("copy");
    assert_eq!(
        copied
            .iter()
            .map(|c| (c.source_uid, c.uid))
            .collect::<Vec<_>>(),
        vec![(1, 1), (2, 2)]
    );
    let dst = all_meta(s, archive).await;
    assert_eq!(dst[0].content, src[0].content, "a copy shares content");
    assert_ne!(dst[0].id, src[0].id);
    assert_eq!(dst[0].id, copied[0].id);
    assert_eq!(dst[1].flags, src[1].flags, "a copy keeps flags");
    assert_eq!(
        s.blob_count().await.expect("count"),
        blobs,
        "a copy stores no blob"
    );
    assert_eq!(storage(s, uid).await, used + src[0].size + src[1].size);
    let j = s.journal_since(archive, 0).await.expect("journal");
    assert_eq!(
        j.iter().map(|e| (e.kind, e.uid)).collect::<Vec<_>>(),
        vec![
            (JournalKind::Exists, Some(1)),
            (JournalKind::Exists, Some(2))
        ]
    );
    assert_counters(s, archive).await;

    // Over quota: nothing is copied.
    let now_used = storage(s, uid).await;
    assert!(matches!(
        s.copy_messages(uid, inbox, &UidSet::from_uids([3]), archive, Some(now_used))
            .await,
        Err(StoreError::OverQuota)
    ));
    assert_eq!(s.list_uids(archive).await.expect("uids"), vec![1, 2]);
    assert_eq!(storage(s, uid).await, now_used);
    let mut over = request(uid, inbox, &simple(4), &[]);
    over.quota_limit = Some(now_used + over.content.index.size - 1);
    assert!(matches!(s.append(over).await, Err(StoreError::OverQuota)));
    assert_eq!(s.list_uids(inbox).await.expect("uids"), vec![1, 2, 3]);

    // MOVE: Exists in the target, Expunge in the source, quota unchanged.
    let moved = s
        .move_messages(uid, inbox, &UidSet::from_uids([3]), archive)
        .await
        .expect("move");
    assert_eq!(moved.len(), 1);
    assert_eq!((moved[0].source_uid, moved[0].uid), (3, 3));
    assert_eq!(s.list_uids(inbox).await.expect("uids"), vec![1, 2]);
    assert_eq!(s.list_uids(archive).await.expect("uids"), vec![1, 2, 3]);
    assert_eq!(
        storage(s, uid).await,
        now_used,
        "a move does not change quota"
    );
    let last_src = s.journal_since(inbox, 0).await.expect("journal");
    assert_eq!(
        last_src.last().map(|e| (e.kind, e.uid)),
        Some((JournalKind::Expunge, Some(3)))
    );
    let last_dst = s.journal_since(archive, 0).await.expect("journal");
    assert_eq!(
        last_dst.last().map(|e| (e.kind, e.uid, e.message)),
        Some((JournalKind::Exists, Some(3), Some(moved[0].id)))
    );
    assert_eq!(
        raw_of(s, archive, 3).await,
        raws[2],
        "a moved message keeps its bytes"
    );
    assert_counters(s, inbox).await;
    assert_counters(s, archive).await;
    let b = account(s, "copymove.other").await;
    assert!(
        s.move_messages(uid, inbox, &UidSet::all(), b.inbox.id)
            .await
            .is_err(),
        "not across users"
    );
    assert!(s
        .copy_messages(uid, inbox, &UidSet::all(), b.inbox.id, None)
        .await
        .is_err());

    // EXPUNGE of \Deleted only; the copy of an expunged message stays readable.
    s.update_flags(
        inbox,
        &UidSet::from_uids([1]),
        &FlagUpdate {
            op: FlagOp::Add,
            flags: vec!["\\Deleted".into()],
            unchanged_since: None,
        },
    )
    .await
    .expect("flag deleted");
    let before = storage(s, uid).await;
    let gone = s
        .expunge(inbox, &UidSet::all(), true)
        .await
        .expect("expunge");
    assert_eq!(gone, vec![1]);
    assert_eq!(storage(s, uid).await, before - src[0].size);
    assert!(s.get_message(archive, 1).await.expect("get").is_some());
    assert_eq!(raw_of(s, archive, 1).await, raws[0]);
    let gone = s
        .expunge(archive, &UidSet::all(), false)
        .await
        .expect("expunge");
    assert_eq!(gone, vec![1, 2, 3]);
    assert_counters(s, inbox).await;
    assert_counters(s, archive).await;
    assert_eq!(storage(s, uid).await, src[1].size);
    s.delete_user(uid).await.expect("cleanup");
    s.delete_user(b.user.id).await.expect("cleanup");
}

/// Contents and blobs are shared and reference-counted: the last reference frees them.
pub async fn content_and_blob_refcounting<S: Store>(s: &S) {
    let a = account(s, "refs.a").await;
    let b = account(s, "refs.b").await;
    let base = s.blob_count().await.expect("count");
    let att = noise(6000, 7);
    let hash = BlobHash::of(&att);
    let raw_a = attachment_message("First", &unique("att.a."), &att, 76);
    let raw_b = attachment_message("Second", &unique("att.b."), &att, 64);
    let ca = ingest(&raw_a);
    assert!(
        ca.layout.blob_hashes().contains(&hash),
        "ingest moved the attachment to a blob"
    );
    let ra = append(s, a.user.id, a.inbox.id, &raw_a, &[]).await;
    let rb = append(s, b.user.id, b.inbox.id, &raw_b, &[]).await;
    assert_eq!(
        s.blob_count().await.expect("count"),
        base + 3,
        "two skeletons and one shared attachment"
    );
    assert_eq!(s.blob_len(&hash).await.expect("len"), Some(6000));
    let meta_a = s
        .get_message_meta_by_id(a.user.id, ra.id)
        .await
        .expect("meta")
        .expect("exists");
    assert!(meta_a.has_attachments);
    assert_eq!(raw_of(s, a.inbox.id, ra.uid).await, raw_a);
    assert_eq!(raw_of(s, b.inbox.id, rb.uid).await, raw_b);

    s.expunge(a.inbox.id, &UidSet::all(), false)
        .await
        .expect("expunge a");
    assert_eq!(
        s.blob_len(&hash).await.expect("len"),
        Some(6000),
        "still used by b"
    );
    assert_eq!(s.blob_count().await.expect("count"), base + 2);
    assert_eq!(raw_of(s, b.inbox.id, rb.uid).await, raw_b);
    s.expunge(b.inbox.id, &UidSet::all(), false)
        .await
        .expect("expunge b");
    assert_eq!(
        s.blob_len(&hash).await.expect("len"),
        None,
        "the last reference frees it"
    );
    assert_eq!(s.blob_count().await.expect("count"), base);

    // The same message delivered twice shares its skeleton as well.
    let r1 = append(s, a.user.id, a.inbox.id, &raw_a, &[]).await;
    let r2 = append(s, b.user.id, b.inbox.id, &raw_a, &[]).await;
    assert_eq!(s.blob_count().await.expect("count"), base + 2);
    // A copy shares content: expunging the original keeps the copy whole.
    s.copy_messages(
        a.user.id,
        a.inbox.id,
        &UidSet::from_uids([r1.uid]),
        a.archive.id,
        None,
    )
    .await
    .expect("copy");
    s.expunge(a.inbox.id, &UidSet::all(), false)
        .await
        .expect("expunge");
    assert_eq!(raw_of(s, a.archive.id, 1).await, raw_a);
    s.expunge(a.archive.id, &UidSet::all(), false)
        .await
        .expect("expunge");
    assert_eq!(
        s.blob_count().await.expect("count"),
        base + 2,
        "b still holds both"
    );
    s.expunge(b.inbox.id, &UidSet::from_uids([r2.uid]), false)
        .await
        .expect("expunge");
    assert_eq!(s.blob_count().await.expect("count"), base);
    s.delete_user(a.user.id).await.expect("cleanup");
    s.delete_user(b.user.id).await.expect("cleanup");
}

/// Blob ranges are exact and clamped; message ranges rebuild from them.
pub async fn range_reads<S: Store>(s: &S) {
    let a = account(s, "ranges").await;
    let att = noise(600_000, 11);
    let hash = BlobHash::of(&att);
    let raw = attachment_message("Big", &unique("big."), &att, 76);
    let r = append(s, a.user.id, a.inbox.id, &raw, &[]).await;
    let len = att.len() as u64;
    assert_eq!(s.blob_len(&hash).await.expect("len"), Some(len));
    for (start, end) in [
        (0u64, 10u64),
        (262_140, 262_150),
        (100_000, 500_000),
        (len - 5, len + 100),
        (len + 1, len + 10),
        (5, 5),
        (9, 3),
    ] {
        let got = s.read_blob(&hash, start, end).await.expect("read");
        let (lo, hi) = (start.min(len) as usize, end.min(len) as usize);
        let want: &[u8] = if lo < hi { &att[lo..hi] } else { &[] };
        assert_eq!(&got[..], want, "blob range {start}..{end}");
    }
    assert!(s
        .read_blob(&BlobHash::of(b"never stored"), 0, 10)
        .await
        .is_err());
    assert_eq!(
        s.blob_len(&BlobHash::of(b"never stored"))
            .await
            .expect("len"),
        None
    );
    let size = raw.len() as u64;
    for (start, end) in [(0, 100), (size / 2, size / 2 + 1000), (size - 10, size)] {
        assert_eq!(
            raw_range(s, a.inbox.id, r.uid, start, end).await,
            raw[start as usize..end as usize],
            "message range {start}..{end}"
        );
    }
    s.delete_user(a.user.id).await.expect("cleanup");
}

/// What a message list reads: the rows of the UIDs given, in that order (expunged
/// and unknown ones left out), each with its index's listing.
pub async fn list_entries_read_listings<S: Store>(s: &S) {
    let a = account(s, "listentries").await;
    let raws = [simple(1), simple(2), simple(3)];
    for raw in &raws {
        append(s, a.user.id, a.inbox.id, raw, &[]).await;
    }
    s.expunge(a.inbox.id, &UidSet::from_uids([2]), false)
        .await
        .expect("expunge");
    let got = s
        .list_entries(a.inbox.id, &[3, 2, 9, 1])
        .await
        .expect("list entries");
    assert_eq!(
        got.iter().map(|m| m.meta.uid).collect::<Vec<_>>(),
        vec![3, 1],
        "in the order asked, missing UIDs left out"
    );
    for (m, raw) in got.iter().zip([&raws[2], &raws[0]]) {
        let whole = s
            .get_message(a.inbox.id, m.meta.uid)
            .await
            .expect("get")
            .expect("exists");
        assert_eq!(m.meta, whole.meta);
        let listing = ingest(raw).index.listing();
        assert_eq!(m.index.subject, listing.subject);
        assert_eq!(m.index.from, listing.from);
        assert_eq!(m.index.to, listing.to);
        assert_eq!(m.index.text, listing.text);
        assert_eq!(m.index.headers, listing.headers);
        assert_eq!(m.index.message_id, listing.message_id);
        assert_eq!(m.index.root.media_type, listing.root.media_type);
    }
    s.delete_user(a.user.id).await.expect("cleanup");
}

/// The batch read FETCH uses: rows in UID order with only the parts asked for, the
/// same as the whole message read gives, for copies sharing content too.
pub async fn fetch_reads_parts<S: Store>(s: &S) {
    let a = account(s, "fetchparts").await;
    let att = noise(300_000, 5);
    let raws = [
        simple(1),
        attachment_message("With file", &unique("att."), &att, 64),
        simple(3),
        simple(4),
    ];
    for raw in &raws {
        append(s, a.user.id, a.inbox.id, raw, &[]).await;
    }
    s.expunge(a.inbox.id, &UidSet::from_uids([4]), false)
        .await
        .expect("expunge");
    s.copy_messages(
        a.user.id,
        a.inbox.id,
        &UidSet::from_uids([2]),
        a.archive.id,
        None,
    )
    .await
    .expect("copy");
    let both = FetchWant {
        imap: true,
        body: true,
    };
    let got = s
        .fetch_messages(a.inbox.id, &UidSet::from_uids([2, 3, 4, 9]), both)
        .await
        .expect("fetch");
    assert_eq!(
        got.iter().map(|m| m.meta.uid).collect::<Vec<_>>(),
        vec![2, 3],
        "ascending, expunged and unknown UIDs left out"
    );
    for (m, raw) in got.iter().zip([&raws[1], &raws[2]]) {
        let index = ingest(raw).index;
        let imap = m.imap.as_ref().expect("imap strings asked for");
        assert_eq!(imap.envelope, index.imap_envelope);
        assert_eq!(imap.body_structure, index.imap_bodystructure);
        assert_eq!(imap.body, index.imap_body);
        let body = m.body.as_ref().expect("body asked for");
        assert_eq!(body.root, index.root);
        assert_eq!(body.layout.len(), raw.len() as u64);
        let whole = s
            .get_message(a.inbox.id, m.meta.uid)
            .await
            .expect("get")
            .expect("exists");
        assert_eq!(whole.meta, m.meta);
        assert_eq!(whole.skeleton, body.skeleton);
        assert_eq!(whole.index.imap_envelope, index.imap_envelope);
        assert_eq!(whole.index.imap_bodystructure, index.imap_bodystructure);
        assert_eq!(whole.index.imap_body, index.imap_body);
    }
    let rows_only = s
        .fetch_messages(a.inbox.id, &UidSet::all(), FetchWant::default())
        .await
        .expect("rows");
    assert_eq!(
        rows_only.iter().map(|m| m.meta.clone()).collect::<Vec<_>>(),
        all_meta(s, a.inbox.id).await
    );
    assert!(rows_only
        .iter()
        .all(|m| m.imap.is_none() && m.body.is_none()));
    let imap_only = s
        .fetch_messages(
            a.archive.id,
            &UidSet::all(),
            FetchWant {
                imap: true,
                body: false,
            },
        )
        .await
        .expect("copy");
    assert_eq!(imap_only.len(), 1);
    assert!(imap_only[0].body.is_none());
    assert_eq!(
        imap_only[0].imap.as_ref().map(|i| i.body_structure.clone()),
        got[0].imap.as_ref().map(|i| i.body_structure.clone()),
        "a copy shares its content's strings"
    );
    s.delete_user(a.user.id).await.expect("cleanup");
}

/// Every SearchKey, alone and combined; within a mailbox and across the user's.
pub async fn search_keys<S: Store>(s: &S) {
    let a = account(s, "search").await;
    let (uid, inbox, archive) = (a.user.id, a.inbox.id, a.archive.id);
    let thread = ObjectId::new();
    let put = |mailbox: ObjectId,
               raw: Vec<u8>,
               flags: &[&str],
               internal: DateTime<Utc>,
               thread: ObjectId| {
        let mut r = request(uid, mailbox, &raw, flags);
        r.internal_date = internal;
        r.thread = ThreadRef::Id(thread);
        r
    };
    let m1 = put(
        inbox,
        text_message(
            "Quarterly report",
            "The numbers are attached. Grüße aus Köln",
            &unique("s1."),
            "Mon, 01 Jan 2024 00:00:00 +0000",
            "X-Project: Apollo\r\n",
        ),
        &["\\Seen"],
        day(2024, 1, 10),
        thread,
    );
    let m2 = put(
        inbox,
        text_message(
            "Lunch?",
            "Pizza at noon? He said \"hi there\".",
            &unique("s2."),
            "Thu, 01 Feb 2024 00:00:00 +0000",
            "",
        ),
        &["\\Flagged", "$Work"],
        day(2024, 2, 10),
        ObjectId::new(),
    );
    let m3 = put(
        inbox,
        attachment_message("Photo", &unique("s3."), &noise(5000, 3), 76),
        &[],
        day(2024, 3, 10),
        thread,
    );
    let m4 = put(
        archive,
        text_message(
            "Archived report",
            "old figures",
            &unique("s4."),
            "Wed, 10 Apr 2024 00:00:00 +0000",
            "",
        ),
        &[],
        day(2024, 4, 10),
        ObjectId::new(),
    );
    for r in [m1, m2, m3, m4] {
        s.append(r).await.expect("append");
    }
    // Someone else's mail never shows up.
    let b = account(s, "search.other").await;
    append(
        s,
        b.user.id,
        b.inbox.id,
        &text_message(
            "Quarterly report",
            "numbers",
            &unique("o."),
            "Mon, 01 Jan 2024 00:00:00 +0000",
            "",
        ),
        &[],
    )
    .await;

    let metas = all_meta(s, inbox).await;
    let sizes: Vec<u64> = metas.iter().map(|m| m.size).collect();
    let find = |key: SearchKey| {
        let q = SearchQuery {
            user: uid,
            mailbox: Some(inbox),
            key,
        };
        async move {
            s.search(&q)
                .await
                .expect("search")
                .iter()
                .map(|m| m.uid)
                .collect::<Vec<u32>>()
        }
    };
    let text = |t: &str| t.to_string();
    use SearchKey as K;
    assert_eq!(find(K::All).await, vec![1, 2, 3]);
    assert_eq!(
        find(K::Uids(UidSet::from_uids([2, 3, 7]))).await,
        vec![2, 3]
    );
    let many = UidSet::from_uids((0..30).map(|i| 1 + 2 * i));
    assert_eq!(find(K::Uids(many)).await, vec![1, 3], "large UID sets");
    assert_eq!(find(K::Uids(UidSet::new())).await, Vec::<u32>::new());
    assert_eq!(find(K::Flag(text("\\Seen"), true)).await, vec![1]);
    assert_eq!(find(K::Flag(text("\\seen"), false)).await, vec![2, 3]);
    assert_eq!(
        find(K::Flag(text("$work"), true)).await,
        vec![2],
        "keywords ignore case"
    );
    assert_eq!(find(K::Flag(text("$Work"), false)).await, vec![1, 3]);
    assert_eq!(find(K::Flag(text("\\Flagged"), true)).await, vec![2]);
    assert_eq!(
        find(K::Flag(text("\\Answered"), false)).await,
        vec![1, 2, 3]
    );
    let larger: Vec<u32> = (1..=3)
        .filter(|&u| sizes[u as usize - 1] > sizes[1])
        .collect();
    assert_eq!(find(K::Larger(sizes[1])).await, larger);
    let smaller: Vec<u32> = (1..=3)
        .filter(|&u| sizes[u as usize - 1] < sizes[0])
        .collect();
    assert_eq!(find(K::Smaller(sizes[0])).await, smaller);
    assert_eq!(
        find(K::Since(DateField::Internal, day(2024, 2, 1))).await,
        vec![2, 3]
    );
    assert_eq!(
        find(K::Before(DateField::Internal, day(2024, 2, 10))).await,
        vec![1],
        "BEFORE is strict"
    );
    assert_eq!(
        find(K::Since(DateField::Header, day(2024, 2, 1))).await,
        vec![2, 3],
        "SINCE includes the instant"
    );
    assert_eq!(
        find(K::Before(DateField::Header, day(2024, 2, 1))).await,
        vec![1]
    );
    assert_eq!(
        find(K::Header(text("Subject"), text("REPORT"))).await,
        vec![1]
    );
    assert_eq!(
        find(K::Header(text("x-project"), text(""))).await,
        vec![1],
        "empty needle: header present"
    );
    assert_eq!(
        find(K::Header(text("X-Project"), text("apo"))).await,
        vec![1]
    );
    assert_eq!(
        find(K::Header(text("Subject"), text("apollo"))).await,
        Vec::<u32>::new()
    );
    assert_eq!(
        find(K::Header(text("From"), text("ALICE"))).await,
        vec![1, 2, 3]
    );
    assert_eq!(
        find(K::Header(text("To"), text("b"))).await,
        vec![1, 2, 3],
        "one-letter needle"
    );
    assert_eq!(find(K::Body(text("numbers"))).await, vec![1]);
    assert_eq!(
        find(K::Body(text("KÖLN"))).await,
        vec![1],
        "non-ASCII case folding"
    );
    assert_eq!(find(K::Body(text("grüsse"))).await, Vec::<u32>::new());
    assert_eq!(find(K::Body(text("no"))).await, vec![2], "short needle");
    assert_eq!(
        find(K::Body(text("Quarterly"))).await,
        Vec::<u32>::new(),
        "BODY skips headers"
    );
    assert_eq!(find(K::Body(text("photo"))).await, vec![3]);
    assert_eq!(
        find(K::Text(text("lunch"))).await,
        vec![2],
        "TEXT sees headers"
    );
    assert_eq!(
        find(K::Text(text("PIZZA"))).await,
        vec![2],
        "TEXT sees the body"
    );
    assert_eq!(find(K::Text(text("zz"))).await, vec![2]);
    assert_eq!(
        find(K::Text(text("\"hi there\""))).await,
        vec![2],
        "quotes in needles"
    );
    assert_eq!(
        find(K::Text(text("nowhere to be found"))).await,
        Vec::<u32>::new()
    );
    let m3_modseq = metas[2].modseq;
    assert_eq!(find(K::ModSeq(m3_modseq)).await, vec![3]);
    assert_eq!(find(K::Thread(thread)).await, vec![1, 3]);
    assert_eq!(find(K::HasAttachment(true)).await, vec![3]);
    assert_eq!(find(K::HasAttachment(false)).await, vec![1, 2]);
    assert_eq!(
        find(K::And(vec![
            K::Flag(text("\\Seen"), false),
            K::HasAttachment(false)
        ]))
        .await,
        vec![2]
    );
    assert_eq!(find(K::And(vec![])).await, vec![1, 2, 3]);
    assert_eq!(
        find(K::Or(
            Box::new(K::Uids(UidSet::from_uids([1]))),
            Box::new(K::Text(text("photo")))
        ))
        .await,
        vec![1, 3]
    );
    assert_eq!(
        find(K::Not(Box::new(K::Text(text("report"))))).await,
        vec![2, 3]
    );
    assert_eq!(find(K::Not(Box::new(K::Body(text("at"))))).await, vec![3]);
    assert_eq!(
        find(K::Not(Box::new(K::Or(
            Box::new(K::Flag(text("\\Seen"), true)),
            Box::new(K::Header(text("Subject"), text("photo")))
        ))))
        .await,
        vec![2]
    );

    // Across the user's mailboxes: ascending by (mailbox, uid).
    let all = s
        .search(&SearchQuery {
            user: uid,
            mailbox: None,
            key: K::Text(text("report")),
        })
        .await
        .expect("search");
    let got: Vec<(ObjectId, u32)> = all.iter().map(|m| (m.mailbox, m.uid)).collect();
    let mut want = vec![(inbox, 1), (archive, 1)];
    want.sort();
    assert_eq!(got, want);
    assert!(all.iter().all(|m| m.user == uid));
    s.delete_user(uid).await.expect("cleanup");
    s.delete_user(b.user.id).await.expect("cleanup");
}

/// Listings page by id with cursors; `total` counts every match.
pub async fn paging_cursors<S: Store>(s: &S) {
    let tag = unique("tag");
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut u = user_record(&unique(&format!("page{i}.")));
        u.tags = vec![tag.clone()];
        if i == 3 {
            u.tags.push("special".into());
        }
        s.create_user(&u, None, &[]).await.expect("create");
        ids.push(u.id);
    }
    ids.sort();
    let query = |paging: Paging| UserQuery {
        query: None,
        tags: vec![tag.clone()],
        required_tags: Vec::new(),
        forward: None,
        paging,
    };
    let ids_of = |p: &Page<User>| p.results.iter().map(|u| u.id).collect::<Vec<_>>();
    let p1 = s
        .list_users(&query(Paging {
            limit: 2,
            ..Paging::default()
        }))
        .await
        .expect("page 1");
    assert_eq!(p1.total, 5);
    assert_eq!(ids_of(&p1), ids[0..2]);
    assert!(p1.previous.is_none());
    let next = p1.next.clone().expect("a next page");
    let p2 = s
        .list_users(&query(Paging {
            limit: 2,
            next: Some(next),
            ..Paging::default()
        }))
        .await
        .expect("page 2");
    assert_eq!(ids_of(&p2), ids[2..4]);
    assert_eq!(p2.total, 5);
    assert!(p2.previous.is_some());
    let p3 = s
        .list_users(&query(Paging {
            limit: 2,
            next: p2.next.clone(),
            ..Paging::default()
        }))
        .await
        .expect("page 3");
    assert_eq!(ids_of(&p3), ids[4..5]);
    assert!(p3.next.is_none());
    let back = s
        .list_users(&query(Paging {
            limit: 2,
            previous: p3.previous.clone(),
            ..Paging::default()
        }))
        .await
        .expect("back");
    assert_eq!(ids_of(&back), ids[2..4]);
    let back1 = s
        .list_users(&query(Paging {
            limit: 2,
            previous: back.previous.clone(),
            ..Paging::default()
        }))
        .await
        .expect("back to 1");
    assert_eq!(ids_of(&back1), ids[0..2]);
    // A cursor the store never issued is the client's mistake, named as such.
    for (next, previous) in [(Some("garbage"), None), (None, Some("garbage"))] {
        let bad = s
            .list_users(&query(Paging {
                limit: 2,
                next: next.map(String::from),
                previous: previous.map(String::from),
                ..Paging::default()
            }))
            .await;
        assert!(
            matches!(bad, Err(StoreError::InvalidCursor(_))),
            "malformed cursor: {:?}",
            bad.map(|p| p.results.len())
        );
    }
    assert!(back1.previous.is_none());
    let numbered = s
        .list_users(&query(Paging {
            limit: 2,
            page: Some(2),
            ..Paging::default()
        }))
        .await
        .expect("page number");
    assert_eq!(ids_of(&numbered), ids[2..4]);
    let everything = s.list_users(&query(Paging::default())).await.expect("all");
    assert_eq!(ids_of(&everything), ids);
    let special = s
        .list_users(&UserQuery {
            query: None,
            tags: Vec::new(),
            required_tags: vec![tag.clone(), "SPECIAL".into()],
            forward: None,
            paging: Paging::default(),
        })
        .await
        .expect("required tags");
    assert_eq!(special.total, 1);
    let by_name = s
        .list_users(&UserQuery {
            query: Some("PAGE2.".into()),
            tags: vec![tag.clone()],
            required_tags: Vec::new(),
            forward: None,
            paging: Paging::default(),
        })
        .await
        .expect("query");
    assert_eq!(by_name.total, 1, "query is a case-insensitive substring");
    for id in ids {
        s.delete_user(id).await.expect("cleanup");
    }
}

/// Threads: by referenced ids first, then by a recent subject, else new.
pub async fn thread_resolution<S: Store>(s: &S) {
    let a = account(s, "threads").await;
    let b = account(s, "threads.other").await;
    let u = a.user.id;
    let ids = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let t1 = s
        .resolve_thread(u, "hello world", &ids(&["a@x"]))
        .await
        .expect("t1");
    assert_eq!(
        s.resolve_thread(u, "something else", &ids(&["b@x", "a@x"]))
            .await
            .expect("by id"),
        t1
    );
    assert_eq!(
        s.resolve_thread(u, "", &ids(&["b@x"]))
            .await
            .expect("learned id"),
        t1
    );
    assert_eq!(
        s.resolve_thread(u, "hello world", &[])
            .await
            .expect("by subject"),
        t1
    );
    let t2 = s.resolve_thread(u, "other subject", &[]).await.expect("t2");
    assert_ne!(t2, t1);
    let t3 = s.resolve_thread(u, "", &[]).await.expect("t3");
    let t4 = s.resolve_thread(u, "", &[]).await.expect("t4");
    assert_ne!(t3, t4, "an empty subject never joins a thread");
    assert_ne!(
        s.resolve_thread(b.user.id, "hello world", &ids(&["a@x"]))
            .await
            .expect("other user"),
        t1
    );
    // An append that asks the store to resolve does it in its own transaction.
    let resolving = |subject: &str, refs: &[&str], raw: &[u8]| {
        let mut r = request(u, a.inbox.id, raw, &[]);
        r.thread = ThreadRef::Resolve {
            subject: subject.to_string(),
            ids: ids(refs),
        };
        r
    };
    let joined = s
        .append(resolving("unrelated", &["a@x"], &simple(1)))
        .await
        .expect("append joining by id");
    let fresh = s
        .append(resolving("a new topic", &["new@x"], &simple(2)))
        .await
        .expect("append starting a thread");
    let reply = s
        .append(resolving("", &["new@x"], &simple(3)))
        .await
        .expect("append of a reply");
    let rows = all_meta(s, a.inbox.id).await;
    let thread_of = |uid: u32| rows.iter().find(|m| m.uid == uid).map(|m| m.thread);
    assert_eq!(thread_of(joined.uid), Some(t1));
    assert_ne!(thread_of(fresh.uid), Some(t1));
    assert_eq!(thread_of(reply.uid), thread_of(fresh.uid));
    s.delete_user(u).await.expect("cleanup");
    s.delete_user(b.user.id).await.expect("cleanup");
}

/// Deleting a user removes everything it owns and releases its blobs, and only those.
pub async fn delete_user_cleanup<S: Store>(s: &S) {
    let base = s.blob_count().await.expect("count");
    let a = account(s, "gone").await;
    let b = account(s, "stays").await;
    let att = noise(8000, 21);
    let hash = BlobHash::of(&att);
    let extra = address_record(
        Some(a.user.id),
        &format!("{}@example.net", unique("extra")),
        false,
    );
    s.create_address(&extra).await.expect("address");
    let ra = append(
        s,
        a.user.id,
        a.inbox.id,
        &attachment_message("Mine", &unique("g."), &att, 76),
        &[],
    )
    .await;
    append(s, a.user.id, a.archive.id, &simple(1), &[]).await;
    s.resolve_thread(a.user.id, "subject", &["id@x".to_string()])
        .await
        .expect("thread");
    let rb = append(
        s,
        b.user.id,
        b.inbox.id,
        &attachment_message("Theirs", &unique("g."), &att, 64),
        &[],
    )
    .await;
    assert_eq!(s.blob_count().await.expect("count"), base + 4);

    assert!(s.delete_user(a.user.id).await.expect("delete"));
    assert!(s.get_user(a.user.id).await.expect("get").is_none());
    assert!(s
        .find_address(&a.address.addrview)
        .await
        .expect("find")
        .is_none());
    assert!(s
        .find_address(&extra.addrview)
        .await
        .expect("find")
        .is_none());
    assert!(s
        .list_user_addresses(a.user.id)
        .await
        .expect("list")
        .is_empty());
    assert!(s.list_mailboxes(a.user.id).await.expect("list").is_empty());
    assert!(s
        .get_message_meta_by_id(a.user.id, ra.id)
        .await
        .expect("meta")
        .is_none());
    assert!(s.list_uids(a.inbox.id).await.expect("uids").is_empty());
    assert!(s
        .journal_since(a.inbox.id, 0)
        .await
        .expect("journal")
        .is_empty());
    assert!(s
        .user_journal_after(a.user.id, 0, 0)
        .await
        .expect("journal")
        .is_empty());
    assert_eq!(
        s.blob_len(&hash).await.expect("len"),
        Some(8000),
        "b still uses the attachment"
    );
    assert_eq!(s.blob_count().await.expect("count"), base + 2);
    assert!(s
        .get_message_meta_by_id(b.user.id, rb.id)
        .await
        .expect("meta")
        .is_some());
    assert!(s.delete_user(b.user.id).await.expect("delete"));
    assert_eq!(s.blob_count().await.expect("count"), base);
}

/// dedupe_message_id: an existing Message-ID in the mailbox returns its uid and stores nothing.
pub async fn dedupe_message_id<S: Store>(s: &S) {
    let a = account(s, "dedupe").await;
    let raw = text_message(
        "Once",
        "only once",
        &unique("dup."),
        "Mon, 01 Jan 2024 00:00:00 +0000",
        "",
    );
    let mut req = request(a.user.id, a.inbox.id, &raw, &[]);
    req.dedupe_message_id = true;
    let first = s.append(req.clone()).await.expect("first");
    assert!(!first.duplicate);
    let used = storage(s, a.user.id).await;
    let blobs = s.blob_count().await.expect("count");
    let modseq = s
        .get_mailbox(a.user.id, a.inbox.id)
        .await
        .expect("get")
        .expect("exists")
        .modify_index;
    req.id = ObjectId::new();
    let again = s.append(req.clone()).await.expect("again");
    assert!(again.duplicate);
    assert_eq!((again.uid, again.id), (first.uid, first.id));
    assert_eq!(
        s.list_uids(a.inbox.id).await.expect("uids"),
        vec![first.uid]
    );
    assert_eq!(storage(s, a.user.id).await, used);
    assert_eq!(s.blob_count().await.expect("count"), blobs);
    let mb = s
        .get_mailbox(a.user.id, a.inbox.id)
        .await
        .expect("get")
        .expect("exists");
    assert_eq!(mb.modify_index, modseq, "a duplicate changes nothing");
    // Without the option, or in another mailbox, it is stored.
    req.id = ObjectId::new();
    req.dedupe_message_id = false;
    assert_eq!(
        s.append(req.clone()).await.expect("plain").uid,
        first.uid + 1
    );
    req.id = ObjectId::new();
    req.dedupe_message_id = true;
    req.mailbox = a.archive.id;
    let there = s.append(req).await.expect("other mailbox");
    assert!(!there.duplicate);
    assert_eq!(there.uid, 1);
    s.delete_user(a.user.id).await.expect("cleanup");
}

/// API attributes (meta_data, expires) and the retention sweep's query.
pub async fn attributes_and_expiry<S: Store>(s: &S) {
    let a = account(s, "attrs").await;
    let r = append(s, a.user.id, a.inbox.id, &simple(1), &[]).await;
    let past = Utc::now() - chrono::Duration::hours(1);
    assert!(s
        .update_message_attributes(a.inbox.id, r.uid, Some(json!({"a": 1})), Some(Some(past)))
        .await
        .expect("update"));
    let m = s
        .get_message_meta_by_id(a.user.id, r.id)
        .await
        .expect("meta")
        .expect("exists");
    assert_eq!(m.meta_data, json!({"a": 1}));
    assert_eq!(m.expires.map(ms), Some(ms(past)));
    let due = s.expired_messages(Utc::now(), 1000).await.expect("expired");
    assert!(due.contains(&(a.inbox.id, r.uid)));
    assert!(s
        .update_message_attributes(a.inbox.id, r.uid, None, Some(None))
        .await
        .expect("clear expiry"));
    let m = s
        .get_message_meta_by_id(a.user.id, r.id)
        .await
        .expect("meta")
        .expect("exists");
    assert_eq!(
        m.meta_data,
        json!({"a": 1}),
        "meta_data kept when not given"
    );
    assert!(m.expires.is_none());
    let due = s.expired_messages(Utc::now(), 1000).await.expect("expired");
    assert!(!due.contains(&(a.inbox.id, r.uid)));
    assert!(!s
        .update_message_attributes(a.inbox.id, 999, Some(json!({})), None)
        .await
        .expect("missing"));
    s.delete_user(a.user.id).await.expect("cleanup");
}

/// recalculate_storage recounts from the stored messages.
pub async fn recalculate_storage<S: Store>(s: &S) {
    let a = account(s, "recalc").await;
    append(s, a.user.id, a.inbox.id, &simple(1), &[]).await;
    append(s, a.user.id, a.archive.id, &simple(2), &[]).await;
    let sum: u64 = all_meta(s, a.inbox.id)
        .await
        .iter()
        .chain(all_meta(s, a.archive.id).await.iter())
        .map(|m| m.size)
        .sum();
    assert_eq!(s.recalculate_storage(a.user.id).await.expect("recalc"), sum);
    assert_eq!(storage(s, a.user.id).await, sum);
    assert!(s.recalculate_storage(ObjectId::new()).await.is_err());
    s.delete_user(a.user.id).await.expect("cleanup");
}
