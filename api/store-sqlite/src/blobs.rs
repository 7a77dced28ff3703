//! Content-addressed blob storage: decoded bytes keyed by sha256, split into 256 KiB
//! chunks, each zstd-compressed only when that saves at least 5 %. A byte range is
//! served from the chunks it overlaps, so reading the end of a 30 MB attachment
//! decompresses one chunk, not the file. Blobs are reference-counted by the contents
//! that use them and deleted with their last reference.

use async_trait::async_trait;
use bytes::Bytes;
use eider_message::BlobHash;
use eider_service::{BlobStore, StoreError, StoreResult};
use rusqlite::{params, OptionalExtension, Transaction};

use crate::codec::int;
use crate::compress;
use crate::error::{Result, SqliteError};
use crate::SqliteStore;

pub(crate) const CHUNK_SIZE: usize = 256 * 1024;

/// A blob ready to be stored: chunks are compressed before the request reaches the
/// writer thread, so the one thread that commits does no compression.
pub(crate) struct PreparedBlob {
    pub(crate) hash: BlobHash,
    data: Vec<u8>,
    /// Compressed form of each chunk, None where the raw bytes are kept. Empty when
    /// the blob was already stored at preparation time (only its refcount changes).
    packed: Option<Vec<Option<Vec<u8>>>>,
}

impl PreparedBlob {
    /// `known` says the blob already exists, so compressing it would be wasted work.
    pub(crate) fn new(hash: BlobHash, data: Vec<u8>, known: bool) -> Result<Self> {
        let packed = if known { None } else { Some(pack(&data)?) };
        Ok(Self { hash, data, packed })
    }

    pub(crate) fn len(&self) -> u64 {
        self.data.len() as u64
    }
}

fn pack(data: &[u8]) -> Result<Vec<Option<Vec<u8>>>> {
    data.chunks(CHUNK_SIZE)
        .map(|chunk| {
            let z = compress::compress(chunk)?;
            // Keep compression only when it saves >= 5%: media is usually incompressible.
            Ok((z.len() * 100 <= chunk.len() * 95).then_some(z))
        })
        .collect()
}

/// Take a reference to `blob`, storing it when it is new.
pub(crate) fn acquire(tx: &Transaction<'_>, blob: &PreparedBlob) -> Result<()> {
    let refs: i64 = tx
        .prepare_cached(
            "INSERT INTO blobs (hash, length, chunk_size, refcount) VALUES (?1, ?2, ?3, 1)
             ON CONFLICT (hash) DO UPDATE SET refcount = refcount + 1
             RETURNING refcount",
        )?
        .query_row(
            params![&blob.hash.0, int(blob.len()), CHUNK_SIZE as i64],
            |r| r.get(0),
        )?;
    if refs > 1 {
        return Ok(());
    }
    // New blob. It may have been deleted since preparation judged it known.
    let computed;
    let packed = match &blob.packed {
        Some(p) => p,
        None => {
            computed = pack(&blob.data)?;
            &computed
        }
    };
    let mut insert = tx.prepare_cached(
        "INSERT INTO blob_chunks (hash, idx, compressed, data) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (idx, (raw, z)) in blob.data.chunks(CHUNK_SIZE).zip(packed).enumerate() {
        let (compressed, bytes) = match z {
            Some(z) => (true, z.as_slice()),
            None => (false, raw),
        };
        insert.execute(params![&blob.hash.0, idx as i64, compressed, bytes])?;
    }
    Ok(())
}

/// Take another reference to a blob that must already exist.
pub(crate) fn acquire_existing(tx: &Transaction<'_>, hash: &BlobHash) -> Result<()> {
    let n = tx
        .prepare_cached("UPDATE blobs SET refcount = refcount + 1 WHERE hash = ?1")?
        .execute([&hash.0])?;
    if n == 0 {
        return Err(SqliteError::corrupt(format!(
            "content references blob {hash} which is neither given nor stored"
        )));
    }
    Ok(())
}

