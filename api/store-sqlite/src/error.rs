//! The store's own error type, and its translation into the service's `StoreError`.

use eider_service::StoreError;
use thiserror::Error;

/// Everything that can go wrong inside the embedded store.
#[derive(Debug, Error)]
pub enum SqliteError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("schema: {0}")]
    Schema(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The writer thread or the reader pool has shut down.
    #[error("the store is closed")]
    Closed,
    /// The transaction this request ran in could not be committed.
    #[error("commit failed: {0}")]
    Commit(String),
    /// A request panicked or its task failed.
    #[error("internal: {0}")]
    Internal(String),
    /// A domain outcome (not found, conflict, over quota) to pass through unchanged.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SqliteError {
    pub(crate) fn corrupt(what: impl Into<String>) -> Self {
        SqliteError::Corrupt(what.into())
    }
}

impl From<SqliteError> for StoreError {
    fn from(e: SqliteError) -> Self {
        match e {
            SqliteError::Store(s) => s,
            SqliteError::Corrupt(m) => StoreError::Corrupt(m),
            other => StoreError::Backend(other.to_string()),
        }
    }
}

pub(crate) type Result<T, E = SqliteError> = std::result::Result<T, E>;

/// True when `e` is a UNIQUE or PRIMARY KEY violation (a lost race on a unique key).
pub(crate) fn is_unique_violation(e: &SqliteError) -> bool {
    match e {
        SqliteError::Sqlite(rusqlite::Error::SqliteFailure(f, _)) => {
            f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
        }
        _ => false,
    }
}
