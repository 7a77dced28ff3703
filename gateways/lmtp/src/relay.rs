//! Outbound delivery for forwards and autoreplies: a small SMTP client that hands
//! messages to the configured relay (or to an `smtp://` target), and a plain
//! HTTP/1.1 POST for `http://` targets. Messages keep their bytes: only
//! dot-stuffing is applied on the wire.

use std::time::Duration;

use async_trait::async_trait;
use eider_service::{Outbound, OutboundMessage, Result};
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::client::{relay_error, Conversation, MAX_REPLY_LINE};
use crate::data::dot_stuff;

/// `[relay]` settings: where forwarded mail and autoreplies are sent.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RelayConfig {
    /// Without a relay, forwarded addresses are refused (temporarily) at RCPT and
    /// users' forwards and autoreplies are skipped.
    pub enabled: bool,
    pub host: String,
    pub port: u16,
    /// Name sent in EHLO.
    pub name: String,
    /// Seconds to wait for each step of a conversation.
    pub timeout: u64,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            host: "127.0.0.1".into(),
            port: 25,
            name: String::new(),
            timeout: 60,
        }
    }
}

/// Sends through SMTP (plain; the relay is expected on a trusted network).
#[derive(Debug, Clone)]
pub struct SmtpRelay {
    config: RelayConfig,
}

impl SmtpRelay {
    pub fn new(config: RelayConfig) -> Self {
        Self { config }
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.config.timeout.max(1))
    }
}

/// `smtp://host:port` (port 25 when absent) into host and port.
fn parse_smtp_url(url: &str) -> Result<(String, u16)> {
    let lower = url.to_ascii_lowercase();
    let rest = if lower.starts_with("smtp://") {
        &url[7..]
    } else {
        return Err(relay_error(format!(
            "unsupported relay URL {url:?} (smtp:// only)"
        )));
    };
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    host_port(authority, 25)
}

fn host_port(authority: &str, default_port: u16) -> Result<(String, u16)> {
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| relay_error("bad IPv6 literal"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| relay_error("bad port"))?,
            None => default_port,
        };
        return Ok((host.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) => Ok((
            h.to_string(),
            p.parse().map_err(|_| relay_error("bad port"))?,
        )),
        None if authority.is_empty() => Err(relay_error("missing host")),
        None => Ok((authority.to_string(), default_port)),
    }
}

#[async_trait]
impl Outbound for SmtpRelay {
    async fn send(&self, message: OutboundMessage) -> Result<()> {
        let (host, port) = match &message.via {
            Some(url) => parse_smtp_url(url)?,
            None => (self.config.host.clone(), self.config.port),
        };
        if message.to.is_empty() {
            return Err(relay_error("no recipients"));
        }
        let stream =
            tokio::time::timeout(self.timeout(), TcpStream::connect((host.as_str(), port)))
                .await
                .map_err(|_| relay_error("connect timeout"))?
                .map_err(|e| relay_error(format!("cannot connect to {host}:{port}: {e}")))?;
        let mut c = Conversation::new(stream, self.timeout());
        let (code, _) = c.reply().await?;
        if code != 220 {
            return Err(relay_error(format!("greeting {code}")));
        }
        let name = match self.config.name.trim() {
            "" => "localhost",
            n => n,
        };
        let caps = c.command(&format!("EHLO {name}"), 250).await?;
        let has = |cap: &str| {
            caps.iter().any(|l| {
                l.split(' ')
                    .next()
                    .is_some_and(|w| w.eq_ignore_ascii_case(cap))
            })
        };
        let mut mail = format!("MAIL FROM:<{}>", message.from.as_deref().unwrap_or(""));
        if message.raw.iter().any(|b| *b >= 0x80) && has("8BITMIME") {
            mail.push_str(" BODY=8BITMIME");
        }
        let non_ascii = |s: &str| !s.is_ascii();
        if (message.from.as_deref().is_some_and(non_ascii)
            || message.to.iter().any(|t| non_ascii(t)))
            && has("SMTPUTF8")
        {
            mail.push_str(" SMTPUTF8");
        }
        c.command(&mail, 250).await?;
        for to in &message.to {
            c.command(&format!("RCPT TO:<{to}>"), 250).await?;
        }
        c.command("DATA", 354).await?;
        let mut wire = Vec::with_capacity(message.raw.len() + message.raw.len() / 64 + 8);
        dot_stuff(&message.raw, &mut wire);
        c.send(&wire).await?;
        let (code, text) = c.reply().await?;
        if !(200..300).contains(&code) {
            return Err(relay_error(format!(
                "message refused: {code} {}",
                text.join(" ")
            )));
        }
        let _ = c.command("QUIT", 221).await;
        Ok(())
    }

    async fn post(&self, url: &str, payload: serde_json::Value) -> Result<()> {
        let lower = url.to_ascii_lowercase();
        if !lower.starts_with("http://") {
            return Err(relay_error(format!(
                "only http:// targets can be posted to, not {url:?}"
            )));
        }
        let rest = &url[7..];
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let path = if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_string()
        };
        let (host, port) = host_port(authority, 80)?;
        let body = serde_json::to_vec(&payload).map_err(relay_error)?;
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\nUser-Agent: Eider\r\n\r\n",
            body.len()
        );
        let timeout = self.timeout();
        let exchange = async {
            let mut stream = TcpStream::connect((host.as_str(), port))
                .await
                .map_err(relay_error)?;
            stream
                .write_all(head.as_bytes())
                .await
                .map_err(relay_error)?;
            stream.write_all(&body).await.map_err(relay_error)?;
            let mut reader = BufReader::new(stream);
            let mut status = Vec::new();
            (&mut reader)
                .take(MAX_REPLY_LINE)
                .read_until(b'\n', &mut status)
                .await
                .map_err(relay_error)?;
            let status = String::from_utf8_lossy(&status);
            let code: u16 = status
                .split(' ')
                .nth(1)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| relay_error(format!("bad HTTP answer {status:?}")))?;
            if (200..300).contains(&code) {
                Ok(())
            } else {
                Err(relay_error(format!("{url} answered HTTP {code}")))
            }
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| relay_error("HTTP timeout"))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse() {
        assert_eq!(
            parse_smtp_url("smtp://mx.example.com:2525").ok(),
            Some(("mx.example.com".to_string(), 2525))
        );
        assert_eq!(
            parse_smtp_url("SMTP://mx.example.com").ok(),
            Some(("mx.example.com".to_string(), 25))
        );
        assert_eq!(
            parse_smtp_url("smtp://[::1]:26").ok(),
            Some(("::1".to_string(), 26))
        );
        assert!(parse_smtp_url("smtps://x").is_err());
        assert!(parse_smtp_url("smtp://x:notaport").is_err());
        assert!(parse_smtp_url("smtp://").is_err());
    }
}
