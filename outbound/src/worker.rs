//! The queue workers: claim due SMTP entries with a lease, deliver them grouped by
//! next hop (one connection per relay/MX/target, reused for every entry waiting
//! for it), and settle each entry: delivered (removed), retried later (temporary
//! failure, exponential backoff), or reported to its sender (permanent failure,
//! or expiry after `lifetime`).
//!
//! The lease makes a crash harmless: entries a dead worker held become claimable
//! when their lease ends. A message is removed only after the next hop accepted
//! it, so a crash between the two repeats a delivery (at least once); the message
//! bytes, Message-ID included, are the same every time.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use eider_service::{
    Claim, FailedRecipient, QueueEntry, Service, SmtpJob, TargetPolicy, SMTP_QUEUE,
};
use tokio::net::TcpStream;
use tokio::sync::{watch, Semaphore};
use tracing::{debug, info, warn};

use crate::http::{allowed_addrs, parse_smtp_url};
use crate::mx::{MxHost, MxResolver};
use crate::smtp::{Client, ConnectOptions, SmtpError, TlsMode};
use crate::{tls, OutboundConfig, RelayConfig};

/// Adds a signature (DKIM) to a message before it leaves; None leaves it as it is.
#[async_trait]
pub trait MessageSigner: Send + Sync {
    async fn sign(&self, from: Option<&str>, raw: &[u8]) -> Option<Vec<u8>>;
}

/// Counters for logs and benchmarks.
#[derive(Debug, Default)]
pub struct WorkerStats {
    pub delivered: AtomicU64,
    pub deferred: AtomicU64,
    pub bounced: AtomicU64,
}

/// Runs deliveries for one instance. Cheap to clone.
#[derive(Clone)]
pub struct Worker {
    inner: Arc<Inner>,
}

struct Inner {
    service: Service,
    config: OutboundConfig,
    relay: RelayConfig,
    /// This worker's name in leases: unique per process and start.
    name: String,
    /// The EHLO name and the DSNs' Reporting-MTA.
    hostname: String,
    policy: TargetPolicy,
    resolver: Option<MxResolver>,
    signer: Option<Arc<dyn MessageSigner>>,
    stats: Arc<WorkerStats>,
}

/// Where the entries of one key go.
enum Hop {
    Relay,
    Mx(String),
    Target(String),
}

/// How one entry's delivery ended.
struct Settled {
    delivered: Vec<String>,
    temporary: Vec<(String, SmtpError)>,
    permanent: Vec<(String, SmtpError)>,
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// RFC 3463 status of an SMTP error: the enhanced code in the reply when there is
/// one, else a generic one for its class.
fn status_of(e: &SmtpError) -> String {
    let words = e.text.split_whitespace();
    for w in words.take(3) {
        let parts: Vec<&str> = w.split('.').collect();
        if parts.len() == 3
            && matches!(parts[0], "2" | "4" | "5")
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        {
            return w.to_string();
        }
    }
    match e.code {
        Some(c) if c >= 500 => "5.0.0".into(),
        _ => "4.0.0".into(),
    }
}

impl Worker {
    /// `signer` signs (DKIM) each message before it leaves.
    pub fn new(
        service: Service,
        config: OutboundConfig,
        relay: RelayConfig,
        signer: Option<Arc<dyn MessageSigner>>,
    ) -> Self {
        let name = format!(
            "{}:{}:{}",
            hostname(),
            std::process::id(),
            eider_service::ObjectId::new().to_hex()
        );
        let host = match relay.name.trim() {
            "" => hostname(),
            n => n.to_string(),
        };
        let resolver = if relay.enabled {
            None
        } else {
            match MxResolver::from_system() {
                Ok(r) => Some(r),
                Err(e) => {
                    warn!("no DNS resolver, mail to remote domains will wait: {e}");
                    None
                }
            }
        };
        let policy = TargetPolicy {
            allow_private: relay.allow_private_targets,
        };
        Self {
            inner: Arc::new(Inner {
                service,
                config,
                relay,
                name,
                hostname: host,
                policy,
                resolver,
                signer,
                stats: Arc::default(),
            }),
        }
    }

    pub fn stats(&self) -> Arc<WorkerStats> {
        self.inner.stats.clone()
    }