/// Drop one reference; the blob and its chunks go with the last one.
pub(crate) fn release(tx: &Transaction<'_>, hash: &BlobHash) -> Result<()> {
    let refs: Option<i64> = tx
        .prepare_cached(
            "UPDATE blobs SET refcount = refcount - 1 WHERE hash = ?1 RETURNING refcount",
        )?
        .query_row([&hash.0], |r| r.get(0))
        .optional()?;
    match refs {
        None => tracing::warn!(%hash, "released a blob that is not stored"),
        Some(n) if n <= 0 => {
            tx.prepare_cached("DELETE FROM blob_chunks WHERE hash = ?1")?
                .execute([&hash.0])?;
            tx.prepare_cached("DELETE FROM blobs WHERE hash = ?1")?
                .execute([&hash.0])?;
        }
        Some(_) => {}
    }
    Ok(())
}

pub(crate) fn len(tx: &Transaction<'_>, hash: &BlobHash) -> Result<Option<u64>> {
    let v: Option<i64> = tx
        .prepare_cached("SELECT length FROM blobs WHERE hash = ?1")?
        .query_row([&hash.0], |r| r.get(0))
        .optional()?;
    Ok(v.map(|v| v.max(0) as u64))
}

pub(crate) fn count(tx: &Transaction<'_>) -> Result<u64> {
    let n: i64 = tx.query_row("SELECT count(*) FROM blobs", [], |r| r.get(0))?;
    Ok(n.max(0) as u64)
}

