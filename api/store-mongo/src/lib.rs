//! Eider's scale-out backend: every Store trait on MongoDB, and the Bus on Redis.
//!
//! - Collections follow WildDuck's (users, addresses, mailboxes, messages, journal,
//!   threads, …); every message query carries the shard key (`mailbox`, `uid`), every
//!   per-user collection carries `user`. `docs/scale-out.md` lists them with their
//!   indexes.
//! - Every multi-document change runs in a transaction (snapshot reads, majority
//!   writes) that is retried as a whole on write conflicts; a call returns only after
//!   its commit. UIDs and MODSEQs come from atomic `$inc` on the mailbox document
//!   inside that transaction, so concurrent writers to one mailbox serialize there.
//! - Message contents are shared by copies and reference-counted; attachment and
//!   skeleton bytes live in a content-addressed, chunked, compressed blob store
//!   (`blobs` + `blobchunks`), also reference-counted.
//! - [`RedisBus`] carries journal beacons between instances over pub/sub and keeps
//!   the shared counters (rate limits, access tokens) in Redis.

mod addresses;
mod audit;
mod auth;
mod blobs;
mod codec;
mod compress;
mod content;
mod dkim;
mod error;
mod files;
mod filters;
mod journal;
mod lifecycle;
mod mailboxes;
mod messages;
mod metadata;
mod observe;
mod operator;
mod paging;
mod queue;
mod redis_bus;
mod register;
mod search;
mod threads;
mod users;

use std::time::Duration;

use eider_service::{StoreError, StoreResult};
use mongodb::bson::{doc, Document};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, Collection, Database, IndexModel};

pub use observe::{CommandLog, SentCommand};
pub use redis_bus::{RedisBus, RedisBusOptions};

use error::Result;

/// Database used when the connection string names none.
pub const DEFAULT_DATABASE: &str = "eider";

/// Collection names.
pub(crate) mod names {
    pub const USERS: &str = "users";
    pub const ADDRESSES: &str = "addresses";
    pub const DOMAIN_ALIASES: &str = "domainaliases";
    pub const MAILBOXES: &str = "mailboxes";
    pub const SUBSCRIPTIONS: &str = "subscriptions";
    pub const MESSAGES: &str = "messages";
    pub const CONTENTS: &str = "contents";
    pub const BLOBS: &str = "blobs";
    pub const BLOB_CHUNKS: &str = "blobchunks";
    pub const JOURNAL: &str = "journal";
    pub const THREADS: &str = "threads";
    pub const THREAD_REFS: &str = "threadrefs";
    pub const COUNTERS: &str = "counters";
    pub const FILTERS: &str = "filters";
    pub const AUTOREPLIES: &str = "autoreplies";
    pub const ASPS: &str = "asps";
    pub const TWO_FACTOR: &str = "twofactor";
    pub const ACCESS_TOKENS: &str = "accesstokens";
    pub const AUTHLOG: &str = "authlog";
    pub const ADDRESS_REGISTER: &str = "addressregister";
    pub const FILES: &str = "storagefiles";
    pub const AUDITS: &str = "audits";
    pub const QUEUE: &str = "queue";
    pub const LEASES: &str = "leases";
    pub const ARCHIVED: &str = "archived";
    pub const DELETED_USERS: &str = "deletedusers";
    pub const DKIM: &str = "dkim";
    pub const CERTS: &str = "certs";
    pub const SETTINGS: &str = "settings";
    pub const DOMAIN_ACCESS: &str = "domainaccess";
    pub const WEBHOOKS: &str = "webhooks";
    pub const METADATA: &str = "metadata";
}

/// The MongoDB store. Cheap to clone (the driver's client is a handle to its pool).
#[derive(Clone)]
pub struct MongoStore {
    client: Client,
    db: Database,
    /// Whether the server accepted the `$text` index on contents (MongoDB does,
    /// some wire-compatible servers do not); searches use it as a pre-filter.
    text_index: bool,
}

