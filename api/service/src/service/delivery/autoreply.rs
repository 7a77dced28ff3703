//! Autoreply (vacation) in WildDuck's model, with RFC 3834's rules on when not
//! to answer: never to the null sender, mailing lists, bulk mail, or mail that
//! is itself automatic. The once-per-sender-per-period rule is applied by the
//! caller with a Bus counter.

use chrono::{DateTime, Utc};
use eider_message::{HeaderLine, MessageIndex};
use serde::{Deserialize, Serialize};

use crate::ObjectId;

/// A user's autoreply settings (`/users/{user}/autoreply`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Autoreply {
    /// The stored record's id (None until stored).
    pub id: Option<ObjectId>,
    pub status: bool,
    /// Name for the From: header.
    pub name: Option<String>,
    /// Subject; empty means "Auto: " + the original subject.
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    /// When the settings were last written.
    pub created: Option<DateTime<Utc>>,
}

/// Local parts that belong to software, not people (RFC 3834 section 2).
const ROBOT_LOCAL_PARTS: [&str; 8] = [
    "mailer-daemon",
    "postmaster",
    "listserv",
    "majordomo",
    "noreply",
    "no-reply",
    "do-not-reply",
    "donotreply",
];

/// Whether an autoreply may be sent to `sender` for `message` at `now`.
pub fn autoreply_allowed(
    settings: &Autoreply,
    sender: &str,
    headers: &[HeaderLine],
    now: DateTime<Utc>,
) -> bool {
    if !settings.status
        || settings.start.is_some_and(|s| s > now)
        || settings.end.is_some_and(|e| e < now)
    {
        return false;
    }
    let sender = sender.trim();
    let Some((local, _)) = sender.rsplit_once('@') else {
        return false;
    };
    let local = local.to_ascii_lowercase();
    if ROBOT_LOCAL_PARTS.contains(&local.as_str())
        || local.starts_with("owner-")
        || local.ends_with("-request")
        || local.ends_with("-bounces")
    {
        return false;
    }
    !headers.iter().any(|h| {
        let key = h.key.trim().to_ascii_lowercase();
        let value = h.value.trim().to_ascii_lowercase();
        match key.as_str() {
            "auto-submitted" => value != "no",
            "precedence" => matches!(value.as_str(), "bulk" | "list" | "junk"),
            "x-auto-response-suppress" => value
                .split(',')
                .any(|v| matches!(v.trim(), "all" | "oof" | "autoreply")),
            "list-id" | "list-unsubscribe" | "list-post" | "list-help" | "list-owner"
            | "x-mailing-list" | "x-autoreply" | "x-autorespond" => true,
            _ => false,
        }
    })
}