    /// Claim and deliver until `stop` turns true. Entries being delivered when it
    /// does are finished first (or their lease lets another instance take them).
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let wake = self.inner.service.queue_wakeup();
        let slots = Arc::new(Semaphore::new(self.inner.config.concurrency.max(1)));
        let poll = Duration::from_millis(self.inner.config.poll_interval.max(50));
        info!(worker = %self.inner.name, "outbound queue worker started");
        loop {
            if *stop.borrow() {
                break;
            }
            // Registered before claiming, so an entry queued meanwhile still wakes us.
            let notified = wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let claimed = match self.claim(None).await {
                Ok(c) => c,
                Err(e) => {
                    warn!("cannot read the outbound queue: {e}");
                    Vec::new()
                }
            };
            if claimed.is_empty() {
                tokio::select! {
                    _ = &mut notified => {}
                    _ = tokio::time::sleep(poll) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            let mut by_key: HashMap<String, Vec<QueueEntry>> = HashMap::new();
            for e in claimed {
                by_key.entry(e.key.clone()).or_default().push(e);
            }
            // A busy next hop (the relay) gets several connections, each with its share.
            let share = (self.inner.config.batch as usize)
                .div_ceil(self.inner.config.concurrency.max(1))
                .max(1);
            for (key, mut entries) in by_key {
                while !entries.is_empty() {
                    let rest = entries.split_off(entries.len().min(share));
                    let chunk = std::mem::replace(&mut entries, rest);
                    let Ok(permit) = slots.clone().acquire_owned().await else {
                        return;
                    };
                    let worker = self.clone();
                    let key = key.clone();
                    tokio::spawn(async move {
                        worker.deliver_key(&key, chunk).await;
                        drop(permit);
                    });
                }
            }
        }
        // Wait for the deliveries under way.
        let _ = slots
            .acquire_many(self.inner.config.concurrency.max(1) as u32)
            .await;
    }

    async fn claim(&self, key: Option<&str>) -> eider_service::Result<Vec<QueueEntry>> {
        let now = Utc::now();
        let lease = chrono::Duration::seconds(self.inner.config.lease.max(1) as i64);
        self.inner
            .service
            .claim_queued(&Claim {
                kind: SMTP_QUEUE,
                key,
                worker: &self.inner.name,
                now,
                lease_until: now + lease,
                limit: self.inner.config.batch.max(1),
            })
            .await
    }

    fn hop(&self, key: &str) -> Hop {
        if let Some(url) = key.strip_prefix("via:") {
            Hop::Target(url.to_string())
        } else if self.inner.relay.enabled {
            Hop::Relay
        } else {
            Hop::Mx(key.to_string())
        }
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.inner.relay.timeout.max(1))
    }

    /// Connect to the next hop of `key`.
    async fn connect(&self, hop: &Hop) -> Result<(Client, String), SmtpError> {
        let relay = &self.inner.relay;
        let (hosts, tls_mode, auth): (Vec<MxHost>, TlsMode, Option<(String, String)>) = match hop {
            Hop::Relay => {
                let addrs: Vec<SocketAddr> =
                    tokio::net::lookup_host((relay.host.as_str(), relay.port))
                        .await
                        .map_err(|e| SmtpError::io(format!("cannot resolve {}: {e}", relay.host)))?
                        .collect();
                let config = if relay.reject_unauthorized {
                    tls::verified()
                } else {
                    tls::unverified()
                };
                let mode = if relay.secure {
                    TlsMode::Implicit(config)
                } else if relay.require_tls {
                    TlsMode::Required(config)
                } else {
                    TlsMode::Opportunistic(config)
                };
                let auth =
                    (!relay.user.is_empty()).then(|| (relay.user.clone(), relay.pass.clone()));
                (
                    vec![MxHost {
                        name: relay.host.clone(),
                        addrs,
                    }],
                    mode,
                    auth,
                )
            }
            Hop::Mx(domain) => {
                let resolver = self
                    .inner
                    .resolver
                    .as_ref()
                    .ok_or_else(|| SmtpError::io("no DNS resolver"))?;
                let hosts = resolver.hosts(domain, self.inner.config.mx_port).await?;
                (hosts, TlsMode::Opportunistic(tls::unverified()), None)
            }
            Hop::Target(url) => {
                let (host, port) = parse_smtp_url(url).map_err(|e| SmtpError::io(e.to_string()))?;
                let addrs = allowed_addrs(self.inner.policy, &host, port)
                    .await
                    .map_err(|e| SmtpError {
                        // A target the policy refuses will not become reachable.
                        code: Some(550),
                        text: format!("550 5.7.1 {e}"),
                    })?;
                (
                    vec![MxHost { name: host, addrs }],
                    TlsMode::Opportunistic(tls::unverified()),
                    None,
                )
            }
        };
        let mut last = SmtpError::io("no address to connect to");
        for host in hosts {
            for addr in &host.addrs {
                let tcp = match tokio::time::timeout(self.timeout(), TcpStream::connect(addr)).await
                {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        last =
                            SmtpError::io(format!("cannot connect to {} ({addr}): {e}", host.name));
                        continue;
                    }
                    Err(_) => {
                        last = SmtpError::io(format!("connect timeout to {} ({addr})", host.name));
                        continue;
                    }
                };
                let opts = ConnectOptions {
                    helo: self.inner.hostname.clone(),
                    server_name: host.name.clone(),
                    tls: tls_mode.clone(),
                    auth: auth.clone(),
                    timeout: self.timeout(),
                    lmtp: false,
                };
                match Client::start(tcp, &opts).await {
                    Ok(c) => return Ok((c, host.name.clone())),
                    // A 5xx greeting or AUTH refusal: the next MX may do better.
                    Err(e) => last = e,
                }
            }
        }
        Err(last)
    }

