//! One LMTP connection: reads commands (pipelined or not), keeps the transaction
//! state, streams DATA through the dot-unstuffer and answers once per recipient.
//!
//! Replies are buffered and written when the session would otherwise wait for
//! input, so a pipelined batch of commands gets its replies in one write.
//!
//! Deadlines are per command, not per read: a command line must arrive in full within
//! `timeout` of the server starting to wait for it, and DATA within `timeout` plus the
//! time its bytes take at [`MIN_DATA_RATE`], so a client dripping a byte at a time
//! cannot hold a connection.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::debug;

use crate::backend::{Backend, Transaction};
use crate::data::DotUnstuffer;
use crate::parser::{parse_command, Command, MailParams};
use crate::reply::{self, Reply};

/// Longest command line accepted, CRLF included (RFC 5321 asks for 512; SMTPUTF8
/// addresses and parameters need more room).
pub const MAX_COMMAND_LINE: usize = 4096;
/// How much is read from the socket at a time.
const READ_CHUNK: usize = 16 * 1024;
/// A read buffer grown past this is released when idle.
const KEEP_BUFFER: usize = 64 * 1024;
use crate::data::data_allowance;
pub use crate::data::MIN_DATA_RATE;

/// Settings shared by every session of a listener.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The server's name in the greeting and the LHLO reply.
    pub name: String,
    /// Largest message accepted, in bytes.
    pub max_size: usize,
    /// Most recipients in one transaction.
    pub max_recipients: usize,
    /// How long a command line may take to arrive; the base of the DATA deadline.
    pub timeout: Duration,
    /// Offer STARTTLS (the listener can upgrade connections).
    pub starttls: bool,
    /// Failed commands tolerated before the connection is closed.
    pub max_errors: u32,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            name: "localhost".into(),
            max_size: 64 * 1024 * 1024,
            max_recipients: 1000,
            timeout: Duration::from_secs(300),
            starttls: false,
            max_errors: 20,
        }
    }
}

/// How a session ended.
pub enum SessionEnd<S> {
    Closed,
    /// The client asked for STARTTLS and got 220: upgrade `S` and run a new session.
    StartTls(S),
}

struct Tx<R> {
    sender: Option<String>,
    params: MailParams,
    recipients: Vec<R>,
}

enum Input {
    Line(Vec<u8>),
    TooLong,
    Closed,
}

enum Data {
    Message(Vec<u8>),
    TooLarge,
    Closed,
}

pub struct Session<B: Backend, S> {
    backend: Arc<B>,
    config: Arc<SessionConfig>,
    io: S,
    peer: String,
    shutdown: watch::Receiver<bool>,
    tls_active: bool,
    rbuf: Vec<u8>,
    rpos: usize,
    out: Vec<u8>,
    lhlo: Option<String>,
    tx: Option<Tx<B::Recipient>>,
    errors: u32,
}

impl<B: Backend, S: AsyncRead + AsyncWrite + Unpin + Send> Session<B, S> {
    pub fn new(
        backend: Arc<B>,
        config: Arc<SessionConfig>,
        io: S,
        peer: String,
        shutdown: watch::Receiver<bool>,
        tls_active: bool,
    ) -> Self {
        Self {
            backend,
            config,
            io,
            peer,
            shutdown,
            tls_active,
            rbuf: Vec::new(),
            rpos: 0,
            out: Vec::new(),
            lhlo: None,
            tx: None,
            errors: 0,
        }
    }

