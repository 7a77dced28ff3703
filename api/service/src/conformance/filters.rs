//! Store conformance rules for delivery rules (the `FilterStore` trait): filters
//! and autoreplies, checked through the traits alone. Run from
//! `conformance::run_all`, or one rule at a time.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;

use crate::model::{Paging, User, UserProfile};
use crate::{
    Autoreply, Filter, FilterAction, FilterQuery, FilterSearch, ObjectId, Store, StoreError,
};

/// Every rule of this file, in turn.
pub(super) fn rules<S: Store>() -> Vec<super::Rule<S>> {
    crate::conformance_rules![
        filters_crud_and_order,
        filter_limit_is_atomic_per_user,
        filters_listing_pages_and_searches,
        autoreply_upsert_keeps_id,
        delete_user_removes_rules,
    ]
}

fn unique(prefix: &str) -> String {
    format!("{prefix}{}", ObjectId::new().to_hex())
}

/// Instants as the stores keep them: milliseconds.
fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .expect("valid instant")
}

async fn user<S: Store>(s: &S, label: &str) -> ObjectId {
    let name = unique(label);
    let user = User {
        id: ObjectId::new(),
        username: name.clone(),
        unameview: name.to_lowercase(),
        name: None,
        address: String::new(),
        password: None,
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
    s.create_user(&user, None, &[]).await.expect("create user");
    user.id
}

fn filter(user: ObjectId, subject: &str, targets: &[&str]) -> Filter {
    Filter {
        id: ObjectId::new(),
        user,
        name: Some(format!("about {subject}")),
        query: FilterQuery {
            subject: Some(subject.to_string()),
            size: Some(-5000),
            ..Default::default()
        },
        action: FilterAction {
            seen: Some(true),
            mailbox: Some(ObjectId::new()),
            targets: targets.iter().map(|t| t.to_string()).collect(),
            ..Default::default()
        },
        disabled: false,
        meta_data: json!({"k": [1, "two"]}),
        created: at(1_700_000_000_123),
    }
}

pub async fn filters_crud_and_order<S: Store>(s: &S) {
    let a = user(s, "fa").await;
    let b = user(s, "fb").await;
    let f1 = filter(a, "one", &["x@example.net", "https://hook.example/in"]);
    let f2 = filter(a, "two", &[]);
    let f3 = filter(a, "three", &["smtp://mx.example.net:25"]);
    for f in [&f1, &f2, &f3] {
        s.create_filter(f, 10).await.expect("create filter");
    }
    let other = filter(b, "theirs", &[]);
    s.create_filter(&other, 10).await.expect("create filter");

    // Round trip, every field.
    assert_eq!(s.get_filter(a, f1.id).await.expect("get"), Some(f1.clone()));
    // Another user's filter is not found, whoever asks.
    assert_eq!(s.get_filter(b, f1.id).await.expect("get"), None);
    assert_eq!(s.get_filter(a, other.id).await.expect("get"), None);
    assert_eq!(s.get_filter(a, ObjectId::new()).await.expect("get"), None);

    // Creation order.
    let listed = s.list_user_filters(a).await.expect("list");
    assert_eq!(listed, vec![f1.clone(), f2.clone(), f3.clone()]);
    assert_eq!(s.count_user_filters(a).await.expect("count"), 3);
    assert_eq!(s.count_user_filters(b).await.expect("count"), 1);
    assert!(s
        .list_user_filters(ObjectId::new())
        .await
        .expect("list")
        .is_empty());

    // Update replaces the mutable fields, keeps id, user and created.
    let mut changed = f2.clone();
    changed.name = None;
    changed.disabled = true;
    changed.query = FilterQuery {
        from: Some("boss".into()),
        ha: Some(true),
        ..Default::default()
    };
    changed.action = FilterAction {
        spam: Some(false),
        targets: vec!["y@example.net".into()],
        ..Default::default()
    };
    changed.meta_data = json!({});
    changed.created = Utc::now();
    assert!(s.update_filter(&changed).await.expect("update"));
    let stored = s.get_filter(a, f2.id).await.expect("get").expect("exists");
    assert_eq!(
        stored,
        Filter {
            created: f2.created,
            ..changed.clone()
        }
    );
    // Updating through the wrong user, or a missing filter, changes nothing.
    let mut wrong = changed.clone();
    wrong.user = b;
    wrong.disabled = false;
    assert!(!s.update_filter(&wrong).await.expect("update"));
    assert!(
        s.get_filter(a, f2.id)
            .await
            .expect("get")
            .expect("exists")
            .disabled
    );
    let mut missing = changed.clone();
    missing.id = ObjectId::new();
    assert!(!s.update_filter(&missing).await.expect("update"));

    // Delete only as the owner.
    assert!(!s.delete_filter(b, f1.id).await.expect("delete"));
    assert!(s.delete_filter(a, f1.id).await.expect("delete"));
    assert!(!s.delete_filter(a, f1.id).await.expect("delete again"));
    let ids: Vec<ObjectId> = s
        .list_user_filters(a)
        .await
        .expect("list")
        .iter()
        .map(|f| f.id)
        .collect();
    assert_eq!(ids, vec![f2.id, f3.id]);

    // An unknown user cannot get filters.
    let orphan = filter(ObjectId::new(), "nobody", &[]);
    assert!(matches!(
        s.create_filter(&orphan, 10).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn filter_limit_is_atomic_per_user<S: Store>(s: &S) {
    let a = user(s, "lim").await;
    let b = user(s, "lim").await;
    // Concurrent creates never exceed the limit.
    let attempts: Vec<Filter> = (0..8).map(|i| filter(a, &format!("n{i}"), &[])).collect();
    let results = futures::future::join_all(attempts.iter().map(|f| s.create_filter(f, 3))).await;
    let stored = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(stored, 3, "{results:?}");
    assert!(results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .all(|e| matches!(e, StoreError::LimitReached("filters"))));
    assert_eq!(s.count_user_filters(a).await.expect("count"), 3);
    // The limit counts each user's own filters.
    s.create_filter(&filter(b, "own", &[]), 1)
        .await
        .expect("other user's first filter");
    assert!(matches!(
        s.create_filter(&filter(b, "second", &[]), 1).await,
        Err(StoreError::LimitReached("filters"))
    ));
    // After a delete there is room again.
    let first = s.list_user_filters(a).await.expect("list")[0].id;
    assert!(s.delete_filter(a, first).await.expect("delete"));
    s.create_filter(&filter(a, "again", &[]), 3)
        .await
        .expect("room after delete");
}

pub async fn filters_listing_pages_and_searches<S: Store>(s: &S) {
    let a = user(s, "lst").await;
    let b = user(s, "lst").await;
    let tag = unique("t");
    let hook = format!("https://hooks.example/{tag}");
    let mut mine = Vec::new();
    for i in 0..5 {
        let targets: Vec<&str> = if i % 2 == 0 {
            vec![hook.as_str()]
        } else {
            vec![]
        };
        let f = filter(if i < 3 { a } else { b }, &format!("p{i}"), &targets);
        s.create_filter(&f, 100).await.expect("create");
        mine.push(f);
    }
    // Search by a forwarding target substring, across users, in id order.
    let search = |user: Option<ObjectId>, forward: Option<String>, paging: Paging| FilterSearch {
        user,
        forward,
        paging,
    };
    let found = s
        .list_filters(&search(None, Some(tag.clone()), Paging::default()))
        .await
        .expect("list");
    let ids: Vec<ObjectId> = found.results.iter().map(|f| f.id).collect();
    assert_eq!(ids, vec![mine[0].id, mine[2].id, mine[4].id]);
    assert_eq!(found.total, 3);
    // The match is case-sensitive, as WildDuck's is.
    let upper = s
        .list_filters(&search(None, Some(tag.to_uppercase()), Paging::default()))
        .await
        .expect("list");
    assert_eq!(upper.total, 0);
    // One user's filters only.
    let of_b = s
        .list_filters(&search(Some(b), None, Paging::default()))
        .await
        .expect("list");
    let ids: Vec<ObjectId> = of_b.results.iter().map(|f| f.id).collect();
    assert_eq!(ids, vec![mine[3].id, mine[4].id]);
    // Cursor paging: two at a time over the user's three.
    let first = s
        .list_filters(&search(
            Some(a),
            None,
            Paging {
                limit: 2,
                ..Default::default()
            },
        ))
        .await
        .expect("page 1");
    assert_eq!(first.total, 3);
    assert_eq!(first.results.len(), 2);
    assert!(first.previous.is_none());
    let next = first.next.clone().expect("a next page");
    let second = s
        .list_filters(&search(
            Some(a),
            None,
            Paging {
                limit: 2,
                next: Some(next),
                ..Default::default()
            },
        ))
        .await
        .expect("page 2");
    let ids: Vec<ObjectId> = second.results.iter().map(|f| f.id).collect();
    assert_eq!(ids, vec![mine[2].id]);
    assert!(second.next.is_none());
    let back = s
        .list_filters(&search(
            Some(a),
            None,
            Paging {
                limit: 2,
                previous: second.previous.clone(),
                ..Default::default()
            },
        ))
        .await
        .expect("back");
    let ids: Vec<ObjectId> = back.results.iter().map(|f| f.id).collect();
    assert_eq!(ids, vec![mine[0].id, mine[1].id]);
}

pub async fn autoreply_upsert_keeps_id<S: Store>(s: &S) {
    let a = user(s, "ar").await;
    assert_eq!(s.get_autoreply(a).await.expect("get"), None);
    let first = Autoreply {
        id: Some(ObjectId::new()),
        status: true,
        name: Some("Ütte".into()),
        subject: Some("Away".into()),
        text: Some("Back soon".into()),
        html: Some("<p>Back soon</p>".into()),
        start: Some(at(1_700_000_000_000)),
        end: Some(at(1_800_000_000_000)),
        created: Some(at(1_700_000_000_000)),
    };
    let id = s.set_autoreply(a, &first).await.expect("set");
    assert_eq!(Some(id), first.id);
    assert_eq!(s.get_autoreply(a).await.expect("get"), Some(first.clone()));
    // Replacing keeps the record's id, whatever the new value carries.
    let second = Autoreply {
        id: Some(ObjectId::new()),
        status: false,
        name: None,
        subject: None,
        text: Some("Gone".into()),
        html: None,
        start: None,
        end: None,
        created: Some(at(1_700_000_100_000)),
    };
    assert_eq!(s.set_autoreply(a, &second).await.expect("set"), id);
    assert_eq!(
        s.get_autoreply(a).await.expect("get"),
        Some(Autoreply {
            id: Some(id),
            ..second.clone()
        })
    );
    // A new record without an id gets one.
    let b = user(s, "ar").await;
    let fresh = Autoreply {
        status: true,
        created: Some(Utc::now() - Duration::hours(1)),
        ..Default::default()
    };
    let bid = s.set_autoreply(b, &fresh).await.expect("set");
    assert_eq!(
        s.get_autoreply(b).await.expect("get").and_then(|r| r.id),
        Some(bid)
    );
    assert_ne!(bid, id);
    // Unknown users have none and cannot get one.
    assert!(matches!(
        s.set_autoreply(ObjectId::new(), &fresh).await,
        Err(StoreError::NotFound)
    ));
    assert!(s.delete_autoreply(a).await.expect("delete"));
    assert!(!s.delete_autoreply(a).await.expect("delete again"));
    assert_eq!(s.get_autoreply(a).await.expect("get"), None);
    assert!(s.get_autoreply(b).await.expect("get").is_some());
}

pub async fn delete_user_removes_rules<S: Store>(s: &S) {
    let gone = user(s, "del").await;
    let stays = user(s, "del").await;
    let tag = unique("gone");
    let target = format!("{tag}@example.net");
    s.create_filter(&filter(gone, "x", &[target.as_str()]), 10)
        .await
        .expect("filter");
    s.create_filter(&filter(stays, "y", &[]), 10)
        .await
        .expect("filter");
    let on = Autoreply {
        status: true,
        ..Default::default()
    };
    s.set_autoreply(gone, &on).await.expect("autoreply");
    s.set_autoreply(stays, &on).await.expect("autoreply");
    assert!(s.delete_user(gone).await.expect("delete user"));
    assert!(s.list_user_filters(gone).await.expect("list").is_empty());
    assert_eq!(s.count_user_filters(gone).await.expect("count"), 0);
    assert_eq!(s.get_autoreply(gone).await.expect("get"), None);
    let search = FilterSearch {
        forward: Some(tag),
        ..Default::default()
    };
    assert_eq!(s.list_filters(&search).await.expect("list").total, 0);
    assert_eq!(s.count_user_filters(stays).await.expect("count"), 1);
    assert!(s.get_autoreply(stays).await.expect("get").is_some());
}
