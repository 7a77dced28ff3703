//! Store conformance rules for operator records: settings (`SettingsStore`), domain
//! access lists (`DomainAccessStore`) and webhooks (`WebhookStore`). Run from
//! `conformance::run_all`. Keys, tags and users are unique per run, so a database
//! shared with earlier runs does not disturb the rules.

use chrono::{TimeZone, Utc};
use serde_json::json;

use crate::model::Paging;
use crate::{DomainAccess, DomainAction, ObjectId, Store, Webhook, WebhookQuery};

pub(super) fn rules<S: Store>() -> Vec<super::Rule<S>> {
    crate::conformance_rules![
        settings_upsert_and_list,
        domain_access_upsert_list_match_delete,
        webhooks_crud_and_matching,
    ]
}

fn now_ms() -> chrono::DateTime<Utc> {
    Utc.timestamp_millis_opt(Utc::now().timestamp_millis())
        .single()
        .expect("valid instant")
}

/// A setting reads back as written (any JSON), a second write replaces the value,
/// and the listing is ordered by key.
async fn settings_upsert_and_list<S: Store>(store: &S) {
    let base = format!("conf:{}", ObjectId::new().to_hex());
    let (a, b) = (format!("{base}:a"), format!("{base}:b"));
    store
        .set_setting(&b, &json!("5m, 7m"))
        .await
        .expect("set b");
    store.set_setting(&a, &json!(10)).await.expect("set a");
    store.set_setting(&a, &json!(20)).await.expect("replace a");
    let all = store.list_settings().await.expect("list");
    let mine: Vec<_> = all.iter().filter(|s| s.key.starts_with(&base)).collect();
    assert_eq!(mine.len(), 2, "one row per key: {mine:?}");
    assert_eq!(
        (mine[0].key.as_str(), &mine[0].value),
        (a.as_str(), &json!(20))
    );
    assert_eq!(
        (mine[1].key.as_str(), &mine[1].value),
        (b.as_str(), &json!("5m, 7m"))
    );
    let keys: Vec<&str> = all.iter().map(|s| s.key.as_str()).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "ordered by key");
}

fn listing(tag: &str, domain: &str, action: DomainAction) -> DomainAccess {
    DomainAccess {
        id: ObjectId::new(),
        tag: tag.to_string(),
        tagview: tag.to_lowercase(),
        domain: domain.to_string(),
        action,
        created: now_ms(),
    }
}

/// Listing the same (tagview, domain) twice keeps one row (its id and tag) with the
/// last action; lists are per tag and action, ordered by domain; matching takes any
/// of several tags and domains; delete removes one row.
async fn domain_access_upsert_list_match_delete<S: Store>(store: &S) {
    let tag = format!("Tag{}", ObjectId::new().to_hex());
    let tv = tag.to_lowercase();
    let first = listing(&tag, "b.example", DomainAction::Block);
    let stored = store.upsert_domain_access(&first).await.expect("insert");
    assert_eq!(stored, first);
    let again = listing(&tv, "b.example", DomainAction::Allow);
    let updated = store.upsert_domain_access(&again).await.expect("update");
    assert_eq!(updated.id, first.id, "the listing keeps its id");
    assert_eq!(updated.tag, tag, "and the tag as first given");
    assert_eq!(updated.action, DomainAction::Allow);
    let a = store
        .upsert_domain_access(&listing(&tag, "a.example", DomainAction::Allow))
        .await
        .expect("a");
    let blocked = store
        .upsert_domain_access(&listing(&tag, "x@c.example", DomainAction::Block))
        .await
        .expect("address");

    let allowed = store
        .list_domain_access(&tv, DomainAction::Allow)
        .await
        .expect("list allow");
    let domains: Vec<&str> = allowed.iter().map(|d| d.domain.as_str()).collect();
    assert_eq!(domains, ["a.example", "b.example"]);
    let block = store
        .list_domain_access(&tv, DomainAction::Block)
        .await
        .expect("list block");
    assert_eq!(block, vec![blocked.clone()]);
    assert!(store
        .list_domain_access("no-such-tag", DomainAction::Allow)
        .await
        .expect("empty")
        .is_empty());

    let found = store
        .match_domain_access(
            &["other".into(), tv.clone()],
            &["x@c.example".into(), "c.example".into()],
        )
        .await
        .expect("match");
    assert_eq!(found, vec![blocked.clone()]);
    assert!(store
        .match_domain_access(&["other".into()], &["a.example".into()])
        .await
        .expect("other tag")
        .is_empty());
    assert!(store
        .match_domain_access(&[], &["a.example".into()])
        .await
        .expect("no tags")
        .is_empty());

    assert_eq!(
        store.get_domain_access(a.id).await.expect("get"),
        Some(a.clone())
    );
    assert!(store.delete_domain_access(a.id).await.expect("delete"));
    assert!(!store.delete_domain_access(a.id).await.expect("again"));
    assert_eq!(store.get_domain_access(a.id).await.expect("get"), None);
}

