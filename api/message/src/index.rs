//! What ingest computes once so that no reader has to parse MIME again.

mod address;
mod content;
mod decode;
mod envelope;
mod fields;
mod lines;
mod mime;
mod sort;
mod text;
mod thread;

pub use sort::{base_subject, SortKeys, MAX_SORT_KEY, MAX_SORT_REFS};

use serde::{Deserialize, Serialize};

use crate::{imap_render, layout::BlobHash, IngestOptions, MessageError};

// Limits on what is indexed from a header section. The raw bytes are always
// stored byte-exact (BODY[], message.eml and RETR return them whole); these bound
// what ingest decodes and keeps for readers, so that a message with a 20 MB
// address list or 200,000 header fields costs a small constant times its size to
// ingest and yields an index every reader can load (WildDuck likewise truncates
// the header values it indexes).

/// Header fields of one header section that are indexed; past it, only the first
/// occurrence of the fields ENVELOPE, BODYSTRUCTURE and delivery need.
pub const MAX_INDEXED_FIELDS: usize = 1_000;
/// Bytes of one raw header value that are parsed and indexed (the rest of the
/// value is ignored by the index: decoded text, addresses, ENVELOPE, search).
pub const MAX_INDEXED_VALUE: usize = 64 * 1024;
/// Entries of one address list (From, To, Cc, ...) that are indexed and listed in
/// ENVELOPE; group markers count.
pub const MAX_INDEXED_ADDRESSES: usize = 1_000;
/// Total bytes of decoded header values kept in [`MessageIndex::headers`] (and
/// so in the search text); values past it are cut, keys are kept.
pub const MAX_INDEXED_HEADER_TEXT: usize = 1024 * 1024;

/// A mailbox address as found in a header, decoded (RFC 2047) for display.
/// A group (`Team: a@x, b@y;`) appears as a marker entry with the group's name
/// and an empty `address`, followed by its members.
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
    /// RFC 2231 continuations are merged; an extended value stays encoded under
    /// `name*` (`utf-8''%E2%82%AC.pdf`). text/* parts without a charset get
    /// `charset=us-ascii` (the RFC 2046 default), as Dovecot reports it.
    pub params: Vec<(String, String)>,
    pub id: Option<String>,
    pub description: Option<String>,
    /// Content-Transfer-Encoding as written, upper-cased ("7BIT" when absent).
    pub encoding: String,
    pub md5: Option<String>,
    /// Content-Disposition type (lower-cased) and parameters (as `params`).
    pub disposition: Option<(String, Vec<(String, String)>)>,
    pub language: Option<Vec<String>>,
    pub location: Option<String>,
    /// Body size in octets (body_end - body_start).
    pub size: u64,
    /// Number of lines in the body (text/* and message/rfc822 report it in
    /// BODYSTRUCTURE): the number of LF bytes in the body, as Dovecot counts — a
    /// last line without a line break is not counted, and the line break before a
    /// MIME delimiter belongs to the delimiter, not to the body.
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
    /// `type/subtype`, lower-case.
    pub content_type: String,
    /// Disposition type, lower-case (`attachment`, `inline`).
    pub disposition: Option<String>,
    /// Content-Transfer-Encoding, lower-case (`base64`, `7bit`).
    pub transfer_encoding: String,
    /// Decoded size in bytes.
    pub size: u64,
    /// Content-ID without angle brackets.
    pub content_id: Option<String>,
    /// True when referenced from the html body (cid:) or disposition inline.
    pub related: bool,
    /// IMAP section path of the part ("2", "1.3").
    pub part: String,
    /// The blob holding the decoded content, when the body was moved to the blob store
    /// (filled by [`crate::ingest`]; [`build`] alone leaves it `None`).
    pub blob: Option<BlobHash>,
}

/// Everything readers need, computed once at ingest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageIndex {
    /// RFC822.SIZE: the exact length of the raw message.
    pub size: u64,
    pub envelope: Envelope,
    /// RFC 3501 ENVELOPE, rendered with its outer parentheses (see `imap_render`
    /// for the string/literal and case rules).
    pub imap_envelope: String,
    /// RFC 3501 BODYSTRUCTURE (extended form), rendered with its outer parentheses.
    pub imap_bodystructure: String,
    /// RFC 3501 BODY (non-extended form), rendered with its outer parentheses.
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
    /// To, Cc or Bcc names more addresses than the index keeps (see
    /// [`MAX_INDEXED_ADDRESSES`], [`MAX_INDEXED_VALUE`]): `to`, `cc` and `bcc` are
    /// not the complete recipient list.
    #[serde(default)]
    pub recipients_truncated: bool,
}

