//! Store conformance rules for the address register (`AddressRegisterStore`)
//! and for the `forward` filter of user and address listings, which must page
//! like any other filter. Run from `conformance::run_all`.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;

use crate::model::{Address, AddressQuery, Page, Paging, User, UserProfile, UserQuery};
use crate::{ObjectId, SeenAddress, Store};

/// Every rule of this file, in turn.
pub(super) fn rules<S: Store>() -> Vec<super::Rule<S>> {
    crate::conformance_rules![
        register_records_and_merges,
        register_prefix_search,
        register_is_per_user_and_deleted_with_user,
        forward_filter_pages_users,
        forward_filter_pages_addresses,
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

fn user_record(label: &str, targets: Vec<String>) -> User {
    let name = unique(label);
    User {
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
        profile: UserProfile {
            targets,
            ..UserProfile::default()
        },
        created: Utc::now(),
    }
}

async fn user<S: Store>(s: &S, label: &str) -> ObjectId {
    let u = user_record(label, Vec::new());
    s.create_user(&u, None, &[]).await.expect("create user");
    u.id
}

fn seen(address: &str, name: &str) -> SeenAddress {
    SeenAddress {
        addrview: address.to_lowercase(),
        address: address.to_string(),
        name: name.to_string(),
    }
}

/// New addresses get an entry; known ones count a use, take the newest spelling
/// and time, and a new name only when one is given.
pub async fn register_records_and_merges<S: Store>(s: &S) {
    let u = user(s, "reg").await;
    let t0 = at(1_700_000_000_000);
    s.record_addresses(
        u,
        &[
            seen("ann@example.com", "Ann Smith"),
            seen("bob@example.com", ""),
        ],
        t0,
    )
    .await
    .expect("record");
    s.record_addresses(u, &[], t0)
        .await
        .expect("nothing to record");
    let first = s
        .search_address_register(u, "ann", 10)
        .await
        .expect("search");
    assert_eq!(first.len(), 1);
    let ann = &first[0];
    assert_eq!(
        (ann.user, ann.address.as_str(), ann.name.as_str(), ann.uses),
        (u, "ann@example.com", "Ann Smith", 1)
    );
    assert_eq!((ann.created, ann.updated), (t0, t0));

    // Again, with another spelling and no name: the name stays, the use counts.
    let t1 = t0 + Duration::minutes(5);
    s.record_addresses(u, &[seen("ANN@example.com", "")], t1)
        .await
        .expect("record again");
    let again = s
        .search_address_register(u, "ann@", 10)
        .await
        .expect("search");
    assert_eq!(again.len(), 1, "one entry per normalized address");
    assert_eq!(again[0].id, ann.id, "the entry keeps its id");
    assert_eq!(again[0].address, "ANN@example.com");
    assert_eq!(
        again[0].name, "Ann Smith",
        "an empty name keeps the known one"
    );
    assert_eq!((again[0].uses, again[0].updated), (2, t1));
    assert_eq!(again[0].created, t0);
    assert_eq!(
        s.search_address_register(u, "smith", 10)
            .await
            .expect("by kept name")
            .len(),
        1,
        "the kept name is still searchable"
    );

    // A new name replaces the old one, and the search terms follow it.
    s.record_addresses(u, &[seen("ann@example.com", "Annie Jones")], t1)
        .await
        .expect("rename");
    let renamed = s
        .search_address_register(u, "jones", 10)
        .await
        .expect("search");
    assert_eq!(renamed.len(), 1);
    assert_eq!(renamed[0].name, "Annie Jones");
    assert!(s
        .search_address_register(u, "smith", 10)
        .await
        .expect("old name")
        .is_empty());

    // A name learned later for an entry that had none.
    s.record_addresses(u, &[seen("bob@example.com", "Robert Brown")], t1)
        .await
        .expect("name bob");
    let bob = s
        .search_address_register(u, "robert", 10)
        .await
        .expect("search");
    assert_eq!(bob.len(), 1);
    assert_eq!(bob[0].address, "bob@example.com");
    s.delete_user(u).await.expect("cleanup");
}

/// Prefixes of the address, of the whole name and of each word of it; newest
/// first; at most `limit`.
pub async fn register_prefix_search<S: Store>(s: &S) {
    let u = user(s, "regsearch").await;
    let base = 1_700_000_000_000;
    let entries = [
        ("carol@example.org", "Carol Danvers"),
        ("dave@example.org", "Dave Carol-Smith"),
        ("x.carlos@example.net", ""),
        ("zed@example.org", "Zed"),
    ];
    for (i, (addr, name)) in entries.iter().enumerate() {
        s.record_addresses(u, &[seen(addr, name)], at(base + i as i64 * 1000))
            .await
            .expect("record");
    }
    let addresses = |found: Vec<crate::RegisteredAddress>| {
        found.into_iter().map(|e| e.address).collect::<Vec<_>>()
    };
    assert_eq!(
        addresses(s.search_address_register(u, "car", 10).await.expect("car")),
        vec!["dave@example.org", "carol@example.org"],
        "a word of the name or the address, newest first"
    );
    assert_eq!(
        addresses(s.search_address_register(u, "x.car", 10).await.expect("x")),
        vec!["x.carlos@example.net"]
    );
    assert_eq!(
        addresses(
            s.search_address_register(u, "carol danv", 10)
                .await
                .expect("whole name")
        ),
        vec!["carol@example.org"]
    );
    assert!(
        s.search_address_register(u, "arol", 10)
            .await
            .expect("infix")
            .is_empty(),
        "a prefix, not a substring"
    );
    assert!(s
        .search_address_register(u, "example", 10)
        .await
        .expect("domain")
        .is_empty());
    assert_eq!(
        addresses(s.search_address_register(u, "car", 1).await.expect("limit")),
        vec!["dave@example.org"]
    );
    // Regular-expression and LIKE characters are plain text.
    assert!(s
        .search_address_register(u, ".*", 10)
        .await
        .expect("regex chars")
        .is_empty());
    assert!(s
        .search_address_register(u, "%", 10)
        .await
        .expect("like chars")
        .is_empty());
    s.delete_user(u).await.expect("cleanup");
}

/// One user's register is invisible to another and goes with its user.
pub async fn register_is_per_user_and_deleted_with_user<S: Store>(s: &S) {
    let a = user(s, "rega").await;
    let b = user(s, "regb").await;
    let now = at(1_700_000_000_000);
    s.record_addresses(a, &[seen("shared@example.com", "From A")], now)
        .await
        .expect("a");
    s.record_addresses(b, &[seen("shared@example.com", "From B")], now)
        .await
        .expect("b");
    let of_b = s.search_address_register(b, "shared", 10).await.expect("b");
    assert_eq!(of_b.len(), 1);
    assert_eq!((of_b[0].user, of_b[0].name.as_str()), (b, "From B"));
    assert!(s.delete_user(a).await.expect("delete a"));
    assert!(s
        .search_address_register(a, "shared", 10)
        .await
        .expect("a gone")
        .is_empty());
    assert_eq!(
        s.search_address_register(b, "shared", 10)
            .await
            .expect("b stays")
            .len(),
        1
    );
    // A user created later with the old id's register would start empty too.
    s.delete_user(b).await.expect("cleanup");
}

fn ids<T>(p: &Page<T>, id: impl Fn(&T) -> ObjectId) -> Vec<ObjectId> {
    p.results.iter().map(id).collect()
}

/// Users whose forwarding targets contain the text (any case), paged in the store:
/// full pages, a total of every match and cursors that walk them all.
pub async fn forward_filter_pages_users<S: Store>(s: &S) {
    let marker = unique("fwdpage");
    let mut matching = Vec::new();
    let mut others = Vec::new();
    for i in 0..7 {
        // Matching and other users interleave in id order.
        let targets = if i % 3 == 2 {
            vec![format!("someone{i}@example.net")]
        } else {
            vec![
                "other@example.net".to_string(),
                format!("{}@Example.NET", marker.to_uppercase()),
            ]
        };
        let u = user_record("fwduser", targets);
        s.create_user(&u, None, &[]).await.expect("create");
        if i % 3 == 2 {
            others.push(u.id);
        } else {
            matching.push(u.id);
        }
    }
    matching.sort();
    let query = |paging: Paging| UserQuery {
        forward: Some(marker.clone()),
        paging,
        ..UserQuery::default()
    };
    let p1 = s
        .list_users(&query(Paging {
            limit: 2,
            ..Paging::default()
        }))
        .await
        .expect("page 1");
    assert_eq!(p1.total, matching.len() as u64);
    assert_eq!(ids(&p1, |u| u.id), matching[0..2]);
    let mut walked = ids(&p1, |u| u.id);
    let mut next = p1.next.clone();
    while let Some(cursor) = next {
        let p = s
            .list_users(&query(Paging {
                limit: 2,
                next: Some(cursor),
                ..Paging::default()
            }))
            .await
            .expect("next page");
        assert!(!p.results.is_empty(), "a next cursor leads to results");
        assert!(p.results.len() == 2 || p.next.is_none(), "pages are full");
        walked.extend(ids(&p, |u| u.id));
        next = p.next.clone();
    }
    assert_eq!(walked, matching, "every match once, in id order");
    let numbered = s
        .list_users(&query(Paging {
            limit: 2,
            page: Some(3),
            ..Paging::default()
        }))
        .await
        .expect("page 3");
    assert_eq!(ids(&numbered, |u| u.id), matching[4..5]);
    for id in matching.into_iter().chain(others) {
        s.delete_user(id).await.expect("cleanup");
    }
}

/// The same for addresses (forwarded addresses' targets).
pub async fn forward_filter_pages_addresses<S: Store>(s: &S) {
    let marker = unique("fwdaddr");
    let domain = format!("{}.example", unique("fwd"));
    let mut matching = Vec::new();
    let mut others = Vec::new();
    for i in 0..7 {
        let hit = i % 3 != 2;
        let address = format!("list{i}@{domain}");
        let a = Address {
            id: ObjectId::new(),
            user: None,
            address: address.clone(),
            addrview: address,
            name: None,
            main: false,
            tags: Vec::new(),
            targets: if hit {
                vec![format!("smtp://{}.example:25", marker.to_uppercase())]
            } else {
                vec!["elsewhere@example.org".into()]
            },
            forwards: None,
            meta_data: json!({}),
            internal_data: json!({}),
            created: Utc::now(),
        };
        s.create_address(&a).await.expect("create");
        if hit {
            matching.push(a.id);
        } else {
            others.push(a.id);
        }
    }
    matching.sort();
    let query = |paging: Paging| AddressQuery {
        forward: Some(marker.clone()),
        paging,
        ..AddressQuery::default()
    };
    let mut walked = Vec::new();
    let mut next = None;
    loop {
        let p = s
            .list_addresses(&query(Paging {
                limit: 2,
                next: next.take(),
                ..Paging::default()
            }))
            .await
            .expect("page");
        assert_eq!(p.total, matching.len() as u64);
        assert!(p.results.len() == 2 || p.next.is_none(), "pages are full");
        walked.extend(ids(&p, |a| a.id));
        match p.next {
            Some(n) => next = Some(n),
            None => break,
        }
    }
    assert_eq!(walked, matching);
    for id in matching.into_iter().chain(others) {
        s.delete_address(id).await.expect("cleanup");
    }
}