    /// Deliver the entries of one key over one connection, then whatever else became
    /// due for that key while it was open.
    async fn deliver_key(&self, key: &str, mut entries: Vec<QueueEntry>) {
        let hop = self.hop(key);
        let (mut client, remote) = match self.connect(&hop).await {
            Ok(c) => c,
            Err(e) => {
                debug!(key, "next hop unreachable: {e}");
                for entry in entries {
                    self.fail_whole(&entry, &e, None).await;
                }
                return;
            }
        };
        loop {
            let mut pending = std::mem::take(&mut entries).into_iter();
            while let Some(entry) = pending.next() {
                let job = match SmtpJob::decode(&entry.payload) {
                    Ok(j) => j,
                    Err(e) => {
                        warn!(id = %entry.id, "dropping an unreadable queue entry: {e}");
                        let _ = self
                            .inner
                            .service
                            .complete_queued(entry.id, &self.inner.name)
                            .await;
                        continue;
                    }
                };
                let raw = match &self.inner.signer {
                    Some(s) => s
                        .sign(job.from.as_deref(), &job.raw)
                        .await
                        .unwrap_or_else(|| job.raw.clone()),
                    None => job.raw.clone(),
                };
                match client.transaction(job.from.as_deref(), &job.to, &raw).await {
                    Ok(results) => {
                        let mut settled = Settled {
                            delivered: Vec::new(),
                            temporary: Vec::new(),
                            permanent: Vec::new(),
                        };
                        for r in results {
                            match r.result {
                                Ok(_) => settled.delivered.push(r.rcpt),
                                Err(e) if e.permanent() => settled.permanent.push((r.rcpt, e)),
                                Err(e) => settled.temporary.push((r.rcpt, e)),
                            }
                        }
                        self.settle(&entry, job, settled, Some(&remote)).await;
                        if !client.rset().await {
                            self.finish_unsent(pending).await;
                            return;
                        }
                    }
                    Err(e) => {
                        self.fail_whole(&entry, &e, Some(&remote)).await;
                        // Without a reply the connection is unusable: the rest waits for a new one.
                        if e.code.is_none() || !client.rset().await {
                            self.finish_unsent(pending).await;
                            return;
                        }
                    }
                }
            }
            entries = match self.claim(Some(key)).await {
                Ok(more) if !more.is_empty() => more,
                _ => break,
            };
        }
        client.quit().await;
    }

    /// Entries claimed but not tried (the connection broke): back to the queue now.
    async fn finish_unsent(&self, entries: impl Iterator<Item = QueueEntry>) {
        for entry in entries {
            let _ = self
                .inner
                .service
                .retry_queued(entry.id, &self.inner.name, Utc::now(), "connection lost")
                .await;
        }
    }