/// Decoded bytes `start..end` (clamped to the blob), or None when the blob is absent.
pub(crate) fn read_range(
    tx: &Transaction<'_>,
    hash: &BlobHash,
    start: u64,
    end: u64,
) -> Result<Option<Bytes>> {
    let head: Option<(i64, i64)> = tx
        .prepare_cached("SELECT length, chunk_size FROM blobs WHERE hash = ?1")?
        .query_row([&hash.0], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((length, chunk_size)) = head else {
        return Ok(None);
    };
    let (length, chunk) = (length.max(0) as u64, chunk_size.max(1) as u64);
    let end = end.min(length);
    if start >= end {
        return Ok(Some(Bytes::new()));
    }
    let (first, last) = (start / chunk, (end - 1) / chunk);
    let want = usize::try_from(end - start)
        .map_err(|_| SqliteError::corrupt("blob range too large for memory"))?;
    let mut out = Vec::with_capacity(want);
    let mut expect = first;
    let mut stmt = tx.prepare_cached(
        "SELECT idx, compressed, data FROM blob_chunks
         WHERE hash = ?1 AND idx BETWEEN ?2 AND ?3 ORDER BY idx",
    )?;
    let mut rows = stmt.query(params![&hash.0, int(first), int(last)])?;
    while let Some(row) = rows.next()? {
        let idx: i64 = row.get(0)?;
        if idx < 0 || idx as u64 != expect {
            return Err(SqliteError::corrupt(format!(
                "blob {hash} lacks chunk {expect}"
            )));
        }
        expect += 1;
        let compressed: bool = row.get(1)?;
        let stored = row.get_ref(2)?.as_blob().map_err(rusqlite::Error::from)?;
        let inflated;
        let data: &[u8] = if compressed {
            inflated = compress::decompress(stored)?;
            &inflated
        } else {
            stored
        };
        let base = idx as u64 * chunk;
        let lo = (start.max(base) - base) as usize;
        let hi = (end.min(base + data.len() as u64) - base) as usize;
        if lo > hi || hi > data.len() {
            return Err(SqliteError::corrupt(format!(
                "blob {hash} chunk {idx} is short"
            )));
        }
        out.extend_from_slice(&data[lo..hi]);
    }
    if out.len() != want {
        return Err(SqliteError::corrupt(format!(
            "blob {hash} returned {} of {want} bytes",
            out.len()
        )));
    }
    Ok(Some(Bytes::from(out)))
}

#[async_trait]
impl BlobStore for SqliteStore {
    async fn read_blob(&self, hash: &BlobHash, start: u64, end: u64) -> StoreResult<Bytes> {
        let hash = *hash;
        self.read(move |tx| read_range(tx, &hash, start, end))
            .await?
            .ok_or(StoreError::NotFound)
    }

    async fn read_blob_ranges(&self, ranges: &[(BlobHash, u64, u64)]) -> StoreResult<Vec<Bytes>> {
        let ranges = ranges.to_vec();
        self.read(move |tx| {
            ranges
                .iter()
                .map(|(hash, start, end)| {
                    read_range(tx, hash, *start, *end)?
                        .ok_or(SqliteError::Store(StoreError::NotFound))
                })
                .collect::<Result<Vec<_>>>()
        })
        .await
    }

    async fn blob_len(&self, hash: &BlobHash) -> StoreResult<Option<u64>> {
        let hash = *hash;
        self.read(move |tx| len(tx, &hash)).await
    }

    async fn blob_count(&self) -> StoreResult<u64> {
        self.read(count).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    fn db() -> Connection {
        let mut c = Connection::open_in_memory().expect("open");
        crate::schema::migrate(&mut c).expect("migrate");
        c
    }

    #[test]
    fn chunks_ranges_and_refcounts() {
        let mut conn = db();
        // Three chunks and a bit: compressible text then random-ish bytes.
        let mut data: Vec<u8> = b"lorem ipsum dolor sit amet ".repeat(15_000);
        let mut x: u32 = 1;
        data.extend((0..CHUNK_SIZE).map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        }));
        let hash = BlobHash::of(&data);
        let blob = PreparedBlob::new(hash, data.clone(), false).expect("prepare");
        let tx = conn.transaction().expect("tx");
        acquire(&tx, &blob).expect("store");
        acquire(&tx, &blob).expect("second ref");
        let kinds: Vec<bool> = tx
            .prepare("SELECT compressed FROM blob_chunks ORDER BY idx")
            .expect("prep")
            .query_map([], |r| r.get(0))
            .expect("q")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        assert_eq!(kinds.len(), data.len().div_ceil(CHUNK_SIZE));
        assert!(kinds[0], "text compresses");
        assert!(!kinds[kinds.len() - 1], "noise is kept raw");
        for (s, e) in [
            (0u64, 10u64),
            (CHUNK_SIZE as u64 - 3, CHUNK_SIZE as u64 + 3),
            (5, data.len() as u64),
            (data.len() as u64 - 1, u64::MAX),
            (7, 7),
        ] {
            let got = read_range(&tx, &hash, s, e)
                .expect("read")
                .expect("present");
            let e = e.min(data.len() as u64);
            assert_eq!(&got[..], &data[s as usize..e as usize], "range {s}..{e}");
        }
        assert_eq!(len(&tx, &hash).expect("len"), Some(data.len() as u64));
        release(&tx, &hash).expect("release");
        assert_eq!(count(&tx).expect("count"), 1);
        release(&tx, &hash).expect("release last");
        assert_eq!(count(&tx).expect("count"), 0);
        let chunks: i64 = tx
            .query_row("SELECT count(*) FROM blob_chunks", [], |r| r.get(0))
            .expect("chunks");
        assert_eq!(chunks, 0);
        assert!(read_range(&tx, &hash, 0, 1).expect("read").is_none());
        // A known blob that vanished before the writer ran is packed by the writer.
        let late = PreparedBlob::new(hash, data.clone(), true).expect("prepare");
        acquire(&tx, &late).expect("store late");
        let got = read_range(&tx, &hash, 0, u64::MAX)
            .expect("read")
            .expect("present");
        assert_eq!(got.len(), data.len());
    }
}
