//! Serving a byte range of the raw message from skeleton and blobs.
//!
//! A range may start anywhere, including mid-line inside a base64 blob: the blob
//! piece then starts encoding at the beginning of that encoded line (a decoded
//! offset that is a whole number of lines) and skips the bytes before `start`;
//! it reads just enough decoded bytes to cover the last byte wanted.

use super::{effective_line_len, BlobEncoding, BlobHash, Layout, Piece, Segment};

impl Layout {
    /// The steps that produce raw bytes `start..end` (clamped to the message).
    pub fn plan(&self, start: u64, end: u64) -> Vec<Piece> {
        let end = end.min(self.len());
        let start = start.min(end);
        let mut pieces = Vec::new();
        let mut seg_start = 0u64;
        for seg in &self.segments {
            let seg_len = match seg {
                Segment::Inline { len, .. } => *len,
                Segment::Blob { encoded_len, .. } => *encoded_len,
            };
            let seg_end = seg_start + seg_len;
            if seg_start >= end {
                break;
            }
            if seg_end > start {
                let a = start.max(seg_start) - seg_start;
                let b = end.min(seg_end) - seg_start;
                if a < b {
                    pieces.push(match seg {
                        Segment::Inline { offset, .. } => Piece::Skeleton {
                            offset: offset + a,
                            len: b - a,
                        },
                        Segment::Blob {
                            hash,
                            decoded_len,
                            encoding,
                            ..
                        } => blob_piece(*hash, *encoding, *decoded_len, a, b),
                    });
                }
            }
            seg_start = seg_end;
        }
        pieces
    }
}

/// The piece producing encoded bytes `a..b` (a < b) of one blob.
fn blob_piece(hash: BlobHash, encoding: BlobEncoding, decoded_len: u64, a: u64, b: u64) -> Piece {
    let (decoded_start, decoded_end, skip) = match encoding {
        BlobEncoding::Identity => (a, b, 0),
        BlobEncoding::Base64 { line_len, crlf, .. } => {
            let line = effective_line_len(line_len);
            let stride = line + if crlf { 2 } else { 1 };
            let per_line = line / 4 * 3;
            let first_line = a / stride;
            let last = b - 1;
            let last_line = last / stride;
            let col = last % stride;
            let end = if col < line {
                last_line * per_line + (col / 4 + 1) * 3
            } else {
                (last_line + 1) * per_line
            };
            (
                (first_line * per_line).min(decoded_len),
                end.min(decoded_len),
                a - first_line * stride,
            )
        }
    };
    Piece::Blob {
        hash,
        encoding,
        decoded_len,
        decoded_start,
        decoded_end,
        skip,
        take: b - a,
    }
}
