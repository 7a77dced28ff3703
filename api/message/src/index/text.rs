//! What the API and search need from the bodies: the plain-text and html bodies,
//! the attachment list with IMAP part numbers, and the searchable text.
//!
//! Rules:
//! - An inline text part is a text/plain or text/html leaf whose disposition is
//!   absent or `inline` (WildDuck's rule); its decoded text goes to `text` /
//!   `html`. Bodies inside an attached message/rfc822 are not the message's own.
//! - Every other leaf, and every message/rfc822 part (as one attachment, not
//!   descended), is an attachment, numbered ATT00001... in message order.
//! - `related` is set when the part's disposition is inline or an html body
//!   references its Content-ID with `cid:`.
//! - Search text covers every text/* leaf of the whole tree, nested messages and
//!   text attachments included; html is converted to text first.

use mail_parser::decoders::html::html_to_text;

use super::content::param_decoded;
use super::decode::charset_decode;
use crate::index::{AttachmentInfo, BodyPart, PartKind};
use crate::transfer::{decode_body, decoded_len};

pub(crate) struct BodyText {
    pub text: Option<String>,
    pub html: Vec<String>,
    pub attachments: Vec<AttachmentInfo>,
    pub search_body: String,
}

/// A text part's content, transfer-decoded and charset-decoded.
pub(crate) fn part_text(part: &BodyPart, raw: &[u8]) -> String {
    let body = body_of(part, raw);
    let bytes = decode_body(part, body);
    let charset = part
        .params
        .iter()
        .find(|(n, _)| n == "charset")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    charset_decode(charset, &bytes)
}

fn body_of<'a>(part: &BodyPart, raw: &'a [u8]) -> &'a [u8] {
    raw.get(part.body_start as usize..part.body_end as usize)
        .unwrap_or_default()
}

struct Walker<'a> {
    raw: &'a [u8],
    texts: Vec<String>,
    html: Vec<String>,
    attachments: Vec<AttachmentInfo>,
}

impl Walker<'_> {
    /// A message's parts: the children of a multipart root are numbered from 1;
    /// a non-multipart root is part 1.
    fn message(&mut self, root: &BodyPart, prefix: &mut Vec<u32>) {
        match &root.kind {
            PartKind::Multipart(children) => self.children(children, prefix),
            _ => {
                prefix.push(1);
                self.part(root, prefix);
                prefix.pop();
            }
        }
    }

    fn children(&mut self, children: &[BodyPart], prefix: &mut Vec<u32>) {
        for (i, child) in children.iter().enumerate() {
            prefix.push(i as u32 + 1);
            self.part(child, prefix);
            prefix.pop();
        }
    }

    fn part(&mut self, part: &BodyPart, path: &mut Vec<u32>) {
        match &part.kind {
            PartKind::Multipart(children) => self.children(children, path),
            PartKind::Message { .. } => self.attachment(part, path),
            PartKind::Leaf => {
                let disposition = part.disposition.as_ref().map(|(d, _)| d.as_str());
                let inline = disposition.is_none_or(|d| d == "inline");
                let is_text = part.media_type == "text";
                match (is_text, part.media_subtype.as_str()) {
                    (true, "plain") if inline => {
                        push_nonempty(&mut self.texts, part_text(part, self.raw))
                    }
                    (true, "html") if inline => {
                        push_nonempty(&mut self.html, part_text(part, self.raw))
                    }
                    _ => self.attachment(part, path),
                }
            }
        }
    }

    fn attachment(&mut self, part: &BodyPart, path: &[u32]) {
        let body = body_of(part, self.raw);
        let size = match part.kind {
            PartKind::Leaf => decoded_len(&part.encoding, body),
            _ => body.len() as u64,
        };
        let disp_params = part.disposition.as_ref().map(|(_, p)| p.as_slice());
        let filename = disp_params
            .and_then(|p| param_decoded(p, "filename"))
            .or_else(|| param_decoded(&part.params, "name"))
            .filter(|f| !f.is_empty());
        let content_id = part
            .id
            .as_deref()
            .map(|id| {
                id.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .trim()
                    .to_string()
            })
            .filter(|id| !id.is_empty());
        self.attachments.push(AttachmentInfo {
            id: format!("ATT{:05}", self.attachments.len() + 1),
            filename,
            content_type: format!("{}/{}", part.media_type, part.media_subtype),
            disposition: part.disposition.as_ref().map(|(d, _)| d.clone()),
            transfer_encoding: part.encoding.to_ascii_lowercase(),
            size,
            content_id,
            related: false,
            part: path
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join("."),
            blob: None,
        });
    }
}

fn push_nonempty(v: &mut Vec<String>, s: String) {
    if !s.trim().is_empty() {
        v.push(s);
    }
}

/// Every text/* leaf of the tree, decoded, for search.
fn search_text(part: &BodyPart, raw: &[u8], out: &mut String) {
    match &part.kind {
        PartKind::Multipart(children) => {
            for c in children {
                search_text(c, raw, out);
            }
        }
        PartKind::Message { root, .. } => search_text(root, raw, out),
        PartKind::Leaf if part.media_type == "text" => {
            let t = part_text(part, raw);
            let t = if part.media_subtype == "html" {
                html_to_text(&t)
            } else {
                t
            };
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&t);
        }
        PartKind::Leaf => {}
    }
}

pub(crate) fn extract(raw: &[u8], root: &BodyPart) -> BodyText {
    let mut w = Walker {
        raw,
        texts: Vec::new(),
        html: Vec::new(),
        attachments: Vec::new(),
    };
    w.message(root, &mut Vec::new());

    let html_lower: Vec<String> = w.html.iter().map(|h| h.to_ascii_lowercase()).collect();
    for a in &mut w.attachments {
        let inline = a.disposition.as_deref() == Some("inline");
        let referenced = a.content_id.as_ref().is_some_and(|cid| {
            let needle = format!("cid:{}", cid.to_ascii_lowercase());
            html_lower.iter().any(|h| h.contains(&needle))
        });
        a.related = inline || referenced;
    }

    let mut search_body = String::new();
    search_text(root, raw, &mut search_body);

    BodyText {
        text: (!w.texts.is_empty()).then(|| w.texts.join("\n")),
        html: w.html,
        attachments: w.attachments,
        search_body,
    }
}
