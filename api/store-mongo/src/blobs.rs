//! Content-addressed blob storage: decoded bytes keyed by sha256, split into 256 KiB
//! chunks, each zstd-compressed when that saves at least 5 %, so a byte range is
//! served from the chunks it overlaps.
//!
//! `blobs` holds one document per blob (`_id`: the hash, `len`, `chunk`, `refs`);
//! `blobchunks` one per chunk, keyed by hash ‖ chunk number (big-endian), so that a
//! blob's chunks are one `_id` range.
//!
//! Chunks are written before the transaction that takes the first reference (a
//! large attachment stays out of the transaction), idempotently. The rules that
//! keep this safe against a concurrent release of the last reference:
//! - every deletion of chunks happens in a transaction that also writes the blob
//!   document, so it conflicts with any transaction taking a reference;
//! - a transaction that creates the blob document checks that all chunks are there,
//!   and otherwise fails with `MissingChunks` so that the caller writes them again.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use bytes::Bytes;
use eider_message::BlobHash;
use eider_service::{BlobStore, StoreError, StoreResult};
use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::ReturnDocument;
use mongodb::ClientSession;

use crate::codec::{bin, hash_bson, int, DocExt};
use crate::compress;
use crate::error::{only_duplicates, Error, Result};
use crate::names::{BLOBS, BLOB_CHUNKS};
use crate::{txn, MongoStore};

pub(crate) const CHUNK_SIZE: usize = 256 * 1024;

/// A blob to store: its bytes, compressed chunk by chunk on demand.
pub(crate) struct PreparedBlob {
    pub(crate) hash: BlobHash,
    pub(crate) data: Vec<u8>,
}

impl PreparedBlob {
    pub(crate) fn new(hash: BlobHash, data: Vec<u8>) -> Self {
        Self { hash, data }
    }

    pub(crate) fn len(&self) -> u64 {
        self.data.len() as u64
    }

    pub(crate) fn chunk_count(&self) -> u64 {
        self.data.len().div_ceil(CHUNK_SIZE) as u64
    }

    /// The chunk documents (compression happens here: call off the async workers
    /// for large blobs).
    pub(crate) fn chunk_docs(&self) -> Result<Vec<Document>> {
        self.data
            .chunks(CHUNK_SIZE)
            .enumerate()
            .map(|(n, raw)| {
                let z = compress::compress(raw)?;
                // Keep compression only when it saves >= 5%: media is usually incompressible.
                let (compressed, bytes) = if z.len() * 100 <= raw.len() * 95 {
                    (true, z)
                } else {
                    (false, raw.to_vec())
                };
                Ok(doc! {
                    "_id": chunk_key(&self.hash, n as u32),
                    "z": compressed,
                    "d": bin(bytes),
                })
            })
            .collect()
    }
}

/// `_id` of chunk `n` of blob `hash`: ordered by hash, then by chunk number.
fn chunk_key(hash: &BlobHash, n: u32) -> Bson {
    let mut key = Vec::with_capacity(36);
    key.extend_from_slice(&hash.0);
    key.extend_from_slice(&n.to_be_bytes());
    Bson::Binary(bin(key))
}

/// `_id`s of chunks `first..=last` of `hash`. Chunks are always read and deleted
/// by their exact keys: SecantusDB answers a range on `_id` with a collection scan
/// (explain: COLLSCAN), while `$in` uses the `_id` index on every server.
fn chunk_keys(hash: &BlobHash, first: u64, last: u64) -> Result<Vec<Bson>> {
    let to_u32 = |v: u64| u32::try_from(v).map_err(|_| Error::corrupt("blob too large"));
    let (first, last) = (to_u32(first)?, to_u32(last)?);
    Ok((first..=last).map(|n| chunk_key(hash, n)).collect())
}

/// Chunk number of a chunk `_id`.
fn chunk_number(key: &[u8]) -> Option<u32> {
    key.get(32..36)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_be_bytes)
}

/// Filter matching the `count` chunks of `hash`.
fn all_chunks(hash: &BlobHash, count: u64) -> Result<Document> {
    if count == 0 {
        // Matches nothing, without a scan.
        return Ok(doc! { "_id": { "$in": [] } });
    }
    Ok(doc! { "_id": { "$in": chunk_keys(hash, 0, count - 1)? } })
}

/// Chunks in one `$in` query keep the query document and the reply bounded.
const KEYS_PER_QUERY: usize = 256;

