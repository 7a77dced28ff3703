//! The SMTP client: one connection to a next hop (the relay, an MX, an `smtp://`
//! target, or an LMTP server for `push_message`), EHLO, STARTTLS when offered or
//! required, AUTH PLAIN, and transactions that report each recipient's answer.
//! Messages keep their bytes: only dot-stuffing is applied on the wire.

use std::sync::Arc;
use std::time::Duration;

use eider_smtp_proto::data::dot_stuff;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Longest reply line read from a remote server.
const MAX_REPLY_LINE: u64 = 4096;
/// Most lines in one multi-line reply.
const MAX_REPLY_LINES: usize = 100;

/// Any byte stream a conversation runs on (plain TCP or TLS).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Why a conversation step failed: a reply (with its code) or no reply at all
/// (connection, timeout, TLS), which is always temporary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text}")]
pub struct SmtpError {
    /// The reply code, when the server answered.
    pub code: Option<u16>,
    pub text: String,
}

impl SmtpError {
    pub fn io(what: impl std::fmt::Display) -> Self {
        Self {
            code: None,
            text: what.to_string(),
        }
    }
    /// A 5xx answer: the next hop refuses for good.
    pub fn permanent(&self) -> bool {
        self.code.is_some_and(|c| (500..600).contains(&c))
    }
}

pub type SmtpResult<T> = Result<T, SmtpError>;

/// A server's reply: code and text lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    pub fn text(&self) -> String {
        format!("{} {}", self.code, self.lines.join(" "))
    }
    pub fn positive(&self) -> bool {
        (200..400).contains(&self.code)
    }
}

/// How TLS is used on a connection.
#[derive(Clone)]
pub enum TlsMode {
    /// Plain text throughout.
    Off,
    /// STARTTLS when the server offers it (certificate checked or not per config).
    Opportunistic(Arc<rustls::ClientConfig>),
    /// STARTTLS, refusing to go on without it.
    Required(Arc<rustls::ClientConfig>),
    /// TLS from the first byte (port 465).
    Implicit(Arc<rustls::ClientConfig>),
}

/// What a connection is to present and use.
#[derive(Clone)]
pub struct ConnectOptions {
    /// Name sent in EHLO (LHLO for LMTP).
    pub helo: String,
    /// The server's name for SNI and certificate checks.
    pub server_name: String,
    pub tls: TlsMode,
    /// AUTH PLAIN with these credentials after EHLO (over TLS, or to loopback).
    pub auth: Option<(String, String)>,
    pub timeout: Duration,
    /// Speak LMTP (LHLO, one reply per recipient after DATA).
    pub lmtp: bool,
}

/// One open conversation.
pub struct Client {
    stream: BufReader<Box<dyn Io>>,
    timeout: Duration,
    caps: Vec<String>,
    lmtp: bool,
    /// Whether the connection is encrypted.
    pub tls: bool,
}

/// One recipient's answer in a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RcptResult {
    pub rcpt: String,
    pub result: Result<Reply, SmtpError>,
}

fn server_name(name: &str) -> SmtpResult<rustls::pki_types::ServerName<'static>> {
    rustls::pki_types::ServerName::try_from(name.trim_start_matches('[').trim_end_matches(']'))
        .map(|n| n.to_owned())
        .map_err(|e| SmtpError::io(format!("bad TLS server name {name:?}: {e}")))
}

async fn wrap_tls(
    stream: Box<dyn Io>,
    config: &Arc<rustls::ClientConfig>,
    name: &str,
    timeout: Duration,
) -> SmtpResult<Box<dyn Io>> {
    let connector = tokio_rustls::TlsConnector::from(config.clone());
    let tls = tokio::time::timeout(timeout, connector.connect(server_name(name)?, stream))
        .await
        .map_err(|_| SmtpError::io("TLS handshake timeout"))?
        .map_err(|e| SmtpError::io(format!("TLS handshake: {e}")))?;
    Ok(Box::new(tls))
}

impl Client {
    /// Open a conversation on a connected socket: greeting, EHLO, STARTTLS, AUTH.
    pub async fn start(tcp: TcpStream, opts: &ConnectOptions) -> SmtpResult<Client> {
        let loopback = tcp.peer_addr().is_ok_and(|a| a.ip().is_loopback());
        let _ = tcp.set_nodelay(true);
        let mut stream: Box<dyn Io> = Box::new(tcp);
        let mut tls = false;
        if let TlsMode::Implicit(config) = &opts.tls {
            stream = wrap_tls(stream, config, &opts.server_name, opts.timeout).await?;
            tls = true;
        }
        let mut c = Client {
            stream: BufReader::new(stream),
            timeout: opts.timeout,
            caps: Vec::new(),
            lmtp: opts.lmtp,
            tls,
        };
        let greeting = c.reply().await?;
        if greeting.code != 220 {
            return Err(SmtpError {
                code: Some(greeting.code),
                text: format!("greeting: {}", greeting.text()),
            });
        }
        c.hello(&opts.helo).await?;
        let starttls = match &opts.tls {
            TlsMode::Opportunistic(cfg) if c.has("STARTTLS") => Some(cfg),
            TlsMode::Required(cfg) => Some(cfg),
            _ => None,
        };
        if let Some(config) = starttls {
            c.command("STARTTLS", 220).await?;
            // Anything buffered past the 220 would be a plaintext injection.
            if !c.stream.buffer().is_empty() {
                return Err(SmtpError::io("data after STARTTLS reply"));
            }
            let plain = c.stream.into_inner();
            let stream = wrap_tls(plain, config, &opts.server_name, opts.timeout).await?;
            c = Client {
                stream: BufReader::new(stream),
                timeout: opts.timeout,
                caps: Vec::new(),
                lmtp: opts.lmtp,
                tls: true,
            };
            c.hello(&opts.helo).await?;
        }
        if let Some((user, pass)) = &opts.auth {
            if !c.tls && !loopback {
                return Err(SmtpError::io(
                    "refusing to send credentials over an unencrypted connection",
                ));
            }
            use base64::Engine;
            let token = base64::engine::general_purpose::STANDARD
                .encode(format!("\0{user}\0{pass}").as_bytes());
            c.command(&format!("AUTH PLAIN {token}"), 235).await?;
        }
        Ok(c)
    }