impl MongoStore {
    /// Connect with a `mongodb://` (or `mongodb+srv://`) URL, check the server answers,
    /// and create the collections' indexes (a no-op when they exist).
    pub async fn connect(url: &str) -> StoreResult<MongoStore> {
        Self::connect_inner(url, None)
            .await
            .map_err(StoreError::from)
    }

    /// Connect like `connect`, recording every command sent into `log` (round-trip
    /// counts and query plans in measurements and tests).
    pub async fn connect_logged(url: &str, log: &CommandLog) -> StoreResult<MongoStore> {
        Self::connect_monitored(url, log.handler()).await
    }

    /// `connect` with the driver's command monitoring: `handler` sees every command
    /// sent (the shard-key test records them over the conformance run).
    pub async fn connect_monitored(
        url: &str,
        handler: mongodb::event::EventHandler<mongodb::event::command::CommandEvent>,
    ) -> StoreResult<MongoStore> {
        Self::connect_inner(url, Some(handler))
            .await
            .map_err(StoreError::from)
    }

    async fn connect_inner(
        url: &str,
        monitor: Option<mongodb::event::EventHandler<mongodb::event::command::CommandEvent>>,
    ) -> Result<MongoStore> {
        let mut opts = ClientOptions::parse(url).await?;
        opts.command_event_handler = monitor;
        if opts.app_name.is_none() {
            opts.app_name = Some("eider".into());
        }
        if opts.server_selection_timeout.is_none() {
            opts.server_selection_timeout = Some(Duration::from_secs(15));
        }
        // A call that returns has been durably committed (as with the embedded store):
        // writes outside transactions wait for a majority too, unless the URL says otherwise.
        if opts.write_concern.is_none() {
            opts.write_concern = Some(mongodb::options::WriteConcern::majority());
        }
        let name = opts
            .default_database
            .clone()
            .unwrap_or_else(|| DEFAULT_DATABASE.to_string());
        let client = Client::with_options(opts)?;
        let db = client.database(&name);
        let hello = db.run_command(doc! { "hello": 1 }).await?;
        // Multi-document transactions need a replica set (or a sharded cluster).
        let replicated =
            hello.contains_key("setName") || hello.get_str("msg").is_ok_and(|m| m == "isdbgrid");
        if !replicated {
            return Err(StoreError::Backend(
                "MongoDB must run as a replica set (a single node is fine: \
                 mongod --replSet rs0, then rs.initiate()) or a sharded cluster: \
                 Eider uses multi-document transactions"
                    .into(),
            )
            .into());
        }
        let mut store = MongoStore {
            client,
            db,
            text_index: false,
        };
        store.ensure_indexes().await?;
        store.backfill_subscriptions().await?;
        tracing::info!(
            database = %name,
            text_index = store.text_index,
            "mongodb store connected"
        );
        Ok(store)
    }

    /// The database this store uses.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Whether `$text` pre-filtering is available on this server.
    pub fn has_text_index(&self) -> bool {
        self.text_index
    }

    pub(crate) fn coll(&self, name: &str) -> Collection<Document> {
        self.db.collection(name)
    }

