//! Running a plan in memory: whole-message reassembly and byte ranges.
//!
//! The service layer streams the same plan piece by piece; this is the reference
//! executor (used by ingest verification, tests and small reads).

use super::{BlobHash, Encoder, Layout, Piece};
use crate::MessageError;

/// Rebuild the whole raw message (tests, verification, small messages).
pub fn reassemble<'a>(
    layout: &Layout,
    skeleton: &[u8],
    blob: impl Fn(&BlobHash) -> Option<&'a [u8]>,
) -> Result<Vec<u8>, MessageError> {
    read_range(layout, skeleton, blob, 0, layout.len())
}

/// Raw bytes `start..end` (clamped to the message), produced by executing
/// [`Layout::plan`].
pub fn read_range<'a>(
    layout: &Layout,
    skeleton: &[u8],
    blob: impl Fn(&BlobHash) -> Option<&'a [u8]>,
    start: u64,
    end: u64,
) -> Result<Vec<u8>, MessageError> {
    let pieces = layout.plan(start, end);
    let total: u64 = pieces
        .iter()
        .map(|p| match p {
            Piece::Skeleton { len, .. } => *len,
            Piece::Blob { take, .. } => *take,
        })
        .sum();
    let mut out = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for piece in pieces {
        match piece {
            Piece::Skeleton { offset, len } => {
                let bytes = usize::try_from(offset)
                    .ok()
                    .zip(usize::try_from(offset + len).ok())
                    .and_then(|(a, b)| skeleton.get(a..b))
                    .ok_or_else(|| MessageError::Corrupt("skeleton too short".into()))?;
                out.extend_from_slice(bytes);
            }
            Piece::Blob {
                hash,
                encoding,
                decoded_len,
                decoded_start,
                decoded_end,
                skip,
                take,
            } => {
                let data = blob(&hash).ok_or_else(|| MessageError::MissingBlob(hash.to_hex()))?;
                if data.len() as u64 != decoded_len {
                    return Err(MessageError::Corrupt(format!(
                        "blob {hash} has {} bytes, expected {decoded_len}",
                        data.len()
                    )));
                }
                let input = data
                    .get(decoded_start as usize..decoded_end as usize)
                    .ok_or_else(|| MessageError::Corrupt("blob range".into()))?;
                let base = out.len();
                let mut enc = Encoder::new(encoding, decoded_len, decoded_start);
                enc.push(input, &mut out);
                enc.finish(decoded_end == decoded_len, &mut out);
                let (skip, take) = (skip as usize, take as usize);
                if out.len() < base + skip + take {
                    return Err(MessageError::Corrupt(format!("blob {hash} encodes short")));
                }
                out.truncate(base + skip + take);
                out.drain(base..base + skip);
            }
        }
    }
    Ok(out)
}
