//! The LMTP client side: [`push_message`] delivers a file to an LMTP server (what
//! `eider push-message` does), on the same client as outbound SMTP.

use std::time::Duration;

use eider_service::{Error, Result};
use tokio::net::TcpStream;

use crate::smtp::{Client, ConnectOptions, SmtpError, TlsMode};

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
    let failed = |e: SmtpError| Error::Internal(format!("lmtp: {e}"));
    let stream = tokio::time::timeout(timeout, TcpStream::connect((host, port)))
        .await
        .map_err(|_| Error::Internal("lmtp: connect timeout".into()))?
        .map_err(|e| Error::Internal(format!("lmtp: cannot connect to {host}:{port}: {e}")))?;
    let opts = ConnectOptions {
        helo: "localhost".into(),
        server_name: host.to_string(),
        tls: TlsMode::Off,
        auth: None,
        timeout,
        lmtp: true,
    };
    let mut c = Client::start(stream, &opts).await.map_err(failed)?;
    let results = c.transaction(sender, rcpts, raw).await.map_err(failed)?;
    c.quit().await;
    Ok(results
        .into_iter()
        .map(|r| match r.result {
            Ok(reply) => PushResult {
                rcpt: r.rcpt,
                code: reply.code,
                text: reply.lines.join(" "),
            },
            Err(e) => PushResult {
                rcpt: r.rcpt,
                code: e.code.unwrap_or(0),
                text: e.text.get(4..).unwrap_or(&e.text).to_string(),
            },
        })
        .collect())
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
