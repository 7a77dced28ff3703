//! `openapi/openapi.json` is generated from the code; this test fails when the
//! committed copy no longer matches what the handlers describe.

use std::path::PathBuf;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../openapi/openapi.json")
}

#[test]
fn committed_openapi_document_is_current() {
    let current = eider_http::openapi_json();
    let path = committed_path();
    if std::env::var_os("EIDER_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &current).expect("write openapi/openapi.json");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == current,
        "openapi/openapi.json is stale or missing.\nRegenerate it with:\n    \
         EIDER_UPDATE_OPENAPI=1 cargo test -p eider-http --test openapi\nand commit the result."
    );
}

#[test]
fn document_covers_the_routes() {
    let doc: serde_json::Value =
        serde_json::from_str(&eider_http::openapi_json()).expect("valid JSON");
    let paths = doc["paths"].as_object().expect("paths");
    for p in [
        "/users",
        "/users/{user}",
        "/users/{user}/mailboxes/{mailbox}/messages/{message}/message.eml",
        "/users/{user}/updates",
        "/authenticate",
        "/domainaliases/{alias}",
    ] {
        assert!(paths.contains_key(p), "{p} is not documented");
    }
    assert!(doc["components"]["securitySchemes"]["AccessTokenAuth"].is_object());
}
