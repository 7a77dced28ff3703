//! The workload run against each server, and what it measures.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::profile::Profiler;
use crate::proto::{Http, Imap, ImapAnswer, Lmtp, Pop3, Res};
use crate::servers::{disk_usage, Kind, Server, DOMAIN, PASSWORD};

/// What a metric's number means.
pub struct MetricDef {
    pub key: &'static str,
    pub label: String,
    pub unit: &'static str,
    /// True when a larger number is better (throughput).
    pub higher_is_better: bool,
}

/// One server's result for one metric: a number or an error, and details.
#[derive(Clone, Debug)]
pub struct Cell {
    pub value: Result<f64, String>,
    pub details: Value,
}

pub type Results = BTreeMap<&'static str, Cell>;

pub struct Params {
    pub messages: usize,
    pub single_messages: usize,
    pub lmtp_parallel: usize,
    pub idle_connections: usize,
    pub idle_users: usize,
    pub idle_rounds: usize,
    pub http_seconds: f64,
    pub http_connections: usize,
    pub step_timeout: Duration,
}

pub fn metric_defs(p: &Params) -> Vec<MetricDef> {
    let d = |key, label: String, unit, higher_is_better| MetricDef {
        key,
        label,
        unit,
        higher_is_better,
    };
    let n = p.messages;
    let moved = moved(n);
    vec![
        d(
            "lmtp_1",
            format!("LMTP delivery, 1 connection ({} msgs)", p.single_messages),
            "msg/s",
            true,
        ),
        d(
            "lmtp_n",
            format!("LMTP delivery, {} connections ({n} msgs)", p.lmtp_parallel),
            "msg/s",
            true,
        ),
        d(
            "storage_ratio",
            "Storage on disk / message bytes".into(),
            "ratio",
            false,
        ),
        d(
            "imap_select",
            format!("IMAP SELECT INBOX ({n} msgs)"),
            "ms",
            false,
        ),
        d(
            "imap_fetch_meta_first",
            "FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE BODYSTRUCTURE), first".into(),
            "ms",
            false,
        ),
        d(
            "imap_fetch_meta",
            "FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE BODYSTRUCTURE), again".into(),
            "ms",
            false,
        ),
        d(
            "imap_fetch_body",
            "FETCH 1:* BODY.PEEK[]".into(),
            "ms",
            false,
        ),
        d(
            "imap_search_subject",
            "UID SEARCH SUBJECT".into(),
            "ms",
            false,
        ),
        d("imap_search_text", "UID SEARCH TEXT".into(), "ms", false),
        d("imap_search_since", "UID SEARCH SINCE".into(), "ms", false),
        d(
            "imap_sort_arrival",
            "UID SORT (ARRIVAL)".into(),
            "ms",
            false,
        ),
        d(
            "imap_sort_subject",
            "UID SORT (SUBJECT)".into(),
            "ms",
            false,
        ),
        d("imap_sort_from", "UID SORT (FROM)".into(), "ms", false),
        d("imap_sort_date", "UID SORT (DATE)".into(), "ms", false),
        d(
            "imap_thread_references",
            "UID THREAD REFERENCES".into(),
            "ms",
            false,
        ),
        d(
            "imap_thread_orderedsubject",
            "UID THREAD ORDEREDSUBJECT".into(),
            "ms",
            false,
        ),
        d(
            "imap_store",
            "STORE 1:* +FLAGS (\\Flagged)".into(),
            "ms",
            false,
        ),
        d(
            "imap_copy",
            format!("COPY 1:{moved} to another mailbox"),
            "ms",
            false,
        ),
        d(
            "imap_move",
            format!("MOVE 1:{moved} to another mailbox"),
            "ms",
            false,
        ),
        d("pop3_uidl", "POP3 UIDL".into(), "ms", false),
        d("pop3_retr", "POP3 RETR of all".into(), "ms", false),
        d(
            "http_list",
            format!(
                "HTTP GET message list (20/page), {} conns",
                p.http_connections
            ),
            "req/s",
            true,
        ),
        d(
            "http_message",
            format!("HTTP GET one parsed message, {} conns", p.http_connections),
            "req/s",
            true,
        ),
        d(
            "idle_setup",
            format!("{} IMAP logins + SELECT + IDLE", p.idle_connections),
            "s",
            false,
        ),
        d(
            "idle_memory",
            "Memory per IDLE connection (server PSS Δ / conns)".into(),
            "KiB",
            false,
        ),
        d(
            "idle_p50",
            "IDLE notification latency p50 (delivery → EXISTS)".into(),
            "ms",
            false,
        ),
        d(
            "idle_p99",
            "IDLE notification latency p99 (delivery → EXISTS)".into(),
            "ms",
            false,
        ),
    ]
}

