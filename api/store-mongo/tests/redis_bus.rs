//! The Redis bus against a real redis-server: beacons between instances, shared
//! counters with expiry, recovery after Redis restarts, Sentinel URLs.

mod support;

use std::time::Duration;

use eider_service::model::Beacon;
use eider_service::{Bus, ObjectId};
use eider_store_mongo::{RedisBus, RedisBusOptions};
use support::{free_port, RedisProcess};
use tokio::time::timeout;

fn beacon(user: ObjectId, modseq: u64) -> Beacon {
    Beacon {
        user,
        mailbox: Some(ObjectId::new()),
        modseq,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beacons_reach_other_instances_once() {
    let Some(url) = support::service_url("EIDER_TEST_REDIS_URL") else {
        return;
    };
    let a = RedisBus::connect(&url).await.expect("connect a");
    let b = RedisBus::connect(&url).await.expect("connect b");
    let user = ObjectId::new();
    let other = ObjectId::new();
    let mut on_a = a.subscribe(user);
    let mut on_b = b.subscribe(user);
    let mut other_on_a = a.subscribe(other);
    let sent = beacon(user, 7);
    b.publish(sent);
    let got = timeout(Duration::from_secs(1), on_a.recv())
        .await
        .expect("beacon within 1 s")
        .expect("beacon");
    assert_eq!(got, sent);
    // The publishing instance's own subscriber hears it once, not again from Redis.
    assert_eq!(on_b.recv().await.expect("local beacon"), sent);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(on_b.try_recv().is_err(), "no echo from Redis");
    assert!(other_on_a.try_recv().is_err(), "other users hear nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_are_shared_and_expire_after_creation() {
    let Some(url) = support::service_url("EIDER_TEST_REDIS_URL") else {
        return;
    };
    let a = RedisBus::connect(&url).await.expect("connect a");
    let b = RedisBus::connect(&url).await.expect("connect b");
    let key = format!("test:{}", ObjectId::new());
    let ttl = Duration::from_millis(600);
    assert_eq!(a.counter_add(&key, 2, ttl).await, 2);
    assert_eq!(b.counter_add(&key, 3, ttl).await, 5);
    assert_eq!(a.counter_get(&key).await, 5);
    assert_eq!(b.counter_get(&key).await, 5);
    tokio::time::sleep(Duration::from_millis(400)).await;
    // A later increment does not extend the expiry set at creation.
    assert_eq!(b.counter_add(&key, 1, ttl).await, 6);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        a.counter_get(&key).await,
        0,
        "expired {ttl:?} after creation"
    );
    assert_eq!(a.counter_add(&key, 1, ttl).await, 1);
    assert_eq!(b.counter_get(&format!("{key}:absent")).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovers_after_redis_restarts() {
    let port = free_port();
    let Some(redis) = RedisProcess::start(port, "", false) else {
        return;
    };
    let url = format!("redis://127.0.0.1:{port}/0");
    let a = RedisBus::connect(&url).await.expect("connect a");
    let b = RedisBus::connect(&url).await.expect("connect b");
    let user = ObjectId::new();
    let mut on_a = a.subscribe(user);
    b.publish(beacon(user, 1));
    assert_eq!(
        timeout(Duration::from_secs(1), on_a.recv())
            .await
            .expect("first beacon")
            .expect("beacon")
            .modseq,
        1
    );

    redis.stop();
    // Without Redis: counters answer from memory, promptly; publishing does not block.
    let started = std::time::Instant::now();
    assert_eq!(a.counter_add("down", 1, Duration::from_secs(60)).await, 1);
    assert_eq!(a.counter_get("down").await, 1);
    assert!(started.elapsed() < Duration::from_secs(10), "no long stall");
    b.publish(beacon(user, 2)); // lost: only a delay, the journal has the change

    let redis = RedisProcess::start(port, "", false).expect("restart redis");
    // The subscriber reconnects and wakes local sessions to re-read their journals.
    let woke = timeout(Duration::from_secs(15), async {
        loop {
            match on_a.recv().await {
                Ok(b) if b.mailbox.is_none() => return b,
                Ok(_) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(e) => panic!("channel closed: {e}"),
            }
        }
    })
    .await
    .expect("wake-up beacon after Redis returns");
    assert_eq!(woke.user, user);
    // And beacons flow again (the publisher's connection reconnects too).
    let flowing = timeout(Duration::from_secs(15), async {
        loop {
            b.publish(beacon(user, 3));
            match timeout(Duration::from_millis(500), on_a.recv()).await {
                Ok(Ok(got)) if got.modseq == 3 => return,
                _ => continue,
            }
        }
    })
    .await;
    assert!(flowing.is_ok(), "beacons flow after the restart");
    // Counters are back on Redis, shared again.
    let key = format!("after:{}", ObjectId::new());
    let shared = timeout(Duration::from_secs(15), async {
        loop {
            a.counter_add(&key, 1, Duration::from_secs(60)).await;
            if b.counter_get(&key).await >= 1 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    })
    .await;
    assert!(shared.is_ok(), "counters shared after the restart");
    drop(redis);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sentinel_urls_find_the_master() {
    let master_port = free_port();
    let Some(_master) = RedisProcess::start(master_port, "", false) else {
        return;
    };
    let sentinel_port = free_port();
    let _sentinel = RedisProcess::start(
        sentinel_port,
        &format!(
            "sentinel monitor eidermaster 127.0.0.1 {master_port} 1\n\
             sentinel down-after-milliseconds eidermaster 5000\n"
        ),
        true,
    )
    .expect("start sentinel");
    let url = format!("redis+sentinel://127.0.0.1:{sentinel_port}/eidermaster/0");
    let bus = RedisBus::connect(&url)
        .await
        .expect("connect through sentinel");
    let direct = RedisBus::connect(&format!("redis://127.0.0.1:{master_port}/0"))
        .await
        .expect("direct");
    // The sentinel needs a moment to learn about its master; then the counter lands
    // on the master itself.
    let key = format!("sentinel:{}", ObjectId::new());
    let reached = timeout(Duration::from_secs(20), async {
        loop {
            bus.counter_add(&key, 1, Duration::from_secs(60)).await;
            if direct.counter_get(&key).await >= 1 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert!(
        reached.is_ok(),
        "counters reach the master found through Sentinel"
    );
    let user = ObjectId::new();
    let mut rx = direct.subscribe(user);
    let delivered = timeout(Duration::from_secs(10), async {
        loop {
            bus.publish(beacon(user, 9));
            if let Ok(Ok(b)) = timeout(Duration::from_millis(300), rx.recv()).await {
                return b.modseq;
            }
        }
    })
    .await;
    assert_eq!(
        delivered.ok(),
        Some(9),
        "beacons through the Sentinel-found master"
    );
}

/// A bus whose subscriber PINGs Redis every 200 ms, so that a test can hold a
/// subscription for many keepalive periods in a couple of seconds.
async fn fast_keepalive_bus(url: &str) -> RedisBus {
    let opts = RedisBusOptions {
        keepalive: Duration::from_millis(200),
        ..RedisBusOptions::default()
    };
    RedisBus::connect_with(url, opts).await.expect("connect")
}

/// Redis's ids of the connections that are subscribed to a channel (`sub=1`).
async fn subscriber_ids(admin: &mut redis::aio::MultiplexedConnection) -> Vec<u64> {
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(admin)
        .await
        .expect("CLIENT LIST");
    let mut ids: Vec<u64> = list
        .lines()
        .filter(|l| l.split(' ').any(|f| f == "sub=1"))
        .filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("id=")))
        .map(|id| id.parse().expect("numeric id"))
        .collect();
    ids.sort_unstable();
    ids
}

async fn admin_connection(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("admin connection")
}

/// The next beacon that carries a change (not a wake-up), within `wait`.
async fn next_change(
    rx: &mut tokio::sync::broadcast::Receiver<Beacon>,
    wait: Duration,
) -> Option<Beacon> {
    timeout(wait, async {
        loop {
            match rx.recv().await {
                Ok(b) if b.mailbox.is_some() => return b,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(e) => panic!("channel closed: {e}"),
            }
        }
    })
    .await
    .ok()
}

// Issue #22: the keepalive PING's answer on a subscribed connection (RESP2:
// `*2 pong ""`) was taken for an error, so the subscriber dropped its connection
// and re-subscribed at every keepalive, losing beacons each time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_survives_many_keepalives() {
    let port = free_port();
    let Some(_redis) = RedisProcess::start(port, "", false) else {
        return;
    };
    let url = format!("redis://127.0.0.1:{port}/0");
    let mut admin = admin_connection(&url).await;
    let a = fast_keepalive_bus(&url).await;
    let b = fast_keepalive_bus(&url).await;
    let subscribed = subscriber_ids(&mut admin).await;
    assert_eq!(subscribed.len(), 2, "one subscriber connection per bus");
    let user = ObjectId::new();
    let mut on_a = a.subscribe(user);

    // Ten keepalive periods on a healthy Redis.
    tokio::time::sleep(Duration::from_secs(2)).await;

    assert_eq!(a.reconnects(), 0, "a never reconnected");
    assert_eq!(b.reconnects(), 0, "b never reconnected");
    assert_eq!(
        subscriber_ids(&mut admin).await,
        subscribed,
        "the same subscriber connections throughout"
    );
    let sent = beacon(user, 11);
    b.publish(sent);
    assert_eq!(
        next_change(&mut on_a, Duration::from_secs(1)).await,
        Some(sent),
        "a beacon still arrives after ten keepalives"
    );
}

// A real loss of the subscriber connection is noticed, counted, and recovered from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_subscription_is_counted_and_restored() {
    let port = free_port();
    let Some(_redis) = RedisProcess::start(port, "", false) else {
        return;
    };
    let url = format!("redis://127.0.0.1:{port}/0");
    let mut admin = admin_connection(&url).await;
    let a = fast_keepalive_bus(&url).await;
    let a_sub = subscriber_ids(&mut admin).await;
    assert_eq!(a_sub.len(), 1, "a's subscriber connection");
    let b = fast_keepalive_bus(&url).await;
    let user = ObjectId::new();
    let mut on_a = a.subscribe(user);

    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(a_sub[0])
        .query_async(&mut admin)
        .await
        .expect("CLIENT KILL");
    assert_eq!(killed, 1);

    // Local sessions are woken to re-read their journals once the subscription is back.
    let woke = timeout(Duration::from_secs(10), async {
        loop {
            match on_a.recv().await {
                Ok(b) if b.mailbox.is_none() => return b,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(e) => panic!("channel closed: {e}"),
            }
        }
    })
    .await
    .expect("wake-up beacon after the subscription is restored");
    assert_eq!(woke.user, user);
    assert_eq!(a.reconnects(), 1, "the drop is counted once");
    assert_eq!(b.reconnects(), 0, "b was not touched");
    let now = subscriber_ids(&mut admin).await;
    assert_eq!(now.len(), 2, "a subscribed again, b still subscribed");
    assert!(!now.contains(&a_sub[0]), "on a new connection");

    let sent = beacon(user, 12);
    b.publish(sent);
    assert_eq!(
        next_change(&mut on_a, Duration::from_secs(1)).await,
        Some(sent),
        "beacons flow again"
    );
}
