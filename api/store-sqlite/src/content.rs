//! Message contents: what the copies of one message share (index, layout, skeleton
//! blob and attachment blobs), reference-counted by message rows.
//!
//! The index is stored as zstd-compressed JSON without its two search-text fields;
//! those live once, in the FTS table `content_text`, and are put back on load.

use std::collections::HashSet;

use eider_message::{BlobHash, Layout, MessageIndex};
use eider_service::model::NewContent;
use eider_service::ObjectId;
use rusqlite::{params, OptionalExtension, Transaction};

use crate::blobs::{self, PreparedBlob};
use crate::codec::get_hash;
use crate::compress;
use crate::error::{Result, SqliteError};
use crate::writer::before_commit;

/// A content ready for the writer: serialized and compressed off the writer thread.
pub(crate) struct PreparedContent {
    pub(crate) oid: ObjectId,
    skeleton: BlobHash,
    /// Supplied blobs, the skeleton first, each hash once.
    blobs: Vec<PreparedBlob>,
    /// Blobs the layout references that were not supplied: they must be stored already.
    borrowed: Vec<BlobHash>,
    layout: String,
    index: Vec<u8>,
    headers: String,
    body: String,
    pub(crate) size: u64,
    pub(crate) subject: String,
    pub(crate) message_id: Option<String>,
    /// Date header, ms since the epoch.
    pub(crate) header_date: Option<i64>,
    pub(crate) has_attachments: bool,
}

/// Total bytes of blob data in `content` (decides whether preparing is worth a thread hop).
pub(crate) fn blob_bytes(content: &NewContent) -> usize {
    content.skeleton.len() + content.blobs.iter().map(|b| b.data.len()).sum::<usize>()
}

/// Hashes `content` will store (skeleton and supplied blobs).
pub(crate) fn supplied_hashes(content: &NewContent) -> Vec<BlobHash> {
    let mut v = vec![BlobHash::of(&content.skeleton)];
    v.extend(content.blobs.iter().map(|b| b.hash));
    v.sort();
    v.dedup();
    v
}

/// Serialize and compress. `known` are blobs found stored already: they are not compressed.
pub(crate) fn prepare(content: NewContent, known: &HashSet<BlobHash>) -> Result<PreparedContent> {
    let NewContent {
        mut index,
        layout,
        skeleton,
        blobs: supplied,
    } = content;
    let skeleton_hash = BlobHash::of(&skeleton);
    let headers = std::mem::take(&mut index.search_headers);
    let body = std::mem::take(&mut index.search_body);
    let index_json = serde_json::to_vec(&index)?;
    let index_z = compress::compress(&index_json)?;

    let mut seen: HashSet<BlobHash> = HashSet::new();
    let mut blobs = Vec::with_capacity(supplied.len() + 1);
    seen.insert(skeleton_hash);
    blobs.push(PreparedBlob::new(
        skeleton_hash,
        skeleton,
        known.contains(&skeleton_hash),
    )?);
    for b in supplied {
        debug_assert_eq!(BlobHash::of(&b.data), b.hash, "blob hash mismatch");
        if seen.insert(b.hash) {
            let k = known.contains(&b.hash);
            blobs.push(PreparedBlob::new(b.hash, b.data, k)?);
        }
    }
    let borrowed = layout
        .blob_hashes()
        .into_iter()
        .filter(|h| !seen.contains(h))
        .collect();
    Ok(PreparedContent {
        oid: ObjectId::new(),
        skeleton: skeleton_hash,
        blobs,
        borrowed,
        layout: serde_json::to_string(&layout)?,
        index: index_z,
        headers,
        body,
        size: index.size,
        subject: index.subject.clone(),
        message_id: index.message_id.clone(),
        header_date: index.date.map(|s| s.saturating_mul(1000)),
        has_attachments: !index.attachments.is_empty(),
    })
}