/// Characters of collapsed text a listing keeps: a message list shows an intro of
/// the first 128 characters and an ellipsis when there are more.
pub const LISTING_TEXT_CHARS: usize = 129;

impl MessageIndex {
    /// What a message list shows, and nothing it does not: subject, addresses,
    /// Message-ID and References, the top-level content type and header fields, and
    /// of the text its start with white space collapsed ([`LISTING_TEXT_CHARS`]
    /// characters; the html only of a message without text). Stored beside the
    /// content at ingest, so a list of 20 messages reads a few KB instead of 20
    /// whole indexes and search texts.
    pub fn listing(&self) -> MessageIndex {
        let mut root = self.root.clone();
        root.kind = PartKind::Leaf;
        // The collapsed text (words joined by one space) up to LISTING_TEXT_CHARS,
        // never ending in a space, so collapsing it again changes nothing.
        let text = self.text.as_deref().map(|t| {
            let mut out = String::new();
            let (mut n, mut gap) = (0, false);
            for c in t.chars() {
                if c.is_whitespace() {
                    gap = n > 0;
                    continue;
                }
                if n >= LISTING_TEXT_CHARS {
                    break;
                }
                if gap {
                    out.push(' ');
                    n += 1;
                    gap = false;
                }
                out.push(c);
                n += 1;
            }
            out
        });
        MessageIndex {
            size: self.size,
            envelope: Envelope::default(),
            imap_envelope: String::new(),
            imap_bodystructure: String::new(),
            imap_body: String::new(),
            root,
            headers: self.headers.clone(),
            subject: self.subject.clone(),
            from: self.from.clone(),
            sender: self.sender.clone(),
            reply_to: self.reply_to.clone(),
            to: self.to.clone(),
            cc: self.cc.clone(),
            bcc: self.bcc.clone(),
            date: self.date,
            message_id: self.message_id.clone(),
            in_reply_to: self.in_reply_to.clone(),
            references: self.references.clone(),
            list_id: self.list_id.clone(),
            thread_subject: String::new(),
            html: if text.is_none() {
                self.html.iter().take(1).cloned().collect()
            } else {
                Vec::new()
            },
            text,
            attachments: Vec::new(),
            search_headers: String::new(),
            search_body: String::new(),
            recipients_truncated: self.recipients_truncated,
        }
    }

    /// The part addressed by an IMAP section path like [2, 1]; `[]` is the root.
    ///
    /// Numbering follows RFC 3501 6.4.5: the parts of a message (this one, or one
    /// encapsulated in a message/rfc822 part) are the children of its multipart
    /// body, or its single non-multipart body as part 1; a multipart's children
    /// are numbered from 1; a non-multipart part also answers to `.1` (itself).
    pub fn section(&self, path: &[u32]) -> Option<&BodyPart> {
        self.root.section(path)
    }
}

impl BodyPart {
    /// The part addressed by an IMAP section path when `self` is a message's root
    /// part (see [`MessageIndex::section`]); `[]` is `self`.
    pub fn section(&self, path: &[u32]) -> Option<&BodyPart> {
        if path.is_empty() {
            return Some(self);
        }
        message_section(self, path)
    }
}

/// `path` (non-empty) within a message whose root part is `root`.
fn message_section<'a>(root: &'a BodyPart, path: &[u32]) -> Option<&'a BodyPart> {
    match &root.kind {
        PartKind::Multipart(_) => part_section(root, path),
        _ => {
            let (&first, rest) = path.split_first()?;
            if first != 1 {
                return None;
            }
            part_section(root, rest)
        }
    }
}

/// `path` below `part` (empty: `part` itself).
fn part_section<'a>(part: &'a BodyPart, path: &[u32]) -> Option<&'a BodyPart> {
    let Some((&first, rest)) = path.split_first() else {
        return Some(part);
    };
    match &part.kind {
        PartKind::Multipart(children) => {
            let child = children.get((first as usize).checked_sub(1)?)?;
            part_section(child, rest)
        }
        PartKind::Message { root, .. } => message_section(root, path),
        PartKind::Leaf if first == 1 => part_section(part, rest),
        PartKind::Leaf => None,
    }
}

