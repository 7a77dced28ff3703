//! How a stored message is shown: listing entries and the parsed message.

use std::collections::BTreeMap;

use eider_service::message::{Address as IndexAddress, MessageIndex};
use eider_service::model::{MessageMeta, StoredMessage};
use serde::Serialize;
use utoipa::ToSchema;

use crate::sanitize::{html_to_text, sanitize_html};
use crate::schema::{self, iso};

/// A sender or recipient.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Address {
    /// Name of the sender/recipient
    pub name: String,
    /// Address of the sender/recipient
    pub address: String,
}

fn address(a: &IndexAddress) -> Address {
    Address {
        name: a.name.clone(),
        address: a.address.clone(),
    }
}

fn addresses(list: &[IndexAddress]) -> Vec<Address> {
    list.iter().map(address).collect()
}

/// Parsed Content-Type header.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ContentType {
    /// MIME type of the message, eg. "multipart/mixed"
    pub value: String,
    /// Content-Type params as key-value pairs
    pub params: BTreeMap<String, String>,
}

fn content_type(index: &MessageIndex) -> ContentType {
    ContentType {
        value: format!("{}/{}", index.root.media_type, index.root.media_subtype),
        params: index.root.params.iter().cloned().collect(),
    }
}

/// Flags as WildDuck's booleans.
struct FlagView {
    seen: bool,
    deleted: bool,
    flagged: bool,
    draft: bool,
    answered: bool,
    forwarded: bool,
}

fn flags(meta: &MessageMeta) -> FlagView {
    let forwarded = meta.has_flag("$Forwarded");
    FlagView {
        seen: meta.seen(),
        deleted: meta.has_flag("\\Deleted"),
        flagged: meta.has_flag("\\Flagged"),
        draft: meta.has_flag("\\Draft"),
        answered: meta.has_flag("\\Answered") && !forwarded,
        forwarded,
    }
}

/// The first 128 characters of the text (or of the html's text), whitespace collapsed.
fn intro(index: &MessageIndex) -> String {
    let text = match index.text.as_deref() {
        Some(t) => t.to_string(),
        None => index
            .html
            .first()
            .map(|h| html_to_text(h))
            .unwrap_or_default(),
    };
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out: String = collapsed.chars().take(128).collect();
    if collapsed.chars().count() > 128 {
        out.push('…');
    }
    out
}

fn sender(index: &MessageIndex) -> Option<Address> {
    index
        .from
        .first()
        .or_else(|| index.sender.first())
        .map(address)
}

fn header_date(meta: &MessageMeta) -> String {
    iso(&meta.header_date.unwrap_or(meta.internal_date))
}

/// Header values for `includeHeaders`: lower-case key to value (or values).
fn selected_headers(
    index: &MessageIndex,
    wanted: &[String],
) -> BTreeMap<String, serde_json::Value> {
    let mut out = BTreeMap::new();
    for key in wanted {
        let values: Vec<serde_json::Value> = index
            .headers
            .iter()
            .filter(|h| h.key.eq_ignore_ascii_case(key) || key == "*")
            .map(|h| serde_json::Value::String(h.value.clone()))
            .collect();
        if key == "*" {
            for h in &index.headers {
                out.entry(h.key.to_ascii_lowercase())
                    .or_insert_with(|| serde_json::Value::String(h.value.clone()));
            }
        } else if values.len() == 1 {
            out.insert(key.clone(), values.into_iter().next().unwrap_or_default());
        } else if !values.is_empty() {
            out.insert(key.clone(), serde_json::Value::Array(values));
        }
    }
    out
}

/// One message of a listing or search.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageListItem {
    /// ID (UID) of the Message in its mailbox
    pub id: u32,
    /// ID of the Mailbox
    pub mailbox: String,
    /// ID of the Thread
    pub thread: String,
    /// Amount of messages in the Thread (with `threadCounters`)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread_message_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Address>,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    pub bcc: Vec<Address>,
    /// Message ID
    pub message_id: String,
    pub subject: String,
    /// Date string from header
    pub date: String,
    /// Date string of receive time
    pub idate: String,
    /// First 128 characters of the message text
    pub intro: String,
    /// Does the message have attachments
    pub attachments: bool,
    /// Message size in bytes
    pub size: u64,
    pub seen: bool,
    pub deleted: bool,
    pub flagged: bool,
    pub draft: bool,
    pub answered: bool,
    pub forwarded: bool,
    /// Message-IDs from the References header
    pub references: Vec<String>,
    pub content_type: ContentType,
    /// Custom metadata value (with `metaData`)
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = schema::any_object_schema)]
    pub meta_data: Option<serde_json::Value>,
    /// Header values requested with `includeHeaders`
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = schema::any_object_schema)]
    pub headers: Option<BTreeMap<String, serde_json::Value>>,
}

