//! Message contents: what the copies of one message share (index, layout, skeleton
//! blob and attachment blobs), reference-counted by message rows.
//!
//! The index is stored as zstd-compressed JSON without its two search-text fields;
//! those live once, in the FTS table `content_text`, and are put back on load.

use std::collections::HashSet;

use eider_message::{BlobHash, BodyPart, Layout, MessageIndex};
use eider_service::model::{FetchWant, ImapStrings, MessageBody, NewContent};
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
    imap_envelope: String,
    imap_bodystructure: String,
    imap_body: String,
    /// zstd(JSON(root part)).
    mime: Vec<u8>,
    /// zstd(JSON(index.listing())): what a message list reads.
    listing: Vec<u8>,
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
    // Kept in their own columns (schema v6) so FETCH reads them without the index.
    let imap_envelope = std::mem::take(&mut index.imap_envelope);
    let imap_bodystructure = std::mem::take(&mut index.imap_bodystructure);
    let imap_body = std::mem::take(&mut index.imap_body);
    let mime = compress::compress(&serde_json::to_vec(&index.root)?)?;
    let listing = compress::compress(&serde_json::to_vec(&index.listing())?)?;
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
        imap_envelope,
        imap_bodystructure,
        imap_body,
        mime,
        listing,
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
        "INSERT INTO contents (oid, skeleton, layout, idx, refcount, imap_envelope,
             imap_bodystructure, imap_body, mime, listing)
         VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        &p.oid.0,
        &p.skeleton.0,
        &p.layout,
        &p.index,
        &p.imap_envelope,
        &p.imap_bodystructure,
        &p.imap_body,
        &p.mime,
        &p.listing
    ])?;
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
    let row = tx
        .prepare_cached(
            "SELECT skeleton, layout, idx, imap_envelope, imap_bodystructure, imap_body
             FROM contents WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok((
                get_hash(r, 0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })
        .optional()?;
    let Some((skeleton, layout, packed, envelope, structure, body)) = row else {
        return Err(missing(id));
    };
    let mut index = unpack::<MessageIndex>(&packed)?;
    // Contents stored since schema v6 keep these out of the index.
    if let (Some(e), Some(s), Some(b)) = (envelope, structure, body) {
        index.imap_envelope = e;
        index.imap_bodystructure = s;
        index.imap_body = b;
    }
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

/// The listing fields of content `id` ([`MessageIndex::listing`]); contents
/// stored before schema v18 are listed from their index.
pub(crate) fn load_listing(tx: &Transaction<'_>, id: i64) -> Result<MessageIndex> {
    let packed: Option<Vec<u8>> = tx
        .prepare_cached("SELECT listing FROM contents WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?
        .ok_or_else(|| missing(id))?;
    match packed {
        Some(z) => unpack(&z),
        None => Ok(load(tx, id)?.0.listing()),
    }
}

/// What `want` asks of content `id`, read from its own columns; contents stored
/// before schema v6 have none and are answered from their index.
pub(crate) fn load_parts(
    tx: &Transaction<'_>,
    id: i64,
    want: FetchWant,
) -> Result<(Option<ImapStrings>, Option<MessageBody>)> {
    if !want.imap && !want.body {
        return Ok((None, None));
    }
    let row = tx
        .prepare_cached(
            "SELECT skeleton, imap_envelope, imap_bodystructure, imap_body,
                    CASE WHEN ?2 THEN layout END, CASE WHEN ?2 THEN mime END
             FROM contents WHERE id = ?1",
        )?
        .query_row(params![id, want.body], |r| {
            Ok((
                get_hash(r, 0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<Vec<u8>>>(5)?,
            ))
        })
        .optional()?;
    let Some((skeleton, envelope, structure, body, layout, mime)) = row else {
        return Err(missing(id));
    };
    let imap = match (envelope, structure, body) {
        (Some(envelope), Some(body_structure), Some(body)) => Some(ImapStrings {
            envelope,
            body_structure,
            body,
        }),
        _ => None,
    };
    let root = match mime {
        Some(z) => Some(unpack::<BodyPart>(&z)?),
        None => None,
    };
    let (imap, root) = match (imap, root) {
        (imap, root) if (imap.is_some() || !want.imap) && (root.is_some() || !want.body) => {
            (imap, root)
        }
        // Stored before schema v6: everything is in the index.
        _ => {
            let packed: Vec<u8> = tx
                .prepare_cached("SELECT idx FROM contents WHERE id = ?1")?
                .query_row([id], |r| r.get(0))?;
            let index = unpack::<MessageIndex>(&packed)?;
            (
                Some(ImapStrings {
                    envelope: index.imap_envelope,
                    body_structure: index.imap_bodystructure,
                    body: index.imap_body,
                }),
                Some(index.root),
            )
        }
    };
    let body = match (want.body, root, layout) {
        (true, Some(root), Some(layout)) => Some(MessageBody {
            root,
            layout: serde_json::from_str(&layout)?,
            skeleton,
        }),
        (true, _, _) => return Err(missing(id)),
        _ => None,
    };
    Ok((imap.filter(|_| want.imap), body))
}

fn missing(id: i64) -> SqliteError {
    SqliteError::corrupt(format!("message content {id} is missing"))
}

/// Decompress and parse a JSON record holding a MIME tree. A tree may nest deeper
/// than serde_json's default limit of 128 (ingest caps nesting at 256 levels, about 3
/// JSON levels each), so the limit is lifted here.
fn unpack<T: serde::de::DeserializeOwned>(packed: &[u8]) -> Result<T> {
    let json = compress::decompress(packed)?;
    let mut de = serde_json::Deserializer::from_slice(&json);
    de.disable_recursion_limit();
    Ok(T::deserialize(&mut de)?)
}
