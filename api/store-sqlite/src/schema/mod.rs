//! Connection settings and the versioned schema.
//!
//! `PRAGMA user_version` records how many scripts of [`MIGRATIONS`] have run; opening
//! a database runs the missing ones in order, each in its own transaction. Scripts are
//! append-only: a released script is never edited, a change is a new script.

use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{Result, SqliteError};
use crate::Synchronous;

/// Schema scripts; index + 1 is the `user_version` after the script ran.
const MIGRATIONS: &[&str] = &[
    V1,
    include_str!("v2_filters.sql"),
    include_str!("v3_auth.sql"),
    include_str!("v4_address_register.sql"),
    include_str!("v5_imap_dates.sql"),
    include_str!("v6_fetch.sql"),
    include_str!("v7_files.sql"),
    include_str!("v8_audits.sql"),
    include_str!("v9_archive_leases.sql"),
    include_str!("v10_deleted_users.sql"),
    include_str!("v11_queue.sql"),
    include_str!("v12_dkim_certs.sql"),
    include_str!("v13_operator.sql"),
    include_str!("v14_sort_keys.sql"),
    include_str!("v15_journal_prune.sql"),
    include_str!("v16_metadata.sql"),
    include_str!("v17_listing.sql"),
];

/// Foreign keys are not enforced: every reference is maintained by the code that
/// writes it (and counted: `refcount` columns), and `SqliteStore::verify` checks them
/// all. Enforcement would need reverse indexes (blob → contents, content → messages)
/// that nothing else reads, on the hottest write path.
const V1: &str = r#"
CREATE TABLE users (
    id            BLOB PRIMARY KEY,      -- 12-byte ObjectId
    username      TEXT NOT NULL,
    unameview     TEXT NOT NULL UNIQUE,
    name          TEXT,
    address       TEXT NOT NULL,
    password      TEXT,
    quota         INTEGER NOT NULL,
    storage_used  INTEGER NOT NULL,
    disabled      INTEGER NOT NULL,
    suspended     INTEGER NOT NULL,
    tags          TEXT NOT NULL,         -- JSON array
    meta_data     TEXT NOT NULL,         -- JSON
    internal_data TEXT NOT NULL,         -- JSON
    profile       TEXT NOT NULL,         -- JSON (UserProfile)
    created       INTEGER NOT NULL       -- ms since the epoch, like every date here
);

CREATE TABLE addresses (
    id            BLOB PRIMARY KEY,
    user          BLOB,                  -- NULL for forwarded addresses
    address       TEXT NOT NULL,
    addrview      TEXT NOT NULL UNIQUE,
    name          TEXT,
    main          INTEGER NOT NULL,
    tags          TEXT NOT NULL,
    targets       TEXT NOT NULL,
    forwards      INTEGER,
    meta_data     TEXT NOT NULL,
    internal_data TEXT NOT NULL,
    created       INTEGER NOT NULL
);
CREATE INDEX addresses_user ON addresses(user);

CREATE TABLE domain_aliases (
    id      BLOB PRIMARY KEY,
    alias   TEXT NOT NULL UNIQUE,
    domain  TEXT NOT NULL,
    created INTEGER NOT NULL
);

CREATE TABLE mailboxes (
    id           BLOB PRIMARY KEY,
    user         BLOB NOT NULL,
    path         TEXT NOT NULL,
    special_use  TEXT,
    uid_validity INTEGER NOT NULL,
    uid_next     INTEGER NOT NULL,
    modify_index INTEGER NOT NULL,
    subscribed   INTEGER NOT NULL,
    retention    INTEGER NOT NULL,
    hidden       INTEGER NOT NULL,
    created      INTEGER NOT NULL,
    -- Kept in step by every message change: the row is written anyway for MODSEQ,
    -- so STATUS and the API's counters cost one row read.
    total        INTEGER NOT NULL DEFAULT 0,
    unseen       INTEGER NOT NULL DEFAULT 0,
    size         INTEGER NOT NULL DEFAULT 0,
    UNIQUE (user, path)
);

CREATE TABLE threads (
    id      BLOB PRIMARY KEY,
    user    BLOB NOT NULL,
    subject TEXT NOT NULL,               -- normalized thread subject
    updated INTEGER NOT NULL
);
CREATE INDEX threads_subject ON threads(user, subject, updated);

-- Message-ID / References ids seen by a user, and the thread they belong to.
CREATE TABLE thread_refs (
    user   BLOB NOT NULL,
    ref    TEXT NOT NULL,
    thread BLOB NOT NULL,
    PRIMARY KEY (user, ref)
) WITHOUT ROWID;

-- Content-addressed decoded bytes (attachments and message skeletons).
CREATE TABLE blobs (
    hash       BLOB PRIMARY KEY,         -- sha256
    length     INTEGER NOT NULL,
    chunk_size INTEGER NOT NULL,
    refcount   INTEGER NOT NULL          -- number of contents referencing it
) WITHOUT ROWID;

CREATE TABLE blob_chunks (
    hash       BLOB NOT NULL,
    idx        INTEGER NOT NULL,
    compressed INTEGER NOT NULL,         -- 1: zstd frame, 0: raw bytes
    data       BLOB NOT NULL,
    UNIQUE (hash, idx)
);

-- What copies of a message share: index, layout and the skeleton blob.
CREATE TABLE contents (
    id       INTEGER PRIMARY KEY,        -- also the rowid of content_text
    oid      BLOB NOT NULL,              -- the ObjectId shown as MessageMeta.content
    skeleton BLOB NOT NULL,              -- blob hash
    layout   TEXT NOT NULL,              -- JSON
    idx      BLOB NOT NULL,              -- zstd(JSON(MessageIndex)), search text left out
    refcount INTEGER NOT NULL            -- number of message rows pointing here
);