    /// The whole entry failed with one error (no connection, MAIL or DATA refused).
    async fn fail_whole(&self, entry: &QueueEntry, e: &SmtpError, remote: Option<&str>) {
        let job = match SmtpJob::decode(&entry.payload) {
            Ok(j) => j,
            Err(_) => {
                let _ = self
                    .inner
                    .service
                    .complete_queued(entry.id, &self.inner.name)
                    .await;
                return;
            }
        };
        let failures: Vec<(String, SmtpError)> =
            job.to.iter().map(|r| (r.clone(), e.clone())).collect();
        let settled = if e.permanent() {
            Settled {
                delivered: Vec::new(),
                temporary: Vec::new(),
                permanent: failures,
            }
        } else {
            Settled {
                delivered: Vec::new(),
                temporary: failures,
                permanent: Vec::new(),
            }
        };
        self.settle(entry, job, settled, remote).await;
    }

    fn retry_at(&self, attempts: u32, now: DateTime<Utc>) -> DateTime<Utc> {
        let base = self.inner.config.retry_delay.max(1);
        let max = self.inner.config.max_retry_delay.max(base);
        let delay = base.saturating_mul(1u64 << attempts.min(30)).min(max);
        now + chrono::Duration::seconds(delay as i64)
    }

    /// Remove, retry or report an entry after an attempt.
    async fn settle(
        &self,
        entry: &QueueEntry,
        mut job: SmtpJob,
        mut s: Settled,
        remote: Option<&str>,
    ) {
        let service = &self.inner.service;
        let worker = &self.inner.name;
        let now = Utc::now();
        let lifetime = chrono::Duration::hours(self.inner.config.lifetime as i64);
        let expired = now >= job.queued + lifetime;
        if expired && !s.temporary.is_empty() {
            for (rcpt, e) in s.temporary.drain(..) {
                s.permanent.push((
                    rcpt,
                    SmtpError {
                        code: e.code,
                        text: format!("4.4.7 message expired in the queue; last error: {}", e.text),
                    },
                ));
            }
        }
        let stats = &self.inner.stats;
        stats
            .delivered
            .fetch_add(s.delivered.len() as u64, Ordering::Relaxed);
        if !s.permanent.is_empty() {
            stats
                .bounced
                .fetch_add(s.permanent.len() as u64, Ordering::Relaxed);
            let failed: Vec<FailedRecipient> = s
                .permanent
                .iter()
                .map(|(rcpt, e)| FailedRecipient {
                    address: rcpt.clone(),
                    status: if e.text.starts_with("4.4.7") {
                        "4.4.7".into()
                    } else {
                        status_of(e)
                    },
                    diagnostic: e.text.clone(),
                    remote_mta: remote.map(str::to_string),
                })
                .collect();
            info!(queue = %entry.group, failed = failed.len(), "outbound delivery failed for good");
            if let Err(e) = service
                .report_failure(&entry.group, &job, &failed, &self.inner.hostname)
                .await
            {
                // Not reported yet: try the whole entry again later rather than lose the report.
                warn!(queue = %entry.group, "cannot report a failed delivery: {e}");
                let _ = service
                    .retry_queued(
                        entry.id,
                        worker,
                        self.retry_at(entry.attempts, now),
                        &e.to_string(),
                    )
                    .await;
                return;
            }
        }
        if s.temporary.is_empty() {
            if let Err(e) = service.complete_queued(entry.id, worker).await {
                warn!(queue = %entry.group, "cannot remove a delivered entry: {e}");
            }
            return;
        }
        stats.deferred.fetch_add(1, Ordering::Relaxed);
        let error = s
            .temporary
            .first()
            .map(|(_, e)| e.text.clone())
            .unwrap_or_default();
        let at = self.retry_at(entry.attempts, now);
        debug!(queue = %entry.group, attempts = entry.attempts + 1, "deferred: {error}");
        let result = if s.delivered.is_empty() && s.permanent.is_empty() {
            service
                .retry_queued(entry.id, worker, at, &error)
                .await
                .map(|_| ())
        } else {
            job.to = s.temporary.into_iter().map(|(r, _)| r).collect();
            service.split_queued(entry, worker, job, at, &error).await
        };
        if let Err(e) = result {
            warn!(queue = %entry.group, "cannot reschedule an entry: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enhanced_status_from_replies() {
        let e = |code, text: &str| SmtpError {
            code: Some(code),
            text: text.into(),
        };
        assert_eq!(status_of(&e(550, "550 5.1.1 no such user")), "5.1.1");
        assert_eq!(status_of(&e(550, "RCPT: 550 5.7.1 denied")), "5.7.1");
        assert_eq!(status_of(&e(554, "554 rejected")), "5.0.0");
        assert_eq!(status_of(&SmtpError::io("timeout")), "4.0.0");
    }
}
