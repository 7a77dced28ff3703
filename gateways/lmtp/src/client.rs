//! A small SMTP/LMTP client: the conversation the relay uses for forwards and
//! autoreplies, and [`push_message`] for delivering a file over LMTP.

use std::time::Duration;

use eider_service::{Error, Result};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::data::dot_stuff;

/// Longest reply line read from a remote server.
pub(crate) const MAX_REPLY_LINE: u64 = 4096;
/// Most lines in one multi-line reply.
const MAX_REPLY_LINES: usize = 100;

pub(crate) fn relay_error(what: impl std::fmt::Display) -> Error {
    Error::Internal(format!("relay: {what}"))
}

pub(crate) struct Conversation {
    stream: BufReader<TcpStream>,
    timeout: Duration,
}

impl Conversation {
    pub(crate) fn new(stream: TcpStream, timeout: Duration) -> Self {
        Self {
            stream: BufReader::new(stream),
            timeout,
        }
    }

    pub(crate) async fn reply(&mut self) -> Result<(u16, Vec<String>)> {
        let mut lines = Vec::new();
        loop {
            let mut line = Vec::new();
            let n = tokio::time::timeout(
                self.timeout,
                (&mut self.stream)
                    .take(MAX_REPLY_LINE)
                    .read_until(b'\n', &mut line),
            )
            .await
            .map_err(|_| relay_error("timeout"))?
            .map_err(relay_error)?;
            if n == 0 {
                return Err(relay_error("connection closed"));
            }
            let text = String::from_utf8_lossy(&line).trim_end().to_string();
            let code: u16 = text
                .get(..3)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| relay_error(format!("bad reply {text:?}")))?;
            let last = text.as_bytes().get(3) != Some(&b'-');
            lines.push(text.get(4..).unwrap_or("").to_string());
            if last {
                return Ok((code, lines));
            }
            if lines.len() > MAX_REPLY_LINES {
                return Err(relay_error("reply too long"));
            }
        }
    }

    pub(crate) async fn send(&mut self, data: &[u8]) -> Result<()> {
        tokio::time::timeout(self.timeout, self.stream.get_mut().write_all(data))
            .await
            .map_err(|_| relay_error("timeout"))?
            .map_err(relay_error)
    }

    pub(crate) async fn command(&mut self, line: &str, want: u16) -> Result<Vec<String>> {
        self.send(format!("{line}\r\n").as_bytes()).await?;
        let (code, text) = self.reply().await?;
        if code != want && !(want == 250 && (200..300).contains(&code)) {
            return Err(relay_error(format!(
                "{} answered {code} {}",
                line.split(' ').next().unwrap_or(line),
                text.join(" ")
            )));
        }
        Ok(text)
    }
}

/// One recipient's answer from [`push_message`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushResult {
    pub rcpt: String,
    pub code: u16,
    /// The reply text (enhanced status code included).
    pub text: String,
}

/// Deliver `raw` over LMTP to `host:port` (what `eider push-message` does, like
/// WildDuck's examples/push-message.js): one result per recipient, from RCPT
/// when refused there, else from the reply after DATA.
pub async fn push_message(
    host: &str,
    port: u16,
    sender: Option<&str>,
    rcpts: &[String],
    raw: &[u8],
    timeout: Duration,
) -> Result<Vec<PushResult>> {
    let stream = tokio::time::timeout(timeout, TcpStream::connect((host, port)))
        .await
        .map_err(|_| relay_error("connect timeout"))?
        .map_err(|e| relay_error(format!("cannot connect to {host}:{port}: {e}")))?;
    let mut c = Conversation::new(stream, timeout);
    let (code, _) = c.reply().await?;
    if code != 220 {
        return Err(relay_error(format!("greeting {code}")));
    }
    c.command("LHLO localhost", 250).await?;
    c.command(&format!("MAIL FROM:<{}>", sender.unwrap_or("")), 250)
        .await?;
    let mut results: Vec<Option<PushResult>> = Vec::with_capacity(rcpts.len());
    for rcpt in rcpts {
        c.send(format!("RCPT TO:<{rcpt}>\r\n").as_bytes()).await?;
        let (code, text) = c.reply().await?;
        results.push((code != 250).then(|| PushResult {
            rcpt: rcpt.clone(),
            code,
            text: text.join(" "),
        }));
    }
    if results.iter().any(Option::is_none) {
        c.command("DATA", 354).await?;
        let mut wire = Vec::with_capacity(raw.len() + raw.len() / 64 + 8);
        dot_stuff(raw, &mut wire);
        c.send(&wire).await?;
        for (slot, rcpt) in results.iter_mut().zip(rcpts) {
            if slot.is_none() {
                let (code, text) = c.reply().await?;
                *slot = Some(PushResult {
                    rcpt: rcpt.clone(),
                    code,
                    text: text.join(" "),
                });
            }
        }
    }
    let _ = c.command("QUIT", 221).await;
    Ok(results.into_iter().flatten().collect())
}

/// A small test message for `to`, as push-message sends when given no file.
pub fn sample_message(from: &str, to: &str) -> Vec<u8> {
    let now = unique_stamp();
    format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: Test message {now}\r\n\
         Message-ID: <{now}.{}@eider.local>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n\
         This is a test message pushed over LMTP.\r\n",
        std::process::id()
    )
    .into_bytes()
}

/// Seconds and nanoseconds since the epoch, unique enough for a test Message-ID.
fn unique_stamp() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}
