//! Compose an RFC 5322 message from the JSON fields of an upload (from, to,
//! subject, text, html, attachments, custom headers).

use base64::Engine;
use mail_builder::headers::address::Address as MbAddress;
use mail_builder::headers::date::Date;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::MimePart;
use mail_builder::MessageBuilder;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::de;
use crate::error::{ApiError, ApiResult};
use crate::sanitize::html_to_text;

/// An address with an optional name.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct AddressOptionalName {
    /// Name of the sender/recipient
    #[serde(default, deserialize_with = "de::opt_string")]
    pub name: Option<String>,
    /// Address of the sender/recipient
    pub address: String,
}

/// A custom header.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct Header {
    /// Header key ('X-Mailer')
    pub key: String,
    /// Header value ('My Awesome Mailing Service')
    pub value: String,
}

/// An attachment to include.
// Some fields are accepted for WildDuck compatibility and documented, but not used.
#[allow(dead_code)]
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    /// Attachment filename
    #[serde(default, deserialize_with = "de::opt_string")]
    pub filename: Option<String>,
    /// MIME type for the attachment file
    #[serde(default, deserialize_with = "de::opt_string")]
    pub content_type: Option<String>,
    /// Encoding of `content`: "base64" (the default) or "utf-8"
    #[serde(default, deserialize_with = "de::opt_string")]
    pub encoding: Option<String>,
    /// Transfer encoding (accepted; base64 is always used)
    #[serde(default, deserialize_with = "de::opt_string")]
    pub content_transfer_encoding: Option<String>,
    /// Base64 encoded attachment content
    pub content: String,
    /// Content-ID value if you want to reference to this attachment from HTML formatted message
    #[serde(default, deserialize_with = "de::opt_string")]
    pub cid: Option<String>,
    /// Content Disposition: "inline" or "attachment"
    #[serde(default, deserialize_with = "de::opt_string")]
    pub content_disposition: Option<String>,
}

/// What a composed message is made of.
#[derive(Debug, Default)]
pub struct Composition {
    pub from: Option<AddressOptionalName>,
    pub reply_to: Option<AddressOptionalName>,
    pub to: Vec<AddressOptionalName>,
    pub cc: Vec<AddressOptionalName>,
    pub bcc: Vec<AddressOptionalName>,
    pub headers: Vec<Header>,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
    pub attachments: Vec<Attachment>,
    /// Storage files (POST /users/{user}/storage) to attach, loaded by [`load_files`].
    pub files: Vec<FileAttachment>,
    pub date: chrono::DateTime<chrono::Utc>,
}

/// A stored file to attach: its record's name, type and cid with its bytes.
#[derive(Debug, Clone)]
pub struct FileAttachment {
    pub filename: Option<String>,
    pub content_type: String,
    pub cid: Option<String>,
    pub content: Vec<u8>,
}

/// Load the user's storage files named in a request's `files` (404 FileNotFound
/// for an unknown or foreign id, 400 for a malformed one).
pub async fn load_files(
    service: &eider_service::Service,
    user: eider_service::ObjectId,
    ids: &[String],
) -> ApiResult<Vec<FileAttachment>> {
    let mut out = Vec::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        let id = crate::extract::object_id(&format!("files.{i}"), id)?;
        let (f, data) = service.get_file(user, id).await?;
        out.push(FileAttachment {
            filename: f.filename,
            content_type: f.content_type,
            cid: f.cid,
            content: data.to_vec(),
        });
    }
    Ok(out)
}

fn check_address(field: &str, a: &AddressOptionalName) -> ApiResult<()> {
    let ok = a.address.contains('@')
        && !a
            .address
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '<' || c == '>');
    let name_ok = a
        .name
        .as_deref()
        .is_none_or(|n| !n.chars().any(char::is_control));
    if ok && name_ok {
        Ok(())
    } else {
        Err(ApiError::invalid(field, "must be a valid email address"))
    }
}

fn mb_address(a: &AddressOptionalName) -> MbAddress<'static> {
    match a.name.as_deref().filter(|n| !n.is_empty()) {
        Some(n) => MbAddress::from((n.to_string(), a.address.clone())),
        None => MbAddress::from(a.address.clone()),
    }
}

fn address_list(list: &[AddressOptionalName]) -> MbAddress<'static> {
    MbAddress::new_list(list.iter().map(mb_address).collect())
}

/// Headers the composer writes itself.
const RESERVED: [&str; 6] = [
    "content-type",
    "content-transfer-encoding",
    "mime-version",
    "from",
    "to",
    "subject",
];

fn check_header(h: &Header) -> ApiResult<()> {
    let key_ok = !h.key.is_empty()
        && h.key.len() <= 76
        && h.key.bytes().all(|b| b.is_ascii_graphic() && b != b':');
    if !key_ok || RESERVED.contains(&h.key.to_ascii_lowercase().as_str()) {
        return Err(ApiError::invalid(
            "headers",
            format!("has an invalid header key {:?}", h.key),
        ));
    }
    if h.value.chars().any(|c| c == '\r' || c == '\n' || c == '\0') {
        return Err(ApiError::invalid(
            "headers",
            "values can not contain line breaks",
        ));
    }
    Ok(())
}

