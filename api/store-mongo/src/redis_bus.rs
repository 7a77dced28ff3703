//! The Bus on Redis, for several Eider instances.
//!
//! - Beacons: `publish` delivers to this instance's subscribers at once and queues
//!   the beacon for Redis (`PUBLISH <prefix>beacons`); one subscriber connection per
//!   instance receives every instance's beacons and hands them to local subscribers.
//!   A beacon carries no data (readers reload the journal), so a lost one only delays
//!   a notification: after Redis comes back, every local subscriber gets a wake-up
//!   beacon (mailbox None) and resynchronizes from the journal.
//! - Counters: `INCRBY` and, on the first increment, `PEXPIRE` in one Lua script, so a
//!   counter expires `ttl` after its creation on every instance alike.
//! - Reconnects with exponential backoff (100 ms to 5 s). While Redis is unreachable,
//!   counters fall back to this instance's memory (rate limits become per-instance
//!   until it returns); mail is never affected.
//! - URLs: `redis://[user:pass@]host:port/db`, `rediss://…`, or Sentinel:
//!   `redis+sentinel://[user:pass@]host1:port1[,host2:port2…]/service_name[/db]`
//!   (the master is looked up again after every connection failure).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use eider_service::model::Beacon;
use eider_service::{Bus, InProcessBus, ObjectId};
use futures::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{Client, ConnectionAddr, RedisError, Script, Value};
use tokio::sync::{broadcast, mpsc, watch};

/// Beacons waiting to be published; beyond this they are dropped (only a delay).
const PUBLISH_QUEUE: usize = 10_000;
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// After a failed command, counters stay local this long before Redis is tried again.
const COOLDOWN: Duration = Duration::from_secs(1);
/// Longest wait for the answer to a keepalive PING on the subscriber connection.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

const COUNTER_SCRIPT: &str = r"
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return v
";

/// Settings of the Redis bus.
#[derive(Debug, Clone)]
pub struct RedisBusOptions {
    /// Prefix of every key and channel this bus uses.
    pub prefix: String,
    /// Longest wait for one command's answer.
    pub response_timeout: Duration,
    pub connection_timeout: Duration,
    /// How often the subscriber connection is checked with PING (a silent connection
    /// is otherwise only noticed when the kernel gives up on it).
    pub keepalive: Duration,
}

impl Default for RedisBusOptions {
    fn default() -> Self {
        Self {
            prefix: "eider:".into(),
            response_timeout: Duration::from_secs(2),
            connection_timeout: Duration::from_secs(2),
            keepalive: Duration::from_secs(15),
        }
    }
}

/// Where the Redis master is.
enum Target {
    Direct(Client),
    Sentinel(tokio::sync::Mutex<SentinelClient>),
}

impl Target {
    fn parse(url: &str) -> Result<Target, String> {
        let sentinel = ["redis+sentinel://", "sentinel://"]
            .iter()
            .find_map(|p| url.strip_prefix(p));
        let Some(rest) = sentinel else {
            return Client::open(url)
                .map(Target::Direct)
                .map_err(|e| format!("bad Redis URL: {e}"));
        };
        let (auth, rest) = match rest.rsplit_once('@') {
            Some((a, r)) => (Some(a), r),
            None => (None, rest),
        };
        let (hosts, path) = rest.split_once('/').ok_or_else(|| {
            "a Sentinel URL names the service: redis+sentinel://host:port/service[/db]".to_string()
        })?;
        let mut parts = path.split('/').filter(|p| !p.is_empty());
        let service = parts
            .next()
            .ok_or_else(|| "the Sentinel URL lacks the service name".to_string())?;
        let db: Option<i64> = match parts.next() {
            Some(d) => Some(d.parse().map_err(|_| format!("bad Redis db {d:?}"))?),
            None => None,
        };
        let mut addrs = Vec::new();
        for h in hosts.split(',').filter(|h| !h.is_empty()) {
            let (host, port) = match h.rsplit_once(':') {
                Some((host, port)) => (
                    host.trim_matches(['[', ']']),
                    port.parse::<u16>()
                        .map_err(|_| format!("bad Sentinel port in {h:?}"))?,
                ),
                None => (h, 26379),
            };
            addrs.push(ConnectionAddr::Tcp(host.to_string(), port));
        }
        if addrs.is_empty() {
            return Err("the Sentinel URL names no sentinel".into());
        }
        let mut b = SentinelClientBuilder::new(addrs, service, SentinelServerType::Master)
            .map_err(|e| format!("bad Sentinel settings: {e}"))?;
        if let Some(db) = db {
            b = b.set_client_to_redis_db(db);
        }
        if let Some(auth) = auth {
            let (user, pass) = match auth.split_once(':') {
                Some((u, p)) => (Some(u), p),
                None => (None, auth),
            };
            if let Some(u) = user.filter(|u| !u.is_empty()) {
                b = b.set_client_to_redis_username(u);
            }
            if !pass.is_empty() {
                b = b.set_client_to_redis_password(pass);
            }
        }
        let client = b
            .build()
            .map_err(|e| format!("bad Sentinel settings: {e}"))?;
        Ok(Target::Sentinel(tokio::sync::Mutex::new(client)))
    }

