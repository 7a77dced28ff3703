//! The shared Store conformance suite against the embedded store, one test per rule,
//! then the store's own invariants (reference counts, orphans) over what they left.

use std::process::ExitCode;
use std::sync::Arc;

use eider_store_sqlite::{SqliteOptions, SqliteStore};

fn main() -> ExitCode {
    let runtime = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime"),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let store = {
        let _context = runtime.enter();
        Arc::new(SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open"))
    };
    let conclusion = eider_service::conformance::run_as_tests(runtime.clone(), store.clone());
    if conclusion.has_failed() {
        return conclusion.exit_code();
    }
    let problems = runtime.block_on(store.verify()).expect("verify");
    if !problems.is_empty() {
        eprintln!("invariants broken after the rules: {problems:?}");
        return ExitCode::FAILURE;
    }
    if let Ok(store) = Arc::try_unwrap(store) {
        runtime.block_on(store.close());
    }
    ExitCode::SUCCESS
}
