//! Eider's benchmarks.
//!
//! - `eider-bench compare [options]`: Eider against a private Dovecot, side by side, on
//!   the deterministic corpora (see `bench/run`, which installs Dovecot and builds
//!   first; `--help` lists the options).
//! - `eider-bench storage [--messages N] [--corpus mixed|text] [--keep]`: the embedded
//!   store alone, in process: storage ratio and byte-exact reassembly.
//! - `eider-bench corpus --messages N --dir DIR [--corpus mixed|text]`: write a corpus
//!   as .eml files.

mod corpus;
mod profile;
mod proto;
mod report;
mod servers;
mod workload;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eider_service::model::UidSet;
use eider_service::{AppendOptions, InProcessBus, NewUser, Service, ServiceConfig};

const SEED: u64 = 0xE1DE5;

const USAGE: &str = "usage:
  eider-bench compare [options]   (eider-bench compare --help lists them)
  eider-bench storage [--messages N] [--corpus mixed|text] [--keep]
  eider-bench corpus --messages N --dir DIR [--corpus mixed|text]";

/// The options of `compare`: name, value (None for a flag), default, meaning.
const COMPARE_HELP: &[(&str, Option<&str>, &str, &str)] = &[
    (
        "--corpus",
        Some("mixed|text|both"),
        "both",
        "which corpus: mixed (attachments repeated across messages), text (text-heavy, few \
      attachments, no repeats) or both, one after the other, each a table of its own",
    ),
    (
        "--messages",
        Some("N"),
        "10000",
        "messages delivered over 8 connections and measured",
    ),
    (
        "--single",
        Some("N"),
        "min(1000, --messages)",
        "messages delivered over one connection",
    ),
    (
        "--parallel",
        Some("N"),
        "8",
        "LMTP connections of the parallel delivery",
    ),
    (
        "--idle",
        Some("N"),
        "2000",
        "IMAP connections logging in and idling (0: skip that step)",
    ),
    (
        "--idle-users",
        Some("N"),
        "20",
        "users those connections log in as",
    ),
    (
        "--idle-rounds",
        Some("N"),
        "2",
        "deliveries timed for the IDLE notification latency",
    ),
    (
        "--http-seconds",
        Some("S"),
        "5",
        "seconds each HTTP throughput step runs",
    ),
    (
        "--http-conns",
        Some("N"),
        "8",
        "HTTP connections of those steps",
    ),
    (
        "--timeout",
        Some("S"),
        "180",
        "seconds a step may take before it is reported failed",
    ),
    (
        "--only",
        Some("dovecot|eider"),
        "both servers",
        "run one server only",
    ),
    (
        "--eider",
        Some("PATH"),
        "target/release/eider",
        "the Eider binary",
    ),
    (
        "--eider-env",
        Some("KEY=VALUE"),
        "none",
        "environment for the Eider process (repeatable), e.g. EIDER_STORAGE__SYNCHRONOUS=normal",
    ),
    (
        "--out",
        Some("DIR"),
        "bench/out",
        "where results-<corpus>.json and results-<corpus>.md are written",
    ),
    (
        "--perf",
        None,
        "off",
        "record `perf record --call-graph dwarf` of Eider around each step into DIR/perf/",
    ),
    (
        "--perf-freq",
        Some("HZ"),
        "199",
        "perf's sampling frequency",
    ),
    (
        "--keep",
        None,
        "off",
        "keep the servers' working directories (stores, logs)",
    ),
    ("--help", None, "", "print this and exit"),
];

fn compare_help() -> String {
    let mut out = String::from(
        "eider-bench compare [options]: Eider against a private Dovecot, side by side, on the \
         same deterministic corpus.\n\noptions (default in brackets):\n",
    );
    for (name, value, default, meaning) in COMPARE_HELP {
        let head = match value {
            Some(v) => format!("{name} {v}"),
            None => name.to_string(),
        };
        let default = if default.is_empty() {
            String::new()
        } else {
            format!(" [{default}]")
        };
        out.push_str(&format!("  {head:<28} {meaning}{default}\n"));
    }
    out
}

fn corpus_kinds(args: &Args, default: &str) -> Vec<corpus::Kind> {
    match args.value("--corpus").unwrap_or(default) {
        "mixed" => vec![corpus::Kind::Mixed],
        "text" => vec![corpus::Kind::Text],
        "both" => vec![corpus::Kind::Mixed, corpus::Kind::Text],
        other => {
            eprintln!("--corpus: mixed, text or both, not {other:?}");
            std::process::exit(2)
        }
    }
}

struct Args(Vec<String>);

impl Args {
    fn value(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .position(|a| a == name)
            .and_then(|i| self.0.get(i + 1))
            .map(String::as_str)
    }
    fn num<T: std::str::FromStr>(&self, name: &str, default: T) -> T {
        match self.value(name) {
            Some(v) => v.parse().unwrap_or_else(|_| {
                eprintln!("{name}: not a number: {v}");
                std::process::exit(2)
            }),
            None => default,
        }
    }
    fn flag(&self, name: &str) -> bool {
        self.0.iter().any(|a| a == name)
    }
}