/// Build the raw message.
pub fn compose(c: Composition) -> ApiResult<Vec<u8>> {
    let mut b = MessageBuilder::new();
    if let Some(from) = &c.from {
        check_address("from", from)?;
        b = b.from(mb_address(from));
    }
    if let Some(r) = &c.reply_to {
        check_address("replyTo", r)?;
        b = b.reply_to(mb_address(r));
    }
    for (field, list) in [("to", &c.to), ("cc", &c.cc), ("bcc", &c.bcc)] {
        for a in list.iter() {
            check_address(field, a)?;
        }
    }
    if !c.to.is_empty() {
        b = b.to(address_list(&c.to));
    }
    if !c.cc.is_empty() {
        b = b.cc(address_list(&c.cc));
    }
    if !c.bcc.is_empty() {
        b = b.bcc(address_list(&c.bcc));
    }
    let domain = c
        .from
        .as_ref()
        .and_then(|f| f.address.rsplit_once('@').map(|(_, d)| d.to_string()))
        .filter(|d| {
            !d.is_empty()
                && d.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        })
        .unwrap_or_else(|| "eider.local".to_string());
    b = b.message_id(format!(
        "{}@{domain}",
        eider_service::ObjectId::new().to_hex()
    ));
    b = b.date(Date::new(c.date.timestamp()));
    if let Some(s) = &c.subject {
        if s.chars().any(|ch| ch == '\r' || ch == '\n') {
            return Err(ApiError::invalid("subject", "can not contain line breaks"));
        }
        b = b.subject(s.clone());
    }
    for h in &c.headers {
        check_header(h)?;
        b = b.header(h.key.clone(), Raw::new(h.value.clone()));
    }
    let text = match (&c.text, &c.html) {
        (Some(t), _) => Some(t.clone()),
        (None, Some(h)) => Some(html_to_text(h)),
        (None, None) => None,
    };
    if let Some(t) = text {
        b = b.text_body(t);
    }
    // `data:` images become inline attachments referenced by cid:, as WildDuck
    // does: mail clients do not show data URLs, and the parsed view keeps cid:.
    let mut embedded = Vec::new();
    if let Some(h) = &c.html {
        b = b.html_body(embed_data_images(h, &mut embedded));
    }
    for (ctype, content, cid) in embedded {
        let part = MimePart::new(ctype, content).inline().cid(cid);
        b.attachments.get_or_insert_with(Vec::new).push(part);
    }
    for (i, a) in c.attachments.iter().enumerate() {
        let content = match a
            .encoding
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("base64") => base64::engine::general_purpose::STANDARD
                .decode(a.content.split_whitespace().collect::<String>())
                .map_err(|_| {
                    ApiError::invalid(
                        &format!("attachments.{i}.content"),
                        "must be base64 encoded",
                    )
                })?,
            Some("utf-8") | Some("utf8") | Some("text") => a.content.clone().into_bytes(),
            Some(other) => {
                return Err(ApiError::invalid(
                    &format!("attachments.{i}.encoding"),
                    format!("{other:?} is not supported"),
                ))
            }
        };
        let ctype = a
            .content_type
            .clone()
            .filter(|t| t.contains('/') && !t.chars().any(|c| c.is_control()))
            .unwrap_or_else(|| "application/octet-stream".to_string());
        let inline = a.content_disposition.as_deref() == Some("inline") || a.cid.is_some();
        let mut part = MimePart::new(ctype, content);
        part = if inline {
            part.inline()
        } else {
            part.attachment(
                a.filename
                    .clone()
                    .unwrap_or_else(|| format!("attachment-{}", i + 1)),
            )
        };
        if let Some(cid) = &a.cid {
            part = part.cid(cid.trim_matches(['<', '>']).to_string());
        }
        b.attachments.get_or_insert_with(Vec::new).push(part);
    }
    for (i, f) in c.files.iter().enumerate() {
        let ctype = Some(f.content_type.clone())
            .filter(|t| t.contains('/') && !t.chars().any(|c| c.is_control()))
            .unwrap_or_else(|| "application/octet-stream".to_string());
        let mut part = MimePart::new(ctype, f.content.clone());
        part = match &f.cid {
            Some(cid) => part.inline().cid(cid.trim_matches(['<', '>']).to_string()),
            None => part.attachment(
                f.filename
                    .clone()
                    .unwrap_or_else(|| format!("file-{}", i + 1)),
            ),
        };
        b.attachments.get_or_insert_with(Vec::new).push(part);
    }
    b.write_to_vec()
        .map_err(|e| ApiError::invalid("message", format!("could not be composed: {e}")))
}

