//! The shared Store conformance suite on MongoDB (SecantusDB in CI).

mod support;

use eider_store_mongo::MongoStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongo_store_conforms() {
    let Some(url) = support::service_url("EIDER_TEST_MONGO_URL") else {
        return;
    };
    let (url, _) = support::fresh_database(&url, "conformance");
    let store = MongoStore::connect(&url).await.expect("connect");
    eider_service::conformance::run_all(&store).await;
    store.database().drop().await.expect("drop test database");
}
