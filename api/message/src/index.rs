//! What ingest computes once so that no reader has to parse MIME again.

use serde::{Deserialize, Serialize};

use crate::{layout::BlobHash, IngestOptions, MessageError};

/// A mailbox address as found in a header, decoded (RFC 2047) for display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Address {
    /// Display name, decoded; empty when absent.
    pub name: String,
    /// `local@domain` as written (an empty string for a group marker).
    pub address: String,
}

/// RFC 3501 ENVELOPE fields, structured. Strings are the raw (undecoded)
/// header values where RFC 3501 wants them raw (subject, message-id, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Envelope {
    pub date: Option<String>,
    pub subject: Option<String>,
    pub from: Vec<EnvelopeAddress>,
    pub sender: Vec<EnvelopeAddress>,
    pub reply_to: Vec<EnvelopeAddress>,
    pub to: Vec<EnvelopeAddress>,
    pub cc: Vec<EnvelopeAddress>,
    pub bcc: Vec<EnvelopeAddress>,
    pub in_reply_to: Option<String>,
    pub message_id: Option<String>,
}

/// One address of an ENVELOPE: (name adl mailbox host); group start/end markers
/// are expressed with `host == None` as RFC 3501 section 7.4.2 says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct EnvelopeAddress {
    pub name: Option<String>,
    pub adl: Option<String>,
    pub mailbox: Option<String>,
    pub host: Option<String>,
}

/// One top-level header field: the name as written and the value, unfolded and decoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderLine {
    pub key: String,
    pub value: String,
}

/// A node of the MIME tree with absolute byte offsets into the raw message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BodyPart {
    /// First byte of this part's header.
    pub header_start: u64,
    /// First byte of the body (just after the blank line ending the header).
    pub body_start: u64,
    /// One past the last byte of the body (excludes the CRLF before a boundary).
    pub body_end: u64,
    /// Lower-case media type and subtype ("text", "plain").
    pub media_type: String,
    pub media_subtype: String,
    /// Content-Type parameters, names lower-cased, values as written (unquoted).
    pub params: Vec<(String, String)>,
    pub id: Option<String>,
    pub description: Option<String>,
    /// Content-Transfer-Encoding as written, upper-cased ("7BIT" when absent).
    pub encoding: String,
    pub md5: Option<String>,
    pub disposition: Option<(String, Vec<(String, String)>)>,
    pub language: Option<Vec<String>>,
    pub location: Option<String>,
    /// Body size in octets (body_end - body_start).
    pub size: u64,
    /// Number of lines in the body (text/* and message/rfc822 report it in BODYSTRUCTURE).
    pub lines: u64,
    pub kind: PartKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PartKind {
    Leaf,
    Multipart(Vec<BodyPart>),
    /// message/rfc822: the encapsulated message's envelope and its root part
    /// (whose `header_start` equals this part's `body_start`).
    Message {
        envelope: Box<Envelope>,
        root: Box<BodyPart>,
    },
}

/// An attachment as listed by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentInfo {
    /// Stable id within the message: "ATT00001", "ATT00002", ...
    pub id: String,
    pub filename: Option<String>,
    pub content_type: String,
    pub disposition: Option<String>,
    pub transfer_encoding: String,
    /// Decoded size in bytes.
    pub size: u64,
    pub content_id: Option<String>,
    /// True when referenced from the html body (cid:) or disposition inline.
    pub related: bool,
    /// IMAP section path of the part ("2", "1.3").
    pub part: String,
    /// The blob holding the decoded content, when the body was moved to the blob store.
    pub blob: Option<BlobHash>,
}

/// Everything readers need, computed once at ingest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageIndex {
    /// RFC822.SIZE: the exact length of the raw message.
    pub size: u64,
    pub envelope: Envelope,
    /// RFC 3501 ENVELOPE, rendered.
    pub imap_envelope: String,
    /// RFC 3501 BODYSTRUCTURE (extended form), rendered.
    pub imap_bodystructure: String,
    /// RFC 3501 BODY (non-extended form), rendered.
    pub imap_body: String,
    pub root: BodyPart,
    /// Top-level header fields in order.
    pub headers: Vec<HeaderLine>,
    /// Decoded subject ("" when absent).
    pub subject: String,
    pub from: Vec<Address>,
    pub sender: Vec<Address>,
    pub reply_to: Vec<Address>,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    pub bcc: Vec<Address>,
    /// Date header as unix seconds, when present and parseable.
    pub date: Option<i64>,
    /// Message-ID without angle brackets.
    pub message_id: Option<String>,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    pub list_id: Option<String>,
    /// Subject normalized for threading (no Re:/Fwd: prefixes, list tags, case folded).
    pub thread_subject: String,
    /// Plain-text body (all inline text/plain parts joined), if any.
    pub text: Option<String>,
    /// Html bodies (inline text/html parts, unsanitized; the API sanitizes).
    pub html: Vec<String>,
    pub attachments: Vec<AttachmentInfo>,
    /// Decoded header text for SEARCH HEADER/TEXT (one "Key: value" per line).
    pub search_headers: String,
    /// Decoded text of every text part, for SEARCH BODY/TEXT.
    pub search_body: String,
}

impl MessageIndex {
    /// The part addressed by an IMAP section path like [2, 1]; `[]` is the root.
    pub fn section(&self, path: &[u32]) -> Option<&BodyPart> {
        index_section(&self.root, path)
    }
}

fn index_section<'a>(part: &'a BodyPart, path: &[u32]) -> Option<&'a BodyPart> {
    let Some((&first, rest)) = path.split_first() else {
        return Some(part);
    };
    match &part.kind {
        PartKind::Multipart(children) => {
            let child = children.get((first as usize).checked_sub(1)?)?;
            index_section(child, rest)
        }
        // Per RFC 3501, the parts of a message/rfc822 are those of its body.
        PartKind::Message { root, .. } => match &root.kind {
            PartKind::Multipart(_) => index_section(root, path),
            _ if first == 1 => index_section(root, rest),
            _ => None,
        },
        // A non-multipart part has exactly one part: itself, numbered 1.
        PartKind::Leaf if first == 1 => index_section(part, rest),
        PartKind::Leaf => None,
    }
}

/// Parse `raw` and compute its index.
pub fn build(raw: &[u8], opts: &IngestOptions) -> Result<MessageIndex, MessageError> {
    if raw.is_empty() {
        return Err(MessageError::Empty);
    }
    let _ = opts;
    todo!("implemented by the message model work")
}