    /// A client for the current master.
    async fn client(&self) -> Result<Client, RedisError> {
        match self {
            Target::Direct(c) => Ok(c.clone()),
            Target::Sentinel(s) => s.lock().await.async_get_client().await,
        }
    }
}

struct Inner {
    target: Target,
    opts: RedisBusOptions,
    conn: tokio::sync::Mutex<Option<ConnectionManager>>,
    /// Until when Redis is skipped after a failure.
    down_until: Mutex<Option<Instant>>,
    channels: Mutex<HashMap<ObjectId, broadcast::Sender<Beacon>>>,
    /// Counters while Redis is unreachable.
    fallback: InProcessBus,
    /// Tells this instance's own beacons apart when Redis echoes them.
    instance: String,
    queue: mpsc::Sender<Beacon>,
    script: Script,
    /// Times the subscriber lost its connection and subscribed again.
    /// Shared so that /metrics can read it without keeping the bus alive.
    reconnects: Arc<AtomicU64>,
    /// Dropped with the bus: stops the background tasks.
    _stop: watch::Sender<bool>,
}

/// The Redis-backed Bus. Cheap to clone; background tasks end when the last clone goes.
#[derive(Clone)]
pub struct RedisBus {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl RedisBus {
    /// Connect to Redis and start the publisher and subscriber tasks (needs a Tokio
    /// runtime). Fails only on a malformed URL: an unreachable Redis is retried in
    /// the background.
    pub async fn connect(url: &str) -> Result<RedisBus, String> {
        Self::connect_with(url, RedisBusOptions::default()).await
    }

    pub async fn connect_with(url: &str, opts: RedisBusOptions) -> Result<RedisBus, String> {
        let target = Target::parse(url)?;
        let (queue, rx) = mpsc::channel(PUBLISH_QUEUE);
        let (stop, stop_rx) = watch::channel(false);
        let inner = Arc::new(Inner {
            target,
            opts,
            conn: tokio::sync::Mutex::new(None),
            down_until: Mutex::new(None),
            channels: Mutex::new(HashMap::new()),
            fallback: InProcessBus::new(),
            instance: hex::encode(rand::random::<[u8; 8]>()),
            queue,
            script: Script::new(COUNTER_SCRIPT),
            reconnects: Arc::new(AtomicU64::new(0)),
            _stop: stop,
        });
        // Unreachable now is not fatal (the tasks keep trying, counters stay local
        // meanwhile): an instance starting during a Redis failover still serves mail.
        let reachable = match inner.connection().await {
            Ok(mut conn) => match redis::cmd("PING").query_async::<String>(&mut conn).await {
                Ok(_) => true,
                Err(e) => {
                    inner.failed("ping", &e).await;
                    false
                }
            },
            Err(e) => {
                inner.failed("connect", &e).await;
                false
            }
        };
        tokio::spawn(publisher(Arc::downgrade(&inner), rx));
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(subscriber(Arc::downgrade(&inner), stop_rx, ready_tx));
        if reachable {
            // Wait (briefly) for the subscription, so that beacons published by other
            // instances right after this returns are not missed.
            let _ = tokio::time::timeout(Duration::from_secs(5), ready_rx).await;
            tracing::info!("redis bus connected");
        } else {
            tracing::warn!("redis is not reachable yet; retrying in the background");
        }
        Ok(RedisBus { inner })
    }

