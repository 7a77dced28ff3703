//! Eider's message model: parse once at ingest, keep what every reader needs,
//! split the raw message into a compressed skeleton plus content-addressed
//! attachment blobs, and reassemble it byte-for-byte (whole or by range).
//!
//! This crate is pure and synchronous: no I/O, no async. The service layer
//! fetches blobs from its store and drives the streaming reassembly plan.

pub mod compose;
mod error;
pub mod imap_render;
pub mod index;
pub mod layout;
pub mod pgp_mime;
mod transfer;

pub use compose::{compose_dsn, Dsn, DsnRecipient};
pub use error::MessageError;
pub use index::{
    base_subject, parse_addresses, Address, AttachmentInfo, BodyPart, Envelope, EnvelopeAddress,
    HeaderLine, MessageIndex, PartKind, SortKeys, LISTING_TEXT_CHARS,
};
pub use layout::{read_range, reassemble, BlobEncoding, BlobHash, Encoder, Layout, Piece, Segment};
pub use pgp_mime::{is_encrypted, pgp_mime};
pub use transfer::{decode_body, decode_transfer};

/// Limits applied while ingesting untrusted input.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Leaf bodies at least this large (decoded) are moved to the blob store.
    pub blob_threshold: usize,
    /// Deepest MIME nesting that is indexed; deeper parts are kept as opaque bodies.
    /// Capped at 256 whatever the setting, to bound recursion.
    pub max_depth: usize,
}

impl Default for IngestOptions {
    fn default() -> Self {
        Self {
            blob_threshold: 2048,
            max_depth: 128,
        }
    }
}

/// A blob extracted from a message: decoded content keyed by its sha256.
#[derive(Debug, Clone)]
pub struct ExtractedBlob {
    pub hash: BlobHash,
    pub data: Vec<u8>,
}

/// The result of ingesting one raw message.
#[derive(Debug, Clone)]
pub struct Ingested {
    /// Everything readers need without re-parsing (ENVELOPE, BODYSTRUCTURE, text, html, ...).
    pub index: MessageIndex,
    /// How to rebuild the raw bytes from the skeleton and the blobs.
    pub layout: Layout,
    /// The raw bytes that are not in any blob, concatenated in order.
    pub skeleton: Vec<u8>,
    /// Distinct blobs referenced by `layout` (deduplicated within the message).
    pub blobs: Vec<ExtractedBlob>,
}

/// Parse, index and split `raw`. Never fails on malformed MIME: whatever cannot be
/// understood is indexed as best it can and stored raw. Fails only on empty input.
///
/// Each blob segment is verified to re-encode to the original bytes before it is
/// chosen, so reassembly is exact. Attachments whose body went to a blob get its
/// hash in [`AttachmentInfo::blob`].
pub fn ingest(raw: &[u8], opts: &IngestOptions) -> Result<Ingested, MessageError> {
    let mut index = index::build(raw, opts)?;
    let split = layout::split::split_parts(raw, &index.root, opts);
    let blobs: Vec<Option<BlobHash>> = index
        .attachments
        .iter()
        .map(|a| {
            let path: Option<Vec<u32>> = a.part.split('.').map(|n| n.parse().ok()).collect();
            let part = index.section(&path?)?;
            if !matches!(part.kind, PartKind::Leaf) {
                return None;
            }
            split
                .by_body_start
                .iter()
                .find(|(start, _)| *start == part.body_start)
                .map(|(_, hash)| *hash)
        })
        .collect();
    for (a, blob) in index.attachments.iter_mut().zip(blobs) {
        a.blob = blob;
    }
    Ok(Ingested {
        index,
        layout: split.layout,
        skeleton: split.skeleton,
        blobs: split.blobs,
    })
}
