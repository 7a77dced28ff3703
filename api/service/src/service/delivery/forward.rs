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
    ///
    /// URL targets are set by users (and filters) but fetched by the server, so
    /// they are checked strictly: a real URL of the right scheme with a host, no
    /// userinfo, and no control characters, raw or percent-encoded (a CR/LF in a
    /// target must never reach a request line or header).
    pub fn parse(text: &str) -> Result<Self> {
        let t = text.trim();
        let invalid = || Error::Validation(format!("invalid forwarding target {text:?}"));
        let lower = t.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            check_url(t, &["http", "https"]).ok_or_else(invalid)?;
            return Ok(ForwardTarget::Http(t.to_string()));
        }
        if lower.starts_with("smtp://") || lower.starts_with("smtps://") {
            check_url(t, &["smtp", "smtps"]).ok_or_else(invalid)?;
            return Ok(ForwardTarget::Relay(t.to_string()));
        }
        let addr = t
            .get(..7)
            .filter(|p| p.eq_ignore_ascii_case("mailto:"))
            .and_then(|_| t.get(7..))
            .unwrap_or(t);
        let parsed = parse_address(addr).map_err(|_| invalid())?;
        if parsed.is_wildcard() {
            return Err(invalid());
        }
        Ok(ForwardTarget::Mail(addr.to_string()))
    }
}

/// `Some(())` when `t` is a URL with one of `schemes`, a host, no userinfo and no
/// control characters or whitespace (raw or percent-encoded).
fn check_url(t: &str, schemes: &[&str]) -> Option<()> {
    if t.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return None;
    }
    for (i, _) in t.match_indices('%') {
        let hex = t.get(i + 1..i + 3)?;
        if u8::from_str_radix(hex, 16).ok()?.is_ascii_control() {
            return None;
        }
    }
    let url = url::Url::parse(t).ok()?;
    let host = url.host_str().filter(|h| !h.is_empty())?;
    if !schemes.contains(&url.scheme())
        || !url.username().is_empty()
        || url.password().is_some()
        || host.contains('%')
    {
        return None;
    }
    Some(())
}

/// Where the server may connect on behalf of users' forwarding targets
/// (`http(s)://` and `smtp://` URLs): public addresses only, unless the operator
/// allows private ones (`[relay] allowPrivateTargets`). Checked on the address a
/// target's name resolves to, at connect time, so DNS cannot point it elsewhere.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TargetPolicy {
    /// Also allow loopback, private, link-local and other non-public addresses.
    pub allow_private: bool,
}

impl TargetPolicy {
    /// Whether a connection to `ip` is allowed.
    pub fn permits(&self, ip: std::net::IpAddr) -> bool {
        self.allow_private || is_public(ip)
    }
}

/// A globally routable unicast address: not loopback, private (RFC 1918, CGNAT),
/// link-local (cloud metadata at 169.254.169.254 included), unique-local,
/// unspecified, broadcast, multicast, documentation or reserved; IPv4 embedded in
/// IPv6 (mapped, NAT64) is judged as IPv4.
fn is_public(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 198 && (18..20).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let seg = v6.segments();
            if seg[0] == 0x64 && seg[1] == 0xff9b && seg[2..6] == [0, 0, 0, 0] {
                let [a, b] = seg[6].to_be_bytes();
                let [c, d] = seg[7].to_be_bytes();
                return is_public(IpAddr::V4(std::net::Ipv4Addr::new(a, b, c, d)));
            }
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00
                || (seg[0] & 0xffc0) == 0xfe80
                || (seg[0] & 0xffc0) == 0xfec0
                || (seg[0] == 0x2001 && seg[1] == 0x0db8)
                || seg[..6] == [0, 0, 0, 0, 0, 0])
        }
    }
}

/// A message to send: what `Service::queue_mail` takes.
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

/// The outbound adapter (`eider-outbound`): its presence turns sending on (mail
/// is then queued for its workers through `Service::queue_mail`); HTTP forwarding
/// targets are posted through it directly.
#[async_trait]
pub trait Outbound: Send + Sync {
    /// The queue key (next hop) of a recipient: its domain by default; one key for
    /// all when everything goes through one relay, so a message is sent once.
    fn route(&self, rcpt: &str, via: Option<&str>) -> String {
        crate::service::queue_key(rcpt, via)
    }
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

    #[test]
    fn url_targets_refuse_injection_and_userinfo() {
        for bad in [
            "http://127.0.0.1:1/x\r\nPOST /smuggled HTTP/1.1",
            "http://127.0.0.1:1/x%0d%0aPOST%20/smuggled",
            "http://127.0.0.1:1/x%0A",
            "http://host.example/a b",
            "http://host.example/\tx",
            "http://user:pw@host.example/",
            "http://user@host.example/",
            "https://",
            "http://host%0d%0a.example/",
            "http://host.example/%zz",
            "smtp://mx.example.com:25\r\nRCPT TO:<x@y>",
            "smtp://user@mx.example.com",
            "smtp://",
            "a\r\nb@example.com",
        ] {
            assert!(ForwardTarget::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(ForwardTarget::parse("https://hook.example.com:8443/in?a=1&b=%20").is_ok());
        assert!(ForwardTarget::parse("http://[::1]:8080/x").is_ok());
    }

    #[test]
    fn only_public_addresses_by_default() {
        let p = TargetPolicy::default();
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ] {
            let ip: std::net::IpAddr = private.parse().expect("ip");
            assert!(!p.permits(ip), "{private} permitted");
            assert!(TargetPolicy {
                allow_private: true
            }
            .permits(ip));
        }
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:1.1.1.1",
        ] {
            let ip: std::net::IpAddr = public.parse().expect("ip");
            assert!(p.permits(ip), "{public} refused");
        }
    }
}
