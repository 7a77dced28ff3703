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

/// Filter for chunks `first..=last` of `hash`.
fn chunk_range(hash: &BlobHash, first: u32, last: u32) -> Document {
    let upper = match last.checked_add(1) {
        Some(next) => doc! { "$lt": chunk_key(hash, next) },
        None => doc! { "$lte": chunk_key(hash, u32::MAX) },
    };
    let mut range = doc! { "$gte": chunk_key(hash, first) };
    range.extend(upper);
    doc! { "_id": range }
}

fn all_chunks(hash: &BlobHash) -> Document {
    chunk_range(hash, 0, u32::MAX)
}

impl MongoStore {
    /// Write the chunks of `blobs` (outside any transaction); chunks already there
    /// are left as they are (same hash, same bytes).
    pub(crate) async fn write_chunks(&self, blobs: &[&PreparedBlob]) -> Result<()> {
        let coll = self.coll(BLOB_CHUNKS);
        for b in blobs {
            let docs = if b.data.len() > 64 * 1024 {
                let copy = PreparedBlob::new(b.hash, b.data.clone());
                tokio::task::spawn_blocking(move || copy.chunk_docs())
                    .await
                    .map_err(|e| Error::corrupt(format!("chunking failed: {e}")))??
            } else {
                b.chunk_docs()?
            };
            // One insert per few MB keeps each command well under the message limit.
            let mut batch: Vec<Document> = Vec::new();
            let mut bytes = 0usize;
            for d in docs {
                bytes += d.bytes("d").map(|x| x.len()).unwrap_or(0);
                batch.push(d);
                if bytes >= 8 * 1024 * 1024 {
                    insert_chunks(&coll, std::mem::take(&mut batch)).await?;
                    bytes = 0;
                }
            }
            if !batch.is_empty() {
                insert_chunks(&coll, batch).await?;
            }
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
            .find(doc! { "_id": { "$in": ids }, "refs": { "$gt": 0i64 } })
            .projection(doc! { "_id": 1 })
            .await?
            .try_collect()
            .await?;
        Ok(docs.iter().filter_map(|d| d.hash("_id").ok()).collect())
    }

    /// Remove chunks written for blobs that no document references (an append that
    /// failed after writing them). Each removal writes the blob's document (insert
    /// and delete a tombstone) so it conflicts with a concurrent first reference.
    pub(crate) async fn discard_unreferenced(&self, hashes: &[BlobHash]) {
        for h in hashes {
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
                    .delete_many(all_chunks(h))
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
        .session(&mut *s)
        .await?
        .ok_or_else(|| Error::corrupt("upsert returned no blob document"))?;
    if after.i64("refs")? <= 1 {
        let want = blob.chunk_count();
        let have = if want == 0 {
            0
        } else {
            store
                .coll(BLOB_CHUNKS)
                .count_documents(chunk_range(&blob.hash, 0, u32::MAX))
                .session(&mut *s)
                .await?
        };
        if have != want {
            return Err(Error::MissingChunks(blob.hash));
        }
    }
    Ok(())
}

/// Take another reference to a blob that must already exist.
pub(crate) async fn acquire_existing(
    store: &MongoStore,
    s: &mut ClientSession,
    hash: &BlobHash,
) -> Result<()> {
    let r = store
        .coll(BLOBS)
        .update_one(
            doc! { "_id": hash_bson(hash), "refs": { "$gt": 0i64 } },
            doc! { "$inc": { "refs": 1i64 } },
        )
        .session(&mut *s)
        .await?;
    if r.matched_count == 0 {
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
            store
                .coll(BLOB_CHUNKS)
                .delete_many(all_chunks(hash))
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

impl MongoStore {
    async fn blob_head(&self, hash: &BlobHash) -> Result<Option<(u64, u64)>> {
        let d = self
            .coll(BLOBS)
            .find_one(doc! { "_id": hash_bson(hash), "refs": { "$gt": 0i64 } })
            .await?;
        match d {
            None => Ok(None),
            Some(d) => Ok(Some((d.u64("len")?, d.u64("chunk")?.max(1)))),
        }
    }

    /// Decoded bytes `start..end` (clamped), None when the blob is absent.
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
        let (first, last) = (start / chunk, (end - 1) / chunk);
        let to_u32 = |v: u64| u32::try_from(v).map_err(|_| Error::corrupt("blob too large"));
        let want = usize::try_from(end - start)
            .map_err(|_| Error::corrupt("blob range too large for memory"))?;
        let mut out = Vec::with_capacity(want);
        let mut cursor = self
            .coll(BLOB_CHUNKS)
            .find(chunk_range(hash, to_u32(first)?, to_u32(last)?))
            .sort(doc! { "_id": 1 })
            .await?;
        let mut expect = first;
        while let Some(d) = cursor.try_next().await? {
            let key = d.bytes("_id")?;
            let idx = key
                .get(32..36)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(u32::from_be_bytes)
                .ok_or_else(|| Error::corrupt(format!("blob {hash} has a bad chunk key")))?;
            if u64::from(idx) != expect {
                return Err(Error::corrupt(format!("blob {hash} lacks chunk {expect}")));
            }
            expect += 1;
            let stored = d.bytes("d")?;
            let inflated;
            let data: &[u8] = if d.bool("z")? {
                inflated = compress::decompress(stored)?;
                &inflated
            } else {
                stored
            };
            let base = u64::from(idx) * chunk;
            let lo = (start.max(base) - base) as usize;
            let hi = (end.min(base + data.len() as u64) - base) as usize;
            if lo > hi || hi > data.len() {
                return Err(Error::corrupt(format!("blob {hash} chunk {idx} is short")));
            }
            out.extend_from_slice(&data[lo..hi]);
        }
        if expect != last + 1 || out.len() != want {
            return Err(Error::corrupt(format!("blob {hash} lacks chunk {expect}")));
        }
        Ok(Some(Bytes::from(out)))
    }
}

#[async_trait]
impl BlobStore for MongoStore {
    async fn read_blob(&self, hash: &BlobHash, start: u64, end: u64) -> StoreResult<Bytes> {
        self.read_range(hash, start, end)
            .await?
            .ok_or(StoreError::NotFound)
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
        let r = chunk_range(&h, 0, u32::MAX);
        assert!(r.get_document("_id").is_ok_and(|d| d.contains_key("$lte")));
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
