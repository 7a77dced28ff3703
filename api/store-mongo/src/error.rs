//! Errors inside the backend, and their translation to `StoreError`.

use eider_message::BlobHash;
use eider_service::StoreError;
use mongodb::error::{ErrorKind, WriteFailure, TRANSIENT_TRANSACTION_ERROR};

/// MongoDB's duplicate key error.
pub(crate) const DUPLICATE_KEY: i32 = 11000;
/// WriteConflict: another transaction wrote the same document first.
const WRITE_CONFLICT: i32 = 112;
/// NoSuchTransaction: the server no longer knows the transaction (it was aborted).
const NO_SUCH_TRANSACTION: i32 = 251;

#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error(transparent)]
    Mongo(#[from] mongodb::error::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A blob's chunks were not found where a new blob document was created: they
    /// were deleted since they were written. The caller writes them again and retries.
    #[error("blob {0} lost its chunks")]
    MissingChunks(BlobHash),
}

pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn corrupt(msg: impl Into<String>) -> Self {
        Error::Store(StoreError::Corrupt(msg.into()))
    }

    /// The server's error code, when it answered with one.
    pub(crate) fn code(&self) -> Option<i32> {
        match self {
            Error::Mongo(e) => mongo_code(e),
            _ => None,
        }
    }

    /// Worth running the whole transaction again.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            Error::Mongo(e) => {
                e.contains_label(TRANSIENT_TRANSACTION_ERROR)
                    || matches!(mongo_code(e), Some(WRITE_CONFLICT | NO_SUCH_TRANSACTION))
            }
            _ => false,
        }
    }

    pub(crate) fn is_duplicate_key(&self) -> bool {
        self.code() == Some(DUPLICATE_KEY)
    }
}

pub(crate) fn mongo_code(e: &mongodb::error::Error) -> Option<i32> {
    match e.kind.as_ref() {
        ErrorKind::Command(c) => Some(c.code),
        ErrorKind::Write(WriteFailure::WriteError(w)) => Some(w.code),
        ErrorKind::Write(WriteFailure::WriteConcernError(w)) => Some(w.code),
        ErrorKind::InsertMany(m) => m
            .write_errors
            .as_ref()
            .and_then(|v| v.first().map(|w| w.code))
            .or_else(|| m.write_concern_error.as_ref().map(|w| w.code)),
        _ => None,
    }
}

/// Only duplicate-key failures in an unordered insert_many (the rest were inserted).
pub(crate) fn only_duplicates(e: &mongodb::error::Error) -> bool {
    match e.kind.as_ref() {
        ErrorKind::InsertMany(m) => {
            m.write_concern_error.is_none()
                && m.write_errors
                    .as_ref()
                    .is_some_and(|v| v.iter().all(|w| w.code == DUPLICATE_KEY))
        }
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == DUPLICATE_KEY,
        _ => false,
    }
}

impl From<Error> for StoreError {
    fn from(e: Error) -> Self {
        match e {
            Error::Store(s) => s,
            Error::Mongo(m) => StoreError::Backend(format!("mongodb: {m}")),
            Error::MissingChunks(h) => StoreError::Corrupt(format!("blob {h} lost its chunks")),
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::corrupt(format!("json: {e}"))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Store(StoreError::Backend(format!("io: {e}")))
    }
}

impl From<mongodb::bson::document::ValueAccessError> for Error {
    fn from(e: mongodb::bson::document::ValueAccessError) -> Self {
        Error::corrupt(format!("stored document: {e}"))
    }
}

/// `Conflict(key)` for a duplicate key, the error itself otherwise.
pub(crate) fn conflict(e: impl Into<Error>, key: &'static str) -> Error {
    let e = e.into();
    if e.is_duplicate_key() {
        Error::Store(StoreError::Conflict(key))
    } else {
        e
    }
}