/// Store a content with refcount 1, taking a reference to each of its blobs.
/// The search text is indexed just before the group commit, not here: FTS5 flushes
/// its pending index data at every savepoint, so writing inside each request's
/// savepoint would make one index segment (and merge work) per message.
pub(crate) fn insert(tx: &Transaction<'_>, p: &mut PreparedContent) -> Result<i64> {
    for b in &p.blobs {
        blobs::acquire(tx, b)?;
    }
    for h in &p.borrowed {
        blobs::acquire_existing(tx, h)?;
    }
    tx.prepare_cached(
        "INSERT INTO contents (oid, skeleton, layout, idx, refcount) VALUES (?1, ?2, ?3, ?4, 1)",
    )?
    .execute(params![&p.oid.0, &p.skeleton.0, &p.layout, &p.index])?;
    let id = tx.last_insert_rowid();
    let mut link =
        tx.prepare_cached("INSERT INTO content_blobs (content, blob) VALUES (?1, ?2)")?;
    for h in p.blobs.iter().map(|b| &b.hash).chain(&p.borrowed) {
        link.execute(params![id, &h.0])?;
    }
    let (headers, body) = (std::mem::take(&mut p.headers), std::mem::take(&mut p.body));
    before_commit(tx, move |tx| {
        tx.prepare_cached("INSERT INTO content_text (rowid, headers, body) VALUES (?1, ?2, ?3)")?
            .execute(params![id, headers, body])?;
        Ok(())
    })?;
    Ok(id)
}

/// One more message row uses content `id` (COPY).
pub(crate) fn acquire(tx: &Transaction<'_>, id: i64) -> Result<()> {
    let n = tx
        .prepare_cached("UPDATE contents SET refcount = refcount + 1 WHERE id = ?1")?
        .execute([id])?;
    if n == 0 {
        return Err(SqliteError::corrupt(format!(
            "message content {id} is missing"
        )));
    }
    Ok(())
}

/// One message row fewer uses content `id`; the last one frees it and its blobs.
pub(crate) fn release(tx: &Transaction<'_>, id: i64) -> Result<()> {
    let refs: Option<i64> = tx
        .prepare_cached(
            "UPDATE contents SET refcount = refcount - 1 WHERE id = ?1 RETURNING refcount",
        )?
        .query_row([id], |r| r.get(0))
        .optional()?;
    match refs {
        None => {
            tracing::warn!(content = id, "released a content that is not stored");
            Ok(())
        }
        Some(n) if n > 0 => Ok(()),
        Some(_) => {
            let hashes: Vec<BlobHash> = tx
                .prepare_cached("SELECT blob FROM content_blobs WHERE content = ?1")?
                .query_map([id], |r| get_hash(r, 0))?
                .collect::<rusqlite::Result<_>>()?;
            tx.prepare_cached("DELETE FROM content_blobs WHERE content = ?1")?
                .execute([id])?;
            // In order with the deferred insert (which may be in this same batch).
            before_commit(tx, move |tx| {
                tx.prepare_cached("DELETE FROM content_text WHERE rowid = ?1")?
                    .execute([id])?;
                Ok(())
            })?;
            tx.prepare_cached("DELETE FROM contents WHERE id = ?1")?
                .execute([id])?;
            for h in &hashes {
                blobs::release(tx, h)?;
            }
            Ok(())
        }
    }
}

/// The index (search text restored), layout and skeleton hash of content `id`.
pub(crate) fn load(tx: &Transaction<'_>, id: i64) -> Result<(MessageIndex, Layout, BlobHash)> {
    let (skeleton, layout, packed): (BlobHash, String, Vec<u8>) = tx
        .prepare_cached("SELECT skeleton, layout, idx FROM contents WHERE id = ?1")?
        .query_row([id], |r| Ok((get_hash(r, 0)?, r.get(1)?, r.get(2)?)))
        .optional()?
        .ok_or_else(|| SqliteError::corrupt(format!("message content {id} is missing")))?;
    let json = compress::decompress(&packed)?;
    // A MIME tree may nest deeper than serde_json's default limit of 128 (ingest caps
    // nesting at 256 levels, about 3 JSON levels each), so the limit is lifted here.
    let mut de = serde_json::Deserializer::from_slice(&json);
    de.disable_recursion_limit();
    let mut index: MessageIndex = serde::Deserialize::deserialize(&mut de)?;
    let layout: Layout = serde_json::from_str(&layout)?;
    if let Some((h, b)) = tx
        .prepare_cached("SELECT headers, body FROM content_text WHERE rowid = ?1")?
        .query_row([id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .optional()?
    {
        index.search_headers = h;
        index.search_body = b;
    }
    Ok((index, layout, skeleton))
}
