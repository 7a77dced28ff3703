//! Periodic background jobs that run on one instance at a time.
//!
//! A job is a name, an interval and an async task. Every instance that starts a
//! [`JobRunner`] ticks each job at its interval; on a tick the runner asks the
//! store's [`LeaseStore`] for the lease `job:<name>` and runs the task only when it
//! got it, renewing the lease while the task runs and releasing it after. So with
//! several instances on one MongoDB (or several runners on one store) a job never
//! runs twice at once; when the holder dies its lease expires after `lease_ttl` and
//! another instance takes the job over at its next tick.
//!
//! Jobs keep no state in memory: what they work on is in the store (archive entries
//! with their purge time, deleted users with theirs, messages with `expires`), so a
//! restart loses nothing. A job's task must therefore be idempotent and work in
//! bounded batches: a lost lease stops it between awaits (the task future is
//! dropped), and the next holder carries on where it left off.
//!
//! Adding a job (e.g. journal pruning, a webhook or outbound worker):
//! ```text
//! let mut runner = JobRunner::new(service.leases(), instance_id);
//! runner.add("journal-prune", Duration::from_secs(300), move || {
//!     let service = service.clone();
//!     async move { service.prune_journal(1000).await.map(|_| ()) }
//! });
//! runner.spawn(stop_rx); // in `eider serve`
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::{LeaseStore, Result};

type TaskFn = dyn Fn() -> Pin<Box<dyn Future<Output = Result<()>> + Send>> + Send + Sync;

/// One registered job.
#[derive(Clone)]
struct Job {
    name: String,
    interval: Duration,
    task: Arc<TaskFn>,
}

/// What one tick of a job did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TickOutcome {
    /// This runner held the lease and the task finished (Ok or with a logged error).
    Ran,
    /// Another holder has the lease: nothing ran here.
    Busy,
    /// The lease was lost while the task ran; the task was stopped.
    Lost,
}

/// Runs named jobs at their intervals, each under its store-held lease.
#[derive(Clone)]
pub struct JobRunner {
    leases: Arc<dyn LeaseStore>,
    holder: String,
    lease_ttl: Duration,
    jobs: Vec<Job>,
}

impl JobRunner {
    /// Default lease lifetime: a crashed holder's job is taken over within this.
    pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(60);

    /// `holder` names this instance in the leases (unique per process: a host name
    /// plus a random part).
    pub fn new(leases: Arc<dyn LeaseStore>, holder: impl Into<String>) -> Self {
        Self {
            leases,
            holder: holder.into(),
            lease_ttl: Self::DEFAULT_LEASE_TTL,
            jobs: Vec::new(),
        }
    }

    /// A holder name unique to this process.
    pub fn unique_holder(prefix: &str) -> String {
        format!("{prefix}:{}:{}", std::process::id(), crate::ObjectId::new())
    }

    /// How long a lease lives without renewal (renewed every third of it).
    pub fn with_lease_ttl(mut self, ttl: Duration) -> Self {
        self.lease_ttl = ttl.max(Duration::from_millis(30));
        self
    }

    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Register `task` to run every `interval` under the lease `job:<name>`.
    pub fn add<F, Fut>(&mut self, name: &str, interval: Duration, task: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        self.jobs.push(Job {
            name: name.to_string(),
            interval: interval.max(Duration::from_millis(10)),
            task: Arc::new(move || Box::pin(task())),
        });
    }

    /// Run one tick of the job `name` now: take its lease or report Busy.
    /// Panics when no such job was added (a programming error).
    pub async fn tick(&self, name: &str) -> TickOutcome {
        let job = self
            .jobs
            .iter()
            .find(|j| j.name == name)
            .unwrap_or_else(|| panic!("no job named {name}"))
            .clone();
        self.run(&job).await
    }

    async fn run(&self, job: &Job) -> TickOutcome {
        let lease = format!("job:{}", job.name);
        match self
            .leases
            .try_acquire(&lease, &self.holder, self.lease_ttl)
            .await
        {
            Ok(true) => {}
            Ok(false) => return TickOutcome::Busy,
            Err(e) => {
                tracing::warn!(job = %job.name, "could not take the job's lease: {e}");
                return TickOutcome::Busy;
            }
        }
        let renew_every = self.lease_ttl / 3;
        let keep = async {
            loop {
                tokio::time::sleep(renew_every).await;
                match self
                    .leases
                    .renew(&lease, &self.holder, self.lease_ttl)
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => return,
                    // A store hiccup: try again at the next renewal, while the lease lasts.
                    Err(e) => tracing::warn!(job = %job.name, "lease renewal failed: {e}"),
                }
            }
        };
        let outcome = tokio::select! {
            res = (job.task)() => {
                if let Err(e) = res {
                    tracing::warn!(job = %job.name, "job failed: {e}");
                }
                TickOutcome::Ran
            }
            _ = keep => {
                tracing::warn!(job = %job.name, "job lease lost; stopped");
                TickOutcome::Lost
            }
        };
        if outcome == TickOutcome::Ran {
            if let Err(e) = self.leases.release(&lease, &self.holder).await {
                tracing::warn!(job = %job.name, "lease release failed: {e}");
            }
        }
        outcome
    }

    /// Start every job on its own timer until `stop` turns true.
    pub fn spawn(self, stop: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
        let me = Arc::new(self);
        me.jobs
            .iter()
            .cloned()
            .map(|job| {
                let me = me.clone();
                let mut stop = stop.clone();
                tokio::spawn(async move {
                    let mut tick = tokio::time::interval(job.interval);
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    loop {
                        tokio::select! {
                            _ = tick.tick() => {}
                            _ = stop.changed() => return,
                        }
                        if *stop.borrow() {
                            return;
                        }
                        tokio::select! {
                            _ = me.run(&job) => {}
                            _ = stop.changed() => return,
                        }
                    }
                })
            })
            .collect()
    }
}