fn main() {
    let args = Args(std::env::args().collect());
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("runtime: {e}");
            std::process::exit(1);
        }
    };
    let outcome = match args.0.get(1).map(String::as_str) {
        Some("compare") => rt.block_on(compare(&args)),
        Some("storage") => rt
            .block_on(storage(
                args.num("--messages", 2000),
                corpus_kinds(&args, "mixed")[0],
                args.flag("--keep"),
            ))
            .map(|report| {
                println!("{report:#}");
            }),
        Some("corpus") => write_corpus(&args),
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(e) = outcome {
        eprintln!("eider-bench: {e}");
        std::process::exit(1);
    }
}

fn write_corpus(args: &Args) -> Result<(), String> {
    let dir = PathBuf::from(args.value("--dir").ok_or("--dir is required")?);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let c = corpus::Corpus::of(corpus_kinds(args, "mixed")[0], SEED);
    for n in 0..args.num("--messages", 100usize) {
        std::fs::write(dir.join(format!("{n:06}.eml")), c.message(n)).map_err(|e| e.to_string())?;
    }
    Ok(())
}

async fn compare(args: &Args) -> Result<(), String> {
    let mut i = 2;
    while i < args.0.len() {
        let a = args.0[i].as_str();
        if a == "--help" || a == "-h" {
            print!("{}", compare_help());
            std::process::exit(0);
        }
        match COMPARE_HELP.iter().find(|o| o.0 == a) {
            Some((_, Some(_), _, _)) if i + 1 < args.0.len() => i += 2,
            Some((_, None, _, _)) => i += 1,
            _ => {
                eprintln!("unknown or incomplete option {a:?}\n\n{}", compare_help());
                std::process::exit(2);
            }
        }
    }
    let kinds = corpus_kinds(args, "both");
    let run_started = Instant::now();
    let messages: usize = args.num("--messages", 10_000);
    let params = workload::Params {
        messages,
        single_messages: args.num("--single", messages.min(1000)).min(messages),
        lmtp_parallel: args.num("--parallel", 8),
        idle_connections: args.num("--idle", 2000),
        idle_users: args.num("--idle-users", 20),
        idle_rounds: args.num("--idle-rounds", 2),
        http_seconds: args.num("--http-seconds", 5.0),
        http_connections: args.num("--http-conns", 8),
        step_timeout: Duration::from_secs(args.num("--timeout", 180)),
    };
    let eider_bin = PathBuf::from(args.value("--eider").unwrap_or("target/release/eider"));
    let out_dir = PathBuf::from(args.value("--out").unwrap_or("bench/out"));
    std::fs::create_dir_all(&out_dir).map_err(|e| e.to_string())?;
    let only = args.value("--only");

    let users = servers::user_names(params.idle_users);
    let keep = args.flag("--keep");
    // --eider-env KEY=VALUE (repeatable): environment for the Eider process.
    let eider_env: Vec<(String, String)> = args
        .0
        .windows(2)
        .filter(|w| w[0] == "--eider-env")
        .filter_map(|w| {
            w[1].split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();

    for corpus_kind in kinds {
        let name = corpus_kind.name();
        let mut profiler =
            profile::Profiler::new(args.flag("--perf").then(|| out_dir.join("perf").join(name)));
        profiler.freq = args.num("--perf-freq", 199);
        eprintln!("generating the {name} corpus: {messages} messages (seed {SEED:#x})");
        let started = Instant::now();
        let c = corpus::Corpus::of(corpus_kind, SEED);
        let corpus: Vec<Vec<u8>> = (0..messages).map(|n| c.message(n)).collect();
        let corpus = Arc::new(corpus);
        let total: u64 = corpus.iter().map(|m| m.len() as u64).sum();
        let largest = corpus.iter().map(Vec::len).max().unwrap_or(0);
        let smallest = corpus.iter().map(Vec::len).min().unwrap_or(0);
        let over_1mb = corpus.iter().filter(|m| m.len() > 1 << 20).count();
        eprintln!(
            "corpus: {:.1} MB, mean {:.1} KB, {smallest}..{largest} bytes, {over_1mb} over 1 MiB ({:.1}s)",
            total as f64 / 1e6,
            total as f64 / messages.max(1) as f64 / 1e3,
            started.elapsed().as_secs_f64()
        );
        let mut results = Vec::new();
        for kind in [servers::Kind::Dovecot, servers::Kind::Eider] {
            if only.is_some_and(|o| o != kind.name()) {
                results.push((kind, None));
                continue;
            }
            let work = tempfile::Builder::new()
                .prefix(&format!("eider-bench-{}-", kind.name()))
                .tempdir()
                .map_err(|e| e.to_string())?;
            eprintln!("[{:>7}] starting in {}", kind.name(), work.path().display());
            let started = Instant::now();
            let server = match kind {
                servers::Kind::Dovecot => servers::start_dovecot(work.path(), &users),
                servers::Kind::Eider => {
                    servers::start_eider(&eider_bin, work.path(), &users, &eider_env).await
                }
            };
            let mut server = match server {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("[{:>7}] cannot start: {e}", kind.name());
                    results.push((kind, Some(Err(e))));
                    continue;
                }
            };
            let r = workload::run(&mut server, &corpus, &params, &mut profiler).await;
            profiler.stop();
            let log_tail = server.log_tail(20);
            server.stop();
            let secs = started.elapsed().as_secs_f64();
            eprintln!("[{:>7}] done in {secs:.0}s", kind.name());
            if keep {
                let kept = work.keep();
                eprintln!("[{:>7}] kept {}", kind.name(), kept.display());
            } else {
                // Some files belong to Dovecot's per-user uids; root removes them anyway.
                drop(work);
            }
            results.push((kind, Some(Ok((r, secs, log_tail)))));
        }

        let meta = serde_json::json!({
            "corpus": name,
            "messages": messages,
            "corpus_bytes": total,
            "corpus_mean_bytes": total / messages.max(1) as u64,
            "corpus_largest_bytes": largest,
            "corpus_over_1mib": over_1mb,
            "seed": SEED,
            "single_connection_messages": params.single_messages,
            "lmtp_parallel": params.lmtp_parallel,
            "idle_connections": params.idle_connections,
            "idle_users": params.idle_users,
            "http_seconds": params.http_seconds,
            "http_connections": params.http_connections,
            "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "dovecot_version": command_output("dovecot", &["--version"]),
            "eider_commit": command_output("git", &["rev-parse", "--short", "HEAD"]),
            "run_seconds": run_started.elapsed().as_secs_f64(),
            "date": command_output("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]),
            // Other work on the machine skews the numbers; the load average tells.
            "loadavg_at_end": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
            "eider_env": eider_env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
        });
        let defs = workload::metric_defs(&params);
        let rep = report::Report::new(meta, &defs, &results);
        println!("Corpus: {name}\n{}", rep.table());
        let json_path = out_dir.join(format!("results-{name}.json"));
        std::fs::write(&json_path, format!("{:#}\n", rep.json())).map_err(|e| e.to_string())?;
        std::fs::write(out_dir.join(format!("results-{name}.md")), rep.markdown())
            .map_err(|e| e.to_string())?;
        eprintln!(
            "wrote {} and results-{name}.md; total run time {:.0}s",
            json_path.display(),
            run_started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

fn command_output(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn dir_size(path: &Path) -> u64 {
    servers::disk_usage(path)
}

/// The embedded store alone, in process: storage ratio and byte-exact reassembly.
async fn storage(
    messages: usize,
    kind: corpus::Kind,
    keep: bool,
) -> Result<serde_json::Value, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let store = eider_store_sqlite::SqliteStore::open(dir.path(), Default::default())
        .map_err(|e| e.to_string())?;
    let service = Service::new(
        Arc::new(store),
        Arc::new(InProcessBus::new()),
        ServiceConfig::default(),
    );
    let user = service
        .create_user(NewUser {
            username: "bench".into(),
            password: Some("bench".into()),
            address: Some("bench@example.com".into()),
            quota: Some(u64::MAX / 2),
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    let inbox = service
        .find_mailbox(user.id, "INBOX")
        .await
        .map_err(|e| e.to_string())?;
    let c = corpus::Corpus::of(kind, SEED);
    let mut total = 0u64;
    let mut originals = Vec::new();
    let started = Instant::now();
    for n in 0..messages {
        let raw = c.message(n);
        total += raw.len() as u64;
        if n % 97 == 0 {
            originals.push((n as u32 + 1, raw.clone()));
        }
        service
            .append(user.id, inbox.id, raw, AppendOptions::default())
            .await
            .map_err(|e| e.to_string())?;
    }
    let ingest_secs = started.elapsed().as_secs_f64();
    for (uid, raw) in &originals {
        let mut reader = service
            .message_body(user.id, inbox.id, *uid)
            .await
            .map_err(|e| e.to_string())?;
        let back = reader.read_all().await.map_err(|e| e.to_string())?;
        if &back != raw {
            return Err(format!(
                "message uid {uid} did not reassemble byte-for-byte"
            ));
        }
    }
    let listed = service
        .list_messages(user.id, inbox.id, &UidSet::all(), Default::default(), 0)
        .await
        .map_err(|e| e.to_string())?;
    drop(service);
    let on_disk = dir_size(dir.path());
    let kept = keep.then(|| dir.keep().display().to_string());
    Ok(serde_json::json!({
        "corpus": kind.name(),
        "kept": kept,
        "messages": listed.len(),
        "sum_of_message_bytes": total,
        "bytes_on_disk": on_disk,
        "storage_ratio": on_disk as f64 / total as f64,
        "ingest_seconds": ingest_secs,
        "verified_byte_exact": originals.len(),
    }))
}