-- Every blob a content references, the skeleton included, once.
CREATE TABLE content_blobs (
    content INTEGER NOT NULL,
    blob    BLOB NOT NULL,
    PRIMARY KEY (content, blob)
) WITHOUT ROWID;

-- Search text of each content. Trigrams without positions (detail=none): the index
-- only finds candidates holding all trigrams of a needle, which search.rs confirms
-- exactly on the stored text; a fraction of the size and write cost of detail=full.
CREATE VIRTUAL TABLE content_text USING fts5(
    headers, body, tokenize = 'trigram case_sensitive 0', detail = none
);

CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    oid             BLOB NOT NULL UNIQUE,
    user            BLOB NOT NULL,
    mailbox         BLOB NOT NULL,
    uid             INTEGER NOT NULL,
    modseq          INTEGER NOT NULL,
    flags           TEXT NOT NULL,       -- canonical flags separated by spaces
    seen            INTEGER NOT NULL,
    deleted         INTEGER NOT NULL,
    flagged         INTEGER NOT NULL,
    internal_date   INTEGER NOT NULL,
    header_date     INTEGER,
    size            INTEGER NOT NULL,
    thread          BLOB NOT NULL,
    content         INTEGER NOT NULL,    -- contents.id
    content_oid     BLOB NOT NULL,       -- contents.oid, copied so listings need no join
    subject         TEXT NOT NULL,
    message_id      TEXT,
    has_attachments INTEGER NOT NULL,
    expires         INTEGER,
    meta_data       TEXT NOT NULL,
    UNIQUE (mailbox, uid)
);
CREATE INDEX messages_modseq ON messages(mailbox, modseq);
CREATE INDEX messages_expires ON messages(expires) WHERE expires IS NOT NULL;
CREATE INDEX messages_message_id ON messages(mailbox, message_id) WHERE message_id IS NOT NULL;

-- AUTOINCREMENT: ids are never reused, even after the newest rows are deleted,
-- because SSE clients resume from them.
CREATE TABLE journal (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    user    BLOB NOT NULL,
    mailbox BLOB NOT NULL,
    modseq  INTEGER NOT NULL,
    kind    INTEGER NOT NULL,
    uid     INTEGER,
    message BLOB,
    flags   TEXT,
    path    TEXT,
    created INTEGER NOT NULL
);
CREATE INDEX journal_mailbox ON journal(mailbox, modseq);
CREATE INDEX journal_user ON journal(user, id);
"#;

/// Settings of the one connection that writes.
pub(crate) fn configure_writer(conn: &Connection, sync: Synchronous) -> Result<()> {
    conn.busy_timeout(Duration::from_secs(30))?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(SqliteError::Schema(format!(
            "cannot switch to WAL mode (got {mode})"
        )));
    }
    conn.pragma_update(None, "synchronous", sync.pragma())?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // 32 MiB page cache: the hot b-tree pages of messages, mailboxes and journal.
    conn.pragma_update(None, "cache_size", -32768)?;
    // Shrink the WAL back after checkpoints so one burst does not keep a huge file.
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    conn.set_prepared_statement_cache_capacity(128);
    Ok(())
}

/// Settings of the reader connections.
pub(crate) fn configure_reader(conn: &Connection) -> Result<()> {
    conn.busy_timeout(Duration::from_secs(30))?;
    conn.pragma_update(None, "query_only", "ON")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "cache_size", -16384)?;
    conn.set_prepared_statement_cache_capacity(128);
    Ok(())
}

/// Bring the schema up to date. Refuses a database written by a newer version.
pub(crate) fn migrate(conn: &mut Connection) -> Result<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(SqliteError::Schema(format!(
            "database schema version {version} is newer than this program's ({known})"
        )));
    }
    for (i, script) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
        tx.execute_batch(script)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "sqlite schema migrated");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_refuses_newer() {
        let mut conn = Connection::open_in_memory().expect("open");
        migrate(&mut conn).expect("first");
        migrate(&mut conn).expect("second is a no-op");
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("version");
        assert_eq!(v, MIGRATIONS.len() as i64);
        conn.pragma_update(None, "user_version", 99).expect("set");
        assert!(matches!(migrate(&mut conn), Err(SqliteError::Schema(_))));
    }

    /// v5 turns the mailboxes' subscribed flags into subscriptions.
    #[test]
    fn v5_copies_subscribed_flags() {
        let v5 = MIGRATIONS
            .iter()
            .position(|s| *s == include_str!("v5_imap_dates.sql"))
            .expect("v5 listed");
        let mut conn = Connection::open_in_memory().expect("open");
        for script in &MIGRATIONS[..v5] {
            conn.execute_batch(script).expect("older script");
        }
        conn.pragma_update(None, "user_version", v5 as i64)
            .expect("version");
        conn.execute_batch(
            "INSERT INTO mailboxes (id, user, path, uid_validity, uid_next, modify_index,
                 subscribed, retention, hidden, created)
             VALUES (x'01', x'aa', 'INBOX', 1, 1, 0, 1, 0, 0, 0),
                    (x'02', x'aa', 'Junk', 1, 1, 0, 0, 0, 0, 0);",
        )
        .expect("rows");
        migrate(&mut conn).expect("migrate");
        let paths: Vec<String> = conn
            .prepare("SELECT path FROM subscriptions WHERE user = x'aa'")
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        assert_eq!(paths, vec!["INBOX".to_string()]);
    }
}
