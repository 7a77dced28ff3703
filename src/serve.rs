//! `eider serve`: open the store, start each enabled listener, stop cleanly on
//! SIGTERM or Ctrl-C (exit status 0).

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use eider_service::jobs::JobRunner;
use eider_service::{Bus, InProcessBus, Service, ServiceConfig, Store};
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::config::{Config, LogConfig, StorageConfig};

/// `[dbs]`: where the scale-out backend's services are.
#[derive(Debug, Clone, serde::Deserialize)]
struct DbsConfig {
    /// MongoDB connection string (used when `[storage] backend = "mongodb"`).
    #[serde(default)]
    mongo: String,
    /// Redis URL (`redis://`, `rediss://` or `redis+sentinel://`); empty: no Redis.
    #[serde(default)]
    redis: String,
}

/// `[webmail]`: the browser client served at /webmail/ on the API listener.
#[derive(Debug, Clone, serde::Deserialize)]
struct WebmailConfig {
    #[serde(default = "enabled_by_default")]
    enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

/// `[archive]`: how long deleted messages stay restorable.
#[derive(Debug, Clone, serde::Deserialize)]
struct ArchiveConfig {
    /// Milliseconds (WildDuck's `const:archive:time`); 0: no archive.
    #[serde(default = "default_archive_time")]
    time: u64,
}

fn default_archive_time() -> u64 {
    25 * 24 * 3600 * 1000
}

/// `[jobs]`: the background job runner.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct JobsConfig {
    /// Milliseconds between two runs of each job.
    #[serde(default = "default_job_ms")]
    interval: u64,
    /// Milliseconds a job's lease lasts unless renewed.
    #[serde(default = "default_job_ms")]
    lease_ttl: u64,
}

fn default_job_ms() -> u64 {
    60_000
}

/// `[journal]`: how long change-journal entries (and threads without messages) are kept.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct JournalConfig {
    /// Milliseconds a journal entry is kept; IMAP sessions whose MODSEQ is older
    /// resynchronize from the mailbox's state.
    #[serde(default = "default_journal_retention")]
    retention: u64,
}

fn default_journal_retention() -> u64 {
    // Three days: WildDuck keeps three hours; a laptop closed over a weekend should
    // still resynchronize from the journal, which is cheaper than from state.
    3 * 24 * 3600 * 1000
}

/// Entries each purge job handles per run (the next run goes on).
const PURGE_BATCH: u32 = 1000;

/// How long in-flight work may take to finish after a stop signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

