//! WebAuthn second factor over a real socket against the real router, with a
//! software passkey as the authenticator: register, list, authenticate (lifting a
//! pending token's limitation), delete; and the failures around them.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use eider_http::{AccessControl, ApiConfig};
use eider_service::{InProcessBus, Service, ServiceConfig};
use eider_store_sqlite::{SqliteOptions, SqliteStore};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use webauthn_authenticator_rs::prelude::{
    CreationChallengeResponse, RequestChallengeResponse, Url, WebauthnAuthenticator,
};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

const ROOT: &str = "root-secret-for-tests";
const ORIGIN: &str = "https://mail.example.com";

struct Api {
    addr: std::net::SocketAddr,
    _dir: tempfile::TempDir,
}

impl Api {
    async fn start() -> Api {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("store");
        let service = Service::new(
            Arc::new(store),
            Arc::new(InProcessBus::new()),
            ServiceConfig::default(),
        );
        let config = ApiConfig {
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
            webmail: false,
        };
        let server = eider_http::bind(service, &config).await.expect("bind");
        let addr = server.local_addr().expect("addr");
        tokio::spawn(server.run(std::future::pending()));
        Api { addr, _dir: dir }
    }

    /// One request on its own connection: (status, JSON body).
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut sock = tokio::net::TcpStream::connect(self.addr)
            .await
            .expect("connect");
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nX-Access-Token: {token}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        sock.write_all(req.as_bytes()).await.expect("write");
        let mut raw = Vec::new();
        sock.read_to_end(&mut raw).await.expect("read");
        let text = String::from_utf8_lossy(&raw);
        let status: u16 = text[9..12].parse().expect("status");
        let (head, payload) = text.split_once("\r\n\r\n").expect("head");
        let payload = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(payload)
        } else {
            payload.to_string()
        };
        let json = serde_json::from_str(&payload).unwrap_or(Value::Null);
        (status, json)
    }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

fn hex_to_b64(v: &Value) -> Value {
    json!(URL_SAFE_NO_PAD.encode(hex::decode(v.as_str().expect("hex")).expect("hex")))
}

fn b64_to_hex(v: &Value) -> String {
    hex::encode(
        URL_SAFE_NO_PAD
            .decode(v.as_str().expect("b64"))
            .expect("b64"),
    )
}

/// WildDuck's registrationOptions (hex) back into the browser's shape.
fn creation_options(opts: &Value) -> CreationChallengeResponse {
    let mut pk = opts.clone();
    pk["challenge"] = hex_to_b64(&opts["challenge"]);
    pk["user"]["id"] = hex_to_b64(&opts["user"]["id"]);
    if let Some(list) = pk["excludeCredentials"].as_array_mut() {
        for c in list {
            *c = json!({"type": "public-key", "id": hex_to_b64(&c["rawId"])});
        }
    }
    serde_json::from_value(json!({ "publicKey": pk })).expect("creation options")
}

fn request_options(opts: &Value) -> RequestChallengeResponse {
    let mut pk = opts.clone();
    pk["challenge"] = hex_to_b64(&opts["challenge"]);
    if let Some(list) = pk["allowCredentials"].as_array_mut() {
        for c in list {
            *c = json!({"type": "public-key", "id": hex_to_b64(&c["rawId"])});
        }
    }
    serde_json::from_value(json!({ "publicKey": pk })).expect("request options")
}