/// How many messages COPY and MOVE take: 1,000 of 10,000 (a tenth of smaller corpora).
pub fn moved(messages: usize) -> usize {
    (messages / 10).clamp(1, 1000)
}

fn ok(v: f64, details: Value) -> Cell {
    Cell {
        value: Ok(v),
        details,
    }
}

fn fail(e: impl Into<String>) -> Cell {
    Cell {
        value: Err(e.into()),
        details: Value::Null,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn log(kind: Kind, what: &str) {
    eprintln!("[{:>7}] {what}", kind.name());
}

/// Run the whole workload against one server.
pub async fn run(
    server: &mut Server,
    corpus: &Arc<Vec<Vec<u8>>>,
    p: &Params,
    profiler: &mut Profiler,
) -> Results {
    let mut r = Results::new();
    let kind = server.kind;
    let ep = server.ep;

    // ---- LMTP, one connection: the first messages of the corpus to "single".
    sync_disks();
    log(kind, "LMTP, 1 connection");
    profiler.start(server, "lmtp_1");
    let cpu = server.cpu_seconds();
    r.insert(
        "lmtp_1",
        lmtp_run(
            ep.lmtp,
            corpus,
            p.single_messages,
            1,
            &format!("single@{DOMAIN}"),
        )
        .await,
    );
    profiler.stop();
    // ---- LMTP, N connections: the whole corpus to "bench".
    sync_disks();
    log(kind, &format!("LMTP, {} connections", p.lmtp_parallel));
    let count = p.single_messages;
    add_cpu(&mut r, "lmtp_1", server.cpu_seconds() - cpu, count);
    profiler.start(server, "lmtp_n");
    let cpu = server.cpu_seconds();
    r.insert(
        "lmtp_n",
        lmtp_run(
            ep.lmtp,
            corpus,
            p.messages,
            p.lmtp_parallel,
            &format!("bench@{DOMAIN}"),
        )
        .await,
    );
    profiler.stop();

    add_cpu(&mut r, "lmtp_n", server.cpu_seconds() - cpu, p.messages);

    // ---- Storage: bytes allocated on disk for everything delivered.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let delivered: u64 = corpus[..p.single_messages]
        .iter()
        .chain(corpus[..p.messages].iter())
        .map(|m| m.len() as u64)
        .sum();
    let on_disk = disk_usage(&server.store_dir);
    r.insert(
        "storage_ratio",
        ok(
            on_disk as f64 / delivered as f64,
            json!({"bytes_on_disk": on_disk, "message_bytes": delivered}),
        ),
    );

    // ---- IMAP.
    let login = server.login("bench");
    let t = p.step_timeout;
    log(kind, "IMAP SELECT");
    profiler.start(server, "imap_select");
    let mut selects = Vec::new();
    let mut select_err = None;
    for _ in 0..3 {
        match timed(ep.imap, &login, None, "SELECT INBOX", t).await {
            Ok((d, a)) => {
                if a.exists != Some(p.messages as u64) {
                    select_err = Some(format!("EXISTS {:?}, expected {}", a.exists, p.messages));
                }
                selects.push(ms(d));
            }
            Err(e) => select_err = Some(e),
        }
    }
    profiler.stop();
    r.insert(
        "imap_select",
        match select_err {
            Some(e) => fail(e),
            None => ok(median(selects.clone()), json!({"runs_ms": selects})),
        },
    );

    let meta = "FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE BODYSTRUCTURE)";
    log(kind, meta);
    profiler.start(server, "imap_fetch_meta_first");
    r.insert(
        "imap_fetch_meta_first",
        step(ep.imap, &login, meta, t, Some(p.messages as u64)).await,
    );
    profiler.stop();
    profiler.start(server, "imap_fetch_meta");
    let mut runs = Vec::new();
    let mut cell = None;
    for _ in 0..3 {
        let c = step(ep.imap, &login, meta, t, Some(p.messages as u64)).await;
        match &c.value {
            Ok(v) => runs.push(*v),
            Err(_) => {
                cell = Some(c);
                break;
            }
        }
    }
    profiler.stop();
    r.insert(
        "imap_fetch_meta",
        cell.unwrap_or_else(|| ok(median(runs.clone()), json!({"runs_ms": runs}))),
    );

    for (key, cmd) in [
        (
            "imap_search_subject",
            "UID SEARCH SUBJECT \"Projekt 123\"".to_string(),
        ),
        (
            "imap_search_text",
            format!("UID SEARCH TEXT \"{}\"", crate::corpus::RARE_WORD),
        ),
        (
            "imap_search_since",
            "UID SEARCH SINCE 1-Jan-2020".to_string(),
        ),
        // SORT and THREAD over the whole mailbox (RFC 5256).
        (
            "imap_sort_arrival",
            "UID SORT (ARRIVAL) UTF-8 ALL".to_string(),
        ),
        (
            "imap_sort_subject",
            "UID SORT (SUBJECT) UTF-8 ALL".to_string(),
        ),
        ("imap_sort_from", "UID SORT (FROM) UTF-8 ALL".to_string()),
        ("imap_sort_date", "UID SORT (DATE) UTF-8 ALL".to_string()),
        (
            "imap_thread_references",
            "UID THREAD REFERENCES UTF-8 ALL".to_string(),
        ),
        (
            "imap_thread_orderedsubject",
            "UID THREAD ORDEREDSUBJECT UTF-8 ALL".to_string(),
        ),
    ] {
        log(kind, &cmd);
        profiler.start(server, key);
        r.insert(key, step(ep.imap, &login, &cmd, t, None).await);
        profiler.stop();
    }

    log(kind, "FETCH 1:* BODY.PEEK[]");
    profiler.start(server, "imap_fetch_body");
    let mut body = step(
        ep.imap,
        &login,
        "FETCH 1:* BODY.PEEK[]",
        t,
        Some(p.messages as u64),
    )
    .await;
    profiler.stop();
    if let (Ok(v), Some(b)) = (
        &body.value,
        body.details.get("literal_bytes").and_then(Value::as_u64),
    ) {
        let expected: u64 = corpus[..p.messages].iter().map(|m| m.len() as u64).sum();
        body.details["mb_per_s"] = json!(b as f64 / 1e6 / (v / 1000.0));
        body.details["expected_bytes"] = json!(expected);
        if b < expected {
            body.details["mismatch"] = json!(format!("received {b} bytes, expected {expected}"));
        } else {
            // Dovecot's LMTP adds Return-Path, Delivered-To and Received headers.
            body.details["trace_header_bytes"] = json!(b - expected);
        }
    }
    r.insert("imap_fetch_body", body);

    log(kind, "STORE 1:* +FLAGS (\\Flagged)");
    profiler.start(server, "imap_store");
    r.insert(
        "imap_store",
        step(ep.imap, &login, "STORE 1:* +FLAGS (\\Flagged)", t, None).await,
    );
    profiler.stop();

    let moved = moved(p.messages);
    for mbox in ["Archive", "Moved"] {
        if let Err(e) = untimed(ep.imap, &login, &format!("CREATE {mbox}")).await {
            log(kind, &format!("CREATE {mbox}: {e}"));
        }
    }
    log(kind, "COPY / MOVE");
    profiler.start(server, "imap_copy");
    r.insert(
        "imap_copy",
        step(ep.imap, &login, &format!("COPY 1:{moved} Archive"), t, None).await,
    );
    profiler.stop();
    profiler.start(server, "imap_move");
    r.insert(
        "imap_move",
        step(ep.imap, &login, &format!("MOVE 1:{moved} Moved"), t, None).await,
    );
    profiler.stop();

    // ---- POP3 on the same mailbox.
    log(kind, "POP3 UIDL / RETR");
    profiler.start(server, "pop3");
    // (Which messages MOVE took depends on the order the parallel deliveries landed
    // in, so the retrieved set differs a little between servers; see mb_per_s.)
    let (uidl, retr) = pop3_run(ep.pop3, &login, p.messages - moved, t).await;
    profiler.stop();
    r.insert("pop3_uidl", uidl);
    r.insert("pop3_retr", retr);

    // ---- HTTP API (Eider's; Dovecot has no mail REST API).
    match (kind, ep.api) {
        (Kind::Eider, Some(api)) => {
            log(kind, "HTTP API");
            let (list, msg) = http_run(server, api, p, profiler).await;
            r.insert("http_list", list);
            r.insert("http_message", msg);
        }
        _ => {
            let na = || fail("n/a");
            r.insert("http_list", na());
            r.insert("http_message", na());
        }
    }

    // ---- IDLE.
    if p.idle_connections > 0 {
        log(kind, &format!("{} IDLE connections", p.idle_connections));
        for (k, c) in idle_run(server, p).await {
            r.insert(k, c);
        }
    }
    if !server.alive() {
        log(kind, "the server died during the run");
    }
    r
}

async fn lmtp_run(
    addr: SocketAddr,
    corpus: &Arc<Vec<Vec<u8>>>,
    count: usize,
    conns: usize,
    rcpt: &str,
) -> Cell {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..conns {
        let (next, corpus, rcpt) = (next.clone(), corpus.clone(), rcpt.to_string());
        tasks.spawn(async move {
            let mut delivered = 0usize;
            let mut bytes = 0u64;
            let mut c = match Lmtp::connect(addr).await {
                Ok(c) => c,
                Err(e) => return (delivered, bytes, Some(e)),
            };
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return (delivered, bytes, None);
                }
                if let Err(e) = c.deliver(&rcpt, &corpus[i], || {}).await {
                    return (delivered, bytes, Some(format!("message {i}: {e}")));
                }
                delivered += 1;
                bytes += corpus[i].len() as u64;
            }
        });
    }
    let (mut delivered, mut bytes, mut errors) = (0, 0u64, Vec::new());
    while let Some(res) = tasks.join_next().await {
        match res {
            Ok((d, b, e)) => {
                delivered += d;
                bytes += b;
                errors.extend(e);
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let details = json!({
        "delivered": delivered,
        "seconds": secs,
        "mb_per_s": bytes as f64 / 1e6 / secs,
        "errors": errors,
    });
    if delivered < count {
        return Cell {
            value: Err(format!(
                "{delivered}/{count} delivered: {}",
                errors.first().cloned().unwrap_or_default()
            )),
            details,
        };
    }
    ok(delivered as f64 / secs, details)
}

/// Log in, optionally SELECT, then time one command.
async fn timed(
    addr: SocketAddr,
    login: &str,
    select: Option<&str>,
    cmd: &str,
    timeout: Duration,
) -> Res<(Duration, ImapAnswer)> {
    let work = async {
        let mut s = Imap::login(addr, login, PASSWORD).await?;
        if let Some(m) = select {
            s.cmd(&format!("SELECT {m}")).await?;
        }
        let started = Instant::now();
        let a = s.cmd(cmd).await?;
        let d = started.elapsed();
        let _ = s.cmd("LOGOUT").await;
        Ok((d, a))
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| format!("timeout after {}s", timeout.as_secs()))?
}

async fn untimed(addr: SocketAddr, login: &str, cmd: &str) -> Res<()> {
    let mut s = Imap::login(addr, login, PASSWORD).await?;
    s.cmd(cmd).await?;
    Ok(())
}

/// A timed IMAP command on INBOX; `expect_fetches` checks the number of FETCH responses.
async fn step(
    addr: SocketAddr,
    login: &str,
    cmd: &str,
    timeout: Duration,
    expect_fetches: Option<u64>,
) -> Cell {
    match timed(addr, login, Some("INBOX"), cmd, timeout).await {
        Ok((d, a)) => {
            let mut details = json!({
                "fetch_responses": a.fetches,
                "search_hits": a.search_hits,
                "literal_bytes": a.literal_bytes,
                "response_bytes": a.bytes,
            });
            if let Some(want) = expect_fetches {
                if a.fetches != want {
                    details["mismatch"] =
                        json!(format!("{} FETCH responses, expected {want}", a.fetches));
                }
            }
            ok(ms(d), details)
        }
        Err(e) => fail(e),
    }
}

async fn pop3_run(
    addr: SocketAddr,
    login: &str,
    expected: usize,
    timeout: Duration,
) -> (Cell, Cell) {
    let work = async {
        let mut p = Pop3::login(addr, login, PASSWORD).await?;
        let started = Instant::now();
        let (lines, _) = p.multi("UIDL").await?;
        let uidl = started.elapsed();
        let started = Instant::now();
        let mut bytes = 0u64;
        for i in 1..=lines {
            bytes += p.multi(&format!("RETR {i}")).await?.1;
        }
        let retr = started.elapsed();
        let _ = p.cmd("QUIT").await;
        Ok::<_, String>((uidl, lines, retr, bytes))
    };
    match tokio::time::timeout(timeout * 2, work).await {
        Ok(Ok((uidl, lines, retr, bytes))) => {
            let mut u = ok(ms(uidl), json!({"listed": lines}));
            if lines != expected as u64 {
                u.details["mismatch"] = json!(format!("listed {lines}, expected {expected}"));
            }
            (
                u,
                ok(
                    ms(retr),
                    json!({"retrieved": lines, "bytes": bytes, "mb_per_s": bytes as f64 / 1e6 / retr.as_secs_f64()}),
                ),
            )
        }
        Ok(Err(e)) => (fail(e.clone()), fail(e)),
        Err(_) => (fail("timeout"), fail("timeout")),
    }
}

async fn http_run(
    server: &Server,
    api: SocketAddr,
    p: &Params,
    profiler: &mut Profiler,
) -> (Cell, Cell) {
    let setup = async {
        let user = server
            .user_ids
            .get("bench")
            .ok_or("no user id for bench")?
            .clone();
        let mut h = Http::connect(api).await?;
        let (status, body) = h
            .request("GET", &format!("/users/{user}/mailboxes"), None)
            .await?;
        let v: Value =
            serde_json::from_slice(&body).map_err(|e| format!("mailboxes: HTTP {status}: {e}"))?;
        let inbox = v["results"]
            .as_array()
            .and_then(|a| a.iter().find(|m| m["path"] == "INBOX"))
            .and_then(|m| m["id"].as_str())
            .ok_or_else(|| format!("no INBOX in HTTP {status} {v}"))?
            .to_string();
        let list = format!("/users/{user}/mailboxes/{inbox}/messages?limit=20");
        let (status, body) = h
            .request(
                "GET",
                &format!("/users/{user}/mailboxes/{inbox}/messages?limit=100"),
                None,
            )
            .await?;
        let v: Value =
            serde_json::from_slice(&body).map_err(|e| format!("messages: HTTP {status}: {e}"))?;
        let ids: Vec<String> = v["results"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|m| m["id"].as_u64().map(|i| i.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        if ids.is_empty() {
            return Err(format!("message listing gave no ids: HTTP {status}"));
        }
        let messages: Vec<String> = ids
            .iter()
            .map(|id| format!("/users/{user}/mailboxes/{inbox}/messages/{id}"))
            .collect();
        Ok::<_, String>((vec![list], messages))
    };
    let (list, messages) = match setup.await {
        Ok(x) => x,
        Err(e) => return (fail(e.clone()), fail(e)),
    };
    let dur = Duration::from_secs_f64(p.http_seconds);
    profiler.start(server, "http_list");
    let a = http_load(api, list, p.http_connections, dur).await;
    profiler.stop();
    profiler.start(server, "http_message");
    let b = http_load(api, messages, p.http_connections, dur).await;
    profiler.stop();
    (a, b)
}

async fn http_load(addr: SocketAddr, paths: Vec<String>, conns: usize, dur: Duration) -> Cell {
    let paths = Arc::new(paths);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + dur;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..conns {
        let (paths, next) = (paths.clone(), next.clone());
        tasks.spawn(async move {
            let mut lat = Vec::new();
            let mut bytes = 0u64;
            let mut h = Http::connect(addr).await?;
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed) % paths.len();
                let t = Instant::now();
                let (status, body) = h.request("GET", &paths[i], None).await?;
                if status != 200 {
                    return Err(format!(
                        "GET {}: HTTP {status} {}",
                        paths[i],
                        String::from_utf8_lossy(&body[..body.len().min(300)])
                    ));
                }
                bytes += body.len() as u64;
                lat.push(ms(t.elapsed()));
            }
            Ok::<_, String>((lat, bytes))
        });
    }
    let mut lat = Vec::new();
    let mut bytes = 0;
    while let Some(res) = tasks.join_next().await {
        match res {
            Ok(Ok((l, b))) => {
                lat.extend(l);
                bytes += b;
            }
            Ok(Err(e)) => return fail(e),
            Err(e) => return fail(e.to_string()),
        }
    }
    let secs = started.elapsed().as_secs_f64();
    lat.sort_by(|a, b| a.total_cmp(b));
    ok(
        lat.len() as f64 / secs,
        json!({
            "requests": lat.len(),
            "p50_ms": percentile(&lat, 0.5),
            "p99_ms": percentile(&lat, 0.99),
            "mean_response_bytes": bytes / (lat.len() as u64).max(1),
        }),
    )
}

/// Record the server's CPU time for a phase (it does not depend on other load).
fn add_cpu(r: &mut Results, key: &'static str, secs: f64, messages: usize) {
    if let Some(c) = r.get_mut(key) {
        if c.details.is_object() {
            c.details["server_cpu_seconds"] = json!(secs);
            c.details["server_cpu_ms_per_message"] = json!(secs * 1000.0 / messages.max(1) as f64);
        }
    }
}

/// Flush dirty pages first, so that one phase's writeback does not slow the next one.
fn sync_disks() {
    let _ = std::process::Command::new("sync").status();
}

/// MemAvailable of the machine, bytes.
fn mem_available() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemAvailable:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(u64::MAX, |kb| kb * 1024)
}

/// A small message with a unique Message-ID (Eider skips re-deliveries of one id).
fn ping_message(i: usize) -> Vec<u8> {
    format!(
        "From: Pinger <ping@example.com>\r\nTo: idle@example.com\r\nSubject: ping {i}\r\n\
         Message-ID: <ping{i}.{}@bench.example>\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\n\r\nping {i}\r\n",
        std::process::id()
    )
    .into_bytes()
}

async fn idle_run(server: &Server, p: &Params) -> Vec<(&'static str, Cell)> {
    let ep = server.ep;
    let conns = p.idle_connections;
    let users = p.idle_users.max(1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (pss_before, rss_before) = server.memory();
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, Instant)>();
    let gate = Arc::new(tokio::sync::Semaphore::new(50));
    let started = Instant::now();
    let mut watchers = Vec::new();
    let mut setup_errors = Vec::new();
    // Two halves, so that the memory of one more connection is measured apart from
    // what the first logins cost (pools, caches, hashing buffers).
    let half = conns / 2;
    let mut mid = (0, 0, 0usize);
    // Stop opening connections before the machine runs out of memory.
    let low_memory = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let monitor = {
        let low_memory = low_memory.clone();
        tokio::spawn(async move {
            loop {
                if mem_available() < 3 << 30 {
                    low_memory.store(true, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    for (lo, hi) in [(0, half), (half, conns)] {
        let mut setups = tokio::task::JoinSet::new();
        for i in lo..hi {
            let u = i % users;
            let login = server.login(&format!("idle{u}"));
            let (tx, gate, low_memory) = (tx.clone(), gate.clone(), low_memory.clone());
            setups.spawn(async move {
                let permit = gate.acquire_owned().await;
                if low_memory.load(Ordering::Relaxed) {
                    return Err(
                        "not opened: less than 3 GiB of memory left on the machine".to_string()
                    );
                }
                let mut s = tokio::time::timeout(Duration::from_secs(120), async {
                    let mut s = Imap::login(ep.imap, &login, PASSWORD).await?;
                    s.cmd("SELECT INBOX").await?;
                    s.idle_start().await?;
                    Ok::<_, String>(s)
                })
                .await
                .map_err(|_| "IDLE setup timed out".to_string())??;
                drop(permit);
                // Watch for EXISTS until the run ends (the task is aborted then).
                let watcher = tokio::spawn(async move {
                    while s.wait_exists().await.is_ok() {
                        if tx.send((u, Instant::now())).is_err() {
                            break;
                        }
                    }
                });
                Ok::<_, String>((i, watcher))
            });
        }
        while let Some(res) = setups.join_next().await {
            match res {
                Ok(Ok(w)) => watchers.push(w),
                Ok(Err(e)) => setup_errors.push(e),
                Err(e) => setup_errors.push(e.to_string()),
            }
        }
        if lo == 0 {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let (pss, rss) = server.memory();
            mid = (pss, rss, watchers.len());
        }
    }
    drop(tx);
    monitor.abort();
    let setup_secs = started.elapsed().as_secs_f64() - 2.0;
    let open = watchers.len();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (pss_after, rss_after) = server.memory();
    let mut out = Vec::new();
    let setup_details = json!({"open": open, "errors": setup_errors.len(),
        "first_error": setup_errors.first()});
    if open == 0 {
        let e = format!(
            "no IDLE connection: {}",
            setup_errors.first().cloned().unwrap_or_default()
        );
        for k in ["idle_setup", "idle_memory", "idle_p50", "idle_p99"] {
            out.push((k, fail(e.clone())));
        }
        return out;
    }
    out.push((
        "idle_setup",
        if setup_errors.is_empty() {
            ok(setup_secs, setup_details)
        } else {
            Cell {
                value: Err(format!(
                    "{open}/{conns} open; {}",
                    setup_errors.first().cloned().unwrap_or_default()
                )),
                details: setup_details,
            }
        },
    ));
    let kib_per = |a: u64, b: u64, n: usize| a.saturating_sub(b) as f64 / 1024.0 / n.max(1) as f64;
    let second_half = open - mid.2;
    out.push((
        "idle_memory",
        ok(
            kib_per(pss_after, pss_before, open),
            json!({"connections": open, "processes": server.pids().len(),
                   "pss_before": pss_before, "pss_half": mid.0, "pss_after": pss_after,
                   "rss_before": rss_before, "rss_half": mid.1, "rss_after": rss_after,
                   "rss_kib_per_conn": kib_per(rss_after, rss_before, open),
                   "pss_kib_per_conn_second_half": kib_per(pss_after, mid.0, second_half)}),
        ),
    ));
    // Which users' connections are open.
    let mut counts = vec![0usize; users];
    let watchers: Vec<_> = watchers
        .into_iter()
        .map(|(i, w)| {
            counts[i % users] += 1;
            w
        })
        .collect();

    // Deliveries: one user at a time; every connection of that user should see EXISTS.
    let mut lat = Vec::new();
    let mut missed = 0usize;
    let mut lmtp = Lmtp::connect(ep.lmtp).await;
    let mut k = 0;
    'rounds: for _round in 0..p.idle_rounds {
        for (u, expected) in counts.iter().enumerate() {
            let Ok(l) = lmtp.as_mut() else { break 'rounds };
            let mut t0 = Instant::now();
            k += 1;
            if let Err(e) = l
                .deliver(&format!("idle{u}@{DOMAIN}"), &ping_message(k), || {
                    t0 = Instant::now()
                })
                .await
            {
                log(server.kind, &format!("IDLE delivery failed: {e}"));
                lmtp = Lmtp::connect(ep.lmtp).await;
                continue;
            }
            let deadline = t0 + Duration::from_secs(40);
            let mut seen = 0;
            while seen < *expected {
                match tokio::time::timeout_at(deadline.into(), rx.recv()).await {
                    Ok(Some((who, at))) if who == u => {
                        seen += 1;
                        lat.push(ms(at.saturating_duration_since(t0)));
                    }
                    Ok(Some(_)) => {}
                    _ => break,
                }
            }
            missed += expected - seen;
        }
    }
    for w in watchers {
        w.abort();
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    let details = json!({"samples": lat.len(), "missed": missed, "max_ms": lat.last()});
    if lat.is_empty() {
        out.push(("idle_p50", fail("no EXISTS received")));
        out.push(("idle_p99", fail("no EXISTS received")));
    } else {
        out.push(("idle_p50", ok(percentile(&lat, 0.5), details.clone())));
        let p99 = percentile(&lat, 0.99);
        out.push((
            "idle_p99",
            if missed > 0 {
                Cell {
                    value: Err(format!("{missed} notifications missed (40 s)")),
                    details,
                }
            } else {
                ok(p99, details)
            },
        ));
    }
    // Let the server notice the closed connections before the next phase.
    tokio::time::sleep(Duration::from_secs(1)).await;
    out
}
