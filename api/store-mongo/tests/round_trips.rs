//! Round trips per operation on the MongoDB store, counted with the driver's
//! command monitoring, and the query plan of every query shape they send.
//!
//! Each command is one round trip to the server, and on a slow server (SecantusDB,
//! or a MongoDB across a network) the count, not the bytes, sets the time of a
//! read. The bounds below fail when a read of one message goes back to one query
//! per blob or per chunk, or when a query shape falls back to a collection scan.
//! `docs/scale-out.md` records the counts this test prints.

mod support;

use std::sync::Arc;

use eider_service::model::{FetchWant, UidSet};
use eider_service::{
    AppendOptions, Deliverer, DeliveryConfig, InProcessBus, MailEnvelope, NewUser, RecipientCheck,
    Service, ServiceConfig,
};
use eider_store_mongo::{CommandLog, MongoStore, SentCommand};
use mongodb::bson::{doc, Bson, Document};

/// A multipart message: text, a small attachment and one of `kb` KB (base64).
fn message(tag: &str, kb: usize) -> Vec<u8> {
    let mut m = format!(
        "From: a@example.com\r\nTo: rt@example.com\r\nSubject: Report {tag}\r\n\
         Message-ID: <{tag}@rt.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"x\"\r\n\r\n--x\r\n\
         Content-Type: text/plain\r\n\r\nFigures for {tag} attached.\r\n--x\r\n\
         Content-Type: text/csv; name=\"s.csv\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         YSxiLGMKMSwyLDMK\r\n--x\r\n\
         Content-Type: application/octet-stream; name=\"r.bin\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n"
    );
    // Pseudo-random bytes: incompressible, like most attachments.
    let mut x: u32 = 0x9e37_79b9 ^ kb as u32;
    let mut raw = Vec::with_capacity(kb * 1024);
    for _ in 0..kb * 1024 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        raw.push(x as u8);
    }
    let b64 = base64_lines(&raw);
    m.push_str(&b64);
    m.push_str("--x--\r\n");
    m.into_bytes()
}

