//! A full consistency check: SQLite's own, then every reference and counter the
//! store maintains by hand (there are no enforced foreign keys, see schema.rs).
//! Used by tests (after crashes especially) and available to operators.

use rusqlite::Transaction;

use crate::error::Result;

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

pub(crate) fn check(tx: &Transaction<'_>) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let mut stmt = tx.prepare("PRAGMA integrity_check")?;
    let lines: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if lines != ["ok"] {
        problems.extend(lines.into_iter().map(|l| format!("integrity_check: {l}")));
    }
    for (what, sql) in CHECKS {
        let n: i64 = tx.query_row(sql, [], |r| r.get(0))?;
        if n != 0 {
            problems.push(format!("{n} {what}"));
        }
    }
    Ok(problems)
}