/// An image carried in a `src="data:<type>;base64,<bytes>"` attribute.
type Embedded = (String, Vec<u8>, String);

/// Move every base64 `data:` URL in a `src` attribute into `out` and point the
/// attribute at `cid:<id>` instead. Anything that does not parse stays as it is.
fn embed_data_images(html: &str, out: &mut Vec<Embedded>) -> String {
    let lower = html.to_ascii_lowercase();
    let mut result = String::with_capacity(html.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = lower[from..].find("src") {
        let at = from + found;
        from = at + 3;
        // `src` must be a whole attribute name: `src`, optional blanks, `=`.
        if at > 0 && !lower.as_bytes()[at - 1].is_ascii_whitespace() {
            continue;
        }
        let rest = lower[from..].trim_start();
        let Some(rest) = rest.strip_prefix('=') else {
            continue;
        };
        let rest = rest.trim_start();
        let quote = rest.chars().next().filter(|q| *q == '"' || *q == '\'');
        let value_start = lower.len() - rest.len() + quote.map_or(0, char::len_utf8);
        if !lower[value_start..].starts_with("data:") {
            continue;
        }
        let value_end = match quote {
            Some(q) => lower[value_start..].find(q).map(|e| value_start + e),
            None => lower[value_start..]
                .find(|c: char| c.is_ascii_whitespace() || c == '>')
                .map(|e| value_start + e),
        }
        .unwrap_or(lower.len());
        let Some((ctype, content)) = parse_data_url(&html[value_start..value_end]) else {
            continue;
        };
        let cid = format!("{}@eider.embedded", eider_service::ObjectId::new().to_hex());
        result.push_str(&html[copied..value_start]);
        result.push_str("cid:");
        result.push_str(&cid);
        copied = value_end;
        from = value_end;
        out.push((ctype, content, cid));
    }
    result.push_str(&html[copied..]);
    result
}

/// `data:<type>[;params];base64,<bytes>` to its type and decoded bytes.
fn parse_data_url(url: &str) -> Option<(String, Vec<u8>)> {
    let (meta, data) = url.get(5..)?.split_once(',')?;
    let mut params = meta.split(';');
    let ctype = params.next().unwrap_or("").trim().to_ascii_lowercase();
    if !params.any(|p| p.trim().eq_ignore_ascii_case("base64")) {
        return None;
    }
    let ctype = if ctype.contains('/') && !ctype.chars().any(|c| c.is_control()) {
        ctype
    } else {
        "application/octet-stream".to_string()
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.split_whitespace().collect::<String>())
        .ok()?;
    Some((ctype, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(a: &str) -> AddressOptionalName {
        AddressOptionalName {
            name: Some("Név".into()),
            address: a.into(),
        }
    }

    #[test]
    fn composes_with_attachments() {
        let raw = compose(Composition {
            from: Some(addr("a@example.com")),
            to: vec![addr("b@example.com")],
            subject: Some("Hello".into()),
            html: Some("<p>Hi</p>".into()),
            attachments: vec![Attachment {
                filename: Some("a.txt".into()),
                content_type: Some("text/plain".into()),
                encoding: None,
                content_transfer_encoding: None,
                content: "aGVsbG8=".into(),
                cid: None,
                content_disposition: None,
            }],
            date: chrono::Utc::now(),
            ..Default::default()
        })
        .expect("composes");
        let text = String::from_utf8_lossy(&raw);
        assert!(text.contains("Subject: Hello"));
        assert!(text.contains("multipart/mixed"));
        assert!(text.contains("a.txt"));
        assert!(text.contains("hello"));
        assert!(text.contains("Message-ID: <"));
    }

    #[test]
    fn refuses_header_injection() {
        let c = Composition {
            headers: vec![Header {
                key: "X-Test".into(),
                value: "a\r\nBcc: evil@example.com".into(),
            }],
            ..Default::default()
        };
        assert!(compose(c).is_err());
        let c = Composition {
            to: vec![AddressOptionalName {
                name: None,
                address: "no at sign".into(),
            }],
            ..Default::default()
        };
        assert!(compose(c).is_err());
    }

    #[test]
    fn data_images_become_inline_parts() {
        let mut out = Vec::new();
        let html = embed_data_images(
            r#"<p><IMG alt="x" SRC = "data:image/png;base64,iVBO Rw==">
               <img src='https://example.com/a.png'><img src=data:text/plain,hi></p>"#,
            &mut out,
        );
        assert_eq!(out.len(), 1);
        let (ctype, bytes, cid) = &out[0];
        assert_eq!(ctype, "image/png");
        assert_eq!(bytes, &[0x89, b'P', b'N', b'G']);
        assert!(html.contains(&format!("SRC = \"cid:{cid}\"")), "{html}");
        assert!(html.contains("https://example.com/a.png"));
        assert!(html.contains("src=data:text/plain,hi"));
    }
}