    async fn hello(&mut self, name: &str) -> SmtpResult<()> {
        let verb = if self.lmtp { "LHLO" } else { "EHLO" };
        let reply = self.command(&format!("{verb} {name}"), 250).await?;
        self.caps = reply.lines;
        Ok(())
    }

    /// Whether the server announced an extension.
    pub fn has(&self, cap: &str) -> bool {
        self.caps.iter().any(|l| {
            l.split(' ')
                .next()
                .is_some_and(|w| w.eq_ignore_ascii_case(cap))
        })
    }

    pub async fn reply(&mut self) -> SmtpResult<Reply> {
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
            .map_err(|_| SmtpError::io("timeout waiting for a reply"))?
            .map_err(SmtpError::io)?;
            if n == 0 {
                return Err(SmtpError::io("connection closed"));
            }
            let text = String::from_utf8_lossy(&line).trim_end().to_string();
            let code: u16 = text
                .get(..3)
                .and_then(|c| c.parse().ok())
                .ok_or_else(|| SmtpError::io(format!("bad reply {text:?}")))?;
            let last = text.as_bytes().get(3) != Some(&b'-');
            lines.push(text.get(4..).unwrap_or("").to_string());
            if last {
                return Ok(Reply { code, lines });
            }
            if lines.len() > MAX_REPLY_LINES {
                return Err(SmtpError::io("reply too long"));
            }
        }
    }

    pub async fn send(&mut self, data: &[u8]) -> SmtpResult<()> {
        let stream = self.stream.get_mut();
        tokio::time::timeout(self.timeout, async {
            stream.write_all(data).await?;
            stream.flush().await
        })
        .await
        .map_err(|_| SmtpError::io("timeout sending"))?
        .map_err(SmtpError::io)
    }

    /// Send a command; an answer other than `want` (any 2xx for 250) is an error
    /// carrying the code.
    pub async fn command(&mut self, line: &str, want: u16) -> SmtpResult<Reply> {
        self.send(format!("{line}\r\n").as_bytes()).await?;
        let reply = self.reply().await?;
        if reply.code != want && !(want == 250 && (200..300).contains(&reply.code)) {
            let verb = line.split(' ').next().unwrap_or(line);
            return Err(SmtpError {
                code: Some(reply.code),
                text: format!("{verb}: {}", reply.text()),
            });
        }
        Ok(reply)
    }

    /// One mail transaction. Err when the whole transaction failed (MAIL, DATA, the
    /// connection); otherwise each recipient's answer (for SMTP, a recipient
    /// accepted at RCPT takes the answer to the data).
    pub async fn transaction(
        &mut self,
        from: Option<&str>,
        rcpts: &[String],
        raw: &[u8],
    ) -> SmtpResult<Vec<RcptResult>> {
        let mut mail = format!("MAIL FROM:<{}>", from.unwrap_or(""));
        if raw.iter().any(|b| *b >= 0x80) && self.has("8BITMIME") {
            mail.push_str(" BODY=8BITMIME");
        }
        let non_ascii = |s: &str| !s.is_ascii();
        if (from.is_some_and(non_ascii) || rcpts.iter().any(|t| non_ascii(t)))
            && self.has("SMTPUTF8")
        {
            mail.push_str(" SMTPUTF8");
        }
        if self.has("SIZE") {
            mail.push_str(&format!(" SIZE={}", raw.len()));
        }
        self.command(&mail, 250).await?;
        let mut results: Vec<RcptResult> = Vec::with_capacity(rcpts.len());
        for rcpt in rcpts {
            self.send(format!("RCPT TO:<{rcpt}>\r\n").as_bytes())
                .await?;
            let reply = self.reply().await?;
            let result = if reply.positive() {
                Ok(reply)
            } else {
                Err(SmtpError {
                    code: Some(reply.code),
                    text: reply.text(),
                })
            };
            results.push(RcptResult {
                rcpt: rcpt.clone(),
                result,
            });
        }
        if results.iter().all(|r| r.result.is_err()) {
            self.rset().await;
            return Ok(results);
        }
        self.command("DATA", 354).await?;
        let mut wire = Vec::with_capacity(raw.len() + raw.len() / 64 + 8);
        dot_stuff(raw, &mut wire);
        self.send(&wire).await?;
        let accepted: Vec<usize> = (0..results.len())
            .filter(|i| results[*i].result.is_ok())
            .collect();
        let answers = if self.lmtp { accepted.len() } else { 1 };
        let mut replies = Vec::with_capacity(answers);
        for _ in 0..answers {
            replies.push(self.reply().await?);
        }
        for (n, i) in accepted.iter().enumerate() {
            let reply = if self.lmtp { &replies[n] } else { &replies[0] };
            results[*i].result = if (200..300).contains(&reply.code) {
                Ok(reply.clone())
            } else {
                Err(SmtpError {
                    code: Some(reply.code),
                    text: reply.text(),
                })
            };
        }
        Ok(results)
    }

    /// Reset between transactions on a reused connection.
    pub async fn rset(&mut self) -> bool {
        self.command("RSET", 250).await.is_ok()
    }

    pub async fn quit(mut self) {
        let _ = self.command("QUIT", 221).await;
    }
}
