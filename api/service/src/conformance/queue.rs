//! Store conformance rules for the durable queue (`QueueStore`). Run from
//! `conformance::run_all`. Every rule uses a kind of its own, so rules (and
//! backends shared between test runs) never see each other's entries.

use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::{Claim, ObjectId, QueueEntry, Store};

pub(super) fn rules<S: Store>() -> Vec<super::Rule<S>> {
    crate::conformance_rules![
        queue_round_trip,
        queue_claim_is_exclusive_until_the_lease_ends,
        queue_due_order_and_key,
        queue_only_the_lease_holder_completes,
        queue_cancel_by_group_and_owner,
    ]
}

fn now_ms() -> DateTime<Utc> {
    Utc.timestamp_millis_opt(Utc::now().timestamp_millis())
        .single()
        .expect("valid instant")
}

fn entry(kind: &str, key: &str, group: &str, not_before: DateTime<Utc>) -> QueueEntry {
    QueueEntry {
        id: ObjectId::new(),
        kind: kind.to_string(),
        key: key.to_string(),
        group: group.to_string(),
        owner: Some(ObjectId::new()),
        payload: vec![0, 1, 2, 255, b'\r', b'\n'],
        not_before,
        attempts: 0,
        last_error: None,
        created: not_before,
        lease: None,
    }
}

fn kind() -> String {
    format!("test-{}", ObjectId::new().to_hex())
}

fn claim<'a>(kind: &'a str, worker: &'a str, now: DateTime<Utc>, limit: u32) -> Claim<'a> {
    Claim {
        kind,
        key: None,
        worker,
        now,
        lease_until: now + Duration::seconds(60),
        limit,
    }
}

/// An entry reads back as written (payload bytes exact, dates to the millisecond);
/// list and count see it; an unknown id is None.
async fn queue_round_trip<S: Store>(store: &S) {
    let kind = kind();
    let now = now_ms();
    let mut a = entry(&kind, "example.com", "g1", now);
    a.owner = None;
    a.last_error = Some("earlier".into());
    a.attempts = 2;
    let b = entry(&kind, "example.org", "g1", now + Duration::seconds(5));
    store
        .enqueue(&[a.clone(), b.clone()])
        .await
        .expect("enqueue");
    assert_eq!(
        store.get_queue_entry(a.id).await.expect("get"),
        Some(a.clone())
    );
    assert_eq!(
        store.get_queue_entry(b.id).await.expect("get"),
        Some(b.clone())
    );
    assert_eq!(
        store.get_queue_entry(ObjectId::new()).await.expect("get"),
        None
    );
    assert_eq!(
        store.list_queue(&kind, None, 10).await.expect("list"),
        vec![a.clone(), b.clone()]
    );
    assert_eq!(
        store
            .list_queue(&kind, Some("example.org"), 10)
            .await
            .expect("list"),
        vec![b]
    );
    assert_eq!(
        store.list_queue(&kind, None, 1).await.expect("list"),
        vec![a]
    );
    assert_eq!(store.count_queue(&kind, None).await.expect("count"), 2);
    assert_eq!(
        store
            .count_queue(&kind, Some("example.com"))
            .await
            .expect("count"),
        1
    );
    assert_eq!(
        store.count_queue(&kind, Some("none")).await.expect("count"),
        0
    );
}

/// A claimed entry is not claimed again while its lease runs; once the lease has
/// ended another worker may take it.
async fn queue_claim_is_exclusive_until_the_lease_ends<S: Store>(store: &S) {
    let kind = kind();
    let now = now_ms();
    let e = entry(&kind, "k", "g", now);
    store
        .enqueue(std::slice::from_ref(&e))
        .await
        .expect("enqueue");
    let first = store
        .claim(&claim(&kind, "w1", now, 10))
        .await
        .expect("claim");
    assert_eq!(first.len(), 1);
    assert_eq!(
        first[0].lease,
        Some(("w1".to_string(), now + Duration::seconds(60)))
    );
    assert_eq!(first[0].payload, e.payload);
    let again = store
        .claim(&claim(&kind, "w2", now + Duration::seconds(30), 10))
        .await
        .expect("claim");
    assert!(again.is_empty(), "a leased entry was claimed twice");
    let later = store
        .claim(&claim(&kind, "w2", now + Duration::seconds(61), 10))
        .await
        .expect("claim");
    assert_eq!(later.len(), 1, "an expired lease is claimable");
    assert_eq!(later[0].lease.as_ref().map(|l| l.0.as_str()), Some("w2"));
    let stored = store
        .get_queue_entry(e.id)
        .await
        .expect("get")
        .expect("entry");
    assert_eq!(stored.lease, later[0].lease);
}

