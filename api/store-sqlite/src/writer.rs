//! The single writer: one OS thread owns the write connection and runs queued
//! requests in group commits.
//!
//! The thread takes every request waiting in the queue (up to a batch limit), runs
//! them in ONE transaction, each inside its own SAVEPOINT so a failing request rolls
//! back alone, then COMMITs once (one fsync) and only then replies to all of them:
//! an Ok reply always means the change is durable. Requests arriving during a commit
//! wait in the queue and form the next batch, so throughput grows with concurrency
//! instead of being capped by the disk's fsync rate.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::oneshot;

use crate::error::{Result, SqliteError};

/// Work a request asks to run just before its batch commits.
type Deferred = Box<dyn FnOnce(&Transaction<'_>) -> Result<()>>;

thread_local! {
    /// The running request's deferred work; None outside a request (or off the writer).
    static DEFERRED: RefCell<Option<Vec<Deferred>>> = const { RefCell::new(None) };
}

/// Run `op` after every request of the current batch, just before COMMIT, in the
/// order deferred; dropped if the request fails. Outside a writer request (unit
/// tests on a bare transaction) it runs at once. An error fails the whole batch.
pub(crate) fn before_commit(
    tx: &Transaction<'_>,
    op: impl FnOnce(&Transaction<'_>) -> Result<()> + 'static,
) -> Result<()> {
    let op: Deferred = Box::new(op);
    let now = DEFERRED.with(|d| match d.borrow_mut().as_mut() {
        Some(list) => {
            list.push(op);
            None
        }
        None => Some(op),
    });
    match now {
        Some(op) => op(tx),
        None => Ok(()),
    }
}

/// A queued write request, type-erased so requests of any result type share a queue.
trait Job: Send {
    /// Run inside the open transaction; false when it failed and must be rolled back.
    fn run(&mut self, tx: &Transaction<'_>) -> bool;
    /// Reply once the batch's fate is known: `committed` is the outcome of COMMIT.
    fn finish(self: Box<Self>, committed: &std::result::Result<(), String>);
}

struct Request<T, F> {
    work: Option<F>,
    outcome: Option<Result<T>>,
    reply: oneshot::Sender<Result<T>>,
}

impl<T, F> Job for Request<T, F>
where
    T: Send,
    F: FnOnce(&Transaction<'_>) -> Result<T> + Send,
{
    fn run(&mut self, tx: &Transaction<'_>) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        // A panicking request must not take the writer thread (and every later write) down.
        let out = catch_unwind(AssertUnwindSafe(|| work(tx)))
            .unwrap_or_else(|_| Err(SqliteError::Internal("write request panicked".into())));
        let ok = out.is_ok();
        self.outcome = Some(out);
        ok
    }

    fn finish(self: Box<Self>, committed: &std::result::Result<(), String>) {
        let out = match (self.outcome, committed) {
            // A request that failed was rolled back alone; its own error says why.
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(v)), Ok(())) => Ok(v),
            (_, Err(m)) => Err(SqliteError::Commit(m.clone())),
            (None, Ok(())) => Err(SqliteError::Commit("request did not run".into())),
        };
        // The caller may have gone away; the change stands either way.
        let _ = self.reply.send(out);
    }
}

/// Counters of the writer's work since the store was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Transactions committed (one fsync each with `Synchronous::Full`).
    pub commits: u64,
    /// Write requests run (each in its own savepoint).
    pub requests: u64,
}

#[derive(Default)]
struct Counters {
    commits: AtomicU64,
    requests: AtomicU64,
}

/// Handle to the writer thread.
pub(crate) struct Writer {
    queue: Mutex<Option<mpsc::Sender<Box<dyn Job>>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    counters: Arc<Counters>,
}

impl Writer {
    /// Start the writer thread on `conn` (already configured and migrated).
    pub(crate) fn start(conn: Connection, max_batch: usize) -> Result<Self> {
        let (tx, rx) = mpsc::channel::<Box<dyn Job>>();
        let counters = Arc::new(Counters::default());
        let c = Arc::clone(&counters);
        let thread = std::thread::Builder::new()
            .name("eider-sqlite-writer".into())
            .spawn(move || writer_loop(conn, rx, max_batch.max(1), &c))?;
        Ok(Self {
            queue: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            counters,
        })
    }

    pub(crate) fn stats(&self) -> WriteStats {
        WriteStats {
            commits: self.counters.commits.load(Ordering::Relaxed),
            requests: self.counters.requests.load(Ordering::Relaxed),
        }
    }

    /// Run `work` in the next group commit; resolves after COMMIT returned.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(Request {
            work: Some(work),
            outcome: None,
            reply,
        });
        {
            let queue = self.queue.lock().map_err(|_| SqliteError::Closed)?;
            queue
                .as_ref()
                .ok_or(SqliteError::Closed)?
                .send(job)
                .map_err(|_| SqliteError::Closed)?;
        }
        answer.await.map_err(|_| SqliteError::Closed)?
    }

    /// Stop accepting requests; the thread finishes the queued ones and exits.
    /// Returns the thread to join (blocking) when the caller wants to wait for it.
    pub(crate) fn shutdown(&self) -> Option<JoinHandle<()>> {
        if let Ok(mut q) = self.queue.lock() {
            q.take();
        }
        self.thread.lock().ok().and_then(|mut t| t.take())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the queue lets the thread drain it and close the connection; it is
        // not joined here because drop may run on an async worker.
        let _ = self.shutdown();
    }
}

