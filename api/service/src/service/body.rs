//! Streaming reassembly: raw message bytes produced piece by piece from the
//! skeleton and the blobs, so no reader holds a whole large message in memory.

use std::collections::VecDeque;

use bytes::Bytes;
use eider_message::layout::Encoder;
use eider_message::{BlobHash, Layout, Piece};

use super::Service;
use crate::model::{MessageBody, StoredMessage};
use crate::{Error, ObjectId, Result};

/// How much decoded blob data one read fetches: four of the stores' 256 KiB chunks,
/// so a large attachment costs one store round trip per MiB (a remote store's
/// round trip costs more than inflating the bytes), with a bounded buffer.
const READ_CHUNK: u64 = 1024 * 1024;
/// Skeleton bytes read at once, aligned: the store inflates whole 256 KiB chunks
/// anyway, and a message with n attachments has 2n+1 skeleton pieces that would
/// otherwise each inflate the same chunk again.
const SKELETON_WINDOW: u64 = 256 * 1024;
/// Ranges up to this size are read with all their pieces in one store call: each
/// call is a hop to a blocking thread and a read transaction, which cost more than
/// the bytes of a typical message.
const PREFETCH_LIMIT: u64 = 1024 * 1024;

/// Produces raw bytes of one message range, chunk by chunk.
pub struct BodyReader {
    service: Service,
    skeleton: BlobHash,
    /// The last skeleton bytes read: (offset of the first, bytes).
    window: Option<(u64, Bytes)>,
    /// Decoded blob ranges read ahead: (blob, offset of the first byte, bytes).
    ahead: Vec<(BlobHash, u64, Bytes)>,
    /// Whether the read-ahead of a small range is still to be done.
    prefetch: bool,
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
        if std::mem::take(&mut self.prefetch) {
            self.read_ahead().await?;
        }
        loop {
            if let Some(cur) = self.current.as_mut() {
                if let Some(chunk) = read_blob_step(&self.service, &self.ahead, cur).await? {
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
                    return self.skeleton_bytes(offset, len).await.map(Some);
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

    /// Read every piece of the range in one store call.
    async fn read_ahead(&mut self) -> Result<()> {
        let mut skeleton: Option<(u64, u64)> = None;
        let mut ranges = Vec::new();
        for piece in &self.pieces {
            match piece {
                Piece::Skeleton { offset, len } if *len > 0 => {
                    let (lo, hi) = skeleton.unwrap_or((*offset, *offset + *len));
                    skeleton = Some((lo.min(*offset), hi.max(*offset + *len)));
                }
                Piece::Skeleton { .. } => {}
                Piece::Blob {
                    hash,
                    decoded_start,
                    decoded_end,
                    ..
                } => ranges.push((*hash, *decoded_start, *decoded_end)),
            }
        }
        if let Some((lo, hi)) = skeleton {
            ranges.push((self.skeleton, lo, hi));
        }
        if ranges.is_empty() {
            return Ok(());
        }
        let mut data = self.service.store().read_blob_ranges(&ranges).await?;
        if let Some((lo, hi)) = skeleton {
            let bytes = data.pop().unwrap_or_default();
            if (bytes.len() as u64) < hi - lo {
                return Err(Error::Database("message skeleton is truncated".into()));
            }
            self.window = Some((lo, bytes));
            ranges.pop();
        }
        self.ahead = ranges
            .into_iter()
            .zip(data)
            .map(|((hash, start, _), bytes)| (hash, start, bytes))
            .collect();
        Ok(())
    }

    /// Skeleton bytes `offset..offset + len`, from the window when it holds them.
    async fn skeleton_bytes(&mut self, offset: u64, len: u64) -> Result<Bytes> {
        let end = offset + len;
        if let Some((start, data)) = &self.window {
            if *start <= offset && end <= start + data.len() as u64 {
                let from = (offset - start) as usize;
                return Ok(data.slice(from..from + len as usize));
            }
        }
        let start = offset - offset % SKELETON_WINDOW;
        let stop = end.div_ceil(SKELETON_WINDOW) * SKELETON_WINDOW;
        // Clamped by the store to the skeleton's length.
        let data = self
            .service
            .store()
            .read_blob(&self.skeleton, start, stop)
            .await?;
        if ((data.len() as u64) + start) < end {
            return Err(Error::Database("message skeleton is truncated".into()));
        }
        let from = (offset - start) as usize;
        let piece = data.slice(from..from + len as usize);
        self.window = Some((start, data));
        Ok(piece)
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
async fn read_blob_step(
    service: &Service,
    ahead: &[(BlobHash, u64, Bytes)],
    cur: &mut BlobCursor,
) -> Result<Option<Bytes>> {
    loop {
        if cur.take == 0 {
            return Ok(None);
        }
        let mut encoded = Vec::new();
        if cur.next < cur.end {
            let stop = (cur.next + READ_CHUNK).min(cur.end);
            let held = ahead.iter().find(|(h, start, bytes)| {
                *h == cur.hash && *start <= cur.next && stop <= start + bytes.len() as u64
            });
            let data = match held {
                Some((_, start, bytes)) => {
                    bytes.slice((cur.next - start) as usize..(stop - start) as usize)
                }
                None => service.store().read_blob(&cur.hash, cur.next, stop).await?,
            };
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
            return Ok(Some(Bytes::from(encoded).slice(drop..drop + keep)));
        }
    }
}

impl Service {
    /// A reader over raw bytes `start..end` of a stored message (clamped to its size).
    pub fn body_reader(&self, message: &StoredMessage, start: u64, end: u64) -> BodyReader {
        reader_for(self.clone(), &message.layout, message.skeleton, start, end)
    }

    /// A reader over raw bytes `start..end` of a message read by `fetch_messages`.
    pub fn content_reader(&self, body: &MessageBody, start: u64, end: u64) -> BodyReader {
        reader_for(self.clone(), &body.layout, body.skeleton, start, end)
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
        window: None,
        ahead: Vec::new(),
        prefetch: end - start <= PREFETCH_LIMIT,
        pieces: layout.plan(start, end).into(),
        current: None,
        len: end - start,
    }
}
