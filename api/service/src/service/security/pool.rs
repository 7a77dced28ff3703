//! The bounded pool every password hash and verification runs on.
//!
//! argon2id with the default parameters allocates 19 MiB per hash: 1,000 logins at
//! once on unbounded blocking threads would ask for ~19 GB and thousands of threads.
//! Here `size` dedicated OS threads (sized to the cores, 2 to 4 by default) take
//! hashing jobs from one queue; a login waits for its turn costing only its future.
//! Fixed threads matter as much as the bound: the allocator keeps a freed argon2
//! buffer for reuse in the arena of the thread that used it, so a handful of
//! long-lived threads retain a handful of buffers, where ever-new blocking threads
//! would each retain their own. A burst of logins therefore uses a bounded amount
//! of memory and CPU and never stalls the async workers (IDLE sessions,
//! deliveries). When too many jobs already wait, new ones are refused at once
//! (`RateLimited`) instead of queueing without end.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};

use tokio::sync::oneshot;

use crate::{Error, Result};

/// Hashes that may wait for a thread before new ones are refused.
const MAX_WAITING: usize = 4096;

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of threads for CPU-heavy secret work.
#[derive(Clone)]
pub struct HashPool {
    inner: Arc<Inner>,
}

struct Inner {
    size: usize,
    /// Jobs queued or running.
    pending: Arc<AtomicUsize>,
    /// Started on first use.
    queue: OnceLock<Mutex<mpsc::Sender<Job>>>,
}

impl std::fmt::Debug for HashPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashPool")
            .field("size", &self.inner.size)
            .finish()
    }
}

impl HashPool {
    /// A pool running at most `size` hashes at once (0: the default for this machine).
    pub fn new(size: usize) -> Self {
        let size = if size == 0 { default_size() } else { size };
        Self {
            inner: Arc::new(Inner {
                size,
                pending: Arc::new(AtomicUsize::new(0)),
                queue: OnceLock::new(),
            }),
        }
    }

    /// How many hashes may run at once.
    pub fn size(&self) -> usize {
        self.inner.size
    }

    fn queue(&self) -> &Mutex<mpsc::Sender<Job>> {
        self.inner.queue.get_or_init(|| {
            let (tx, rx) = mpsc::channel::<Job>();
            let rx = Arc::new(Mutex::new(rx));
            for i in 0..self.inner.size {
                let rx = rx.clone();
                let spawned = std::thread::Builder::new()
                    .name(format!("eider-hash-{i}"))
                    .spawn(move || loop {
                        // The lock is held only while taking a job, not while running it.
                        let job = match rx.lock() {
                            Ok(guard) => guard.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return, // every sender is gone
                        }
                    });
                if let Err(e) = spawned {
                    tracing::error!("cannot start a password hashing thread: {e}");
                }
            }
            Mutex::new(tx)
        })
    }

    /// Run `work` on one of the pool's threads, waiting for a free one.
    pub async fn run<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let pending = self.inner.pending.clone();
        if pending.fetch_add(1, Ordering::AcqRel) >= MAX_WAITING + self.inner.size {
            pending.fetch_sub(1, Ordering::AcqRel);
            tracing::warn!("password hashing pool saturated; refusing a login");
            return Err(Error::RateLimited);
        }
        let (tx, rx) = oneshot::channel();
        let done = pending.clone();
        let job: Job = Box::new(move || {
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
            done.fetch_sub(1, Ordering::AcqRel);
            let _ = tx.send(out);
        });
        let sent = self
            .queue()
            .lock()
            .map_err(|_| Error::Internal("hashing pool poisoned".into()))?
            .send(job);
        if sent.is_err() {
            pending.fetch_sub(1, Ordering::AcqRel);
            return Err(Error::Internal("hashing pool stopped".into()));
        }
        match rx.await {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(_)) => Err(Error::Internal("hashing task panicked".into())),
            Err(_) => Err(Error::Internal("hashing pool stopped".into())),
        }
    }
}

impl Default for HashPool {
    fn default() -> Self {
        Self::new(0)
    }
}

/// The cores, at least 2 and at most 4.
fn default_size() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(2, 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn at_most_size_run_at_once() {
        let pool = HashPool::new(2);
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..64 {
            let (pool, running, peak) = (pool.clone(), running.clone(), peak.clone());
            tasks.push(tokio::spawn(async move {
                pool.run(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
            }));
        }
        for t in tasks {
            t.await.expect("join").expect("run");
        }
        assert_eq!(peak.load(Ordering::SeqCst), 2);
        assert_eq!(pool.size(), 2);
        assert!((2..=4).contains(&HashPool::default().size()));
    }

    /// 1,000 simultaneous argon2id verifications allocate at most `size` argon2
    /// buffers at a time: the number of live 19 MiB buffers never exceeds the pool.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_login_burst_is_bounded() {
        let pool = HashPool::new(3);
        let hash = eider_auth::hash_password("pw").expect("hash");
        let live = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for i in 0..1000 {
            let (pool, live, peak) = (pool.clone(), live.clone(), peak.clone());
            let hash = hash.clone();
            tasks.push(tokio::spawn(async move {
                pool.run(move || {
                    let now = live.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    // Only a few do the real work, to keep the test quick.
                    let ok = if i % 100 == 0 {
                        eider_auth::verify_password("pw", &hash).unwrap_or(false)
                    } else {
                        true
                    };
                    live.fetch_sub(1, Ordering::SeqCst);
                    ok
                })
                .await
            }));
        }
        for t in tasks {
            assert!(t.await.expect("join").expect("run"));
        }
        assert!(peak.load(Ordering::SeqCst) <= 3);
    }
}
