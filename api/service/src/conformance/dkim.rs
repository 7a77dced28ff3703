//! Store conformance rules for DKIM keys (`DkimStore`). Run from `conformance::run_all`.

use chrono::{TimeZone, Utc};

use crate::model::Paging;
use crate::{DkimAlgorithm, DkimKey, ObjectId, Store};

pub(super) fn rules<S: Store>() -> Vec<super::Rule<S>> {
    crate::conformance_rules![dkim_one_key_per_domain, dkim_list_filters_and_pages,]
}

fn key(domain: &str, selector: &str) -> DkimKey {
    DkimKey {
        id: ObjectId::new(),
        domain: domain.to_string(),
        selector: selector.to_string(),
        description: Some("test key".into()),
        algorithm: DkimAlgorithm::Ed25519,
        private_key: "$eider-gcm$sealed".into(),
        public_key: "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n"
            .into(),
        dns_public_key: "MCowBQYDK2VwAyEA".into(),
        fingerprint: "aa:bb".into(),
        created: Utc
            .timestamp_millis_opt(Utc::now().timestamp_millis())
            .single()
            .expect("valid instant"),
    }
}

/// A second key for a domain replaces the first and keeps its id; lookups by id
/// and by domain agree; delete removes it once.
async fn dkim_one_key_per_domain<S: Store>(store: &S) {
    let domain = format!("d{}.example.com", ObjectId::new().to_hex());
    let first = key(&domain, "s1");
    let (stored, created) = store.set_dkim_key(&first).await.expect("set");
    assert!(created);
    assert_eq!(stored, first, "reads back as written");
    let second = DkimKey {
        id: ObjectId::new(),
        selector: "s2".into(),
        algorithm: DkimAlgorithm::Rsa,
        description: None,
        ..key(&domain, "s2")
    };
    let (replaced, created) = store.set_dkim_key(&second).await.expect("replace");
    assert!(!created, "the domain had a key");
    assert_eq!(replaced.id, first.id, "the domain keeps its id");
    assert_eq!(replaced.selector, "s2");
    assert_eq!(replaced.algorithm, DkimAlgorithm::Rsa);
    assert_eq!(replaced.description, None);
    assert_eq!(
        store.get_dkim_key(first.id).await.expect("get"),
        Some(replaced.clone())
    );
    assert_eq!(
        store.find_dkim_key(&domain).await.expect("find"),
        Some(replaced.clone())
    );
    assert_eq!(store.get_dkim_key(second.id).await.expect("get"), None);
    assert_eq!(
        store
            .find_dkim_key(&format!("x.{domain}"))
            .await
            .expect("find"),
        None,
        "no suffix matching in the store"
    );
    assert!(store.delete_dkim_key(first.id).await.expect("delete"));
    assert!(!store.delete_dkim_key(first.id).await.expect("again"));
    assert_eq!(store.find_dkim_key(&domain).await.expect("find"), None);
}

/// Listing filters by a substring of the domain and pages by id.
async fn dkim_list_filters_and_pages<S: Store>(store: &S) {
    let tag = ObjectId::new().to_hex();
    let mut ids = Vec::new();
    for i in 0..3 {
        let k = key(&format!("l{i}.{tag}.example.org"), "sel");
        ids.push(k.id);
        store.set_dkim_key(&k).await.expect("set");
    }
    store
        .set_dkim_key(&key(
            &format!("other{}.example.org", ObjectId::new().to_hex()),
            "sel",
        ))
        .await
        .expect("set other");
    let all = store
        .list_dkim_keys(Some(&tag), &Paging::default())
        .await
        .expect("list");
    assert_eq!(all.total, 3);
    assert_eq!(all.results.iter().map(|k| k.id).collect::<Vec<_>>(), ids);
    let first = store
        .list_dkim_keys(
            Some(&tag),
            &Paging {
                limit: 2,
                ..Default::default()
            },
        )
        .await
        .expect("page 1");
    assert_eq!(first.results.len(), 2);
    assert_eq!(first.total, 3);
    let next = first.next.clone().expect("a next page");
    let second = store
        .list_dkim_keys(
            Some(&tag),
            &Paging {
                limit: 2,
                next: Some(next),
                ..Default::default()
            },
        )
        .await
        .expect("page 2");
    assert_eq!(
        second.results.iter().map(|k| k.id).collect::<Vec<_>>(),
        ids[2..]
    );
    assert!(second.next.is_none());
    for id in ids {
        store.delete_dkim_key(id).await.expect("cleanup");
    }
}