impl MongoStore {
    /// Write the chunks of `blobs` (outside any transaction); chunks already there
    /// are left as they are (same hash, same bytes).
    pub(crate) async fn write_chunks(&self, blobs: &[&PreparedBlob]) -> Result<()> {
        let coll = self.coll(BLOB_CHUNKS);
        // The chunks of all blobs go in as few inserts as their size allows (one
        // round trip for a typical message), each a few MB, well under the limit.
        let mut batch: Vec<Document> = Vec::new();
        let mut bytes = 0usize;
        for b in blobs {
            let docs = if b.data.len() > 64 * 1024 {
                let copy = PreparedBlob::new(b.hash, b.data.clone());
                tokio::task::spawn_blocking(move || copy.chunk_docs())
                    .await
                    .map_err(|e| Error::corrupt(format!("chunking failed: {e}")))??
            } else {
                b.chunk_docs()?
            };
            for d in docs {
                bytes += d.bytes("d").map(|x| x.len()).unwrap_or(0);
                batch.push(d);
                if bytes >= 8 * 1024 * 1024 {
                    insert_chunks(&coll, std::mem::take(&mut batch)).await?;
                    bytes = 0;
                }
            }
        }
        if !batch.is_empty() {
            insert_chunks(&coll, batch).await?;
        }
        Ok(())
    }

    /// Which of `hashes` have a blob document with references.
    pub(crate) async fn known_blobs(&self, hashes: &[BlobHash]) -> Result<Vec<BlobHash>> {
        if hashes.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Bson> = hashes.iter().map(hash_bson).collect();
        let docs: Vec<Document> = self
            .coll(BLOBS)
            .find(doc! { "_id": { "$in": ids } })
            .projection(doc! { "_id": 1, "refs": 1 })
            .await?
            .try_collect()
            .await?;
        // `refs` is checked here: with a second predicate beside `_id`, SecantusDB
        // scans the collection instead of using the `_id` index.
        Ok(docs
            .iter()
            .filter(|d| d.opt_i64("refs").ok().flatten().unwrap_or(0) > 0)
            .filter_map(|d| d.hash("_id").ok())
            .collect())
    }

    /// Remove chunks written for blobs that no document references (an append that
    /// failed after writing them). Each removal writes the blob's document (insert
    /// and delete a tombstone) so it conflicts with a concurrent first reference.
    /// `blobs` are (hash, number of chunks written).
    pub(crate) async fn discard_unreferenced(&self, blobs: &[(BlobHash, u64)]) {
        for (h, chunks) in blobs {
            let r = txn!(self, |s| {
                let blobs = self.coll(BLOBS);
                if blobs
                    .find_one(doc! { "_id": hash_bson(h) })
                    .session(&mut *s)
                    .await?
                    .is_some()
                {
                    return Ok(());
                }
                blobs
                    .insert_one(doc! { "_id": hash_bson(h), "refs": 0i64, "tomb": true })
                    .session(&mut *s)
                    .await?;
                self.coll(BLOB_CHUNKS)
                    .delete_many(all_chunks(h, *chunks)?)
                    .session(&mut *s)
                    .await?;
                blobs
                    .delete_one(doc! { "_id": hash_bson(h) })
                    .session(&mut *s)
                    .await?;
                Ok(())
            });
            if let Err(e) = r {
                tracing::debug!(hash = %h, "orphan chunks left for later: {e}");
            }
        }
    }
}