/// Build the reply: RFC 3834 headers, text and/or html, UTF-8, base64 bodies.
pub fn compose_autoreply(
    settings: &Autoreply,
    from: &str,
    to: &str,
    original: &MessageIndex,
    now: DateTime<Utc>,
) -> Vec<u8> {
    let subject = settings
        .subject
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| format!("Auto: {}", original.subject));
    let domain = from.rsplit_once('@').map_or("localhost", |(_, d)| d);
    let mut h = String::new();
    match settings
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        Some(name) => h.push_str(&format!("From: {} <{from}>\r\n", encode_word(name))),
        None => h.push_str(&format!("From: <{from}>\r\n")),
    }
    h.push_str(&format!("To: <{to}>\r\n"));
    h.push_str(&format!("Subject: {}\r\n", encode_word(&subject)));
    h.push_str(&format!(
        "Date: {}\r\n",
        now.format("%a, %d %b %Y %H:%M:%S +0000")
    ));
    h.push_str(&format!("Message-ID: <{}@{domain}>\r\n", ObjectId::new()));
    if let Some(id) = &original.message_id {
        h.push_str(&format!("In-Reply-To: <{id}>\r\n"));
        let mut refs: Vec<String> = original
            .references
            .iter()
            .map(|r| format!("<{r}>"))
            .collect();
        refs.push(format!("<{id}>"));
        h.push_str(&format!("References: {}\r\n", refs.join(" ")));
    }
    h.push_str("Auto-Submitted: auto-replied\r\n");
    h.push_str("X-Auto-Response-Suppress: All\r\n");
    h.push_str("MIME-Version: 1.0\r\n");
    let text = settings.text.clone().unwrap_or_default();
    match settings.html.as_deref().filter(|s| !s.trim().is_empty()) {
        Some(html) => {
            let boundary = format!("----=_Part_{}", ObjectId::new());
            h.push_str(&format!(
                "Content-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n"
            ));
            for (kind, body) in [("plain", text.as_str()), ("html", html)] {
                h.push_str(&format!("--{boundary}\r\n"));
                h.push_str(&format!("Content-Type: text/{kind}; charset=utf-8\r\n"));
                h.push_str("Content-Transfer-Encoding: base64\r\n\r\n");
                h.push_str(&base64_lines(body.as_bytes()));
            }
            h.push_str(&format!("--{boundary}--\r\n"));
        }
        None => {
            h.push_str("Content-Type: text/plain; charset=utf-8\r\n");
            h.push_str("Content-Transfer-Encoding: base64\r\n\r\n");
            h.push_str(&base64_lines(text.as_bytes()));
        }
    }
    h.into_bytes()
}

/// RFC 2047 encoded word when the text is not plain printable ASCII.
fn encode_word(s: &str) -> String {
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) && !s.contains("=?") {
        return s.replace(['\r', '\n'], " ");
    }
    format!("=?UTF-8?B?{}?=", base64(s.as_bytes()))
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(B64[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Base64 in 76-character lines, each ending in CRLF.
fn base64_lines(data: &[u8]) -> String {
    let encoded = base64(data);
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 38 + 2);
    for line in encoded.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), want);
        }
        assert_eq!(encode_word("Hello"), "Hello");
        assert_eq!(encode_word("Tère"), "=?UTF-8?B?VMOocmU=?=");
    }

    #[test]
    fn rfc3834_rules_hold() {
        let now = Utc::now();
        let on = Autoreply {
            status: true,
            ..Default::default()
        };
        let h = |k: &str, v: &str| HeaderLine {
            key: k.into(),
            value: v.into(),
        };
        let plain = [h("Subject", "hi")];
        assert!(autoreply_allowed(&on, "a@example.com", &plain, now));
        assert!(!autoreply_allowed(
            &Autoreply::default(),
            "a@example.com",
            &plain,
            now
        ));
        assert!(!autoreply_allowed(
            &on,
            "MAILER-DAEMON@example.com",
            &plain,
            now
        ));
        assert!(!autoreply_allowed(
            &on,
            "owner-list@example.com",
            &plain,
            now
        ));
        assert!(!autoreply_allowed(
            &on,
            "list-request@example.com",
            &plain,
            now
        ));
        assert!(!autoreply_allowed(&on, "nonsense", &plain, now));
        for bad in [
            h("Auto-Submitted", "auto-replied"),
            h("Precedence", "bulk"),
            h("List-Id", "<x.example.com>"),
            h("X-Auto-Response-Suppress", "OOF, DR"),
        ] {
            assert!(!autoreply_allowed(&on, "a@example.com", &[bad], now));
        }
        assert!(autoreply_allowed(
            &on,
            "a@example.com",
            &[h("Auto-Submitted", "no")],
            now
        ));
        let later = Autoreply {
            start: Some(now + chrono::Duration::hours(1)),
            ..on.clone()
        };
        assert!(!autoreply_allowed(&later, "a@example.com", &plain, now));
        let over = Autoreply {
            end: Some(now - chrono::Duration::hours(1)),
            ..on
        };
        assert!(!autoreply_allowed(&over, "a@example.com", &plain, now));
    }
}