    /// How many times the beacon subscriber lost its Redis connection and subscribed
    /// again since this bus started (each one a window where beacons were missed).
    pub fn reconnects(&self) -> u64 {
        self.inner.reconnects.load(Ordering::Relaxed)
    }

    /// The reconnect count itself, for a metrics gauge that must not hold the bus
    /// (its background tasks end when the last bus clone goes).
    pub fn reconnect_counter(&self) -> Arc<AtomicU64> {
        self.inner.reconnects.clone()
    }
}

impl Inner {
    fn channel_name(&self) -> String {
        format!("{}beacons", self.opts.prefix)
    }

    fn counter_key(&self, key: &str) -> String {
        format!("{}c:{key}", self.opts.prefix)
    }

    fn deliver(&self, beacon: Beacon) {
        let mut channels = lock(&self.channels);
        if let Some(tx) = channels.get(&beacon.user) {
            if tx.send(beacon).is_err() {
                // Nobody listens any more: drop the channel so idle users cost nothing.
                channels.remove(&beacon.user);
            }
        }
    }

    /// Every local subscriber re-reads its journal (after Redis was unreachable).
    fn wake_all(&self) {
        let users: Vec<ObjectId> = lock(&self.channels).keys().copied().collect();
        for user in users {
            self.deliver(Beacon {
                user,
                mailbox: None,
                modseq: 0,
            });
        }
    }

    async fn connection(&self) -> Result<ConnectionManager, RedisError> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let client = self.target.client().await?;
        let cfg = ConnectionManagerConfig::new()
            .set_number_of_retries(2)
            .set_min_delay(BACKOFF_MIN)
            .set_max_delay(BACKOFF_MAX)
            .set_response_timeout(Some(self.opts.response_timeout))
            .set_connection_timeout(Some(self.opts.connection_timeout));
        let c = client.get_connection_manager_with_config(cfg).await?;
        *slot = Some(c.clone());
        Ok(c)
    }

    fn available(&self) -> bool {
        match *lock(&self.down_until) {
            Some(t) => Instant::now() >= t,
            None => true,
        }
    }

    async fn failed(&self, what: &str, e: &RedisError) {
        let was_up = {
            let mut d = lock(&self.down_until);
            let was = d.is_none_or(|t| Instant::now() >= t);
            *d = Some(Instant::now() + COOLDOWN);
            was
        };
        if was_up {
            tracing::warn!("redis {what} failed ({e}); using local state for now");
        }
        // Let the next attempt connect afresh (and ask Sentinel for the master again).
        if e.is_io_error()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
            || e.is_timeout()
            || e.code() == Some("READONLY")
        {
            *self.conn.lock().await = None;
        }
    }

    fn recovered(&self) {
        let mut d = lock(&self.down_until);
        if d.take().is_some() {
            tracing::info!("redis is reachable again");
        }
    }
}

async fn publisher(inner: Weak<Inner>, mut rx: mpsc::Receiver<Beacon>) {
    while let Some(beacon) = rx.recv().await {
        let Some(inner) = inner.upgrade() else {
            return;
        };
        if !inner.available() {
            // Redis failed a moment ago: drop the beacon rather than queue behind
            // timeouts (subscribers are woken when their connection returns).
            continue;
        }
        let payload = format!(
            "{} {} {} {}",
            inner.instance,
            beacon.user.to_hex(),
            beacon
                .mailbox
                .map_or_else(|| "-".to_string(), |m| m.to_hex()),
            beacon.modseq
        );
        let result = match inner.connection().await {
            Ok(mut c) => redis::cmd("PUBLISH")
                .arg(inner.channel_name())
                .arg(payload)
                .query_async::<i64>(&mut c)
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => inner.recovered(),
            // The beacon is lost; subscribers elsewhere are woken when their own
            // connection comes back, and journals hold the change regardless.
            Err(e) => inner.failed("publish", &e).await,
        }
    }
}