/// Cut `s` to at most `max` bytes at a char boundary.
fn truncate_at_char(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

/// Headers whose value is an address list (indexed for search also in parsed form).
fn is_address_header(key: &str) -> bool {
    ["From", "Sender", "Reply-To", "To", "Cc", "Bcc"]
        .iter()
        .any(|n| key.eq_ignore_ascii_case(n))
}

/// Parse `raw` and compute its index. Never fails on malformed input; only an
/// empty message is refused. Attachment `blob` fields are left `None` here
/// ([`crate::ingest`] fills them from the layout).
pub fn build(raw: &[u8], opts: &IngestOptions) -> Result<MessageIndex, MessageError> {
    if raw.is_empty() {
        return Err(MessageError::Empty);
    }
    let root = mime::Parser::new(raw, opts.max_depth).parse();
    let top = fields::split_fields(&raw[..root.body_start as usize]);
    let envelope = envelope::envelope(&top);

    let mut budget = MAX_INDEXED_HEADER_TEXT;
    let headers: Vec<HeaderLine> = top
        .iter()
        .map(|f| {
            let mut value = if budget == 0 {
                String::new()
            } else {
                decode::decode_words(f.value)
            };
            truncate_at_char(&mut value, budget);
            budget -= value.len();
            HeaderLine {
                key: fields::lossy(f.name).trim().to_string(),
                value,
            }
        })
        .collect();
    let mut search_headers = String::new();
    for (h, f) in headers.iter().zip(&top) {
        search_headers.push_str(&h.key);
        search_headers.push_str(": ");
        search_headers.push_str(&h.value);
        if is_address_header(&h.key) {
            // Also the parsed form (comments and stray whitespace gone), so that
            // SEARCH FROM user@domain matches `<user (comment)@ domain>`.
            for a in address::decoded_addresses(&address::parse_list(f.value)) {
                search_headers.push(' ');
                if !a.name.is_empty() {
                    search_headers.push_str(&a.name);
                    search_headers.push(' ');
                }
                if !a.address.is_empty() {
                    search_headers.push('<');
                    search_headers.push_str(&a.address);
                    search_headers.push('>');
                }
            }
        }
        search_headers.push('\n');
    }
    let field = |name: &str| fields::first(&top, name).map(|f| f.value);
    let addresses = |name: &str| {
        field(name)
            .map(|v| address::decoded_addresses(&address::parse_list(v)))
            .unwrap_or_default()
    };
    let first_id = |name: &str| field(name).and_then(|v| decode::parse_ids(v).into_iter().next());
    let subject = field("Subject")
        .map(decode::decode_words)
        .unwrap_or_default();
    let list_id = field("List-ID").and_then(|v| {
        let v = fields::lossy(&fields::unfold(v));
        let id = match (v.rfind('<'), v.rfind('>')) {
            (Some(a), Some(b)) if a < b => v[a + 1..b].trim().to_string(),
            _ => v.trim().to_string(),
        };
        (!id.is_empty()).then_some(id)
    });

    let recipients_truncated = ["To", "Cc", "Bcc"].iter().any(|name| {
        fields::first(&top, name)
            .is_some_and(|f| f.cut || address::parse_list(f.value).len() >= MAX_INDEXED_ADDRESSES)
    });
    let body = text::extract(raw, &root);
    Ok(MessageIndex {
        size: raw.len() as u64,
        imap_envelope: imap_render::envelope(&envelope),
        imap_bodystructure: imap_render::body(&root, true),
        imap_body: imap_render::body(&root, false),
        envelope,
        thread_subject: thread::thread_subject(&subject),
        subject,
        from: addresses("From"),
        sender: addresses("Sender"),
        reply_to: addresses("Reply-To"),
        to: addresses("To"),
        cc: addresses("Cc"),
        bcc: addresses("Bcc"),
        date: field("Date").and_then(decode::parse_date),
        message_id: first_id("Message-ID"),
        in_reply_to: first_id("In-Reply-To"),
        references: field("References")
            .map(decode::parse_ids)
            .unwrap_or_default(),
        list_id,
        headers,
        text: body.text,
        html: body.html,
        attachments: body.attachments,
        search_headers,
        search_body: body.search_body,
        recipients_truncated,
        root,
    })
}

/// The mailboxes of one address-list header value (e.g. a From line's value, folded
/// or not), with decoded names; group markers are left out.
pub fn parse_addresses(value: &[u8]) -> Vec<Address> {
    address::decoded_addresses(&address::parse_list(value))
        .into_iter()
        .filter(|a| !a.address.is_empty())
        .collect()
}