/// Options of a listing entry.
#[derive(Debug, Default, Clone)]
pub struct ListOptions {
    pub meta_data: bool,
    pub include_headers: Vec<String>,
}

pub fn list_item(
    meta: &MessageMeta,
    index: &MessageIndex,
    opts: &ListOptions,
    thread_count: Option<u64>,
) -> MessageListItem {
    let f = flags(meta);
    MessageListItem {
        id: meta.uid,
        mailbox: meta.mailbox.to_hex(),
        thread: meta.thread.to_hex(),
        thread_message_count: thread_count,
        from: sender(index),
        to: addresses(&index.to),
        cc: addresses(&index.cc),
        bcc: addresses(&index.bcc),
        message_id: index
            .message_id
            .as_ref()
            .map(|id| format!("<{id}>"))
            .unwrap_or_default(),
        subject: index.subject.clone(),
        date: header_date(meta),
        idate: iso(&meta.internal_date),
        intro: intro(index),
        attachments: meta.has_attachments,
        size: meta.size,
        seen: f.seen,
        deleted: f.deleted,
        flagged: f.flagged,
        draft: f.draft,
        answered: f.answered,
        forwarded: f.forwarded,
        references: index.references.iter().map(|r| format!("<{r}>")).collect(),
        content_type: content_type(index),
        meta_data: opts.meta_data.then(|| meta.meta_data.clone()),
        headers: (!opts.include_headers.is_empty())
            .then(|| selected_headers(index, &opts.include_headers)),
    }
}

/// SMTP envelope, when known (from Return-Path and Delivered-To).
#[derive(Debug, Serialize, ToSchema)]
pub struct Envelope {
    /// Address from MAIL FROM
    pub from: String,
    /// Addresses from RCPT TO
    pub rcpt: Vec<Rcpt>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Rcpt {
    /// RCPT TO address as provided by SMTP client
    pub value: String,
    /// Normalized RCPT address
    pub formatted: String,
}

/// Mailing list information
#[derive(Debug, Serialize, ToSchema)]
pub struct ListInfo {
    /// Value from List-ID header
    pub id: String,
    /// Value from List-Unsubscribe header
    pub unsubscribe: String,
}

/// An attachment of a parsed message.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentInfo {
    /// Attachment ID ("ATT00001")
    pub id: String,
    /// SHA-256 hash of the contents of the attachment
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    pub filename: String,
    /// MIME type
    pub content_type: String,
    /// Attachment disposition
    pub disposition: String,
    /// Which transfer encoding was used (downloads are decoded)
    pub transfer_encoding: String,
    /// Was this attachment found from a multipart/related node or referenced by cid
    pub related: bool,
    /// Approximate size of the attachment in kilobytes
    pub size_kb: u64,
    /// Content-ID, when set
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cid: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetMessageResponse {
    pub success: bool,
    /// Message ID (UID)
    pub id: u32,
    /// ID of the Mailbox
    pub mailbox: String,
    /// ID of the User
    pub user: String,
    pub envelope: Envelope,
    /// ID of the Thread
    pub thread: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Address>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reply_to: Vec<Address>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<Address>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cc: Vec<Address>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bcc: Vec<Address>,
    pub subject: String,
    /// Message-ID header
    pub message_id: String,
    /// Date string from header
    pub date: String,
    /// Date string of receive time
    pub idate: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list: Option<ListInfo>,
    pub size: u64,
    /// If set then this message is automatically deleted after this time
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    pub seen: bool,
    pub deleted: bool,
    pub flagged: bool,
    pub draft: bool,
    pub answered: bool,
    pub forwarded: bool,
    /// All flags and keywords of the message
    pub flags: Vec<String>,
    /// Sanitized HTML, one entry per html part
    pub html: Vec<String>,
    /// Plaintext content of the message
    pub text: String,
    pub attachments: Vec<AttachmentInfo>,
    pub content_type: ContentType,
    #[schema(schema_with = schema::any_object_schema)]
    pub meta_data: serde_json::Value,
    /// Message-IDs from the References header
    pub references: Vec<String>,
    /// In-Reply-To Message-ID, when set
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<String>,
    /// Top-level header fields in order, decoded
    pub headers: Vec<HeaderEntry>,
    pub encrypted: bool,
}

/// One header field.
#[derive(Debug, Serialize, ToSchema)]
pub struct HeaderEntry {
    pub key: String,
    pub value: String,
}

fn header<'a>(index: &'a MessageIndex, key: &str) -> Option<&'a str> {
    index
        .headers
        .iter()
        .find(|h| h.key.eq_ignore_ascii_case(key))
        .map(|h| h.value.as_str())
}

