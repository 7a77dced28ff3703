//! The shared Store conformance suite on MongoDB (SecantusDB in CI), one test per rule.

mod support;

use std::process::ExitCode;
use std::sync::Arc;

use eider_store_mongo::MongoStore;

fn main() -> ExitCode {
    let Some(url) = support::service_url("EIDER_TEST_MONGO_URL") else {
        return ExitCode::SUCCESS;
    };
    let runtime = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime"),
    );
    let (url, _) = support::fresh_database(&url, "conformance");
    let store = Arc::new(
        runtime
            .block_on(MongoStore::connect(&url))
            .expect("connect"),
    );
    let conclusion = eider_service::conformance::run_as_tests(runtime.clone(), store.clone());
    runtime
        .block_on(async { store.database().drop().await })
        .expect("drop test database");
    conclusion.exit_code()
}