async fn insert_chunks(coll: &mongodb::Collection<Document>, docs: Vec<Document>) -> Result<()> {
    match coll.insert_many(docs).ordered(false).await {
        Ok(_) => Ok(()),
        Err(e) if only_duplicates(&e) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Take a reference to a blob whose chunks were written; creates its document when
/// it is the first reference, checking that the chunks are (still) there.
pub(crate) async fn acquire(
    store: &MongoStore,
    s: &mut ClientSession,
    blob: &PreparedBlob,
) -> Result<()> {
    acquire_all(store, s, &[blob]).await
}

/// `acquire` for several blobs, with one check of the chunks of all those whose
/// first reference this is (one round trip instead of one per blob).
pub(crate) async fn acquire_all(
    store: &MongoStore,
    s: &mut ClientSession,
    blobs: &[&PreparedBlob],
) -> Result<()> {
    let mut first: Vec<&PreparedBlob> = Vec::new();
    for blob in blobs {
        let after = store
            .coll(BLOBS)
            .find_one_and_update(
                doc! { "_id": hash_bson(&blob.hash) },
                doc! {
                    "$inc": { "refs": 1i64 },
                    "$setOnInsert": { "len": int(blob.len()), "chunk": CHUNK_SIZE as i64 },
                    "$unset": { "tomb": "" },
                },
            )
            .upsert(true)
            .return_document(ReturnDocument::After)
            .projection(doc! { "refs": 1 })
            .session(&mut *s)
            .await?
            .ok_or_else(|| Error::corrupt("upsert returned no blob document"))?;
        if after.i64("refs")? <= 1 && blob.chunk_count() > 0 {
            first.push(blob);
        }
    }
    if first.is_empty() {
        return Ok(());
    }
    let want: u64 = first.iter().map(|b| b.chunk_count()).sum();
    let mut keys = Vec::new();
    for b in &first {
        keys.extend(chunk_keys(&b.hash, 0, b.chunk_count() - 1)?);
    }
    let have = store
        .coll(BLOB_CHUNKS)
        .count_documents(doc! { "_id": { "$in": keys } })
        .session(&mut *s)
        .await?;
    if have == want {
        return Ok(());
    }
    // Some went with a concurrent last release: find which, to write it again.
    for b in first {
        let have = store
            .coll(BLOB_CHUNKS)
            .count_documents(all_chunks(&b.hash, b.chunk_count())?)
            .session(&mut *s)
            .await?;
        if have != b.chunk_count() {
            return Err(Error::MissingChunks(b.hash));
        }
    }
    Err(Error::corrupt("blob chunks counted differently twice"))
}

/// Take another reference to a blob that must already exist.
pub(crate) async fn acquire_existing(
    store: &MongoStore,
    s: &mut ClientSession,
    hash: &BlobHash,
) -> Result<()> {
    // By `_id` alone (see `known_blobs`); a blob without references is refused
    // after the increment, which the failing transaction undoes.
    let before = store
        .coll(BLOBS)
        .find_one_and_update(
            doc! { "_id": hash_bson(hash) },
            doc! { "$inc": { "refs": 1i64 } },
        )
        .projection(doc! { "refs": 1 })
        .session(&mut *s)
        .await?;
    if before.is_none_or(|d| d.opt_i64("refs").ok().flatten().unwrap_or(0) <= 0) {
        return Err(Error::corrupt(format!(
            "content references blob {hash} which is neither given nor stored"
        )));
    }
    Ok(())
}

/// Drop `n` references; the blob and its chunks go with the last one.
pub(crate) async fn release(
    store: &MongoStore,
    s: &mut ClientSession,
    hash: &BlobHash,
    n: i64,
) -> Result<()> {
    let after = store
        .coll(BLOBS)
        .find_one_and_update(
            doc! { "_id": hash_bson(hash) },
            doc! { "$inc": { "refs": -n } },
        )
        .return_document(ReturnDocument::After)
        .session(&mut *s)
        .await?;
    match after {
        None => tracing::warn!(%hash, "released a blob that is not stored"),
        Some(d) if d.i64("refs")? <= 0 => {
            // Every blob document has both (written on insert).
            let len = d.opt_i64("len")?.unwrap_or(0).max(0) as u64;
            let chunk = d.opt_i64("chunk")?.unwrap_or(CHUNK_SIZE as i64).max(1) as u64;
            let chunks = len.div_ceil(chunk);
            store
                .coll(BLOB_CHUNKS)
                .delete_many(all_chunks(hash, chunks)?)
                .session(&mut *s)
                .await?;
            store
                .coll(BLOBS)
                .delete_one(doc! { "_id": hash_bson(hash) })
                .session(&mut *s)
                .await?;
        }
        Some(_) => {}
    }
    Ok(())
}

/// Decoded chunks read by one batch, by (blob, chunk number).
type ChunkMap = HashMap<(BlobHash, u32), Bytes>;

/// What the chunks read tell about `start..end` of a blob: its bytes, or that only
/// the blob document can tell (absent blob, range at or past its end, or an end at a
/// chunk boundary).
fn assemble(
    chunks: &ChunkMap,
    hash: &BlobHash,
    start: u64,
    end: u64,
    chunk: u64,
) -> Result<Option<Bytes>> {
    let (first, last) = (start / chunk, (end - 1) / chunk);
    let mut out: Vec<u8> = Vec::new();
    for n in first..=last {
        let idx = u32::try_from(n).map_err(|_| Error::corrupt("blob too large"))?;
        let Some(data) = chunks.get(&(*hash, idx)) else {
            return Ok(None);
        };
        let base = n * chunk;
        let lo = start.max(base) - base;
        let hi = end.min(base + data.len() as u64) - base;
        if lo > hi {
            return Ok(None);
        }
        if first == last && lo == 0 && hi == data.len() as u64 {
            // The whole of one chunk: no copy.
            return Ok(Some(data.clone()));
        }
        out.extend_from_slice(&data[lo as usize..hi as usize]);
        // Only a blob's last chunk is short, so the range is clamped at its end here
        // (a skeleton window read past the end); one short before the range's last
        // chunk would be damage, which the blob document's length settles.
        if (data.len() as u64) < chunk {
            return Ok((n == last).then(|| Bytes::from(out)));
        }
    }
    Ok(Some(Bytes::from(out)))
}

impl MongoStore {
    async fn blob_head(&self, hash: &BlobHash) -> Result<Option<(u64, u64)>> {
        let d = self
            .coll(BLOBS)
            .find_one(doc! { "_id": hash_bson(hash) })
            .await?
            .filter(|d| d.opt_i64("refs").ok().flatten().unwrap_or(0) > 0);
        match d {
            None => Ok(None),
            Some(d) => Ok(Some((d.u64("len")?, d.u64("chunk")?.max(1)))),
        }
    }

    /// Read and inflate the chunks named by `keys`, a batch of `$in` queries.
    async fn read_chunks(&self, keys: Vec<Bson>, into: &mut ChunkMap) -> Result<()> {
        for batch in keys.chunks(KEYS_PER_QUERY) {
            let mut cursor = self
                .coll(BLOB_CHUNKS)
                .find(doc! { "_id": { "$in": batch.to_vec() } })
                .await?;
            while let Some(d) = cursor.try_next().await? {
                let key = d.bytes("_id")?;
                let (Some(hash), Some(n)) = (
                    key.get(..32)
                        .and_then(|h| <[u8; 32]>::try_from(h).ok())
                        .map(BlobHash),
                    chunk_number(key),
                ) else {
                    return Err(Error::corrupt("a blob chunk has a bad key"));
                };
                let stored = d.bytes("d")?;
                let data = if d.bool("z")? {
                    Bytes::from(compress::decompress(stored)?)
                } else {
                    Bytes::copy_from_slice(stored)
                };
                into.insert((hash, n), data);
            }
        }
        Ok(())
    }

    /// Decoded bytes of each of `ranges` (clamped), None for an absent blob. The
    /// chunks of all ranges are read together by key; the blob documents are read
    /// only for ranges the chunks cannot settle (see `assemble`), so a message's
    /// skeleton and attachments take one round trip, whatever their number of chunks.
    pub(crate) async fn read_ranges(
        &self,
        ranges: &[(BlobHash, u64, u64)],
    ) -> Result<Vec<Option<Bytes>>> {
        let chunk = CHUNK_SIZE as u64;
        let mut keys = Vec::new();
        let mut seen = HashSet::new();
        for (hash, start, end) in ranges {
            // Open-ended reads (whole blobs) need the length to name their chunks.
            if start < end && *end != u64::MAX {
                for n in start / chunk..=(end - 1) / chunk {
                    if seen.insert((*hash, n)) {
                        keys.extend(chunk_keys(hash, n, n)?);
                    }
                }
            }
        }
        let mut chunks = ChunkMap::new();
        self.read_chunks(keys, &mut chunks).await?;
        let mut out = Vec::with_capacity(ranges.len());
        for (hash, start, end) in ranges {
            let settled = if start < end && *end != u64::MAX {
                assemble(&chunks, hash, *start, *end, chunk)?
            } else {
                None
            };
            match settled {
                Some(b) => out.push(Some(b)),
                None => out.push(self.read_range(hash, *start, *end).await?),
            }
        }
        Ok(out)
    }

    /// Decoded bytes `start..end` (clamped), None when the blob is absent: the blob
    /// document first (length, chunk size), then its chunks by key.
    pub(crate) async fn read_range(
        &self,
        hash: &BlobHash,
        start: u64,
        end: u64,
    ) -> Result<Option<Bytes>> {
        let Some((length, chunk)) = self.blob_head(hash).await? else {
            return Ok(None);
        };
        let end = end.min(length);
        if start >= end {
            return Ok(Some(Bytes::new()));
        }
        usize::try_from(end - start)
            .map_err(|_| Error::corrupt("blob range too large for memory"))?;
        let mut chunks = ChunkMap::new();
        self.read_chunks(
            chunk_keys(hash, start / chunk, (end - 1) / chunk)?,
            &mut chunks,
        )
        .await?;
        match assemble(&chunks, hash, start, end, chunk)? {
            Some(b) if b.len() as u64 == end - start => Ok(Some(b)),
            _ => Err(Error::corrupt(format!("blob {hash} lacks chunks"))),
        }
    }
}

#[async_trait]
impl BlobStore for MongoStore {
    async fn read_blob(&self, hash: &BlobHash, start: u64, end: u64) -> StoreResult<Bytes> {
        self.read_ranges(&[(*hash, start, end)])
            .await?
            .pop()
            .flatten()
            .ok_or(StoreError::NotFound)
    }

    async fn read_blob_ranges(&self, ranges: &[(BlobHash, u64, u64)]) -> StoreResult<Vec<Bytes>> {
        self.read_ranges(ranges)
            .await?
            .into_iter()
            .map(|b| b.ok_or(StoreError::NotFound))
            .collect()
    }

    async fn blob_len(&self, hash: &BlobHash) -> StoreResult<Option<u64>> {
        Ok(self.blob_head(hash).await?.map(|(len, _)| len))
    }

    async fn blob_count(&self) -> StoreResult<u64> {
        Ok(self
            .coll(BLOBS)
            .count_documents(doc! { "refs": { "$gt": 0i64 } })
            .await
            .map_err(Error::from)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_keys_order_by_hash_then_number() {
        let h = BlobHash::of(b"x");
        let a = chunk_key(&h, 1);
        let b = chunk_key(&h, 256);
        let (Bson::Binary(a), Bson::Binary(b)) = (a, b) else {
            panic!("binary keys");
        };
        assert!(a.bytes < b.bytes);
        assert_eq!(a.bytes.len(), 36);
        assert_eq!(chunk_keys(&h, 2, 4).expect("keys").len(), 3);
        assert!(chunk_keys(&h, 0, u64::from(u32::MAX) + 1).is_err());
    }

    #[test]
    fn assemble_settles_only_what_the_chunks_prove() {
        let h = BlobHash::of(b"y");
        let mut m = ChunkMap::new();
        m.insert((h, 0), Bytes::from_static(b"abcd"));
        m.insert((h, 1), Bytes::from_static(b"efgh"));
        m.insert((h, 2), Bytes::from_static(b"ij"));
        let get = |m: &ChunkMap, s, e| assemble(m, &h, s, e, 4).expect("assemble");
        assert_eq!(get(&m, 1, 7).as_deref(), Some(&b"bcdefg"[..]));
        assert_eq!(get(&m, 4, 8).as_deref(), Some(&b"efgh"[..]));
        // Past the end: the short last chunk clamps it.
        assert_eq!(get(&m, 6, 12).as_deref(), Some(&b"ghij"[..]));
        // Starting past the end, or in a chunk not read: the blob document decides.
        assert_eq!(get(&m, 11, 12), None);
        assert_eq!(get(&m, 9, 16), None);
        m.remove(&(h, 1));
        assert_eq!(get(&m, 1, 7), None);
        // A blob ending at a chunk boundary cannot be told from a missing chunk.
        let mut even = ChunkMap::new();
        even.insert((h, 0), Bytes::from_static(b"abcd"));
        assert_eq!(assemble(&even, &h, 0, 8, 4).expect("assemble"), None);
    }

    #[test]
    fn chunk_docs_compress_text_and_keep_noise() {
        let mut data = b"lorem ipsum ".repeat(30_000);
        let mut x: u32 = 7;
        data.extend((0..CHUNK_SIZE).map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        }));
        let b = PreparedBlob::new(BlobHash::of(&data), data.clone());
        let docs = b.chunk_docs().expect("chunks");
        assert_eq!(docs.len() as u64, b.chunk_count());
        assert!(docs[0].get_bool("z").expect("z"));
        assert!(!docs[docs.len() - 1].get_bool("z").expect("z"));
    }
}
