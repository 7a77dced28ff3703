//! Conformance rules of the `AuthStore` (application passwords, 2FA records, access
//! tokens, the auth log, password-hash replacement), run by `conformance::run_all`.

use chrono::{Duration, Utc};
use serde_json::json;

use crate::model::*;
use crate::WebauthnCredential;
use crate::{AccessToken, Asp, AspUse, AuthEvent, AuthEventQuery, ObjectId, Store, TwoFactor};

/// Run every AuthStore rule in turn.
pub(super) fn rules<S: Store>() -> Vec<super::Rule<S>> {
    crate::conformance_rules![
        password_hash_is_replaced_only_when_unchanged,
        asps_crud_and_use,
        two_factor_records,
        access_tokens,
        auth_log_merges_and_pages,
        user_auth_cleanup,
    ]
}

async fn new_user<S: Store>(store: &S, password: Option<&str>) -> User {
    let name = format!("auth{}", ObjectId::new().to_hex());
    let user = User {
        id: ObjectId::new(),
        username: name.clone(),
        unameview: name.clone(),
        name: None,
        address: String::new(),
        password: password.map(str::to_string),
        quota: 0,
        storage_used: 0,
        disabled: false,
        suspended: false,
        tags: Vec::new(),
        meta_data: json!({}),
        internal_data: json!({}),
        profile: UserProfile::default(),
        created: Utc::now(),
    };
    store
        .create_user(&user, None, &[])
        .await
        .expect("create user");
    user
}

/// Now, at the stores' millisecond precision (so records compare equal).
fn now_ms() -> chrono::DateTime<Utc> {
    chrono::DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap_or_default()
}

fn asp(user: ObjectId, description: &str, ttl: Option<u64>) -> Asp {
    let now = now_ms();
    Asp {
        id: ObjectId::new(),
        user,
        description: description.into(),
        scopes: vec!["imap".into(), "smtp".into()],
        password: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA".into(),
        selector: "1f".into(),
        ttl,
        expires: ttl.map(|t| now + Duration::seconds(t as i64)),
        created: now,
        last_use: None,
    }
}

async fn password_hash_is_replaced_only_when_unchanged<S: Store>(store: &S) {
    let u = new_user(store, Some("$1$old$hash")).await;
    assert!(!store
        .replace_password_hash(u.id, "$1$other$hash", "$argon2id$new")
        .await
        .expect("cas miss"));
    assert!(store
        .replace_password_hash(u.id, "$1$old$hash", "$argon2id$new")
        .await
        .expect("cas hit"));
    let got = store.get_user(u.id).await.expect("get").expect("exists");
    assert_eq!(got.password.as_deref(), Some("$argon2id$new"));
    assert!(!store
        .replace_password_hash(ObjectId::new(), "$argon2id$new", "x")
        .await
        .expect("unknown user"));
}

async fn asps_crud_and_use<S: Store>(store: &S) {
    let u = new_user(store, None).await;
    let other = new_user(store, None).await;
    let a = asp(u.id, "phone", None);
    let b = asp(u.id, "laptop", Some(3600));
    store.create_asp(&a).await.expect("create a");
    store.create_asp(&b).await.expect("create b");
    store
        .create_asp(&asp(other.id, "theirs", None))
        .await
        .expect("create other");

    let list = store.list_asps(u.id).await.expect("list");
    assert_eq!(
        list.iter().map(|x| x.id).collect::<Vec<_>>(),
        vec![a.id, b.id],
        "a user's ASPs in creation order, nobody else's"
    );
    assert_eq!(list[0], a, "stored fields round-trip");
    assert_eq!(
        store.get_asp(u.id, b.id).await.expect("get"),
        Some(b.clone())
    );
    assert_eq!(store.get_asp(other.id, a.id).await.expect("get"), None);

    let used = AspUse {
        time: Utc::now(),
        event: Some(ObjectId::new()),
        ip: Some("192.0.2.1".into()),
    };
    let expires = Utc::now() + Duration::seconds(7200);
    store
        .record_asp_use(u.id, b.id, &used, Some(expires))
        .await
        .expect("use");
    let got = store.get_asp(u.id, b.id).await.expect("get").expect("b");
    let last = got.last_use.expect("last use recorded");
    assert_eq!(last.event, used.event);
    assert_eq!(last.ip, used.ip);
    assert_eq!(last.time.timestamp_millis(), used.time.timestamp_millis());
    assert_eq!(
        got.expires.map(|e| e.timestamp_millis()),
        Some(expires.timestamp_millis())
    );
    // Without a new expiry the old one stays.
    store
        .record_asp_use(u.id, a.id, &used, None)
        .await
        .expect("use a");
    let got = store.get_asp(u.id, a.id).await.expect("get").expect("a");
    assert_eq!(got.expires, None);

    assert!(!store.delete_asp(other.id, a.id).await.expect("not theirs"));
    assert!(store.delete_asp(u.id, a.id).await.expect("delete"));
    assert!(!store.delete_asp(u.id, a.id).await.expect("gone"));
    assert_eq!(store.list_asps(u.id).await.expect("list").len(), 1);
}

