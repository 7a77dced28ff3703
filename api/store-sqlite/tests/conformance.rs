//! The shared Store conformance suite, run against the embedded store.

use eider_store_sqlite::{SqliteOptions, SqliteStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_conforms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open");
    eider_service::conformance::run_all(&store).await;
    let problems = store.verify().await.expect("verify");
    assert!(problems.is_empty(), "invariants broken: {problems:?}");
    store.close().await;
}