fn angle_stripped(v: &str) -> String {
    v.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_string()
}

/// Replace `cid:` references with links to the attachment downloads.
fn replace_cids(html: &str, index: &MessageIndex, base: &str) -> String {
    let mut out = html.to_string();
    for a in &index.attachments {
        if let Some(cid) = a.content_id.as_deref() {
            let cid = angle_stripped(cid);
            if !cid.is_empty() {
                out = out.replace(
                    &format!("cid:{cid}"),
                    &format!("{base}/attachments/{}", a.id),
                );
            }
        }
    }
    out
}

/// The parsed message (GET .../messages/{message}). `base` is the message's URL
/// path, used when `replace_cid_links` is set.
pub fn parsed_message(
    m: &StoredMessage,
    replace_cid_links: bool,
    base: &str,
) -> GetMessageResponse {
    let meta = &m.meta;
    let index = &m.index;
    let f = flags(meta);
    let html = index
        .html
        .iter()
        .map(|h| {
            let h = if replace_cid_links {
                replace_cids(h, index, base)
            } else {
                h.clone()
            };
            sanitize_html(&h)
        })
        .collect();
    let envelope = Envelope {
        from: header(index, "return-path")
            .map(angle_stripped)
            .unwrap_or_default(),
        rcpt: index
            .headers
            .iter()
            .filter(|h| h.key.eq_ignore_ascii_case("delivered-to"))
            .map(|h| Rcpt {
                value: h.value.trim().to_string(),
                formatted: h.value.trim().to_lowercase(),
            })
            .collect(),
    };
    let list = match (index.list_id.as_ref(), header(index, "list-unsubscribe")) {
        (None, None) => None,
        (id, unsub) => Some(ListInfo {
            id: id.cloned().unwrap_or_default(),
            unsubscribe: unsub.map(str::to_string).unwrap_or_default(),
        }),
    };
    let ctype = content_type(index);
    let encrypted = ctype.value == "multipart/encrypted";
    GetMessageResponse {
        success: true,
        id: meta.uid,
        mailbox: meta.mailbox.to_hex(),
        user: meta.user.to_hex(),
        envelope,
        thread: meta.thread.to_hex(),
        from: sender(index),
        reply_to: addresses(&index.reply_to),
        to: addresses(&index.to),
        cc: addresses(&index.cc),
        bcc: addresses(&index.bcc),
        subject: index.subject.clone(),
        message_id: index
            .message_id
            .as_ref()
            .map(|id| format!("<{id}>"))
            .unwrap_or_default(),
        date: header_date(meta),
        idate: iso(&meta.internal_date),
        list,
        size: meta.size,
        expires: meta.expires.as_ref().map(iso),
        seen: f.seen,
        deleted: f.deleted,
        flagged: f.flagged,
        draft: f.draft,
        answered: f.answered,
        forwarded: f.forwarded,
        flags: meta.flags.clone(),
        html,
        text: index.text.clone().unwrap_or_default(),
        attachments: index
            .attachments
            .iter()
            .map(|a| AttachmentInfo {
                id: a.id.clone(),
                hash: a.blob.map(|b| b.to_hex()),
                filename: a.filename.clone().unwrap_or_else(|| a.id.clone()),
                content_type: a.content_type.clone(),
                disposition: a.disposition.clone().unwrap_or_else(|| "attachment".into()),
                transfer_encoding: a.transfer_encoding.to_ascii_lowercase(),
                related: a.related,
                size_kb: a.size.div_ceil(1024),
                cid: a.content_id.as_deref().map(angle_stripped),
            })
            .collect(),
        content_type: ctype,
        meta_data: meta.meta_data.clone(),
        references: index.references.iter().map(|r| format!("<{r}>")).collect(),
        in_reply_to: index.in_reply_to.as_ref().map(|r| format!("<{r}>")),
        headers: index
            .headers
            .iter()
            .map(|h| HeaderEntry {
                key: h.key.clone(),
                value: h.value.clone(),
            })
            .collect(),
        encrypted,
    }
}