async fn create_user(api: &Api, name: &str) -> String {
    let (status, body) = api
        .call(
            "POST",
            "/users",
            ROOT,
            Some(json!({"username": name, "password": "correct horse battery"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["id"].as_str().expect("id").to_string()
}

/// Registration challenge → soft passkey → attestation; returns the response.
async fn register(api: &Api, user: &str, key: &mut SoftPasskey) -> Value {
    let (status, body) = api
        .call(
            "POST",
            &format!("/users/{user}/2fa/webauthn/registration-challenge"),
            ROOT,
            Some(
                json!({"description": "soft key", "origin": ORIGIN, "rpId": "example.com",
                "authenticatorAttachment": "cross-platform"}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let opts = &body["registrationOptions"];
    assert_eq!(opts["rp"]["id"], "example.com");
    assert_eq!(opts["user"]["id"], user);
    let cred = key
        .do_registration(Url::parse(ORIGIN).unwrap(), creation_options(opts))
        .expect("soft registration");
    let cred = serde_json::to_value(&cred).unwrap();
    let (status, body) = api
        .call(
            "POST",
            &format!("/users/{user}/2fa/webauthn/registration-attestation"),
            ROOT,
            Some(json!({
                "challenge": opts["challenge"],
                "rawId": b64_to_hex(&cred["rawId"]),
                "clientDataJSON": b64_to_hex(&cred["response"]["clientDataJSON"]),
                "attestationObject": b64_to_hex(&cred["response"]["attestationObject"]),
                "rpId": "example.com",
            })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Authentication challenge → soft passkey: (challenge hex, assertion body).
async fn assertion(api: &Api, user: &str, token: &str, key: &mut SoftPasskey) -> (String, Value) {
    let (status, body) = api
        .call(
            "POST",
            &format!("/users/{user}/2fa/webauthn/authentication-challenge"),
            token,
            Some(json!({"origin": ORIGIN, "rpId": "example.com"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let opts = &body["authenticationOptions"];
    let challenge = opts["challenge"].as_str().unwrap().to_string();
    let cred = key
        .do_authentication(Url::parse(ORIGIN).unwrap(), request_options(opts))
        .expect("soft authentication");
    let cred = serde_json::to_value(&cred).unwrap();
    let body = json!({
        "challenge": challenge,
        "rawId": b64_to_hex(&cred["rawId"]),
        "clientDataJSON": b64_to_hex(&cred["response"]["clientDataJSON"]),
        "authenticatorData": b64_to_hex(&cred["response"]["authenticatorData"]),
        "signature": b64_to_hex(&cred["response"]["signature"]),
        "rpId": "example.com",
    });
    (challenge, body)
}

#[tokio::test]
async fn register_list_authenticate_upgrade_delete() {
    let api = Api::start().await;
    let user = create_user(&api, "webauthnuser").await;
    let mut key = SoftPasskey::new(true);

    let registered = register(&api, &user, &mut key).await;
    assert_eq!(registered["description"], "soft key");
    assert_eq!(registered["authenticatorAttachment"], "cross-platform");
    let cred_id = registered["id"].as_str().unwrap().to_string();

    let (status, list) = api
        .call(
            "GET",
            &format!("/users/{user}/2fa/webauthn/credentials"),
            ROOT,
            None,
        )
        .await;
    assert_eq!(status, 200, "{list}");
    let creds = list["credentials"].as_array().unwrap();
    assert_eq!(creds.len(), 1);
    assert_eq!(creds[0]["id"], cred_id.as_str());
    assert_eq!(creds[0]["rawId"], registered["rawId"]);

    // A password login now yields a token that waits for its second factor.
    let (status, auth) = api
        .call(
            "POST",
            "/authenticate",
            ROOT,
            Some(
                json!({"username": "webauthnuser", "password": "correct horse battery",
                "scope": "master", "token": true}),
            ),
        )
        .await;
    assert_eq!(status, 200, "{auth}");
    assert!(auth["require2fa"]
        .as_array()
        .unwrap()
        .contains(&json!("webauthn")));
    let token = auth["token"].as_str().unwrap().to_string();
    let (status, _) = api
        .call("GET", &format!("/users/{user}"), &token, None)
        .await;
    assert_eq!(status, 403, "a pending token reaches only the 2FA routes");

    let (_, body) = assertion(&api, &user, &token, &mut key).await;
    let (status, res) = api
        .call(
            "POST",
            &format!("/users/{user}/2fa/webauthn/authentication-assertion"),
            &token,
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(res["response"]["authenticated"], true);
    assert_eq!(res["response"]["credential"], cred_id.as_str());

    let (status, info) = api
        .call("GET", &format!("/users/{user}"), &token, None)
        .await;
    assert_eq!(status, 200, "the token is upgraded: {info}");

    // The challenge was single-use.
    let (status, res) = api
        .call(
            "POST",
            &format!("/users/{user}/2fa/webauthn/authentication-assertion"),
            &token,
            Some(body),
        )
        .await;
    assert_eq!(status, 403, "{res}");

    let (status, del) = api
        .call(
            "DELETE",
            &format!("/users/{user}/2fa/webauthn/credentials/{cred_id}"),
            ROOT,
            None,
        )
        .await;
    assert_eq!(status, 200, "{del}");
    assert_eq!(del["deleted"], true);
    let (_, list) = api
        .call(
            "GET",
            &format!("/users/{user}/2fa/webauthn/credentials"),
            ROOT,
            None,
        )
        .await;
    assert_eq!(list["credentials"].as_array().unwrap().len(), 0);
    let (_, del) = api
        .call(
            "DELETE",
            &format!("/users/{user}/2fa/webauthn/credentials/{cred_id}"),
            ROOT,
            None,
        )
        .await;
    assert_eq!(del["deleted"], false);

    // Without credentials, no authentication challenge.
    let (status, res) = api
        .call(
            "POST",
            &format!("/users/{user}/2fa/webauthn/authentication-challenge"),
            ROOT,
            Some(json!({"origin": ORIGIN})),
        )
        .await;
    assert_eq!(status, 400, "{res}");
    assert_eq!(res["code"], "WebAuthnDisabled");
}

#[tokio::test]
async fn wrong_challenge_and_unknown_credential_fail() {
    let api = Api::start().await;
    let user = create_user(&api, "webauthnfail").await;
    let mut key = SoftPasskey::new(true);
    register(&api, &user, &mut key).await;

    // An attestation for a challenge never handed out.
    let (status, res) = api
        .call(
            "POST",
            &format!("/users/{user}/2fa/webauthn/registration-attestation"),
            ROOT,
            Some(
                json!({"challenge": "00112233", "rawId": "0011", "clientDataJSON": "7b7d",
                "attestationObject": "a0"}),
            ),
        )
        .await;
    assert_eq!(status, 403, "{res}");
    assert_eq!(res["code"], "InvalidU2fRequest");

    // A valid signature sent with another challenge.
    let (_, mut body) = assertion(&api, &user, ROOT, &mut key).await;
    body["challenge"] = json!("00".repeat(32));
    let (status, res) = api
        .call(
            "POST",
            &format!("/users/{user}/2fa/webauthn/authentication-assertion"),
            ROOT,
            Some(body),
        )
        .await;
    assert_eq!(status, 403, "{res}");
    assert_eq!(res["code"], "InvalidU2fRequest");

    // A key registered elsewhere signs this user's real challenge.
    let mut other = SoftPasskey::new(true);
    let other_user = create_user(&api, "webauthnother").await;
    let other_cred = register(&api, &other_user, &mut other).await;
    let (status, res) = api
        .call(
            "POST",
            &format!("/users/{user}/2fa/webauthn/authentication-challenge"),
            ROOT,
            Some(json!({"origin": ORIGIN, "rpId": "example.com"})),
        )
        .await;
    assert_eq!(status, 200, "{res}");
    let mut opts = res["authenticationOptions"].clone();
    opts["allowCredentials"] = json!([{"rawId": other_cred["rawId"], "type": "public-key"}]);
    let cred = other
        .do_authentication(Url::parse(ORIGIN).unwrap(), request_options(&opts))
        .expect("soft authentication");
    let cred = serde_json::to_value(&cred).unwrap();
    let forged = json!({
        "challenge": opts["challenge"],
        "rawId": b64_to_hex(&cred["rawId"]),
        "clientDataJSON": b64_to_hex(&cred["response"]["clientDataJSON"]),
        "authenticatorData": b64_to_hex(&cred["response"]["authenticatorData"]),
        "signature": b64_to_hex(&cred["response"]["signature"]),
    });
    let (status, res) = api
        .call(
            "POST",
            &format!("/users/{user}/2fa/webauthn/authentication-assertion"),
            ROOT,
            Some(forged),
        )
        .await;
    assert_eq!(status, 403, "{res}");
    assert_eq!(res["code"], "InvalidU2fRequest");
}
