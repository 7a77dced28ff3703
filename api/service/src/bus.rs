//! The Bus: change beacons between sessions (and instances), plus shared counters.
//! In-process here; Redis-backed in scale-out deployments.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::model::Beacon;
use crate::ObjectId;

#[async_trait]
pub trait Bus: Send + Sync {
    /// Announce that the user's journal grew. Fire-and-forget: a lost beacon only
    /// delays a notification, since readers always reload the journal.
    fn publish(&self, beacon: Beacon);
    /// Beacons for one user, from now on.
    fn subscribe(&self, user: ObjectId) -> broadcast::Receiver<Beacon>;
    /// Add `by` to a counter that expires `ttl` after its creation; returns the new value.
    async fn counter_add(&self, key: &str, by: i64, ttl: Duration) -> i64;
    /// Current value of a counter (0 when absent or expired).
    async fn counter_get(&self, key: &str) -> i64;
}

/// A Bus for one process: broadcast channels and an in-memory counter map.
#[derive(Default)]
pub struct InProcessBus {
    channels: Mutex<HashMap<ObjectId, broadcast::Sender<Beacon>>>,
    counters: Mutex<HashMap<String, (i64, Instant)>>,
}

impl InProcessBus {
    pub fn new() -> Self {
        Self::default()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave the maps inconsistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[async_trait]
impl Bus for InProcessBus {
    fn publish(&self, beacon: Beacon) {
        let mut channels = lock(&self.channels);
        if let Some(tx) = channels.get(&beacon.user) {
            if tx.send(beacon).is_err() {
                // Nobody listens any more: drop the channel so idle users cost nothing.
                channels.remove(&beacon.user);
            }
        }
    }

    fn subscribe(&self, user: ObjectId) -> broadcast::Receiver<Beacon> {
        let mut channels = lock(&self.channels);
        channels
            .entry(user)
            .or_insert_with(|| broadcast::channel(64).0)
            .subscribe()
    }

    async fn counter_add(&self, key: &str, by: i64, ttl: Duration) -> i64 {
        let now = Instant::now();
        let mut counters = lock(&self.counters);
        if counters.len() > 100_000 {
            counters.retain(|_, (_, exp)| *exp > now);
        }
        let entry = counters.entry(key.to_string()).or_insert((0, now + ttl));
        if entry.1 <= now {
            *entry = (0, now + ttl);
        }
        entry.0 += by;
        entry.0
    }

    async fn counter_get(&self, key: &str) -> i64 {
        let now = Instant::now();
        match lock(&self.counters).get(key) {
            Some((v, exp)) if *exp > now => *v,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn beacons_reach_subscribers_of_that_user_only() {
        let bus = InProcessBus::new();
        let a = ObjectId::new();
        let b = ObjectId::new();
        let mut ra = bus.subscribe(a);
        let mut rb = bus.subscribe(b);
        bus.publish(Beacon {
            user: a,
            mailbox: None,
            modseq: 7,
        });
        assert_eq!(ra.recv().await.map(|x| x.modseq).ok(), Some(7));
        assert!(rb.try_recv().is_err());
    }

    #[tokio::test]
    async fn counters_expire() {
        let bus = InProcessBus::new();
        assert_eq!(bus.counter_add("k", 2, Duration::from_millis(30)).await, 2);
        assert_eq!(bus.counter_add("k", 3, Duration::from_millis(30)).await, 5);
        assert_eq!(bus.counter_get("k").await, 5);
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert_eq!(bus.counter_get("k").await, 0);
        assert_eq!(bus.counter_add("k", 1, Duration::from_millis(30)).await, 1);
    }
}