async fn two_factor_records<S: Store>(store: &S) {
    let u = new_user(store, None).await;
    let v = new_user(store, None).await;
    assert_eq!(store.get_two_factor(u.id).await.expect("get"), None);
    let state = TwoFactor {
        enabled: vec!["totp".into(), "webauthn".into()],
        totp_seed: Some("JBSWY3DPEHPK3PXP".into()),
        totp_pending: None,
        totp_pending_created: None,
        webauthn: vec![WebauthnCredential {
            id: ObjectId::new(),
            raw_id: vec![1, 2, 3, 255],
            description: "key".into(),
            authenticator_attachment: "cross-platform".into(),
            credential: json!({"cred": {"counter": 3}}),
            created: Utc::now(),
        }],
        webauthn_challenges: Vec::new(),
    };
    store.put_two_factor(u.id, Some(&state)).await.expect("put");
    let got = store
        .get_two_factor(u.id)
        .await
        .expect("get")
        .expect("some");
    assert_eq!(got.enabled, state.enabled);
    assert_eq!(got.totp_seed, state.totp_seed);
    assert_eq!(got.webauthn.len(), 1);
    assert_eq!(got.webauthn[0].raw_id, vec![1, 2, 3, 255]);
    assert_eq!(got.webauthn[0].credential, state.webauthn[0].credential);

    // Replace, then list several users at once.
    let custom = TwoFactor {
        enabled: vec!["custom".into()],
        ..Default::default()
    };
    store
        .put_two_factor(v.id, Some(&custom))
        .await
        .expect("put v");
    let many = store
        .enabled_two_factor(&[u.id, v.id, ObjectId::new()])
        .await
        .expect("many");
    assert_eq!(many.len(), 2);
    assert!(many.contains(&(v.id, vec!["custom".to_string()])));
    store.put_two_factor(u.id, None).await.expect("remove");
    assert_eq!(store.get_two_factor(u.id).await.expect("get"), None);
}

async fn access_tokens<S: Store>(store: &S) {
    let u = new_user(store, None).await;
    let now = Utc::now();
    let token = |hash: &str, expires: chrono::DateTime<Utc>, pending: bool| AccessToken {
        hash: hash.to_string(),
        user: u.id,
        created: now,
        expires,
        pending_2fa: pending,
    };
    let live = format!("{}a", u.id.to_hex());
    let pending = format!("{}b", u.id.to_hex());
    let stale = format!("{}c", u.id.to_hex());
    store
        .create_token(&token(&live, now + Duration::hours(1), false))
        .await
        .expect("live");
    store
        .create_token(&token(&pending, now + Duration::hours(1), true))
        .await
        .expect("pending");
    store
        .create_token(&token(&stale, now - Duration::hours(1), false))
        .await
        .expect("stale");
    let got = store.get_token(&pending).await.expect("get").expect("some");
    assert!(got.pending_2fa);
    assert_eq!(got.user, u.id);
    assert!(store.confirm_token(&pending).await.expect("confirm"));
    assert!(
        !store
            .get_token(&pending)
            .await
            .expect("get")
            .expect("some")
            .pending_2fa
    );
    assert!(!store.confirm_token("unknown").await.expect("unknown"));
    assert!(store.purge_expired_tokens(now).await.expect("purge") >= 1);
    assert_eq!(store.get_token(&stale).await.expect("get"), None);
    assert!(store.delete_token(&live).await.expect("delete"));
    assert!(!store.delete_token(&live).await.expect("gone"));
    assert_eq!(store.delete_user_tokens(u.id).await.expect("all"), 1);
    assert_eq!(store.get_token(&pending).await.expect("get"), None);
}

fn event(user: ObjectId, key: &str, action: &str, ip: &str) -> AuthEvent {
    let now = Utc::now();
    AuthEvent {
        id: ObjectId::new(),
        user,
        action: action.into(),
        result: "fail".into(),
        protocol: Some("IMAP".into()),
        required_scope: Some("imap".into()),
        source: Some("master".into()),
        asp: None,
        aname: None,
        require2fa: None,
        ip: Some(ip.into()),
        sess: None,
        created: now,
        last: now,
        events: 1,
        expires: now + Duration::days(30),
        key: key.into(),
    }
}

