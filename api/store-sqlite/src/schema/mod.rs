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
const V1: &str = include_str!("v1_initial.sql");

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