/// Webhooks read back with their types and user; listings filter by exact type
/// pattern and user and page by id; matching takes any pattern and the user's or
/// user-less hooks (an event without a user matches every hook of its type).
async fn webhooks_crud_and_matching<S: Store>(store: &S) {
    let user = ObjectId::new();
    let other = ObjectId::new();
    let ev = format!("ev{}", ObjectId::new().to_hex());
    let hook = |types: Vec<String>, user: Option<ObjectId>| Webhook {
        id: ObjectId::new(),
        types,
        user,
        url: "http://127.0.0.1:9/hook".into(),
        created: now_ms(),
    };
    let all_of_user = hook(vec![format!("{ev}.*")], Some(user));
    let exact_any = hook(vec![format!("{ev}.spam"), format!("{ev}.ham")], None);
    let other_user = hook(vec![format!("{ev}.spam")], Some(other));
    for h in [&all_of_user, &exact_any, &other_user] {
        store.create_webhook(h).await.expect("create");
    }
    assert_eq!(
        store.get_webhook(exact_any.id).await.expect("get"),
        Some(exact_any.clone())
    );

    let patterns = vec!["*".to_string(), format!("{ev}.*"), format!("{ev}.spam")];
    let found = store
        .matching_webhooks(&patterns, Some(user))
        .await
        .expect("match user");
    let ids: Vec<ObjectId> = found.iter().map(|h| h.id).collect();
    assert_eq!(ids, vec![all_of_user.id, exact_any.id]);
    let found = store
        .matching_webhooks(&patterns, None)
        .await
        .expect("match no user");
    assert_eq!(found.len(), 3, "an event without a user reaches every hook");
    assert!(store
        .matching_webhooks(&[format!("{ev}.other")], Some(user))
        .await
        .expect("no match")
        .is_empty());

    let by_type = store
        .list_webhooks(&WebhookQuery {
            pattern: Some(format!("{ev}.spam")),
            ..Default::default()
        })
        .await
        .expect("list by type");
    assert_eq!(by_type.total, 2);
    let by_user = store
        .list_webhooks(&WebhookQuery {
            user: Some(user),
            ..Default::default()
        })
        .await
        .expect("list by user");
    assert_eq!(by_user.results, vec![all_of_user.clone()]);
    let first = store
        .list_webhooks(&WebhookQuery {
            pattern: Some(format!("{ev}.spam")),
            paging: Paging {
                limit: 1,
                ..Default::default()
            },
            ..Default::default()
        })
        .await
        .expect("page 1");
    assert_eq!(first.results, vec![exact_any.clone()]);
    assert!(first.next.is_some());

    assert!(store.delete_webhook(exact_any.id).await.expect("delete"));
    assert!(!store.delete_webhook(exact_any.id).await.expect("again"));
    assert_eq!(store.get_webhook(exact_any.id).await.expect("gone"), None);
    let found = store
        .matching_webhooks(&patterns, Some(user))
        .await
        .expect("after delete");
    assert_eq!(found.len(), 1);
}
