//! A full consistency check: SQLite's own, then every reference and counter the
//! store maintains by hand (there are no enforced foreign keys, see schema.rs), the
//! journal's MODSEQ order, and the data itself: every blob's chunks decompressed and
//! hashed against the blob's sha256, every message reassembled to its stored size.
//! The one home of these rules: `SqliteStore::verify` (tests) and `eider check`
//! (operators, through [`check_database`]) both run them. `--repair` fixes what can
//! be fixed without guessing (orphans and counters) in [`repair`].

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use eider_message::{BlobHash, Layout};
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use crate::blobs;
use crate::codec::get_hash;
use crate::error::{Result, SqliteError};

/// (description, query counting offending rows)
const CHECKS: &[(&str, &str)] = &[
    (
        "filters, autoreplies or files of missing users",
        "SELECT (SELECT count(*) FROM filters f WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = f.user))
              + (SELECT count(*) FROM files x WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = x.user))
              + (SELECT count(*) FROM autoreplies a WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = a.user))",
    ),
    (
        "subscriptions of missing users",
        "SELECT count(*) FROM subscriptions s WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = s.user)",
    ),
    (
        "archived messages without their content",
        "SELECT count(*) FROM archived m LEFT JOIN contents c ON c.id = m.content
         WHERE c.id IS NULL OR c.oid != m.content_oid",
    ),
    (
        "deleted-user records without their user",
        "SELECT count(*) FROM deleted_users d LEFT JOIN users u ON u.id = d.id
         WHERE u.id IS NULL OR u.deleted IS NULL",
    ),
    (
        "messages without their content",
        "SELECT count(*) FROM messages m LEFT JOIN contents c ON c.id = m.content
         WHERE c.id IS NULL OR c.oid != m.content_oid",
    ),
    (
        "messages of missing mailboxes",
        "SELECT count(*) FROM messages m LEFT JOIN mailboxes b ON b.id = m.mailbox
         WHERE b.id IS NULL OR b.user != m.user",
    ),
    (
        "contents whose refcount differs from their message rows",
        "SELECT count(*) FROM contents c
         LEFT JOIN (SELECT content, count(*) AS n FROM
                       (SELECT content FROM messages UNION ALL SELECT content FROM archived)
                    GROUP BY content) x
             ON x.content = c.id
         WHERE c.refcount != COALESCE(x.n, 0) OR c.refcount < 1",
    ),
    (
        "contents without their skeleton link",
        "SELECT count(*) FROM contents c
         WHERE NOT EXISTS (SELECT 1 FROM content_blobs l WHERE l.content = c.id AND l.blob = c.skeleton)",
    ),
    (
        "contents without search text",
        "SELECT count(*) FROM contents c
         WHERE NOT EXISTS (SELECT 1 FROM content_text t WHERE t.rowid = c.id)",
    ),
    (
        "search text of missing contents",
        "SELECT count(*) FROM content_text t
         WHERE NOT EXISTS (SELECT 1 FROM contents c WHERE c.id = t.rowid)",
    ),
    (
        "content links to missing contents or blobs",
        "SELECT count(*) FROM content_blobs l
         WHERE NOT EXISTS (SELECT 1 FROM contents c WHERE c.id = l.content)
            OR NOT EXISTS (SELECT 1 FROM blobs b WHERE b.hash = l.blob)",
    ),
    (
        "blobs whose refcount differs from their content links and files",
        "SELECT count(*) FROM blobs b
         LEFT JOIN (SELECT blob, count(*) AS n FROM
                       (SELECT blob FROM content_blobs UNION ALL SELECT blob FROM files)
                    GROUP BY blob) x
             ON x.blob = b.hash
         WHERE b.refcount != COALESCE(x.n, 0) OR b.refcount < 1",
    ),
    (
        "blobs with missing or extra chunks",
        "SELECT count(*) FROM blobs b
         LEFT JOIN (SELECT hash, count(*) AS n, max(idx) AS top FROM blob_chunks GROUP BY hash) x
             ON x.hash = b.hash
         WHERE COALESCE(x.n, 0) != (b.length + b.chunk_size - 1) / b.chunk_size
            OR (x.n > 0 AND x.top != x.n - 1)",
    ),
    (
        "chunks of missing blobs",
        "SELECT count(*) FROM blob_chunks k
         WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.hash = k.hash)",
    ),
    (
        "mailboxes whose counters differ from their messages",
        "SELECT count(*) FROM mailboxes b
         LEFT JOIN (SELECT mailbox, count(*) AS n, SUM(1 - seen) AS unseen, SUM(size) AS size,
                           max(uid) AS top, max(modseq) AS modseq
                    FROM messages GROUP BY mailbox) x ON x.mailbox = b.id
         WHERE b.total != COALESCE(x.n, 0) OR b.unseen != COALESCE(x.unseen, 0)
            OR b.size != COALESCE(x.size, 0) OR b.uid_next <= COALESCE(x.top, 0)
            OR b.modify_index < COALESCE(x.modseq, 0)",
    ),
    (
        "users whose storage_used differs from their messages and files",
        "SELECT count(*) FROM users u
         LEFT JOIN (SELECT user, SUM(size) AS size FROM
                       (SELECT user, size FROM messages UNION ALL SELECT user, size FROM files)
                    GROUP BY user) x ON x.user = u.id
         WHERE u.storage_used != COALESCE(x.size, 0)",
    ),
];