pub fn run(cfg: Config) -> ExitCode {
    let log: LogConfig = match cfg.section("log") {
        Ok(l) => l,
        Err(e) => {
            eprintln!("eider: {e}");
            return ExitCode::from(2);
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&log.level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    match log.format.as_str() {
        // One object per line: the event's fields flattened to the top level, the
        // enclosing session span (session id, remote address) under "span".
        "json" => tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_env_filter(filter)
            .init(),
        "text" => tracing_subscriber::fmt().with_env_filter(filter).init(),
        other => {
            eprintln!("eider: [log] format must be \"text\" or \"json\", not {other:?}");
            return ExitCode::from(2);
        }
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            error!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// Open the configured store and the bus its instances share. The admin commands
/// open it the same way as `eider serve`, next to a running server: the embedded
/// store is SQLite in WAL mode with a busy timeout, so two processes take turns.
pub(crate) async fn open_store(
    cfg: &Config,
    storage: &StorageConfig,
    opts: eider_store_sqlite::SqliteOptions,
) -> Result<(Arc<dyn Store>, Arc<dyn Bus>), String> {
    let dbs: DbsConfig = cfg.section("dbs").map_err(|e| e.to_string())?;
    let store: Arc<dyn Store> = match storage.backend.as_str() {
        "embedded" => {
            let opts = eider_store_sqlite::SqliteOptions {
                synchronous: storage.synchronous.parse().map_err(|e| format!("{e}"))?,
                ..opts
            };
            let store = eider_store_sqlite::SqliteStore::open(&storage.path, opts)
                .map_err(|e| format!("cannot open the store in {}: {e}", storage.path.display()))?;
            info!(path = %storage.path.display(), "embedded store opened");
            Arc::new(store)
        }
        "mongodb" => {
            let store = eider_store_mongo::MongoStore::connect(&dbs.mongo)
                .await
                .map_err(|e| format!("cannot open the MongoDB store ([dbs] mongo): {e}"))?;
            Arc::new(store)
        }
        other => {
            return Err(format!(
                "storage backend {other:?} is not available in this build"
            ))
        }
    };
    // Instances sharing a MongoDB share their beacons and counters through Redis.
    let bus: Arc<dyn Bus> = if storage.backend == "mongodb" && !dbs.redis.trim().is_empty() {
        let bus = eider_store_mongo::RedisBus::connect(dbs.redis.trim())
            .await
            .map_err(|e| format!("cannot use Redis ([dbs] redis): {e}"))?;
        let reconnects = bus.reconnect_counter();
        eider_net::metrics::register_gauge(
            "eider_redis_reconnects_total",
            "Times the Redis beacon subscriber lost its connection and subscribed again.",
            move || vec![(Vec::new(), reconnects.load(Relaxed) as f64)],
        );
        Arc::new(bus)
    } else {
        if storage.backend == "mongodb" {
            warn!("[dbs] redis is empty: changes are announced within this instance only");
        }
        Arc::new(InProcessBus::new())
    };
    Ok((store, bus))
}

pub(crate) fn service_config(
    cfg: &Config,
    storage: &StorageConfig,
) -> Result<ServiceConfig, String> {
    let mut sc = ServiceConfig::default();
    let auth: crate::config::AuthConfig = cfg.section("auth").map_err(|e| e.to_string())?;
    auth.apply(&mut sc.security);
    let totp: crate::config::TotpConfig = cfg.section("totp").map_err(|e| e.to_string())?;
    sc.security.secrets = totp.secret_box(storage)?;
    if let Some(mb) = cfg.get("maxStorage").and_then(|v| v.as_integer()) {
        sc.default_quota = (mb.max(0) as u64) * 1024 * 1024;
    }
    // Empty means the machine's hostname, as in WildDuck (`emailDomain || os.hostname()`).
    let domain = cfg
        .get("emailDomain")
        .and_then(|v| v.as_str())
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(str::to_string)
        .or_else(|| machine_hostname().filter(|h| is_domain_name(h)));
    sc.email_domain = domain.map(|d| d.to_lowercase());
    let archive: ArchiveConfig = cfg.section("archive").map_err(|e| e.to_string())?;
    // The default of the runtime setting `const:archive:time` (POST /settings).
    sc.settings.insert(
        eider_service::settings::keys::ARCHIVE_TIME.into(),
        archive.time.into(),
    );
    Ok(sc)
}

/// A hostname usable as a mail domain (letters, digits, hyphens, dots): a name such
/// as `build_07` would make every user created without an address fail validation.
fn is_domain_name(name: &str) -> bool {
    name.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

/// The machine's hostname, None when it cannot be read.
#[cfg(unix)]
fn machine_hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = std::str::from_utf8(&buf[..end]).ok()?.trim();
    (!name.is_empty()).then(|| name.to_string())
}

#[cfg(not(unix))]
fn machine_hostname() -> Option<String> {
    std::env::var("COMPUTERNAME").ok().filter(|n| !n.is_empty())
}

/// Raise the descriptor limit to its hard limit and log the figure; the soft limit now
/// in force, if it could be read.
fn raise_descriptor_limit() -> Option<u64> {
    match eider_net::nofile::raise() {
        Ok(n) => {
            match n.raised_from {
                Some(from) => info!(
                    "descriptor limit (RLIMIT_NOFILE) raised from {from} to {} (hard limit {})",
                    n.soft, n.hard
                ),
                None => info!(
                    "descriptor limit (RLIMIT_NOFILE) is {} (hard limit {})",
                    n.soft, n.hard
                ),
            }
            Some(n.soft)
        }
        Err(e) => {
            warn!("cannot raise the descriptor limit (RLIMIT_NOFILE): {e}");
            None
        }
    }
}

/// The enabled listeners' connection caps must fit in the descriptors the process has,
/// less a reserve for its own files; otherwise one busy listener would exhaust them and
/// every listener's accept would fail. Lower them in proportion when they do not fit.
fn fit_caps_to_limit(
    limit: u64,
    api: &mut eider_http::ApiConfig,
    imap: &mut eider_imap::ImapConfig,
    pop3: &mut eider_pop3::Pop3Config,
    lmtp: &mut eider_lmtp::LmtpConfig,
    submission: &mut eider_submission::SubmissionConfig,
) {
    if let Some(n) = lmtp.legacy_max_connections.take() {
        lmtp.max_clients = n;
    }
    let mut caps: Vec<(&str, &mut usize)> = Vec::new();
    if api.enabled {
        caps.push(("API", &mut api.max_clients));
    }
    if imap.enabled {
        caps.push(("IMAP", &mut imap.max_clients));
    }
    if pop3.enabled {
        caps.push(("POP3", &mut pop3.max_clients));
    }
    if lmtp.enabled {
        caps.push(("LMTP", &mut lmtp.max_clients));
    }
    if submission.enabled {
        caps.push(("Submission", &mut submission.max_clients));
    }
    let budget = limit.saturating_sub(eider_net::nofile::reserve(limit));
    let budget = usize::try_from(budget).unwrap_or(usize::MAX);
    let mut values: Vec<usize> = caps.iter().map(|(_, c)| **c).collect();
    if eider_net::nofile::fit(&mut values, budget) {
        let mut figures = Vec::new();
        for ((name, cap), v) in caps.iter_mut().zip(values) {
            **cap = v;
            figures.push(format!("{name} {v}"));
        }
        warn!(
            "maxClients lowered to fit {budget} connections in the descriptor limit of {limit}: {}",
            figures.join(", ")
        );
    }
}

async fn serve(cfg: Config) -> Result<(), String> {
    let nofile = raise_descriptor_limit();
    let mut api: eider_http::ApiConfig = cfg.section("api").map_err(|e| e.to_string())?;
    let mut imap: eider_imap::ImapConfig = cfg.section("imap").map_err(|e| e.to_string())?;
    let mut pop3: eider_pop3::Pop3Config = cfg.section("pop3").map_err(|e| e.to_string())?;
    let mut lmtp: eider_lmtp::LmtpConfig = cfg.section("lmtp").map_err(|e| e.to_string())?;
    let mut submission: eider_submission::SubmissionConfig =
        cfg.section("submission").map_err(|e| e.to_string())?;
    // The profile's outgoing server is the submission gateway unless set otherwise.
    let profile = &mut api.mobileconfig;
    if profile.smtp_port == 0 {
        profile.smtp_port = submission.port;
    }
    profile.smtp_secure.get_or_insert(submission.secure);
    if let Some(limit) = nofile {
        fit_caps_to_limit(
            limit,
            &mut api,
            &mut imap,
            &mut pop3,
            &mut lmtp,
            &mut submission,
        );
    }
    let storage: StorageConfig = cfg.section("storage").map_err(|e| e.to_string())?;
    let (store, bus) =
        open_store(&cfg, &storage, eider_store_sqlite::SqliteOptions::default()).await?;
    let mut sc = service_config(&cfg, &storage)?;
    // Runtime settings whose defaults live in a gateway's section.
    use eider_service::settings::keys;
    sc.settings.insert(
        keys::AUTOREPLY_INTERVAL.into(),
        (lmtp.autoreply_interval.max(1).saturating_mul(1000)).into(),
    );
    sc.settings.insert(
        keys::MAX_IMAP_CONNECTIONS.into(),
        imap.max_connections.into(),
    );
    let queue_store = store.clone();
    let mut service = Service::new(store, bus, sc);
    // Sending (API submit, forwards, autoreplies, bounces) goes through the durable
    // queue; the workers deliver to [relay] or, without one, to each domain's MX.
    let relay: eider_outbound::RelayConfig = cfg.section("relay").map_err(|e| e.to_string())?;
    let outbound: eider_outbound::OutboundConfig =
        cfg.section("outbound").map_err(|e| e.to_string())?;
    if outbound.enabled {
        let poster = eider_outbound::HttpPoster::new(
            eider_service::TargetPolicy {
                allow_private: relay.allow_private_targets,
            },
            Duration::from_secs(relay.timeout.max(1)),
        )
        .with_relay(relay.enabled);
        service = service.with_outbound(Arc::new(poster));
    }

    let webhooks: crate::config::WebhooksConfig =
        cfg.section("webhooks").map_err(|e| e.to_string())?;
    let poster = if webhooks.enabled {
        // Events wait in the store's durable queue (entry kind "webhook").
        let queue = Arc::new(eider_service::webhooks::StoreWebhookQueue::new(queue_store));
        service = service.with_webhooks(webhooks.service_config(&storage, &api)?, queue);
        let poster = eider_outbound::WebhookClient::new(std::time::Duration::from_secs(
            webhooks.timeout.max(1),
        ))?;
        Some(Arc::new(poster))
    } else {
        None
    };

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    {
        // Queue depths for /metrics: a scrape must not wait on the store, so a task
        // counts the entries every few seconds and the gauge reads the last count.
        let depths = Arc::new(QUEUE_KINDS.map(|_| AtomicU64::new(0)));
        let read = depths.clone();
        eider_net::metrics::register_gauge(
            "eider_queue_entries",
            "Entries waiting in the store's durable queue, by kind (sampled every 5 s).",
            move || {
                QUEUE_KINDS
                    .iter()
                    .zip(read.iter())
                    .map(|(kind, n)| (vec![("kind", kind.to_string())], n.load(Relaxed) as f64))
                    .collect()
            },
        );
        let sampler = service.clone();
        let stop = stopped(stop_rx.clone());
        tasks.spawn(async move {
            let sample = async {
                loop {
                    for (kind, n) in QUEUE_KINDS.iter().zip(depths.iter()) {
                        if let Ok(count) = sampler.count_queued(kind, None).await {
                            n.store(count, Relaxed);
                        }
                    }
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
            };
            tokio::select! {
                _ = sample => {}
                _ = stop => {}
            }
            Ok(())
        });
    }
    if let Some(poster) = poster {
        let sender = service.clone();
        let stop = stopped(stop_rx.clone());
        tasks.spawn(async move {
            tokio::select! {
                _ = sender.run_webhooks(poster) => {}
                _ = stop => {}
            }
            Ok(())
        });
    }

    let access: crate::config::AccessSecretFile = cfg
        .section("api.accessControl")
        .map_err(|e| e.to_string())?;
    if let Some(secret) = access.read()? {
        api.access_control.secret = secret;
    }
    let webmail: WebmailConfig = cfg.section("webmail").map_err(|e| e.to_string())?;
    api.webmail = webmail.enabled;
    if api.enabled {
        let server = eider_http::bind(service.clone(), &api)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(addr) = server.local_addr() {
            info!("API listening on http://{addr}");
        }
        let stop = stopped(stop_rx.clone());
        tasks.spawn(async move { server.run(stop).await.map_err(|e| e.to_string()) });
    }

    // TLS for every listener: configured PEM files or a self-signed certificate kept
    // under the storage path; reloaded on SIGHUP.
    let tls_config: eider_tls::TlsConfig = cfg.section("tls").map_err(|e| e.to_string())?;
    let tls = match eider_tls::Tls::load(&tls_config, &storage.path) {
        Ok(t) => Some(t),
        Err(e) => {
            warn!("TLS is not available: {e}");
            None
        }
    };
    if let Some(tls) = tls.clone() {
        let mut stop = stop_rx.clone();
        tasks.spawn(async move {
            tokio::select! {
                _ = eider_tls::reload_on_sighup(tls) => {}
                _ = stop.changed() => {}
            }
            Ok(())
        });
    }

    // Certificates stored through the API, served by SNI on every TLS listener:
    // reloaded when this instance changes one, and when the store's version moves
    // (another instance changed one).
    if let Some(tls) = tls.clone() {
        let service = service.clone();
        let mut stop = stop_rx.clone();
        let every = Duration::from_secs(tls_config.sni_refresh.unwrap_or(10).max(1));
        tasks.spawn(async move {
            let mut seen = None;
            loop {
                match service.certs_version().await {
                    Ok(v) if Some(v) != seen => match sni_certs(&service).await {
                        Ok(certs) => {
                            info!(count = certs.len(), "TLS certificates by SNI loaded");
                            tls.set_sni_certs(certs);
                            seen = Some(v);
                        }
                        Err(e) => warn!("cannot load the stored TLS certificates: {e}"),
                    },
                    Ok(_) => {}
                    Err(e) => warn!("cannot read the TLS certificates' version: {e}"),
                }
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = service.certs_changed() => {}
                    _ = stop.changed() => return Ok(()),
                }
            }
        });
    }

    if imap.enabled {
        let server = eider_imap::bind(service.clone(), &imap, tls.clone())
            .await
            .map_err(|e| e.to_string())?;
        if let Some(addr) = server.local_addr() {
            let name = if server.is_secure() { "IMAPS" } else { "IMAP" };
            info!("{name} listening on {addr}");
        }
        let stop = stopped(stop_rx.clone());
        tasks.spawn(async move { server.run(stop).await.map_err(|e| e.to_string()) });
    }

    if pop3.enabled {
        let server = eider_pop3::bind(service.clone(), &pop3, tls.clone())
            .await
            .map_err(|e| e.to_string())?;
        if let Some(addr) = server.local_addr() {
            let name = if server.is_secure() { "POP3S" } else { "POP3" };
            info!("{name} listening on {addr}");
        }
        let stop = stopped(stop_rx.clone());
        tasks.spawn(async move { server.run(stop).await.map_err(|e| e.to_string()) });
    }

    if lmtp.enabled {
        // [spam] is a delivery setting shared with the API's uploads.
        lmtp.spam = cfg.section("spam").map_err(|e| e.to_string())?;
        let server = eider_lmtp::bind(service.clone(), &lmtp, tls.clone())
            .await
            .map_err(|e| e.to_string())?;
        if let Some(addr) = server.local_addr() {
            info!("LMTP listening on {addr}");
        }
        let stop = stopped(stop_rx.clone());
        tasks.spawn(async move { server.run(stop).await.map_err(|e| e.to_string()) });
    }

    if submission.enabled {
        // Local recipients go through the delivery pipeline, with LMTP's [spam] rules.
        submission.spam = cfg.section("spam").map_err(|e| e.to_string())?;
        let server = eider_submission::bind(service.clone(), &submission, tls.clone())
            .await
            .map_err(|e| e.to_string())?;
        if let Some(addr) = server.local_addr() {
            // RFC 8314 names implicit-TLS submission "submissions".
            let name = if server.is_secure() {
                "Submissions"
            } else {
                "Submission"
            };
            info!("{name} listening on {addr}");
        }
        let stop = stopped(stop_rx.clone());
        tasks.spawn(async move { server.run(stop).await.map_err(|e| e.to_string()) });
    }

    if outbound.enabled && outbound.workers {
        // Every message leaving through the queue is DKIM-signed when a /dkim key
        // covers its From domain.
        let signer: Arc<dyn eider_outbound::worker::MessageSigner> =
            Arc::new(eider_outbound::DkimSigner::new(service.clone()));
        let worker =
            eider_outbound::Worker::new(service.clone(), outbound.clone(), relay, Some(signer));
        let stop = stop_rx.clone();
        tasks.spawn(async move {
            worker.run(stop).await;
            Ok(())
        });
    }

    // Periodic work, each job on one instance at a time (leases in the store).
    {
        let jobs: JobsConfig = cfg.section("jobs").map_err(|e| e.to_string())?;
        let interval = Duration::from_millis(jobs.interval.max(10));
        let mut runner = JobRunner::new(service.leases(), JobRunner::unique_holder("eider"))
            .with_lease_ttl(Duration::from_millis(jobs.lease_ttl.max(30)));
        let s = service.clone();
        runner.add("retention", interval, move || {
            let s = s.clone();
            async move { s.sweep_expired(PURGE_BATCH).await.map(|_| ()) }
        });
        let s = service.clone();
        runner.add("archive-purge", interval, move || {
            let s = s.clone();
            async move {
                let n = s.purge_archived(PURGE_BATCH).await?;
                if n > 0 {
                    info!(purged = n, "archived messages purged");
                }
                Ok(())
            }
        });
        let s = service.clone();
        runner.add("user-purge", interval, move || {
            let s = s.clone();
            async move {
                let n = s.purge_deleted_users(PURGE_BATCH).await?;
                if n > 0 {
                    info!(purged = n, "deleted users purged");
                }
                Ok(())
            }
        });
        let journal: JournalConfig = cfg.section("journal").map_err(|e| e.to_string())?;
        let retention = Duration::from_millis(journal.retention);
        let s = service.clone();
        // Where the orphaned-thread walk goes on: kept in memory only (a restart
        // walks from the start again, which is merely repeated work).
        let thread_cursor = Arc::new(std::sync::Mutex::new(None));
        runner.add("journal-prune", interval, move || {
            let (s, cursor) = (s.clone(), thread_cursor.clone());
            async move {
                let n = s.prune_journal(retention, PURGE_BATCH).await?;
                if n > 0 {
                    info!(pruned = n, "journal entries pruned");
                }
                let after = *cursor.lock().unwrap_or_else(|e| e.into_inner());
                let (purged, next) = s
                    .purge_orphan_threads(retention, after, PURGE_BATCH)
                    .await?;
                *cursor.lock().unwrap_or_else(|e| e.into_inner()) = next;
                if purged > 0 {
                    info!(purged, "orphaned threads purged");
                }
                Ok(())
            }
        });
        let handles = runner.spawn(stop_rx.clone());
        tasks.spawn(async move {
            for h in handles {
                let _ = h.await;
            }
            Ok(())
        });
    }

    let outcome = tokio::select! {
        _ = shutdown_signal() => { info!("stop requested, shutting down"); Ok(()) }
        Some(res) = tasks.join_next() => match res {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(format!("a server task failed: {e}")),
        },
    };
    let _ = stop_tx.send(true);
    let drain = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
        warn!("some connections did not finish within {SHUTDOWN_GRACE:?}; closing them");
    }
    outcome
}

/// The store's certificates as the TLS listeners serve them; one that no longer
/// loads (its key does not open, its PEM broke) is left out and logged.
async fn sni_certs(service: &Service) -> Result<Vec<eider_tls::SniCert>, String> {
    let stored = service
        .sni_certificates()
        .await
        .map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(stored.len());
    for c in stored {
        match eider_tls::certified_key(&c.cert_pem, &c.key_pem, &[]) {
            Ok(key) => out.push(eider_tls::SniCert {
                servername: c.servername,
                alt_names: c.alt_names,
                expires: c.expires.timestamp(),
                key,
            }),
            Err(e) => warn!(servername = %c.servername, "stored TLS certificate skipped: {e}"),
        }
    }
    Ok(out)
}

/// The kinds of the store's queue entries (outbound mail, webhook deliveries).
const QUEUE_KINDS: [&str; 2] = [
    eider_service::SMTP_QUEUE,
    eider_service::webhooks::QUEUE_KIND,
];

async fn stopped(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::is_domain_name;

    #[test]
    fn only_domain_like_hostnames_become_the_email_domain() {
        assert!(is_domain_name("vm"));
        assert!(is_domain_name("mail-1.example.org"));
        assert!(!is_domain_name("build_07"));
        assert!(!is_domain_name("-x.example"));
        assert!(!is_domain_name("a..b"));
        assert!(!is_domain_name(""));
    }
}