    /// Greet, then serve commands until QUIT, EOF, an error, a timeout, shutdown
    /// or STARTTLS. `greet` is false after a TLS upgrade (no second banner).
    pub async fn run(mut self, greet: bool) -> io::Result<SessionEnd<S>> {
        if greet {
            let banner = format!("{} LMTP Eider ready", self.config.name);
            self.push(&Reply::plain(220, vec![banner.into()]));
        }
        loop {
            let input = match self.next_line().await {
                Ok(i) => i,
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    self.push(&reply::timeout());
                    let _ = self.flush().await;
                    return Ok(SessionEnd::Closed);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    self.push(&reply::shutting_down());
                    let _ = self.flush().await;
                    return Ok(SessionEnd::Closed);
                }
                Err(e) => return Err(e),
            };
            let line = match input {
                Input::Line(l) => l,
                Input::TooLong => {
                    self.fail(reply::line_too_long());
                    if self.too_many_errors().await {
                        return Ok(SessionEnd::Closed);
                    }
                    continue;
                }
                Input::Closed => {
                    let _ = self.flush().await;
                    return Ok(SessionEnd::Closed);
                }
            };
            let parsed = parse_command(&line);
            if let Ok(cmd) = &parsed {
                eider_net::metrics::inc(
                    "eider_commands_total",
                    "Protocol commands received, by protocol and command.",
                    &[("protocol", "lmtp"), ("command", cmd.name())],
                );
            }
            match parsed {
                Err(e) => {
                    self.fail(reply::for_parse_error(&e));
                    if self.too_many_errors().await {
                        return Ok(SessionEnd::Closed);
                    }
                }
                Ok(Command::Quit) => {
                    self.push(&reply::bye());
                    self.flush().await?;
                    let _ = self.io.shutdown().await;
                    return Ok(SessionEnd::Closed);
                }
                Ok(Command::StartTls) => {
                    if !self.config.starttls || self.tls_active {
                        self.fail(if self.tls_active {
                            reply::bad_sequence("TLS is already active")
                        } else {
                            reply::tls_unavailable()
                        });
                        continue;
                    }
                    self.push(&reply::ready_tls());
                    self.flush().await?;
                    // RFC 3207: anything the client pipelined after STARTTLS is discarded.
                    return Ok(SessionEnd::StartTls(self.io));
                }
                Ok(Command::Data) => {
                    if !self.data().await? {
                        return Ok(SessionEnd::Closed);
                    }
                }
                Ok(cmd) => self.command(cmd).await,
            }
            if self.rpos >= self.rbuf.len() && self.rbuf.capacity() > KEEP_BUFFER {
                self.rbuf = Vec::new();
                self.rpos = 0;
            }
        }
    }

    fn push(&mut self, reply: &Reply) {
        reply.write_to(&mut self.out);
    }

    fn fail(&mut self, reply: Reply) {
        if reply.code >= 500 {
            self.errors += 1;
        }
        self.push(&reply);
    }

    async fn too_many_errors(&mut self) -> bool {
        if self.errors < self.config.max_errors {
            return false;
        }
        self.push(&reply::too_many_errors());
        let _ = self.flush().await;
        true
    }

    async fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            let out = std::mem::take(&mut self.out);
            // A client that stops reading cannot hold the connection either.
            let limit = self.config.timeout;
            let write = async {
                self.io.write_all(&out).await?;
                self.io.flush().await
            };
            tokio::time::timeout(limit, write)
                .await
                .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
            self.out = out;
            self.out.clear();
            if self.out.capacity() > KEEP_BUFFER {
                self.out = Vec::new();
            }
        }
        Ok(())
    }

    /// Read more input. Ok(0) at EOF; TimedOut at `deadline`; Interrupted when
    /// the server shuts down (only while waiting for a command).
    async fn fill(&mut self, for_command: bool, deadline: Instant) -> io::Result<usize> {
        if self.rpos > 0 {
            self.rbuf.drain(..self.rpos);
            self.rpos = 0;
        }
        self.rbuf.reserve(READ_CHUNK);
        if for_command && *self.shutdown.borrow() {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let read = tokio::time::timeout_at(deadline, self.io.read_buf(&mut self.rbuf));
        if for_command {
            tokio::select! {
                r = read => r.map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?,
                _ = wait_true(&mut self.shutdown) => Err(io::ErrorKind::Interrupted.into()),
            }
        } else {
            read.await
                .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?
        }
    }

    /// The next command line without its line ending.
    async fn next_line(&mut self) -> io::Result<Input> {
        let mut scanned = self.rpos;
        let mut discarding = false;
        let deadline = Instant::now() + self.config.timeout;
        loop {
            if let Some(off) = memchr::memchr(b'\n', &self.rbuf[scanned..]) {
                let end = scanned + off;
                let start = self.rpos;
                self.rpos = end + 1;
                if discarding {
                    return Ok(Input::TooLong);
                }
                let mut line = &self.rbuf[start..end];
                if let Some(l) = line.strip_suffix(b"\r") {
                    line = l;
                }
                if line.len() + 2 > MAX_COMMAND_LINE {
                    return Ok(Input::TooLong);
                }
                return Ok(Input::Line(line.to_vec()));
            }
            if self.rbuf.len() - self.rpos > MAX_COMMAND_LINE {
                // Too long: drop what we have and skip to the end of the line.
                discarding = true;
                self.rpos = self.rbuf.len();
            }
            // About to wait for the client: send what is pending first.
            self.flush().await?;
            let n = self.fill(true, deadline).await?;
            if n == 0 {
                return Ok(Input::Closed);
            }
            // fill() compacted the buffer: rpos is now 0 and the unscanned part
            // starts where the old buffer ended.
            scanned = self.rbuf.len() - n;
        }
    }

    async fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Lhlo(name) => {
                let mut lines: Vec<std::borrow::Cow<'static, str>> = vec![
                    self.config.name.clone().into(),
                    "PIPELINING".into(),
                    "8BITMIME".into(),
                    "SMTPUTF8".into(),
                    "ENHANCEDSTATUSCODES".into(),
                    format!("SIZE {}", self.config.max_size).into(),
                ];
                if self.config.starttls && !self.tls_active {
                    lines.push("STARTTLS".into());
                }
                self.push(&Reply::plain(250, lines));
                self.lhlo = Some(name);
                self.tx = None;
            }
            Command::Helo | Command::Ehlo(_) => self.fail(reply::use_lhlo()),
            // No authentication in LMTP: as if the verb were unknown.
            Command::Auth { .. } => self.fail(reply::unknown_command()),
            Command::Mail { from, params } => {
                if self.lhlo.is_none() {
                    self.fail(reply::bad_sequence("Send LHLO first"));
                } else if self.tx.is_some() {
                    self.fail(reply::bad_sequence("Nested MAIL command"));
                } else if params.size.is_some_and(|s| s > self.config.max_size as u64) {
                    self.fail(reply::too_big());
                } else {
                    self.tx = Some(Tx {
                        sender: from,
                        params,
                        recipients: Vec::new(),
                    });
                    self.push(&reply::sender_ok());
                }
            }
            Command::Rcpt { to } => {
                let Some(count) = self.tx.as_ref().map(|t| t.recipients.len()) else {
                    self.fail(reply::bad_sequence("Need MAIL command first"));
                    return;
                };
                if count >= self.config.max_recipients {
                    self.push(&reply::too_many_recipients());
                    return;
                }
                match self.backend.check_recipient(&to).await {
                    Ok(r) => {
                        if let Some(tx) = self.tx.as_mut() {
                            tx.recipients.push(r);
                        }
                        self.push(&reply::recipient_ok());
                    }
                    Err(refusal) => {
                        debug!(peer = %self.peer, rcpt = %to, code = refusal.code, "recipient refused");
                        self.push(&refusal);
                    }
                }
            }
            Command::Rset => {
                self.tx = None;
                self.push(&reply::ok());
            }
            Command::Noop => self.push(&reply::ok()),
            Command::Vrfy(_) => self.push(&reply::vrfy()),
            Command::Help => self.push(&reply::help()),
            Command::Expn => self.fail(reply::not_implemented()),
            // Handled by the loop.
            Command::Quit | Command::StartTls | Command::Data => {}
        }
    }

    /// DATA: false when the connection is gone.
    async fn data(&mut self) -> io::Result<bool> {
        let ready = match &self.tx {
            None => Err(reply::bad_sequence("Need MAIL command first")),
            Some(tx) if tx.recipients.is_empty() => Err(reply::bad_sequence("No valid recipients")),
            Some(_) => Ok(()),
        };
        if let Err(r) = ready {
            self.fail(r);
            return Ok(true);
        }
        self.push(&reply::start_data());
        self.flush().await?;
        let data = match self.read_data().await {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                self.push(&reply::timeout());
                let _ = self.flush().await;
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        let Some(tx) = self.tx.take() else {
            return Ok(true);
        };
        let n = tx.recipients.len();
        let replies = match data {
            Data::Closed => return Ok(false),
            Data::TooLarge => vec![reply::too_big(); n],
            Data::Message(raw) => {
                let transaction = Transaction {
                    sender: tx.sender,
                    params: tx.params,
                    recipients: tx.recipients,
                    client: format!(
                        "{} [{}]",
                        self.lhlo.as_deref().unwrap_or("unknown"),
                        self.peer
                    ),
                };
                let mut replies = self.backend.deliver(&transaction, raw).await;
                // One reply per recipient, whatever the backend did.
                replies.resize_with(n, reply::temp_failure);
                replies
            }
        };
        for r in &replies {
            self.push(r);
        }
        Ok(true)
    }

    async fn read_data(&mut self) -> io::Result<Data> {
        let mut unstuffer = DotUnstuffer::new(self.config.max_size);
        let mut body = Vec::new();
        let fed = unstuffer.feed(&self.rbuf[self.rpos..], &mut body);
        self.rpos += fed.consumed;
        let mut done = fed.done;
        let started = Instant::now();
        let mut received: u64 = 0;
        while !done {
            let deadline = started + self.config.timeout + data_allowance(received);
            let n = self.fill(false, deadline).await?;
            if n == 0 {
                return Ok(Data::Closed);
            }
            received += n as u64;
            let fed = unstuffer.feed(&self.rbuf[self.rpos..], &mut body);
            self.rpos += fed.consumed;
            done = fed.done;
        }
        if unstuffer.overflowed() {
            debug!(peer = %self.peer, size = unstuffer.seen(), "message too large");
            return Ok(Data::TooLarge);
        }
        Ok(Data::Message(body))
    }
}

async fn wait_true(rx: &mut watch::Receiver<bool>) {
    loop {
        if *rx.borrow() {
            return;
        }
        if rx.changed().await.is_err() {
            // The sender is gone: no shutdown will ever be signalled.
            std::future::pending::<()>().await;
        }
    }
}
