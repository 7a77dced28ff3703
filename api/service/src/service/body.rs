//! Streaming reassembly: raw message bytes produced piece by piece from the
//! skeleton and the blobs, so no reader holds a whole large message in memory.

use std::collections::VecDeque;

use bytes::Bytes;
use eider_message::layout::Encoder;
use eider_message::{BlobHash, Layout, Piece};

use super::Service;
use crate::model::StoredMessage;
use crate::{Error, ObjectId, Result};

/// How much decoded blob data one read fetches.
const READ_CHUNK: u64 = 256 * 1024;

/// Produces raw bytes of one message range, chunk by chunk.
pub struct BodyReader {
    service: Service,
    skeleton: BlobHash,
    pieces: VecDeque<Piece>,
    /// A blob piece being encoded: its encoder and how far it got.
    current: Option<BlobCursor>,
    len: u64,
}

struct BlobCursor {
    hash: BlobHash,
    /// Taken when the input is exhausted and the encoder is finished.
    encoder: Option<Encoder>,
    decoded_len: u64,
    next: u64,
    end: u64,
    skip: u64,
    take: u64,
}

impl BodyReader {
    /// Total bytes this reader produces.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The next chunk, or None at the end.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>> {
        loop {
            if let Some(cur) = self.current.as_mut() {
                if let Some(chunk) = read_blob_step(&self.service, cur).await? {
                    return Ok(Some(chunk));
                }
                self.current = None;
                continue;
            }
            match self.pieces.pop_front() {
                None => return Ok(None),
                Some(Piece::Skeleton { offset, len }) => {
                    if len == 0 {
                        continue;
                    }
                    let data = self
                        .service
                        .store()
                        .read_blob(&self.skeleton, offset, offset + len)
                        .await?;
                    if data.len() as u64 != len {
                        return Err(Error::Database("message skeleton is truncated".into()));
                    }
                    return Ok(Some(data));
                }
                Some(Piece::Blob {
                    hash,
                    encoding,
                    decoded_len,
                    decoded_start,
                    decoded_end,
                    skip,
                    take,
                }) => {
                    self.current = Some(BlobCursor {
                        hash,
                        encoder: Some(Encoder::new(encoding, decoded_len, decoded_start)),
                        decoded_len,
                        next: decoded_start,
                        end: decoded_end,
                        skip,
                        take,
                    });
                }
            }
        }
    }

    /// Read everything that is left into one buffer (small messages, tests).
    pub async fn read_all(&mut self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(self.len as usize);
        while let Some(chunk) = self.next_chunk().await? {
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }
}

/// Encode the next stretch of a blob piece; None when the piece is done.
async fn read_blob_step(service: &Service, cur: &mut BlobCursor) -> Result<Option<Bytes>> {
    loop {
        if cur.take == 0 {
            return Ok(None);
        }
        let mut encoded = Vec::new();
        if cur.next < cur.end {
            let stop = (cur.next + READ_CHUNK).min(cur.end);
            let data = service.store().read_blob(&cur.hash, cur.next, stop).await?;
            if data.len() as u64 != stop - cur.next {
                return Err(Error::Database("attachment blob is truncated".into()));
            }
            cur.next = stop;
            if let Some(enc) = cur.encoder.as_mut() {
                enc.push(&data, &mut encoded);
            }
        } else if let Some(enc) = cur.encoder.take() {
            enc.finish(cur.end >= cur.decoded_len, &mut encoded);
        } else {
            // Input and encoder are exhausted yet the layout promised more bytes.
            return Err(Error::Database("blob shorter than its layout".into()));
        }
        let drop = cur.skip.min(encoded.len() as u64) as usize;
        cur.skip -= drop as u64;
        let keep = cur.take.min((encoded.len() - drop) as u64) as usize;
        cur.take -= keep as u64;
        if keep > 0 {
            return Ok(Some(Bytes::copy_from_slice(&encoded[drop..drop + keep])));
        }
    }
}

impl Service {
    /// A reader over raw bytes `start..end` of a stored message (clamped to its size).
    pub fn body_reader(&self, message: &StoredMessage, start: u64, end: u64) -> BodyReader {
        reader_for(self.clone(), &message.layout, message.skeleton, start, end)
    }

    /// A reader over a message's whole raw bytes, by mailbox and UID.
    pub async fn message_body(
        &self,
        user: ObjectId,
        mailbox: ObjectId,
        uid: u32,
    ) -> Result<BodyReader> {
        let m = self.get_message(user, mailbox, uid).await?;
        Ok(self.body_reader(&m, 0, m.meta.size))
    }
}

fn reader_for(
    service: Service,
    layout: &Layout,
    skeleton: BlobHash,
    start: u64,
    end: u64,
) -> BodyReader {
    let total = layout.len();
    let end = end.min(total);
    let start = start.min(end);
    BodyReader {
        service,
        skeleton,
        pieces: layout.plan(start, end).into(),
        current: None,
        len: end - start,
    }
}
