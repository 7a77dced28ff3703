//! Splitting a raw message into skeleton + blobs, and putting it back together.
//!
//! The raw message is a sequence of [`Segment`]s: runs of the skeleton (headers,
//! delimiters, small bodies) and blobs (large leaf bodies, stored decoded so that
//! the same file sent by different clients is stored once). A blob keeps just
//! enough ([`BlobEncoding`]) to be re-encoded byte for byte; [`Layout::plan`]
//! turns any byte range of the raw message into steps a streaming reader can run.

mod encoder;
mod plan;
mod reassemble;
pub(crate) mod split;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use encoder::Encoder;
pub use reassemble::{read_range, reassemble};
pub use split::split;

/// sha256 of a blob's decoded content.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobHash(pub [u8; 32]);

impl BlobHash {
    pub fn of(data: &[u8]) -> Self {
        use sha2::{Digest, Sha256};
        Self(Sha256::digest(data).into())
    }
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Self(out))
    }
}

impl fmt::Debug for BlobHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobHash({})", self.to_hex())
    }
}

impl fmt::Display for BlobHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for BlobHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for BlobHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        BlobHash::from_hex(&s).ok_or_else(|| serde::de::Error::custom("invalid blob hash"))
    }
}

/// How a blob's decoded content is turned back into the exact bytes of the raw message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlobEncoding {
    /// The stored bytes are the raw bytes.
    Identity,
    /// Standard base64 with padding, `line_len` characters per line (a multiple of 4),
    /// lines separated by CRLF (`crlf`) or LF, and a line ending after the last line
    /// when `final_newline`.
    Base64 {
        line_len: u32,
        crlf: bool,
        final_newline: bool,
    },
}

impl BlobEncoding {
    /// Length of the encoded form of `decoded_len` bytes. Empty content encodes to
    /// nothing (no line break either).
    pub fn encoded_len(&self, decoded_len: u64) -> u64 {
        match *self {
            BlobEncoding::Identity => decoded_len,
            BlobEncoding::Base64 {
                line_len,
                crlf,
                final_newline,
            } => {
                if decoded_len == 0 {
                    return 0;
                }
                let line = effective_line_len(line_len);
                let chars = decoded_len.div_ceil(3) * 4;
                let lines = chars.div_ceil(line);
                let breaks = lines - 1 + u64::from(final_newline);
                chars + breaks * if crlf { 2 } else { 1 }
            }
        }
    }
}

/// The line length actually used for `line_len`: a positive multiple of 4
/// (other values, which [`split`] never produces, are rounded up).
pub(crate) fn effective_line_len(line_len: u32) -> u64 {
    u64::from(line_len.max(1)).div_ceil(4) * 4
}

/// One run of the raw message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Segment {
    /// `len` bytes of the skeleton starting at `offset`.
    Inline { offset: u64, len: u64 },
    /// A blob, encoded back with `encoding`; `encoded_len` bytes in the raw message.
    Blob {
        hash: BlobHash,
        decoded_len: u64,
        encoding: BlobEncoding,
        encoded_len: u64,
    },
}

/// The recipe for the raw message: segments in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Layout {
    pub segments: Vec<Segment>,
}

/// One step of serving a byte range, produced by [`Layout::plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Copy `len` skeleton bytes from `offset`.
    Skeleton { offset: u64, len: u64 },
    /// Read the blob's decoded bytes `decoded_start..decoded_end`, encode them with
    /// an [`Encoder`] started at `decoded_start` (always a line boundary of the
    /// encoded form), drop the first `skip` encoded bytes and keep `take` bytes.
    Blob {
        hash: BlobHash,
        encoding: BlobEncoding,
        decoded_len: u64,
        decoded_start: u64,
        decoded_end: u64,
        skip: u64,
        take: u64,
    },
}

impl Layout {
    /// Total length of the raw message.
    pub fn len(&self) -> u64 {
        self.segments
            .iter()
            .map(|s| match s {
                Segment::Inline { len, .. } => *len,
                Segment::Blob { encoded_len, .. } => *encoded_len,
            })
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Distinct blobs this layout references.
    pub fn blob_hashes(&self) -> Vec<BlobHash> {
        let mut v: Vec<BlobHash> = self
            .segments
            .iter()
            .filter_map(|s| match s {
                Segment::Blob { hash, .. } => Some(*hash),
                Segment::Inline { .. } => None,
            })
            .collect();
        v.sort();
        v.dedup();
        v
    }
}