async fn auth_log_merges_and_pages<S: Store>(store: &S) {
    let u = new_user(store, None).await;
    let since = Utc::now() - Duration::hours(6);
    let first = store
        .record_auth_event(&event(u.id, "k1", "authentication", "192.0.2.1"), since)
        .await
        .expect("first");
    let again = store
        .record_auth_event(&event(u.id, "k1", "authentication", "192.0.2.1"), since)
        .await
        .expect("merged");
    assert_eq!(first, again, "same key within the window merges");
    let merged = store
        .get_auth_event(u.id, first)
        .await
        .expect("get")
        .expect("some");
    assert_eq!(merged.events, 2);
    // A window that starts after the entry was created: a new entry.
    let later = Utc::now() + Duration::seconds(1);
    let fresh = store
        .record_auth_event(&event(u.id, "k1", "authentication", "192.0.2.1"), later)
        .await
        .expect("fresh");
    assert_ne!(fresh, first);
    let mut ids = vec![first, fresh];
    for i in 0..5 {
        ids.push(
            store
                .record_auth_event(
                    &event(u.id, &format!("x{i}"), "create asp", "198.51.100.7"),
                    since,
                )
                .await
                .expect("more"),
        );
    }
    // An expired entry is not listed.
    let mut old = event(u.id, "old", "authentication", "192.0.2.1");
    old.expires = Utc::now() - Duration::seconds(1);
    store.record_auth_event(&old, since).await.expect("expired");

    let query = |limit: u32, next: Option<String>, previous: Option<String>| AuthEventQuery {
        user: u.id,
        action: None,
        ip: None,
        paging: Paging {
            limit,
            next,
            previous,
            page: None,
        },
    };
    let p1 = store
        .list_auth_events(&query(3, None, None))
        .await
        .expect("page 1");
    assert_eq!(p1.total, 7);
    let newest_first: Vec<ObjectId> = ids.iter().rev().copied().collect();
    assert_eq!(
        p1.results.iter().map(|e| e.id).collect::<Vec<_>>(),
        newest_first[..3].to_vec()
    );
    assert!(p1.previous.is_none());
    let p2 = store
        .list_auth_events(&query(3, p1.next.clone(), None))
        .await
        .expect("page 2");
    assert_eq!(
        p2.results.iter().map(|e| e.id).collect::<Vec<_>>(),
        newest_first[3..6].to_vec()
    );
    let back = store
        .list_auth_events(&query(3, None, p2.previous.clone()))
        .await
        .expect("back");
    assert_eq!(
        back.results.iter().map(|e| e.id).collect::<Vec<_>>(),
        newest_first[..3].to_vec()
    );
    let p3 = store
        .list_auth_events(&query(3, p2.next.clone(), None))
        .await
        .expect("page 3");
    assert_eq!(p3.results.len(), 1);
    assert!(p3.next.is_none());

    let by_action = store
        .list_auth_events(&AuthEventQuery {
            action: Some("create asp".into()),
            ..query(0, None, None)
        })
        .await
        .expect("action");
    assert_eq!(by_action.total, 5);
    let by_ip = store
        .list_auth_events(&AuthEventQuery {
            ip: Some("192.0.2.1".into()),
            ..query(0, None, None)
        })
        .await
        .expect("ip");
    assert_eq!(by_ip.total, 2);
    let stranger = new_user(store, None).await;
    assert_eq!(
        store.get_auth_event(stranger.id, first).await.expect("get"),
        None
    );
}

async fn user_auth_cleanup<S: Store>(store: &S) {
    let u = new_user(store, None).await;
    store.create_asp(&asp(u.id, "x", None)).await.expect("asp");
    store
        .put_two_factor(
            u.id,
            Some(&TwoFactor {
                enabled: vec!["custom".into()],
                ..Default::default()
            }),
        )
        .await
        .expect("2fa");
    let now = Utc::now();
    store
        .create_token(&AccessToken {
            hash: format!("cleanup{}", u.id.to_hex()),
            user: u.id,
            created: now,
            expires: now + Duration::hours(1),
            pending_2fa: false,
        })
        .await
        .expect("token");
    let e = store
        .record_auth_event(&event(u.id, "k", "authentication", "192.0.2.9"), now)
        .await
        .expect("event");
    store.delete_user_auth(u.id).await.expect("cleanup");
    assert!(store.list_asps(u.id).await.expect("asps").is_empty());
    assert_eq!(store.get_two_factor(u.id).await.expect("2fa"), None);
    assert_eq!(
        store
            .get_token(&format!("cleanup{}", u.id.to_hex()))
            .await
            .expect("token"),
        None
    );
    assert_eq!(store.get_auth_event(u.id, e).await.expect("event"), None);
}