/// Only due entries are claimed, earliest first, bounded by `limit` and `key`.
async fn queue_due_order_and_key<S: Store>(store: &S) {
    let kind = kind();
    let now = now_ms();
    let late = entry(&kind, "a", "g", now - Duration::seconds(1));
    let early = entry(&kind, "b", "g", now - Duration::seconds(10));
    let future = entry(&kind, "a", "g", now + Duration::seconds(100));
    let other_kind = entry(&format!("{kind}x"), "a", "g", now - Duration::seconds(20));
    store
        .enqueue(&[late.clone(), early.clone(), future.clone(), other_kind])
        .await
        .expect("enqueue");
    let one = store
        .claim(&claim(&kind, "w", now, 1))
        .await
        .expect("claim");
    assert_eq!(one.iter().map(|e| e.id).collect::<Vec<_>>(), vec![early.id]);
    let by_key = store
        .claim(&Claim {
            key: Some("b"),
            ..claim(&kind, "w", now, 10)
        })
        .await
        .expect("claim");
    assert!(by_key.is_empty(), "key b has nothing left");
    let rest = store
        .claim(&claim(&kind, "w", now, 10))
        .await
        .expect("claim");
    assert_eq!(rest.iter().map(|e| e.id).collect::<Vec<_>>(), vec![late.id]);
    assert!(store.complete(early.id, "w").await.expect("complete"));
    assert!(store.complete(late.id, "w").await.expect("complete"));
    let at_its_time = store
        .claim(&claim(&kind, "w", now + Duration::seconds(100), 10))
        .await
        .expect("claim");
    assert_eq!(
        at_its_time.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![future.id]
    );
}

/// `complete` and `reschedule` act for the lease holder only; a rescheduled entry
/// counts an attempt, keeps its error, loses its lease and waits for its time.
async fn queue_only_the_lease_holder_completes<S: Store>(store: &S) {
    let kind = kind();
    let now = now_ms();
    let e = entry(&kind, "k", "g", now);
    store
        .enqueue(std::slice::from_ref(&e))
        .await
        .expect("enqueue");
    assert_eq!(
        store
            .claim(&claim(&kind, "w1", now, 1))
            .await
            .expect("claim")
            .len(),
        1
    );
    assert!(!store.complete(e.id, "w2").await.expect("complete"));
    let retry_at = now + Duration::seconds(300);
    assert!(!store
        .reschedule(e.id, "w2", retry_at, "not mine")
        .await
        .expect("reschedule"));
    assert!(store
        .reschedule(e.id, "w1", retry_at, "451 try later")
        .await
        .expect("reschedule"));
    let stored = store
        .get_queue_entry(e.id)
        .await
        .expect("get")
        .expect("entry");
    assert_eq!(stored.attempts, 1);
    assert_eq!(stored.last_error.as_deref(), Some("451 try later"));
    assert_eq!(stored.lease, None);
    assert_eq!(stored.not_before, retry_at);
    assert!(
        !store.complete(e.id, "w1").await.expect("complete"),
        "lease released"
    );
    assert!(store
        .claim(&claim(&kind, "w1", now + Duration::seconds(299), 1))
        .await
        .expect("claim")
        .is_empty());
    let again = store
        .claim(&claim(&kind, "w3", retry_at, 1))
        .await
        .expect("claim");
    assert_eq!(again.len(), 1);
    assert!(store.complete(e.id, "w3").await.expect("complete"));
    assert_eq!(store.get_queue_entry(e.id).await.expect("get"), None);
    assert_eq!(store.count_queue(&kind, None).await.expect("count"), 0);
}

/// `cancel` removes a group's entries of that owner only, claimed or not.
async fn queue_cancel_by_group_and_owner<S: Store>(store: &S) {
    let kind = kind();
    let now = now_ms();
    let owner = ObjectId::new();
    let group = ObjectId::new().to_hex();
    let mut a = entry(&kind, "a", &group, now);
    let mut b = entry(&kind, "b", &group, now + Duration::days(1));
    a.owner = Some(owner);
    b.owner = Some(owner);
    let stranger = entry(&kind, "a", &group, now);
    let other_group = QueueEntry {
        id: ObjectId::new(),
        group: "other".into(),
        ..a.clone()
    };
    store
        .enqueue(&[a.clone(), b.clone(), stranger.clone(), other_group.clone()])
        .await
        .expect("enqueue");
    let claimed = store
        .claim(&Claim {
            key: Some("a"),
            ..claim(&kind, "w", now, 1)
        })
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        store.cancel(&group, ObjectId::new()).await.expect("cancel"),
        0
    );
    assert_eq!(store.cancel(&group, owner).await.expect("cancel"), 2);
    assert_eq!(store.cancel(&group, owner).await.expect("cancel"), 0);
    assert_eq!(store.get_queue_entry(a.id).await.expect("get"), None);
    assert_eq!(store.get_queue_entry(b.id).await.expect("get"), None);
    assert!(store
        .get_queue_entry(stranger.id)
        .await
        .expect("get")
        .is_some());
    assert!(store
        .get_queue_entry(other_group.id)
        .await
        .expect("get")
        .is_some());
}
