//! Eider's embedded store: every Store trait on one SQLite database.
//!
//! - One writer connection on its own OS thread; write requests queue on a channel
//!   and are committed in groups (one transaction, one fsync, a savepoint each).
//!   A request is answered only after its group's COMMIT returned.
//! - N reader connections on tokio's blocking threads; WAL gives each read a
//!   consistent snapshot without blocking the writer.
//! - Blobs (attachments and message skeletons) are content-addressed, chunked and
//!   compressed, and reference-counted by the contents that use them.
//! - SEARCH runs as one SQL statement, with an FTS5 trigram index to pre-filter
//!   substring needles and exact case-insensitive confirmation.

mod addresses;
mod audit;
mod auth;
mod backup;
mod blobs;
mod codec;
mod compress;
mod content;
mod dkim;
mod error;
mod files;
mod filters;
mod integrity;
mod journal;
mod lifecycle;
mod mailboxes;
mod messages;
mod metadata;
mod operator;
mod paging;
mod pool;
mod queue;
mod register;
mod schema;
mod search;
mod sqlfn;
mod threads;
mod users;
mod writer;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use eider_service::{StoreError, StoreResult};
use rusqlite::{Connection, OpenFlags, Transaction};

pub use backup::{backup, BackupReport};
pub use error::SqliteError;
pub use integrity::{check_database, CheckOptions, CheckReport};
pub use writer::WriteStats;

use pool::Pool;
use writer::Writer;

/// File name of the database inside the store's directory.
pub const DATABASE_FILE: &str = "eider.sqlite3";

/// How hard a commit pushes data to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// fsync at every commit: an acknowledged write survives a power cut.
    #[default]
    Full,
    /// No fsync of the WAL at commit: survives a process crash, may lose the last
    /// commits on power loss.
    Normal,
}

impl Synchronous {
    fn pragma(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        }
    }
}

impl FromStr for Synchronous {
    type Err = SqliteError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "full" => Ok(Synchronous::Full),
            "normal" => Ok(Synchronous::Normal),
            other => Err(SqliteError::Schema(format!(
                "synchronous must be \"full\" or \"normal\", not {other:?}"
            ))),
        }
    }
}

/// Settings of the embedded store.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Reader connections (concurrent reads).
    pub readers: usize,
    pub synchronous: Synchronous,
    /// Most write requests committed together.
    pub max_batch: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            readers: 4,
            synchronous: Synchronous::Full,
            max_batch: 512,
        }
    }
}

/// Create the store's directory (owner only, 0700) and database file (0600) when
/// they do not exist: they hold every message and secret. SQLite gives its WAL and
/// shared-memory files the database file's mode. Existing ones are left as they are.
fn create_private(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    let mut file = std::fs::OpenOptions::new();
    file.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        builder.mode(0o700);
        file.mode(0o600);
    }
    builder.create(dir)?;
    file.open(dir.join(DATABASE_FILE))?;
    Ok(())
}

/// The embedded store. Share it behind an `Arc`; dropping it stops the writer after
/// the queued requests, [`SqliteStore::close`] also waits for that.
pub struct SqliteStore {
    writer: Writer,
    pool: Arc<Pool>,
    path: PathBuf,
}

impl SqliteStore {
    /// Open (creating as needed) the store kept in directory `dir`.
    pub fn open(dir: &Path, opts: SqliteOptions) -> Result<SqliteStore, SqliteError> {
        create_private(dir)?;
        let path = dir.join(DATABASE_FILE);
        let mut conn = Connection::open(&path)?;
        schema::configure_writer(&conn, opts.synchronous)?;
        schema::migrate(&mut conn)?;
        sqlfn::register(&conn)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_URI;
        let mut readers = Vec::with_capacity(opts.readers.max(1));
        for _ in 0..opts.readers.max(1) {
            let r = Connection::open_with_flags(&path, flags)?;
            schema::configure_reader(&r)?;
            sqlfn::register(&r)?;
            readers.push(r);
        }
        Ok(SqliteStore {
            writer: Writer::start(conn, opts.max_batch)?,
            pool: Pool::new(readers),
            path,
        })
    }

    /// What the writer has done so far (group commit effectiveness).
    pub fn write_stats(&self) -> WriteStats {
        self.writer.stats()
    }

    /// Path of the database file.
    pub fn database_path(&self) -> &Path {
        &self.path
    }

    /// Finish the queued writes, checkpoint and close every connection.
    pub async fn close(self) {
        self.pool.close();
        if let Some(thread) = self.writer.shutdown() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }

    /// Check the database and every invariant the store maintains (references,
    /// reference counts, counters, quota usage). Returns the problems found.
    pub async fn verify(&self) -> Result<Vec<String>, SqliteError> {
        // A fresh connection, not a pooled reader: FTS5's part of integrity_check runs
        // on the connection's cached index structure, which on a reader that has
        // searched before can be older than its snapshot (false "corruption" reports).
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = Connection::open_with_flags(
                &path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            conn.busy_timeout(std::time::Duration::from_secs(30))?;
            let tx = conn.transaction()?;
            let mut report = integrity::CheckReport {
                problems: integrity::check(&tx)?,
                ..Default::default()
            };
            integrity::check_data(&tx, None, &|_, _, _| {}, &mut report)?;
            Ok(report.problems)
        })
        .await
        .map_err(|e| SqliteError::Internal(format!("verify task failed: {e}")))?
    }

    async fn read<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, SqliteError> + Send + 'static,
    {
        self.pool.read(work).await.map_err(StoreError::from)
    }

    async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, SqliteError> + Send + 'static,
    {
        self.writer.write(work).await.map_err(StoreError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synchronous_parses() {
        assert_eq!("FULL".parse::<Synchronous>().ok(), Some(Synchronous::Full));
        assert_eq!(
            "normal".parse::<Synchronous>().ok(),
            Some(Synchronous::Normal)
        );
        assert!("off".parse::<Synchronous>().is_err());
        assert_eq!(Synchronous::default(), Synchronous::Full);
    }

    #[test]
    fn open_creates_the_directory_and_refuses_a_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let nested = dir.path().join("a").join("b");
        let store = SqliteStore::open(&nested, SqliteOptions::default()).expect("open");
        assert!(nested.join(DATABASE_FILE).exists());
        drop(store);
        let file = dir.path().join("plain");
        std::fs::write(&file, b"x").expect("write");
        assert!(SqliteStore::open(&file, SqliteOptions::default()).is_err());
    }
}
