//! The webmail's routes on the real router: static files with their policy, public
//! while the API needs a token, absent when turned off; and POST /authenticate, open
//! without a token only while the webmail is served.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use eider_http::{AccessControl, ApiConfig};
use eider_service::{InProcessBus, Service, ServiceConfig};
use eider_store_sqlite::{SqliteOptions, SqliteStore};
use serde_json::{json, Value};
use tower::ServiceExt;

const ROOT: &str = "root-secret-for-webmail-tests";

fn config(webmail: bool) -> ApiConfig {
    ApiConfig {
        enabled: true,
        host: "127.0.0.1".into(),
        port: 0,
        max_mb: 10,
        max_clients: 0,
        max_clients_per_ip: 0,
        access_control: AccessControl {
            enabled: true,
            secret: ROOT.into(),
            allow_insecure: false,
        },
        allow_hosts: Vec::new(),
        allow_origins: Vec::new(),
        user_address_domains: Vec::new(),
        header_timeout: 30,
        request_timeout: 300,
        write_timeout: 60,
        mobileconfig: Default::default(),
        webmail,
    }
}

fn router(webmail: bool) -> (axum::Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("store");
    let service = Service::new(
        Arc::new(store),
        Arc::new(InProcessBus::new()),
        ServiceConfig::default(),
    );
    (eider_http::router(service, &config(webmail)), dir)
}

async fn call(
    app: &axum::Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("Host", "localhost");
    if let Some(t) = token {
        req = req.header("X-Access-Token", t);
    }
    let req = match body {
        Some(b) => req
            .header("Content-Type", "application/json")
            .body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    }
    .expect("request");
    let res = app.clone().oneshot(req).await.expect("response");
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .expect("body");
    (status, headers, bytes.to_vec())
}

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("json")
}

#[tokio::test]
async fn pages_are_served_with_their_policy_and_public() {
    let (app, _dir) = router(true);
    let (status, headers, body) = call(&app, "GET", "/webmail/", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'self'"));
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(String::from_utf8_lossy(&body).contains("app.js"));
    let (status, headers, _) = call(&app, "GET", "/webmail/app.js", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    let (status, headers, _) = call(&app, "GET", "/webmail", None, None).await;
    assert_eq!(status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(headers["location"], "/webmail/");
    let (status, _, body) = call(&app, "GET", "/webmail/nope.js", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(json_of(&body)["code"], "ResourceNotFound");
    // The API itself still needs a token.
    let (status, _, body) = call(&app, "GET", "/users", None, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(json_of(&body)["code"], "InvalidToken");
}

#[tokio::test]
async fn turned_off_there_are_no_pages_and_sign_in_needs_a_token() {
    let (app, _dir) = router(false);
    let (status, _, _) = call(&app, "GET", "/webmail/", None, None).await;
    assert_ne!(status, StatusCode::OK);
    let (status, _, body) = call(
        &app,
        "POST",
        "/authenticate",
        None,
        Some(json!({"username": "x", "password": "y"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(json_of(&body)["code"], "InvalidToken");
}

#[tokio::test]
async fn the_webmail_signs_in_without_a_token_and_gets_a_user_token() {
    let (app, _dir) = router(true);
    let (status, _, body) = call(
        &app,
        "POST",
        "/users",
        Some(ROOT),
        Some(json!({"username": "wendy", "password": "correct horse battery", "address": "wendy@example.com"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    let id = json_of(&body)["id"].as_str().unwrap().to_string();
    let (status, _, body) = call(
        &app,
        "POST",
        "/authenticate",
        None,
        Some(json!({"username": "wendy", "password": "wrong", "token": true})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(json_of(&body)["code"], "AuthFailed");
    let (status, _, body) = call(
        &app,
        "POST",
        "/authenticate",
        None,
        Some(json!({"username": "wendy", "password": "correct horse battery", "token": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let token = json_of(&body)["token"].as_str().unwrap().to_string();
    // The token acts for its user only; the open route opened nothing else.
    let (status, _, _) = call(&app, "GET", &format!("/users/{id}"), Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = call(&app, "GET", "/users", Some(&token), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = call(
        &app,
        "POST",
        "/preauth",
        None,
        Some(json!({"username": "wendy"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