    async fn ensure_indexes(&mut self) -> Result<()> {
        use names::*;
        let unique = |keys: Document, name: &str| {
            IndexModel::builder()
                .keys(keys)
                .options(
                    IndexOptions::builder()
                        .unique(true)
                        .name(name.to_string())
                        .build(),
                )
                .build()
        };
        let plain = |keys: Document, name: &str| {
            IndexModel::builder()
                .keys(keys)
                .options(IndexOptions::builder().name(name.to_string()).build())
                .build()
        };
        let sparse = |keys: Document, name: &str| {
            IndexModel::builder()
                .keys(keys)
                .options(
                    IndexOptions::builder()
                        .name(name.to_string())
                        .sparse(true)
                        .build(),
                )
                .build()
        };
        let plan: Vec<(&str, Vec<IndexModel>)> = vec![
            (
                USERS,
                vec![
                    unique(doc! { "unameview": 1 }, "unameview"),
                    plain(doc! { "tagsview": 1 }, "tagsview"),
                ],
            ),
            (
                ADDRESSES,
                vec![
                    unique(doc! { "addrview": 1 }, "addrview"),
                    plain(doc! { "user": 1 }, "user"),
                ],
            ),
            (DOMAIN_ALIASES, vec![unique(doc! { "alias": 1 }, "alias")]),
            (DKIM, vec![unique(doc! { "domain": 1 }, "domain")]),
            (CERTS, vec![unique(doc! { "servername": 1 }, "servername")]),
            (SETTINGS, vec![unique(doc! { "key": 1 }, "key")]),
            (
                DOMAIN_ACCESS,
                vec![
                    unique(doc! { "tagview": 1, "domain": 1 }, "tagview_domain"),
                    plain(doc! { "domain": 1 }, "domain"),
                ],
            ),
            (
                WEBHOOKS,
                vec![
                    plain(doc! { "type": 1 }, "type"),
                    plain(doc! { "user": 1 }, "user"),
                ],
            ),
            (
                MAILBOXES,
                vec![unique(doc! { "user": 1, "path": 1 }, "user_path")],
            ),
            (
                SUBSCRIPTIONS,
                vec![unique(doc! { "user": 1, "path": 1 }, "user_path")],
            ),
            (
                METADATA,
                vec![unique(
                    doc! { "user": 1, "mailbox": 1, "name": 1 },
                    "user_mailbox_name",
                )],
            ),
            (
                MESSAGES,
                vec![
                    // The shard key and the range every UID query scans. Two fields only:
                    // some wire-compatible servers answer `$lte` wrongly on three.
                    unique(doc! { "mailbox": 1, "uid": 1 }, "mailbox_uid"),
                    plain(doc! { "mailbox": 1, "modseq": 1 }, "mailbox_modseq"),
                    sparse(doc! { "mailbox": 1, "msgid": 1 }, "mailbox_msgid"),
                    plain(doc! { "user": 1 }, "user"),
                    sparse(doc! { "exp": 1 }, "expires"),
                    // The orphaned-thread purge asks whether a thread still has messages.
                    plain(doc! { "user": 1, "thread": 1 }, "user_thread"),
                ],
            ),
            (
                JOURNAL,
                vec![
                    plain(doc! { "mailbox": 1, "modseq": 1 }, "mailbox_modseq"),
                    plain(doc! { "user": 1, "_id": 1 }, "user_id"),
                ],
            ),
            (
                THREADS,
                vec![plain(
                    doc! { "user": 1, "subject": 1, "updated": -1 },
                    "user_subject",
                )],
            ),
            (
                THREAD_REFS,
                vec![
                    unique(doc! { "user": 1, "ref": 1 }, "user_ref"),
                    plain(doc! { "user": 1, "thread": 1 }, "user_thread"),
                ],
            ),
            (
                FILTERS,
                vec![plain(doc! { "user": 1, "_id": 1 }, "user_id")],
            ),
            (ASPS, vec![plain(doc! { "user": 1, "_id": 1 }, "user_id")]),
            (
                ACCESS_TOKENS,
                vec![
                    plain(doc! { "user": 1 }, "user"),
                    plain(doc! { "expires": 1 }, "expires"),
                ],
            ),
            (
                AUTHLOG,
                vec![
                    plain(doc! { "user": 1, "_id": 1 }, "user_id"),
                    plain(doc! { "user": 1, "key": 1, "created": -1 }, "user_key"),
                    plain(doc! { "user": 1, "expires": 1 }, "user_expires"),
                ],
            ),
            (
                ARCHIVED,
                vec![
                    unique(doc! { "user": 1, "aid": 1 }, "user_aid"),
                    plain(doc! { "user": 1, "archived": 1 }, "user_archived"),
                    plain(doc! { "rdate": 1 }, "rdate"),
                ],
            ),
            (
                DELETED_USERS,
                vec![plain(doc! { "deleteAfter": 1 }, "delete_after")],
            ),
            (
                ADDRESS_REGISTER,
                vec![
                    unique(doc! { "user": 1, "addrview": 1 }, "user_addrview"),
                    plain(doc! { "user": 1, "updated": -1 }, "user_updated"),
                    plain(doc! { "user": 1, "terms": 1 }, "user_terms"),
                ],
            ),
            (
                QUEUE,
                vec![
                    plain(doc! { "kind": 1, "nb": 1 }, "kind_nb"),
                    plain(doc! { "kind": 1, "key": 1, "nb": 1 }, "kind_key_nb"),
                    plain(doc! { "grp": 1 }, "grp"),
                ],
            ),
        ];
        for (coll, models) in plan {
            self.coll(coll).create_indexes(models).await?;
        }
        // Full-text pre-filter for SEARCH where the server supports text indexes;
        // without one, searches confirm substrings on the stored text (still exact).
        let text = IndexModel::builder()
            .keys(doc! { "sh": "text", "sb": "text" })
            .options(
                IndexOptions::builder()
                    .name("search_text".to_string())
                    .default_language("none".to_string())
                    .build(),
            )
            .build();
        match self.coll(CONTENTS).create_index(text).await {
            Ok(_) => self.text_index = true,
            Err(e) => {
                tracing::info!(
                    code = ?error::mongo_code(&e),
                    "the server has no $text indexes; searches confirm substrings on stored text"
                );
                self.text_index = false;
            }
        }
        Ok(())
    }
}

