//! Reader connections, used on tokio's blocking threads.
//!
//! WAL lets readers run concurrently with the writer, each on a consistent snapshot.
//! A semaphore bounds the readers in use; the connection goes back to the pool from
//! inside the blocking task, so a caller that stops waiting never leaks one.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, Transaction};
use tokio::sync::Semaphore;

use crate::error::{Result, SqliteError};

pub(crate) struct Pool {
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

impl Pool {
    pub(crate) fn new(conns: Vec<Connection>) -> Arc<Self> {
        let n = conns.len();
        Arc::new(Self {
            idle: Mutex::new(conns),
            permits: Arc::new(Semaphore::new(n)),
        })
    }

    /// Run `work` on a reader inside a read transaction (one snapshot for all its queries).
    pub(crate) async fn read<T, F>(self: &Arc<Self>, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| SqliteError::Closed)?;
        let pool = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let mut conn = pool
                .idle
                .lock()
                .map_err(|_| SqliteError::Closed)?
                .pop()
                .ok_or(SqliteError::Closed)?;
            let out = catch_unwind(AssertUnwindSafe(|| -> Result<T> {
                let tx = conn.transaction()?;
                let v = work(&tx)?;
                // Read-only: ending the transaction either way releases the snapshot.
                tx.commit()?;
                Ok(v)
            }))
            .unwrap_or_else(|_| Err(SqliteError::Internal("read request panicked".into())));
            if let Ok(mut idle) = pool.idle.lock() {
                idle.push(conn);
            }
            drop(permit);
            out
        })
        .await
        .map_err(|e| SqliteError::Internal(format!("reader task failed: {e}")))?
    }

    /// Close every idle connection; later reads fail with `Closed`.
    pub(crate) fn close(&self) {
        self.permits.close();
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }
}
