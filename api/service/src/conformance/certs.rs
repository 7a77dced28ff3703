//! Store conformance rules for TLS certificates (`CertStore`). Run from
//! `conformance::run_all`.

use chrono::{Duration, TimeZone, Utc};

use crate::model::Paging;
use crate::{ObjectId, Store, TlsCert};

pub(super) fn rules<S: Store>() -> Vec<super::Rule<S>> {
    crate::conformance_rules![
        certs_one_per_servername_and_version,
        certs_list_by_name_and_alt_names,
    ]
}

fn now_ms() -> chrono::DateTime<Utc> {
    Utc.timestamp_millis_opt(Utc::now().timestamp_millis())
        .single()
        .expect("valid instant")
}

fn cert(servername: &str, alt_names: &[&str]) -> TlsCert {
    let now = now_ms();
    TlsCert {
        id: ObjectId::new(),
        servername: servername.to_string(),
        description: None,
        cert: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into(),
        private_key: "$eider-gcm$sealed".into(),
        fingerprint: "aa:bb".into(),
        alt_names: alt_names.iter().map(|s| s.to_string()).collect(),
        expires: now + Duration::days(90),
        acme: false,
        created: now,
        updated: now,
    }
}

/// A second certificate for a name replaces the first, keeping id and created; each
/// set and delete moves the version.
async fn certs_one_per_servername_and_version<S: Store>(store: &S) {
    let name = format!("c{}.example.com", ObjectId::new().to_hex());
    let v0 = store.certs_version().await.expect("version");
    let first = cert(&name, &[&name]);
    let (stored, created) = store.set_cert(&first).await.expect("set");
    assert!(created);
    assert_eq!(stored, first);
    let v1 = store.certs_version().await.expect("version");
    assert_ne!(v1, v0, "a new certificate moves the version");
    let mut second = cert(&name, &[&name, "*.example.net"]);
    second.created = first.created + Duration::days(1);
    second.updated = first.updated + Duration::days(1);
    second.description = Some("renewed".into());
    let (replaced, created) = store.set_cert(&second).await.expect("replace");
    assert!(!created);
    assert_eq!(replaced.id, first.id, "the name keeps its id");
    assert_eq!(replaced.created, first.created, "and its created date");
    assert_eq!(replaced.updated, second.updated);
    assert_eq!(replaced.alt_names, second.alt_names);
    assert_eq!(replaced.description.as_deref(), Some("renewed"));
    let v2 = store.certs_version().await.expect("version");
    assert_ne!(v2, v1, "a replaced certificate moves the version");
    assert_eq!(
        store.get_cert(first.id).await.expect("get"),
        Some(replaced.clone())
    );
    assert_eq!(store.find_cert(&name).await.expect("find"), Some(replaced));
    assert!(store.delete_cert(first.id).await.expect("delete"));
    assert_ne!(
        store.certs_version().await.expect("version"),
        v2,
        "delete moves it"
    );
    assert!(!store.delete_cert(first.id).await.expect("again"));
    assert_eq!(store.find_cert(&name).await.expect("find"), None);
}

/// Listing by a part of the servername, or also by alternative names (including the
/// wildcard of the query's parent domain) when asked.
async fn certs_list_by_name_and_alt_names<S: Store>(store: &S) {
    let tag = ObjectId::new().to_hex();
    let plain = cert(&format!("mail.{tag}.example"), &[]);
    let wild = cert(&format!("w{tag}.example"), &[&format!("*.{tag}.example")]);
    store.set_cert(&plain).await.expect("plain");
    store.set_cert(&wild).await.expect("wild");
    let by_name = store
        .list_certs(Some(&format!("mail.{tag}")), false, &Paging::default())
        .await
        .expect("list");
    assert_eq!(
        by_name.results.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![plain.id]
    );
    // imap.<tag>.example: no servername contains it, the wildcard covers it.
    let query = format!("imap.{tag}.example");
    let none = store
        .list_certs(Some(&query), false, &Paging::default())
        .await
        .expect("list");
    assert_eq!(none.total, 0);
    let alt = store
        .list_certs(Some(&query), true, &Paging::default())
        .await
        .expect("list alt");
    assert_eq!(
        alt.results.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![wild.id]
    );
    let all = store
        .list_certs(None, false, &Paging::default())
        .await
        .expect("all");
    assert!(all.total >= 2);
    for id in [plain.id, wild.id] {
        store.delete_cert(id).await.expect("cleanup");
    }
}