/// Run `$body` (which uses the session `$s`) in a transaction, retrying the whole
/// transaction on transient errors (write conflicts) with a short randomized backoff,
/// and the commit on unknown commit results. Evaluates to `Result<T>`.
macro_rules! txn {
    ($store:expr, |$s:ident| $body:block) => {{
        let mut attempt: u32 = 0;
        let started = std::time::Instant::now();
        loop {
            let outcome: $crate::error::Result<_> = async {
                let mut session = $store.client.start_session().await?;
                session
                    .start_transaction()
                    .read_concern(mongodb::options::ReadConcern::snapshot())
                    .write_concern(mongodb::options::WriteConcern::majority())
                    .await?;
                let value = {
                    let $s: &mut mongodb::ClientSession = &mut session;
                    async { $body }.await
                };
                match value {
                    Ok(v) => {
                        $crate::commit(&mut session).await?;
                        Ok(v)
                    }
                    Err(e) => {
                        let _ = session.abort_transaction().await;
                        Err(e)
                    }
                }
            }
            .await;
            match outcome {
                Err(e) if e.is_transient() && $crate::retry_allowed(attempt, started) => {
                    $crate::backoff(attempt).await;
                    attempt += 1;
                }
                other => break other,
            }
        }
    }};
}
pub(crate) use txn;

/// Commit, retrying while the outcome is unknown (e.g. a network error mid-commit).
pub(crate) async fn commit(session: &mut mongodb::ClientSession) -> Result<()> {
    let mut tries = 0;
    loop {
        match session.commit_transaction().await {
            Ok(()) => return Ok(()),
            Err(e)
                if e.contains_label(mongodb::error::UNKNOWN_TRANSACTION_COMMIT_RESULT)
                    && tries < 5 =>
            {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(20 << tries)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// How long a transaction keeps being retried after write conflicts.
const RETRY_FOR: Duration = Duration::from_secs(60);

pub(crate) fn retry_allowed(attempt: u32, started: std::time::Instant) -> bool {
    attempt < 1000 && started.elapsed() < RETRY_FOR
}

/// Randomized exponential backoff: 1–2 ms doubling up to 100–200 ms.
pub(crate) async fn backoff(attempt: u32) {
    let base = 1u64 << attempt.min(7);
    let jitter = rand::random::<u64>() % base.max(1);
    tokio::time::sleep(Duration::from_millis(base + jitter)).await;
}
