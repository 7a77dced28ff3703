//! `eider backup` and `eider check`: the embedded store's online backup and its
//! integrity check (both live in eider-store-sqlite; this only renders them).

use std::path::Path;
use std::process::ExitCode;

use super::progress::{human_bytes, Progress, Unit};
use crate::config::{Config, StorageConfig};

fn embedded_storage(cfg: &Config, what: &str) -> Result<StorageConfig, ExitCode> {
    let storage: StorageConfig = cfg.section("storage").map_err(|e| {
        eprintln!("eider: {e}");
        ExitCode::from(2)
    })?;
    if storage.backend != "embedded" {
        eprintln!(
            "eider: {what} works on the embedded store; for backend {:?} see docs/operations.md",
            storage.backend
        );
        return Err(ExitCode::from(2));
    }
    Ok(storage)
}

pub fn backup(cfg: &Config, dest: &Path, json: bool) -> ExitCode {
    let storage = match embedded_storage(cfg, "backup") {
        Ok(s) => s,
        Err(code) => return code,
    };
    let bar = Progress::new();
    let result = eider_store_sqlite::backup(&storage.path, dest, &|done, total| {
        bar.show("backup", done, total.max(done), Unit::Bytes)
    });
    bar.clear();
    match result {
        Ok(r) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "path": r.path,
                        "bytes": r.bytes,
                        "seconds": r.duration.as_secs_f64(),
                        "files": r.files,
                    })
                );
            } else {
                let secs = r.duration.as_secs_f64();
                println!(
                    "backup written to {}: {} in {:.1} s ({:.1} MB/s)",
                    r.path.display(),
                    human_bytes(r.bytes),
                    secs,
                    r.bytes as f64 / 1e6 / secs.max(1e-6)
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("eider: backup failed: {e}");
            ExitCode::FAILURE
        }
    }
}

pub fn check(cfg: &Config, repair: bool, sample: Option<u64>, json: bool) -> ExitCode {
    let storage = match embedded_storage(cfg, "check") {
        Ok(s) => s,
        Err(code) => return code,
    };
    let bar = Progress::new();
    let opts = eider_store_sqlite::CheckOptions { sample, repair };
    let started = std::time::Instant::now();
    let result = eider_store_sqlite::check_database(&storage.path, &opts, &|label, done, total| {
        bar.show(label, done, total, Unit::Items)
    });
    bar.clear();
    match result {
        Ok(r) => {
            if json {
                println!("{}", serde_json::json!(r));
            } else {
                for fix in &r.repaired {
                    println!("repaired: {fix}");
                }
                for p in &r.problems {
                    println!("damage: {p}");
                }
                println!(
                    "{}: {} message contents reassembled, {} blobs ({}) verified in {:.1} s{}",
                    if r.problems.is_empty() {
                        "ok"
                    } else {
                        "DAMAGED"
                    },
                    r.contents_checked,
                    r.blobs_checked,
                    human_bytes(r.bytes_checked),
                    started.elapsed().as_secs_f64(),
                    if r.problems.is_empty() {
                        String::new()
                    } else {
                        format!(", {} problem(s)", r.problems.len())
                    }
                );
            }
            if r.problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("eider: check failed: {e}");
            ExitCode::from(2)
        }
    }
}