fn base64_lines(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for line in data.chunks(57) {
        for c in line.chunks(3) {
            let n = (u32::from(c[0]) << 16)
                | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                | u32::from(*c.get(2).unwrap_or(&0));
            for i in 0..4 {
                if i <= c.len() {
                    out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out.push_str("\r\n");
    }
    out
}

/// Commands that are round trips of the operation (the driver's own handshakes and
/// monitoring are not command events; `endSessions` runs at shutdown).
fn trips(log: &CommandLog) -> Vec<SentCommand> {
    log.take()
        .into_iter()
        .filter(|c| c.name != "endSessions")
        .collect()
}

fn describe(cmds: &[SentCommand]) -> String {
    cmds.iter()
        .map(|c| match &c.collection {
            Some(coll) => format!("{} {coll}", c.name),
            None => c.name.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// (collection, filter, sort) of a command that selects documents.
fn shape(c: &SentCommand) -> Option<(String, Document, Option<Document>)> {
    let coll = c.collection.clone()?;
    let cmd = &c.command;
    let first = |key: &str, field: &str| -> Option<Document> {
        match cmd.get_array(key).ok()?.first()? {
            Bson::Document(d) => d.get_document(field).ok().cloned(),
            _ => None,
        }
    };
    let filter = match c.name.as_str() {
        "find" => cmd.get_document("filter").ok().cloned(),
        "findAndModify" => cmd.get_document("query").ok().cloned(),
        "update" => first("updates", "q"),
        "delete" => first("deletes", "q"),
        "aggregate" => first("pipeline", "$match"),
        _ => None,
    }?;
    let sort = cmd.get_document("sort").ok().cloned();
    Some((coll, filter, sort))
}

fn stages(plan: &Document, out: &mut Vec<String>) {
    if let Ok(s) = plan.get_str("stage") {
        out.push(s.to_string());
    }
    for key in ["inputStage", "queryPlan"] {
        if let Ok(d) = plan.get_document(key) {
            stages(d, out);
        }
    }
    if let Ok(a) = plan.get_array("inputStages") {
        for d in a.iter().filter_map(Bson::as_document) {
            stages(d, out);
        }
    }
}

/// The winning plan's stages of each distinct query shape in `cmds`, by explain.
async fn plans(store: &MongoStore, cmds: &[SentCommand]) -> Vec<(String, String, String)> {
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for c in cmds {
        let Some((coll, filter, sort)) = shape(c) else {
            continue;
        };
        if filter.is_empty() {
            continue;
        }
        let key = format!("{coll} {}", shape_of(&filter));
        if seen.contains(&key) {
            continue;
        }
        seen.push(key.clone());
        let mut find = doc! { "find": &coll, "filter": filter.clone() };
        if let Some(s) = sort {
            find.insert("sort", s);
        }
        let r = store
            .database()
            .run_command(doc! { "explain": find, "verbosity": "queryPlanner" })
            .await
            .expect("explain");
        let mut st = Vec::new();
        if let Ok(p) = r
            .get_document("queryPlanner")
            .and_then(|q| q.get_document("winningPlan"))
        {
            stages(p, &mut st);
        }
        out.push((coll, shape_of(&filter), st.join(" < ")));
    }
    out
}

/// A filter with its values replaced by their kind: the query shape.
fn shape_of(filter: &Document) -> String {
    fn walk(v: &Bson) -> String {
        match v {
            Bson::Document(d) => {
                let inner: Vec<String> =
                    d.iter().map(|(k, v)| format!("{k}: {}", walk(v))).collect();
                format!("{{{}}}", inner.join(", "))
            }
            Bson::Array(a) => format!("[{}]", a.first().map(walk).unwrap_or_default()),
            _ => "_".to_string(),
        }
    }
    walk(&Bson::Document(filter.clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trips_per_operation_are_bounded() {
    let Some(url) = support::service_url("EIDER_TEST_MONGO_URL") else {
        return;
    };
    let (url, _) = support::fresh_database(&url, "trips");
    let log = CommandLog::new();
    let store = Arc::new(
        MongoStore::connect_logged(&url, &log)
            .await
            .expect("connect"),
    );
    let service = Service::new(
        store.clone(),
        Arc::new(InProcessBus::new()),
        ServiceConfig::default(),
    );
    let user = service
        .create_user(NewUser {
            username: "rt".into(),
            address: Some("rt@example.com".into()),
            ..NewUser::default()
        })
        .await
        .expect("create user");
    let inbox = service.find_mailbox(user.id, "INBOX").await.expect("inbox");
    // Some history, so that scans would have something to scan.
    for i in 0..20 {
        service
            .append(
                user.id,
                inbox.id,
                message(&format!("old{i}"), 40),
                AppendOptions::default(),
            )
            .await
            .expect("append");
    }
    let mut report: Vec<(String, usize, String)> = Vec::new();
    let mut all: Vec<SentCommand> = Vec::new();
    let mut record = |name: &str, cmds: Vec<SentCommand>| -> usize {
        let n = cmds.len();
        report.push((name.to_string(), n, describe(&cmds)));
        all.extend(cmds);
        n
    };

    // Upload (API / IMAP APPEND) of a message with a 600 KB attachment (3 chunks).
    trips(&log);
    let raw = message("mid", 600);
    let small = service
        .append(user.id, inbox.id, raw.clone(), AppendOptions::default())
        .await
        .expect("append");
    let upload = record("upload (600 KB attachment)", trips(&log));

    // LMTP delivery of a message with a 100 KB attachment.
    let deliverer = Deliverer::new(service.clone(), DeliveryConfig::default());
    let RecipientCheck::Accepted(rcpt) = deliverer
        .check_recipient("rt@example.com")
        .await
        .expect("rcpt")
    else {
        panic!("recipient refused");
    };
    record("LMTP RCPT check", trips(&log));
    let outcomes = deliverer
        .deliver(
            &MailEnvelope {
                sender: Some("a@example.com".into()),
                origin: None,
            },
            message("lmtp", 100),
            &[*rcpt],
        )
        .await
        .expect("deliver");
    assert_eq!(outcomes.len(), 1);
    let lmtp = record("LMTP delivery (100 KB attachment)", trips(&log));

    // A 2.5 MB attachment: ten chunks, read through the streaming path.
    let big_raw = message("big", 2500);
    let big = service
        .append(user.id, inbox.id, big_raw.clone(), AppendOptions::default())
        .await
        .expect("append big");
    record("upload (2.5 MB attachment)", trips(&log));

    // FETCH BODY[] of one message: the batch read, then the reader.
    let read = |uid: u32| {
        let service = service.clone();
        let (user, mailbox) = (user.id, inbox.id);
        async move {
            let rows = service
                .fetch_messages(
                    user,
                    mailbox,
                    &UidSet::from_uids([uid]),
                    FetchWant {
                        imap: false,
                        body: true,
                    },
                )
                .await
                .expect("fetch");
            let body = rows[0].body.as_ref().expect("body");
            service
                .content_reader(body, 0, rows[0].meta.size)
                .read_all()
                .await
                .expect("read")
        }
    };
    assert_eq!(read(small.uid).await, raw, "bytes are exact");
    let body_small = record("FETCH BODY[] (600 KB attachment)", trips(&log));
    assert_eq!(read(big.uid).await, big_raw, "bytes are exact");
    let body_big = record("FETCH BODY[] (2.5 MB attachment)", trips(&log));

    // FETCH of metadata (FLAGS UID RFC822.SIZE ENVELOPE BODYSTRUCTURE), all 23.
    let rows = service
        .fetch_messages(
            user.id,
            inbox.id,
            &UidSet::all(),
            FetchWant {
                imap: true,
                body: false,
            },
        )
        .await
        .expect("fetch");
    assert_eq!(rows.len(), 23);
    let meta = record("FETCH 1:* metadata (23 messages)", trips(&log));

    // Whole-mailbox body fetch: contents in one query, chunks once per message.
    let rows = service
        .fetch_messages(
            user.id,
            inbox.id,
            &UidSet::all(),
            FetchWant {
                imap: false,
                body: true,
            },
        )
        .await
        .expect("fetch");
    record("FETCH 1:* BODY[] batch read (23 messages)", trips(&log));
    drop(rows);

    // One page of the message list (HTTP GET .../messages, 20 rows).
    let opts = eider_service::api::MessageListOptions {
        unseen: false,
        order: eider_service::model::SortOrder::Descending,
        page: eider_service::api::PageRequest {
            limit: 20,
            next: None,
            previous: None,
            page: 1,
        },
    };
    let (_, page) = service
        .list_mailbox_messages(user.id, inbox.id, &opts)
        .await
        .expect("list");
    assert_eq!(page.messages.len(), 20);
    let list = record("message list page (20 rows)", trips(&log));

    eprintln!("\nround trips per operation:");
    for (name, n, what) in &report {
        eprintln!("  {name}: {n}  [{what}]");
    }
    let plans = plans(&store, &all).await;
    eprintln!("\nquery plans:");
    let mut scans = Vec::new();
    for (coll, shape, stages) in &plans {
        eprintln!("  {coll} {shape}: {stages}");
        if stages.contains("COLLSCAN") {
            scans.push(format!("{coll} {shape}"));
        }
    }

    // A message read: the mailbox (the service checks it), messages row, content,
    // then all chunks of its skeleton and attachments by key, whatever their number.
    assert!(
        body_small <= 4,
        "FETCH BODY[] of one message took {body_small} round trips"
    );
    // Larger messages stream: one round trip per MiB of attachment, not per chunk.
    assert!(
        body_big <= 8,
        "FETCH BODY[] of a 2.5 MB message took {body_big} round trips"
    );
    assert!(meta <= 3, "FETCH metadata took {meta} round trips");
    // The mailbox, its page of UIDs by range, the rows and contents of the page, and
    // the total from the mailbox counters (instead of every UID of the mailbox).
    assert!(list <= 5, "a message list page took {list} round trips");
    // Writes: thread, quota and duplicate checks, the chunks in one insert, then one
    // transaction (about a dozen commands); the counts printed above are the record.
    assert!(upload <= 22, "an upload took {upload} round trips");
    assert!(lmtp <= 27, "an LMTP delivery took {lmtp} round trips");
    assert!(scans.is_empty(), "collection scans: {scans:?}");
}
