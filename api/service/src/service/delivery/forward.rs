//! Forwarding targets and the outbound hook: where copies of delivered mail go
//! (another address through the relay, a named SMTP server, an HTTP endpoint).

use std::sync::Arc;

use async_trait::async_trait;
use eider_message::MessageIndex;

use crate::normalize::parse_address;
use crate::{Error, Result};

/// A forwarding target as WildDuck accepts them in `targets`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ForwardTarget {
    /// An address, sent through the configured relay.
    Mail(String),
    /// An SMTP server ("smtp://mx.example.com:25"): the message is handed to it
    /// for the original recipient.
    Relay(String),
    /// An HTTP(S) URL receiving the parsed message as a JSON POST.
    Http(String),
}

impl ForwardTarget {
    /// Parse "user@example.com", "mailto:user@example.com", "smtp://host:port",
    /// "http://..." or "https://...".
    pub fn parse(text: &str) -> Result<Self> {
        let t = text.trim();
        let lower = t.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            return Ok(ForwardTarget::Http(t.to_string()));
        }
        if lower.starts_with("smtp://") || lower.starts_with("smtps://") {
            return Ok(ForwardTarget::Relay(t.to_string()));
        }
        let addr = t
            .get(..7)
            .filter(|p| p.eq_ignore_ascii_case("mailto:"))
            .and_then(|_| t.get(7..))
            .unwrap_or(t);
        let parsed = parse_address(addr)
            .map_err(|_| Error::Validation(format!("invalid forwarding target {text:?}")))?;
        if parsed.is_wildcard() {
            return Err(Error::Validation(format!(
                "invalid forwarding target {text:?}"
            )));
        }
        Ok(ForwardTarget::Mail(addr.to_string()))
    }
}

/// A message handed to the outbound relay.
#[derive(Debug, Clone)]
pub struct OutboundMessage {
    /// Envelope sender; None for the null sender `<>`.
    pub from: Option<String>,
    /// Envelope recipients.
    pub to: Vec<String>,
    /// Deliver to this SMTP server (an `smtp://host:port` URL) instead of the relay.
    pub via: Option<String>,
    /// The message bytes, sent as they are.
    pub raw: Arc<Vec<u8>>,
}

/// How delivered mail leaves the server again: forwards and autoreplies. The
/// gateway that owns a network client implements it; the rules stay here.
#[async_trait]
pub trait Outbound: Send + Sync {
    /// Hand a message over; Ok means the next hop accepted it.
    async fn send(&self, message: OutboundMessage) -> Result<()>;
    /// POST `payload` (the parsed message) to an HTTP(S) URL; Ok on a 2xx answer.
    async fn post(&self, url: &str, payload: serde_json::Value) -> Result<()>;
}

/// The JSON posted to HTTP targets: the parsed message in the shape WildDuck's
/// API uses for a message.
pub fn parsed_message_json(
    index: &MessageIndex,
    sender: Option<&str>,
    recipient: &str,
) -> serde_json::Value {
    let addrs = |list: &[eider_message::Address]| -> serde_json::Value {
        list.iter()
            .map(|a| serde_json::json!({ "name": a.name, "address": a.address }))
            .collect()
    };
    let headers: Vec<serde_json::Value> = index
        .headers
        .iter()
        .map(|h| serde_json::json!({ "key": h.key.to_ascii_lowercase(), "value": h.value }))
        .collect();
    let attachments: Vec<serde_json::Value> = index
        .attachments
        .iter()
        .map(|a| {
            serde_json::json!({
                "id": a.id,
                "filename": a.filename,
                "contentType": a.content_type,
                "disposition": a.disposition,
                "transferEncoding": a.transfer_encoding,
                "related": a.related,
                "sizeKb": a.size.div_ceil(1024),
            })
        })
        .collect();
    serde_json::json!({
        "envelope": { "from": sender.unwrap_or(""), "to": [recipient] },
        "messageId": index.message_id.as_ref().map(|m| format!("<{m}>")),
        "date": index.date.and_then(|d| chrono::DateTime::from_timestamp(d, 0)).map(|d| d.to_rfc3339()),
        "subject": index.subject,
        "from": addrs(&index.from).get(0).cloned(),
        "to": addrs(&index.to),
        "cc": addrs(&index.cc),
        "replyTo": addrs(&index.reply_to),
        "listId": index.list_id,
        "headers": headers,
        "text": index.text,
        "html": index.html,
        "attachments": attachments,
        "size": index.size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        assert_eq!(
            ForwardTarget::parse("mailto:A@Example.com").ok(),
            Some(ForwardTarget::Mail("A@Example.com".into()))
        );
        assert_eq!(
            ForwardTarget::parse(" b@example.com ").ok(),
            Some(ForwardTarget::Mail("b@example.com".into()))
        );
        assert_eq!(
            ForwardTarget::parse("smtp://mx.example.com:25").ok(),
            Some(ForwardTarget::Relay("smtp://mx.example.com:25".into()))
        );
        assert_eq!(
            ForwardTarget::parse("HTTPS://hook.example.com/x").ok(),
            Some(ForwardTarget::Http("HTTPS://hook.example.com/x".into()))
        );
        assert!(ForwardTarget::parse("not an address").is_err());
        assert!(ForwardTarget::parse("*@example.com").is_err());
        assert!(ForwardTarget::parse("").is_err());
    }
}