fn writer_loop(
    mut conn: Connection,
    rx: mpsc::Receiver<Box<dyn Job>>,
    max_batch: usize,
    counters: &Counters,
) {
    while let Ok(first) = rx.recv() {
        let mut batch = Vec::with_capacity(16);
        batch.push(first);
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let committed = run_batch(&mut conn, &mut batch);
        counters
            .requests
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        if committed.is_ok() {
            counters.commits.fetch_add(1, Ordering::Relaxed);
        }
        if let Err(e) = &committed {
            tracing::error!(error = %e, requests = batch.len(), "sqlite group commit failed");
        } else {
            tracing::trace!(requests = batch.len(), "sqlite group commit");
        }
        for job in batch {
            job.finish(&committed);
        }
    }
    // The queue is closed: leave the WAL checkpointed so the next open starts clean.
    if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);") {
        tracing::warn!(error = %e, "sqlite checkpoint at close failed");
    }
}

fn run_batch(conn: &mut Connection, batch: &mut [Box<dyn Job>]) -> std::result::Result<(), String> {
    let text = |e: rusqlite::Error| e.to_string();
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(text)?;
    let mut deferred: Vec<Deferred> = Vec::new();
    for job in batch.iter_mut() {
        tx.prepare_cached("SAVEPOINT request")
            .and_then(|mut s| s.execute([]))
            .map_err(text)?;
        DEFERRED.with(|d| *d.borrow_mut() = Some(Vec::new()));
        let ok = job.run(&tx);
        let own = DEFERRED.with(|d| d.borrow_mut().take()).unwrap_or_default();
        if ok {
            deferred.extend(own);
            tx.prepare_cached("RELEASE request")
                .and_then(|mut s| s.execute([]))
                .map_err(text)?;
        } else {
            // If even this fails the transaction is unusable: dropping `tx` rolls back
            // the whole batch and every request is told the commit failed.
            tx.execute_batch("ROLLBACK TO request; RELEASE request")
                .map_err(text)?;
        }
    }
    for op in deferred {
        catch_unwind(AssertUnwindSafe(|| op(&tx)))
            .map_err(|_| "deferred write panicked".to_string())?
            .map_err(|e| e.to_string())?;
    }
    tx.commit().map_err(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(conn: &Transaction<'_>) -> Result<i64> {
        Ok(conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0))?)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failing_and_panicking_requests_roll_back_alone() {
        let conn = Connection::open_in_memory().expect("open");
        conn.execute_batch("CREATE TABLE t (v INTEGER UNIQUE)")
            .expect("schema");
        let w = Arc::new(Writer::start(conn, 64).expect("start"));
        let mut tasks = Vec::new();
        for i in 0..30i64 {
            let w = Arc::clone(&w);
            tasks.push(tokio::spawn(async move {
                w.write(move |tx| {
                    tx.execute("INSERT INTO t (v) VALUES (?1)", [i])?;
                    match i % 3 {
                        // Fails after writing: its row must not survive.
                        1 => Err(SqliteError::corrupt("refused")),
                        2 if i == 5 => panic!("boom"),
                        _ => Ok(i),
                    }
                })
                .await
            }));
        }
        let mut ok = 0;
        for t in tasks {
            match t.await.expect("join") {
                Ok(_) => ok += 1,
                Err(SqliteError::Corrupt(_)) | Err(SqliteError::Internal(_)) => {}
                Err(e) => panic!("unexpected {e}"),
            }
        }
        assert_eq!(ok, 19);
        assert_eq!(w.write(count).await.expect("count"), 19);
        // Unique violation inside one request leaves the others alone.
        let dup = w
            .write(|tx| Ok(tx.execute("INSERT INTO t (v) VALUES (0)", [])?))
            .await;
        assert!(dup.is_err());
        assert_eq!(w.write(count).await.expect("count"), 19);
        let stats = w.stats();
        assert_eq!(stats.requests, 33);
        assert!(stats.commits >= 1 && stats.commits <= 33);
        // Deferred work runs before COMMIT for requests that succeed, never for others.
        let r = w
            .write(|tx| {
                before_commit(tx, |tx| {
                    tx.execute("INSERT INTO t (v) VALUES (1000)", [])?;
                    Ok(())
                })?;
                Ok(())
            })
            .await;
        assert!(r.is_ok());
        let r: Result<()> = w
            .write(|tx| {
                before_commit(tx, |tx| {
                    tx.execute("INSERT INTO t (v) VALUES (1001)", [])?;
                    Ok(())
                })?;
                Err(SqliteError::corrupt("refused"))
            })
            .await;
        assert!(r.is_err());
        let seen: Vec<i64> = w
            .write(|tx| {
                let mut s = tx.prepare("SELECT v FROM t WHERE v >= 1000")?;
                let v = s
                    .query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(v)
            })
            .await
            .expect("read back");
        assert_eq!(seen, vec![1000]);
        if let Some(t) = w.shutdown() {
            t.join().expect("writer thread exits");
        }
        assert!(matches!(w.write(count).await, Err(SqliteError::Closed)));
    }
}
