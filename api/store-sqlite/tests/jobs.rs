//! The job runner on a real store: two runners (as two instances would) share one
//! embedded store's leases; a job never runs on both at once, and a holder that
//! crashes mid-job (its lease never released) is taken over once the lease expires.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use eider_service::jobs::{JobRunner, TickOutcome};
use eider_service::LeaseStore;
use eider_store_sqlite::{SqliteOptions, SqliteStore};

fn runner(store: &Arc<SqliteStore>, holder: &str, ttl: Duration) -> JobRunner {
    let leases: Arc<dyn LeaseStore> = store.clone();
    JobRunner::new(leases, holder).with_lease_ttl(ttl)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_runner_at_a_time_and_crashed_holders_expire() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open"));

    // A job that notices when it runs twice at once.
    let running = Arc::new(AtomicBool::new(false));
    let overlaps = Arc::new(AtomicU32::new(0));
    let runs = Arc::new(AtomicU32::new(0));
    let make = |holder: &str| {
        let mut r = runner(&store, holder, Duration::from_secs(30));
        let (running, overlaps, runs) = (running.clone(), overlaps.clone(), runs.clone());
        r.add("purge", Duration::from_secs(3600), move || {
            let (running, overlaps, runs) = (running.clone(), overlaps.clone(), runs.clone());
            async move {
                if running.swap(true, Ordering::SeqCst) {
                    overlaps.fetch_add(1, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                runs.fetch_add(1, Ordering::SeqCst);
                running.store(false, Ordering::SeqCst);
                Ok(())
            }
        });
        r
    };
    let (a, b) = (make("instance-a"), make("instance-b"));
    let mut busy = 0;
    for _ in 0..20 {
        let (x, y) = tokio::join!(a.tick("purge"), b.tick("purge"));
        busy += [x, y].iter().filter(|o| **o == TickOutcome::Busy).count();
        assert!(
            [x, y].contains(&TickOutcome::Ran),
            "one of them runs: {x:?} {y:?}"
        );
    }
    assert_eq!(overlaps.load(Ordering::SeqCst), 0, "never twice at once");
    assert_eq!(runs.load(Ordering::SeqCst) as usize + busy, 40);
    assert!(busy > 0, "the two runners did contend");

    // A holder that crashes mid-job: its task is dropped, its lease never released.
    let ttl = Duration::from_secs(2);
    let mut crashing = runner(&store, "crashing", ttl);
    crashing.add("long", Duration::from_secs(3600), || async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(())
    });
    let took_over = Arc::new(AtomicU32::new(0));
    let mut next = runner(&store, "next", ttl);
    let counter = took_over.clone();
    next.add("long", Duration::from_secs(3600), move || {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    });
    let crashed = tokio::spawn(async move { crashing.tick("long").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        next.tick("long").await,
        TickOutcome::Busy,
        "held by the live holder"
    );
    crashed.abort();
    let _ = crashed.await;
    assert_eq!(
        next.tick("long").await,
        TickOutcome::Busy,
        "the crashed holder's lease lasts until it expires"
    );
    tokio::time::sleep(ttl + Duration::from_millis(300)).await;
    assert_eq!(
        next.tick("long").await,
        TickOutcome::Ran,
        "taken over after expiry"
    );
    assert_eq!(took_over.load(Ordering::SeqCst), 1);
    drop((a, b, next));
    if let Ok(store) = Arc::try_unwrap(store) {
        store.close().await;
    }
}