fn parse_payload(payload: &str) -> Option<(&str, Beacon)> {
    let mut parts = payload.split(' ');
    let instance = parts.next()?;
    let user = ObjectId::parse(parts.next()?)?;
    let mailbox = match parts.next()? {
        "-" => None,
        m => Some(ObjectId::parse(m)?),
    };
    let modseq = parts.next()?.parse().ok()?;
    Some((
        instance,
        Beacon {
            user,
            mailbox,
            modseq,
        },
    ))
}

/// One keepalive round trip on the subscriber connection; Err names what went wrong.
async fn keepalive_ping(sink: &mut redis::aio::PubSubSink) -> Result<(), String> {
    // Read the answer as a raw Value: asking for a String made the RESP2 answer of a
    // subscribed connection (an array) a type error, so every keepalive reconnected.
    match tokio::time::timeout(PING_TIMEOUT, sink.ping::<Value>()).await {
        Err(_) => Err(format!("no answer to PING within {PING_TIMEOUT:?}")),
        Ok(Err(e)) => Err(format!("PING failed: {e}")),
        Ok(Ok(v)) if is_pong(&v) => Ok(()),
        Ok(Ok(v)) => Err(format!("unexpected answer to PING: {v:?}")),
    }
}

/// Whether `v` answers PING: `*2 pong ""` on a subscribed RESP2 connection, `+PONG`
/// otherwise (RESP3, or before the subscription is confirmed).
fn is_pong(v: &Value) -> bool {
    let pong = |v: &Value| match v {
        Value::SimpleString(s) => s.eq_ignore_ascii_case("pong"),
        Value::BulkString(b) => b.eq_ignore_ascii_case(b"pong"),
        _ => false,
    };
    match v {
        Value::Array(items) => items.first().is_some_and(pong),
        other => pong(other),
    }
}

