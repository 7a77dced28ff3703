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
//!
//! One user's checks run one at a time ([`HashPool::run_for`]): a user whose stored
//! hash is slow (an imported legacy hash) and who is hammered with parallel logins
//! occupies one thread, not all of them, and everyone else's logins go on.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};

use tokio::sync::oneshot;

use crate::{Error, ObjectId, Result};

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
    /// One lock per user with a check running or waiting (removed when unused).
    users: Mutex<HashMap<ObjectId, Arc<tokio::sync::Mutex<()>>>>,
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
                users: Mutex::new(HashMap::new()),
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

impl HashPool {
    /// [`HashPool::run`] for work on `user`'s secrets: it waits (off the pool) until
    /// no other work for the same user runs, so one user holds at most one thread.
    pub async fn run_for<T, F>(&self, user: ObjectId, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let lock = lock_users(&self.inner.users)
            .entry(user)
            .or_default()
            .clone();
        let turn = UserTurn {
            inner: &self.inner,
            user,
            _guard: lock.lock_owned().await,
        };
        let out = self.run(work).await;
        drop(turn);
        out
    }
}

fn lock_users<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The map stays consistent whatever panicked while it was held.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A user's turn on the pool; the user's lock leaves the map with its last holder.
struct UserTurn<'a> {
    inner: &'a Inner,
    user: ObjectId,
    _guard: tokio::sync::OwnedMutexGuard<()>,
}

impl Drop for UserTurn<'_> {
    fn drop(&mut self) {
        let mut users = lock_users(&self.inner.users);
        // Held by the map and this guard only: nobody waits for it.
        if users
            .get(&self.user)
            .is_some_and(|l| Arc::strong_count(l) <= 2)
        {
            users.remove(&self.user);
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

    /// Parallel work for one user runs one at a time; other users' work runs beside it,
    /// and the per-user locks are dropped once unused.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn one_user_holds_one_thread() {
        let pool = HashPool::new(3);
        let user = ObjectId::new();
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..12 {
            let (pool, running, peak) = (pool.clone(), running.clone(), peak.clone());
            tasks.push(tokio::spawn(async move {
                pool.run_for(user, move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
            }));
        }
        // Another user's work is not queued behind them.
        pool.run_for(ObjectId::new(), || ()).await.expect("other");
        for t in tasks {
            t.await.expect("join").expect("run");
        }
        assert_eq!(peak.load(Ordering::SeqCst), 1);
        assert!(lock_users(&pool.inner.users).is_empty());
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