/// The journal: MODSEQ never goes down within a mailbox, and never passes the
/// mailbox's own counter (sessions catch up by (mailbox, modseq), so a row out of
/// order would be skipped by a client that already saw the higher one).
const JOURNAL_CHECKS: &[(&str, &str)] = &[
    (
        "journal entries out of MODSEQ order",
        "SELECT count(*) FROM (
             SELECT modseq, max(modseq) OVER (PARTITION BY mailbox ORDER BY id
                 ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before
             FROM journal WHERE modseq > 0)
         WHERE before > modseq",
    ),
    (
        "journal entries beyond their mailbox's MODSEQ",
        "SELECT count(*) FROM journal j JOIN mailboxes b ON b.id = j.mailbox
         WHERE j.modseq > b.modify_index",
    ),
];

/// What `eider check` does beyond the reference and counter checks.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Reassemble only this many messages picked at random (their blobs are
    /// checked); None: every message and every blob.
    pub sample: Option<u64>,
    /// Fix orphans and counters after checking (needs write access).
    pub repair: bool,
}

/// The outcome of [`check_database`].
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CheckReport {
    /// Damage found (empty: healthy). After a repair, what remains.
    pub problems: Vec<String>,
    /// What `--repair` changed.
    pub repaired: Vec<String>,
    /// Message contents reassembled.
    pub contents_checked: u64,
    /// Distinct blobs decompressed and hashed.
    pub blobs_checked: u64,
    /// Decoded bytes read.
    pub bytes_checked: u64,
}

/// Progress of a long step: (step name, done, total).
pub type Progress<'a> = &'a (dyn Fn(&str, u64, u64) + Sync);

/// Check the embedded store in `dir` (running or stopped): one read transaction, so
/// a running server keeps writing (WAL) and the check sees one consistent state.
pub fn check_database(
    dir: &Path,
    opts: &CheckOptions,
    progress: Progress<'_>,
) -> Result<CheckReport> {
    let path = dir.join(crate::DATABASE_FILE);
    if !path.is_file() {
        return Err(SqliteError::Schema(format!(
            "no store at {}",
            path.display()
        )));
    }
    let mut report = CheckReport::default();
    {
        // Read-only and fresh: see `SqliteStore::verify` on FTS5's cached structure.
        let mut conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(30))?;
        let tx = conn.transaction()?;
        progress("database structure", 0, 1);
        report.problems = check(&tx)?;
        progress("database structure", 1, 1);
        check_data(&tx, opts.sample, progress, &mut report)?;
    }
    if opts.repair && !report.problems.is_empty() {
        let mut conn = Connection::open(&path)?;
        conn.busy_timeout(Duration::from_secs(30))?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        report.repaired = repair(&tx)?;
        tx.commit()?;
        // What is left is what could not be fixed: check again, from scratch.
        let mut again = CheckReport::default();
        let tx = conn.transaction()?;
        again.problems = check(&tx)?;
        check_data(&tx, opts.sample, progress, &mut again)?;
        report.problems = again.problems;
    }
    Ok(report)
}

