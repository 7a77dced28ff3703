//! Online backup of the embedded store: `VACUUM INTO` from a read-only connection.
//! It reads one snapshot (a single read transaction), so the copy is consistent
//! while the server goes on writing: in WAL mode a reader blocks no writer, it only
//! keeps the checkpoint from recycling the WAL until it ends. A file copy of a live
//! WAL database is not a backup (the database file and its WAL would not match).
//! The other files of the store directory (the secrets key, the self-signed TLS
//! pair) are copied too, so the destination is a store `eider serve` opens as it is.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use crate::error::{Result, SqliteError};
use crate::DATABASE_FILE;

/// The outcome of [`backup`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct BackupReport {
    /// The database file written.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Wall time of the whole backup.
    pub duration: Duration,
    /// Other files of the store directory copied alongside (relative paths).
    pub files: Vec<String>,
}

/// Name of the database while it is being written: a crash leaves no file that
/// looks like a finished backup.
const PARTIAL: &str = "eider.sqlite3.partial";

/// Back up the store in `src` into directory `dest` (created owner-only; it must
/// not hold a store already). `progress(written, estimate)` is called about five
/// times a second from another thread.
pub fn backup(
    src: &Path,
    dest: &Path,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<BackupReport> {
    let started = Instant::now();
    let db = src.join(DATABASE_FILE);
    if !db.is_file() {
        return Err(SqliteError::Schema(format!("no store at {}", db.display())));
    }
    let target = dest.join(DATABASE_FILE);
    if target.exists() {
        return Err(SqliteError::Schema(format!(
            "{} exists already: back up into a new or empty directory",
            target.display()
        )));
    }
    let mut dir = std::fs::DirBuilder::new();
    dir.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut dir, 0o700);
    dir.create(dest)?;
    let partial = dest.join(PARTIAL);
    let _ = std::fs::remove_file(&partial);

    let conn = Connection::open_with_flags(
        &db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(30))?;
    let page: i64 = conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
    let pages: i64 = conn.pragma_query_value(None, "page_count", |r| r.get(0))?;
    let free: i64 = conn.pragma_query_value(None, "freelist_count", |r| r.get(0))?;
    let estimate = ((pages - free).max(0) * page) as u64;

    let done = AtomicBool::new(false);
    let result = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                let written = std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0);
                progress(written, estimate);
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        let r = conn.execute("VACUUM INTO ?1", [partial.to_string_lossy()]);
        done.store(true, Ordering::Relaxed);
        r
    });
    if let Err(e) = result {
        let _ = std::fs::remove_file(&partial);
        return Err(e.into());
    }
    drop(conn);
    // VACUUM INTO does not sync its output; a backup must survive a power cut.
    let file = std::fs::OpenOptions::new().write(true).open(&partial)?;
    #[cfg(unix)]
    std::fs::set_permissions(
        &partial,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )?;
    file.sync_all()?;
    let bytes = file.metadata()?.len();
    drop(file);
    progress(bytes, bytes);
    std::fs::rename(&partial, &target)?;
    let mut files = Vec::new();
    copy_side_files(src, dest, Path::new(""), &mut files)?;
    sync_dir(dest)?;
    Ok(BackupReport {
        path: target,
        bytes,
        duration: started.elapsed(),
        files,
    })
}

/// Copy the store directory's other files (recursively), never the database, its
/// WAL or shared-memory file, or a half-written backup.
fn copy_side_files(src: &Path, dest: &Path, rel: &Path, out: &mut Vec<String>) -> Result<()> {
    for entry in std::fs::read_dir(src.join(rel))? {
        let entry = entry?;
        let name = entry.file_name();
        let name_str = name.to_string_lossy();
        if rel.as_os_str().is_empty() && name_str.starts_with(DATABASE_FILE) {
            continue;
        }
        let kind = entry.file_type()?;
        let path = rel.join(&name);
        if kind.is_dir() {
            let mut dir = std::fs::DirBuilder::new();
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut dir, 0o700);
            if !dest.join(&path).exists() {
                dir.create(dest.join(&path))?;
            }
            copy_side_files(src, dest, &path, out)?;
        } else if kind.is_file() {
            std::fs::copy(src.join(&path), dest.join(&path))?;
            out.push(path.to_string_lossy().into_owned());
        }
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_to_overwrite_and_copies_side_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = dir.path().join("src");
        let store = crate::SqliteStore::open(&src, crate::SqliteOptions::default()).expect("open");
        std::fs::create_dir_all(src.join("tls")).expect("mkdir");
        std::fs::write(src.join("tls/selfsigned.crt"), b"cert").expect("write");
        std::fs::write(src.join("secret.key"), b"key").expect("write");
        let dest = dir.path().join("dest");
        let report = backup(&src, &dest, &|_, _| {}).expect("backup");
        assert!(report.bytes > 0);
        assert_eq!(
            std::fs::read(dest.join("tls/selfsigned.crt")).expect("read"),
            b"cert"
        );
        assert!(dest.join("secret.key").exists());
        assert!(!dest.join(PARTIAL).exists());
        assert!(backup(&src, &dest, &|_, _| {}).is_err());
        drop(store);
        let copy =
            crate::SqliteStore::open(&dest, crate::SqliteOptions::default()).expect("reopen");
        drop(copy);
    }
}
