//! Eider's benchmarks. `eider-bench storage [--messages N]` measures the storage
//! ratio (bytes on disk / sum of message sizes) of the embedded store for a
//! generated corpus with repeated attachments, and checks byte-exact reassembly.

mod corpus;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use eider_service::model::UidSet;
use eider_service::{AppendOptions, InProcessBus, NewUser, Service, ServiceConfig};

fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|rd| {
            rd.flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

async fn storage(messages: usize) -> Result<serde_json::Value, String> {
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
    let mut rng = corpus::Rng::new(0xE1DE5);
    let pool = corpus::attachment_pool(&mut rng, 40, 400 * 1024);
    let mut total = 0u64;
    let mut originals = Vec::new();
    let started = Instant::now();
    for n in 0..messages {
        let raw = corpus::message(&mut rng, n, &pool);
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
    Ok(serde_json::json!({
        "messages": listed.len(),
        "sum_of_message_bytes": total,
        "bytes_on_disk": on_disk,
        "storage_ratio": on_disk as f64 / total as f64,
        "ingest_seconds": ingest_secs,
        "verified_byte_exact": originals.len(),
    }))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let messages = args
        .iter()
        .position(|a| a == "--messages")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    match args.get(1).map(String::as_str) {
        Some("storage") | None => {}
        Some(other) => {
            eprintln!("unknown benchmark {other:?}; available: storage [--messages N]");
            std::process::exit(2);
        }
    }
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
    match rt.block_on(storage(messages)) {
        Ok(report) => println!("{report:#}"),
        Err(e) => {
            eprintln!("storage benchmark failed: {e}");
            std::process::exit(1);
        }
    }
}