async fn subscriber(
    inner: Weak<Inner>,
    mut stop: watch::Receiver<bool>,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    let mut ready = Some(ready);
    let mut delay = BACKOFF_MIN;
    // Why the last subscription ended; None before the first one.
    let mut lost: Option<String> = None;
    loop {
        let (client, channel, keepalive) = {
            let Some(i) = inner.upgrade() else { return };
            let keepalive = i.opts.keepalive.max(Duration::from_millis(10));
            (i.target.client().await, i.channel_name(), keepalive)
        };
        let session = async {
            let client = client?;
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, RedisError>(pubsub)
        };
        let pubsub = tokio::select! {
            r = session => r,
            _ = stop.changed() => return,
        };
        match pubsub {
            Err(e) => {
                if let Some(i) = inner.upgrade() {
                    tracing::debug!("redis subscriber cannot connect: {e}");
                    i.failed("subscribe", &e).await;
                }
            }
            Ok(pubsub) => {
                delay = BACKOFF_MIN;
                if let Some(r) = ready.take() {
                    let _ = r.send(());
                }
                if let Some(i) = inner.upgrade() {
                    i.recovered();
                    if let Some(cause) = lost.take() {
                        let n = i.reconnects.fetch_add(1, Ordering::Relaxed) + 1;
                        tracing::warn!(
                            "redis subscriber reconnected (reconnect #{n}, after: {cause})"
                        );
                        i.wake_all();
                    }
                }
                let (mut sink, mut stream) = pubsub.split();
                let mut ping =
                    tokio::time::interval_at(tokio::time::Instant::now() + keepalive, keepalive);
                // A slow answer postpones the next PING rather than bursting to catch up.
                ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let cause = loop {
                    tokio::select! {
                        msg = stream.next() => {
                            let Some(msg) = msg else {
                                break "the connection was closed".to_string();
                            };
                            let Some(i) = inner.upgrade() else { return };
                            let payload: String = msg.get_payload().unwrap_or_default();
                            match parse_payload(&payload) {
                                Some((from, _)) if from == i.instance => {}
                                Some((_, beacon)) => i.deliver(beacon),
                                None => tracing::debug!("ignoring malformed beacon {payload:?}"),
                            }
                        }
                        _ = ping.tick() => {
                            if let Err(e) = keepalive_ping(&mut sink).await {
                                break e;
                            }
                        }
                        _ = stop.changed() => return,
                    }
                };
                tracing::warn!("redis subscriber connection lost ({cause}); reconnecting");
                lost = Some(cause);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.changed() => return,
        }
        delay = (delay * 2).min(BACKOFF_MAX);
    }
}

#[async_trait]
impl Bus for RedisBus {
    fn publish(&self, beacon: Beacon) {
        self.inner.deliver(beacon);
        if self.inner.queue.try_send(beacon).is_err() {
            tracing::debug!("beacon queue full; dropping one (only a delay)");
        }
    }

    fn subscribe(&self, user: ObjectId) -> broadcast::Receiver<Beacon> {
        let mut channels = lock(&self.inner.channels);
        channels
            .entry(user)
            .or_insert_with(|| broadcast::channel(64).0)
            .subscribe()
    }

    async fn counter_add(&self, key: &str, by: i64, ttl: Duration) -> i64 {
        let i = &self.inner;
        if i.available() {
            match i.connection().await {
                Ok(mut c) => {
                    let ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1);
                    let r = i
                        .script
                        .key(i.counter_key(key))
                        .arg(by)
                        .arg(ms)
                        .invoke_async::<i64>(&mut c)
                        .await;
                    match r {
                        Ok(v) => {
                            i.recovered();
                            return v;
                        }
                        Err(e) => i.failed("counter", &e).await,
                    }
                }
                Err(e) => i.failed("connect", &e).await,
            }
        }
        i.fallback.counter_add(key, by, ttl).await
    }

    async fn counter_get(&self, key: &str) -> i64 {
        let i = &self.inner;
        if i.available() {
            match i.connection().await {
                Ok(mut c) => {
                    let r = redis::cmd("GET")
                        .arg(i.counter_key(key))
                        .query_async::<Option<i64>>(&mut c)
                        .await;
                    match r {
                        Ok(v) => {
                            i.recovered();
                            return v.unwrap_or(0);
                        }
                        Err(e) => i.failed("counter", &e).await,
                    }
                }
                Err(e) => i.failed("connect", &e).await,
            }
        }
        i.fallback.counter_get(key).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip() {
        let user = ObjectId::new();
        let mailbox = ObjectId::new();
        let p = format!("abc {} {} 42", user.to_hex(), mailbox.to_hex());
        let (from, b) = parse_payload(&p).expect("parse");
        assert_eq!(from, "abc");
        assert_eq!((b.user, b.mailbox, b.modseq), (user, Some(mailbox), 42));
        let p = format!("abc {} - 0", user.to_hex());
        assert_eq!(parse_payload(&p).map(|x| x.1.mailbox), Some(None));
        assert!(parse_payload("junk").is_none());
    }

    #[test]
    fn pong_answers_are_recognised() {
        let subscribed = Value::Array(vec![
            Value::BulkString(b"pong".to_vec()),
            Value::BulkString(Vec::new()),
        ]);
        assert!(is_pong(&subscribed));
        assert!(is_pong(&Value::SimpleString("PONG".into())));
        assert!(!is_pong(&Value::Nil));
        assert!(!is_pong(&Value::Array(vec![Value::BulkString(
            b"message".to_vec()
        )])));
    }

    #[test]
    fn urls_parse() {
        assert!(matches!(
            Target::parse("redis://127.0.0.1:6379/3"),
            Ok(Target::Direct(_))
        ));
        assert!(matches!(
            Target::parse("redis+sentinel://:pw@10.0.0.1:26379,10.0.0.2:26380/mymaster/2"),
            Ok(Target::Sentinel(_))
        ));
        assert!(Target::parse("redis+sentinel://10.0.0.1:26379").is_err());
        assert!(Target::parse("redis+sentinel://10.0.0.1:x/m").is_err());
        assert!(Target::parse("http://nope").is_err());
    }
}