/// Blobs and messages: each blob's chunks read back, decompressed and hashed (a
/// blob is named by its sha256, so any bit flip shows), each content reassembled
/// from its layout and compared with the size of the messages that use it.
pub(crate) fn check_data(
    tx: &Transaction<'_>,
    sample: Option<u64>,
    progress: Progress<'_>,
    report: &mut CheckReport,
) -> Result<()> {
    // (content, smallest and largest size of the messages using it): one scan, as
    // messages have no index by content.
    let query = match sample {
        Some(_) => {
            "SELECT content, min(size), max(size) FROM
                 (SELECT content, size FROM messages ORDER BY random() LIMIT ?1)
             GROUP BY content"
        }
        None => {
            "SELECT c.id, x.lo, x.hi FROM contents c LEFT JOIN
                 (SELECT content, min(size) AS lo, max(size) AS hi FROM messages
                  WHERE ?1 >= 0 GROUP BY content) x ON x.content = c.id
             ORDER BY c.id"
        }
    };
    let contents: Vec<(i64, Option<i64>, Option<i64>)> = {
        let mut stmt = tx.prepare(query)?;
        let rows = stmt
            .query_map([sample.unwrap_or(0) as i64], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        rows
    };
    // Each blob is hashed once; a damaged one is reported once.
    let mut verified: HashSet<BlobHash> = HashSet::new();
    let mut damaged: HashSet<BlobHash> = HashSet::new();
    let total = contents.len() as u64;
    for (i, (id, lo, hi)) in contents.iter().enumerate() {
        if i % 64 == 0 {
            progress("messages", i as u64, total);
        }
        report.contents_checked += 1;
        let row: Option<(BlobHash, String)> = tx
            .prepare_cached("SELECT skeleton, layout FROM contents WHERE id = ?1")?
            .query_row([id], |r| Ok((get_hash(r, 0)?, r.get(1)?)))
            .ok();
        let Some((skeleton, layout)) = row else {
            report.problems.push(format!("content {id}: missing"));
            continue;
        };
        let layout: Layout = match serde_json::from_str(&layout) {
            Ok(l) => l,
            Err(e) => {
                report
                    .problems
                    .push(format!("content {id}: unreadable layout: {e}"));
                continue;
            }
        };
        let mut data: HashMap<BlobHash, Vec<u8>> = HashMap::new();
        let mut ok = true;
        for hash in std::iter::once(skeleton).chain(layout.blob_hashes()) {
            if data.contains_key(&hash) {
                continue;
            }
            match read_blob(tx, &hash, &mut verified, &mut damaged, report) {
                Some(bytes) => {
                    data.insert(hash, bytes);
                }
                None => ok = false,
            }
        }
        if !ok {
            report.problems.push(format!(
                "content {id}: cannot be reassembled (a blob is damaged)"
            ));
            continue;
        }
        let skel = data.get(&skeleton).map(Vec::as_slice).unwrap_or_default();
        match eider_message::reassemble(&layout, skel, |h| data.get(h).map(Vec::as_slice)) {
            Ok(raw) => {
                let len = Some(raw.len() as i64);
                if (lo.is_some() && *lo != len) || (hi.is_some() && *hi != len) {
                    report.problems.push(format!(
                        "content {id}: reassembles to {} bytes, its messages say {}",
                        raw.len(),
                        lo.or(*hi).unwrap_or_default()
                    ));
                }
            }
            Err(e) => report
                .problems
                .push(format!("content {id}: cannot be reassembled: {e}")),
        }
    }
    progress("messages", total, total);
    if sample.is_none() {
        // Blobs no message uses (storage files, orphans) are data too.
        let mut stmt = tx.prepare("SELECT hash FROM blobs")?;
        let all: Vec<BlobHash> = stmt
            .query_map([], |r| get_hash(r, 0))?
            .collect::<rusqlite::Result<_>>()?;
        let rest: Vec<BlobHash> = all
            .into_iter()
            .filter(|h| !verified.contains(h) && !damaged.contains(h))
            .collect();
        let total = rest.len() as u64;
        for (i, hash) in rest.iter().enumerate() {
            if i % 64 == 0 {
                progress("other blobs", i as u64, total);
            }
            read_blob(tx, hash, &mut verified, &mut damaged, report);
        }
        progress("other blobs", total, total);
    }
    Ok(())
}

/// A blob's decoded bytes when they are intact (length and sha256); None (and a
/// problem reported once) when not.
fn read_blob(
    tx: &Transaction<'_>,
    hash: &BlobHash,
    verified: &mut HashSet<BlobHash>,
    damaged: &mut HashSet<BlobHash>,
    report: &mut CheckReport,
) -> Option<Vec<u8>> {
    if damaged.contains(hash) {
        return None;
    }
    let fail = |report: &mut CheckReport, damaged: &mut HashSet<BlobHash>, what: String| {
        report.problems.push(format!("blob {hash}: {what}"));
        damaged.insert(*hash);
        None
    };
    let bytes = match blobs::read_range(tx, hash, 0, u64::MAX) {
        Ok(Some(b)) => b.to_vec(),
        Ok(None) => return fail(report, damaged, "missing".into()),
        Err(e) => return fail(report, damaged, format!("unreadable: {e}")),
    };
    if verified.insert(*hash) {
        report.blobs_checked += 1;
        report.bytes_checked += bytes.len() as u64;
        let length: i64 = tx
            .prepare_cached("SELECT length FROM blobs WHERE hash = ?1")
            .and_then(|mut s| s.query_row([&hash.0], |r| r.get(0)))
            .unwrap_or(-1);
        if length != bytes.len() as i64 {
            verified.remove(hash);
            return fail(
                report,
                damaged,
                format!("{} bytes stored, {length} recorded", bytes.len()),
            );
        }
        if BlobHash::of(&bytes) != *hash {
            verified.remove(hash);
            return fail(
                report,
                damaged,
                "content does not match its sha256 (corrupted chunk)".into(),
            );
        }
    }
    Some(bytes)
}

/// Fix what has one right answer: rows nothing references are deleted (chunks of
/// missing blobs, search text of missing contents, contents and blobs with no
/// reference left), and counters are recomputed from the rows they count. Damaged
/// data (a blob whose bytes no longer match its hash) cannot be rebuilt and stays
/// reported. Returns what was changed.
pub(crate) fn repair(tx: &Transaction<'_>) -> Result<Vec<String>> {
    let mut done = Vec::new();
    let mut step = |what: &str, n: usize| {
        if n > 0 {
            done.push(format!("{n} {what}"));
        }
    };
    // Contents: recount, then drop those no message or archived message uses.
    step(
        "content reference counts corrected",
        tx.execute(
            "UPDATE contents SET refcount = x.n FROM
                 (SELECT content, count(*) AS n FROM
                     (SELECT content FROM messages UNION ALL SELECT content FROM archived)
                  GROUP BY content) x
             WHERE x.content = contents.id AND contents.refcount != x.n",
            [],
        )?,
    );
    tx.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS orphan_contents (id INTEGER PRIMARY KEY);
         DELETE FROM orphan_contents;
         INSERT INTO orphan_contents SELECT id FROM contents c
             WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.content = c.id)
               AND NOT EXISTS (SELECT 1 FROM archived a WHERE a.content = c.id);",
    )?;
    tx.execute(
        "DELETE FROM content_blobs WHERE content IN (SELECT id FROM orphan_contents)",
        [],
    )?;
    tx.execute(
        "DELETE FROM content_text WHERE rowid IN (SELECT id FROM orphan_contents)",
        [],
    )?;
    step(
        "orphaned contents deleted",
        tx.execute(
            "DELETE FROM contents WHERE id IN (SELECT id FROM orphan_contents)",
            [],
        )?,
    );
    tx.execute_batch("DROP TABLE orphan_contents")?;
    step(
        "search texts of missing contents deleted",
        tx.execute(
            "DELETE FROM content_text WHERE rowid NOT IN (SELECT id FROM contents)",
            [],
        )?,
    );
    step(
        "content links to missing contents deleted",
        tx.execute(
            "DELETE FROM content_blobs WHERE content NOT IN (SELECT id FROM contents)",
            [],
        )?,
    );
    // Blobs: recount from links and files, then drop those nothing uses.
    step(
        "blob reference counts corrected",
        tx.execute(
            "UPDATE blobs SET refcount = x.n FROM
                 (SELECT blob, count(*) AS n FROM
                     (SELECT blob FROM content_blobs UNION ALL SELECT blob FROM files)
                  GROUP BY blob) x
             WHERE x.blob = blobs.hash AND blobs.refcount != x.n",
            [],
        )?,
    );
    tx.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS orphan_blobs (hash BLOB PRIMARY KEY);
         DELETE FROM orphan_blobs;
         INSERT INTO orphan_blobs SELECT hash FROM blobs b
             WHERE NOT EXISTS (SELECT 1 FROM content_blobs l WHERE l.blob = b.hash)
               AND NOT EXISTS (SELECT 1 FROM files f WHERE f.blob = b.hash);",
    )?;
    step(
        "orphaned blobs deleted",
        tx.execute(
            "DELETE FROM blobs WHERE hash IN (SELECT hash FROM orphan_blobs)",
            [],
        )?,
    );
    tx.execute_batch("DROP TABLE orphan_blobs")?;
    step(
        "orphaned chunks deleted",
        tx.execute(
            "DELETE FROM blob_chunks WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.hash = blob_chunks.hash)",
            [],
        )?,
    );
    step(
        "mailbox counters recomputed",
        tx.execute(
            "UPDATE mailboxes SET total = x.n, unseen = x.unseen, size = x.size,
                 uid_next = max(mailboxes.uid_next, x.top + 1),
                 modify_index = max(mailboxes.modify_index, x.modseq)
             FROM (SELECT b.id AS id, count(m.id) AS n, COALESCE(SUM(1 - m.seen), 0) AS unseen,
                          COALESCE(SUM(m.size), 0) AS size, COALESCE(max(m.uid), 0) AS top,
                          COALESCE(max(m.modseq), 0) AS modseq
                   FROM mailboxes b LEFT JOIN messages m ON m.mailbox = b.id GROUP BY b.id) x
             WHERE x.id = mailboxes.id
               AND (mailboxes.total != x.n OR mailboxes.unseen != x.unseen
                    OR mailboxes.size != x.size OR mailboxes.uid_next <= x.top
                    OR mailboxes.modify_index < x.modseq)",
            [],
        )?,
    );
    step(
        "users' storage used recomputed",
        tx.execute(
            "UPDATE users SET storage_used = x.size
             FROM (SELECT u.id AS id, COALESCE((SELECT SUM(size) FROM messages m WHERE m.user = u.id), 0)
                              + COALESCE((SELECT SUM(size) FROM files f WHERE f.user = u.id), 0) AS size
                   FROM users u) x
             WHERE x.id = users.id AND users.storage_used != x.size",
            [],
        )?,
    );
    Ok(done)
}

pub(crate) fn check(tx: &Transaction<'_>) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let mut stmt = tx.prepare("PRAGMA integrity_check")?;
    let lines: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if lines != ["ok"] {
        problems.extend(lines.into_iter().map(|l| format!("integrity_check: {l}")));
    }
    for (what, sql) in CHECKS.iter().chain(JOURNAL_CHECKS) {
        let n: i64 = tx.query_row(sql, [], |r| r.get(0))?;
        if n != 0 {
            problems.push(format!("{n} {what}"));
        }
    }
    Ok(problems)
}
