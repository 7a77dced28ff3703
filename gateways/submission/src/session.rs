//! One submission connection: EHLO, STARTTLS, AUTH, then transactions whose
//! message is handed to the service after DATA. Replies are buffered and written
//! when the session would otherwise wait for input (PIPELINING). Deadlines are
//! per command, and DATA may take `timeout` plus the time its bytes take at
//! [`MIN_DATA_RATE`], as in the LMTP gateway.

use std::borrow::Cow;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use eider_service::model::Beacon;
use eider_service::AuthSource;
use eider_service::{
    AuthMeta, AuthRequest, Deliverer, Error, ObjectId, Protocol, RecipientCheck, SmtpSubmission,
};
use eider_smtp_proto::data::DotUnstuffer;
use eider_smtp_proto::parser::{parse_command, Command, MailParams};
use eider_smtp_proto::reply::{self, Reply};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// Longest command line accepted, CRLF included (room for SMTPUTF8 addresses and
/// an AUTH initial response).
pub const MAX_COMMAND_LINE: usize = 4096;
const READ_CHUNK: usize = 16 * 1024;
const KEEP_BUFFER: usize = 64 * 1024;
use eider_smtp_proto::data::data_allowance;
pub use eider_smtp_proto::data::MIN_DATA_RATE;

/// Settings shared by every session of a listener.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub name: String,
    /// Largest message accepted, in bytes.
    pub max_size: usize,
    pub max_recipients: usize,
    pub timeout: Duration,
    /// Offer STARTTLS.
    pub starttls: bool,
    /// Failed commands (5xx) tolerated before the connection is closed.
    pub max_errors: u32,
    /// Keep a copy of sent messages in the sender's \Sent.
    pub sent_copy: bool,
}

/// How a session ended.
pub enum SessionEnd<S> {
    Closed,
    /// STARTTLS was answered 220: upgrade `S` and run a new session.
    StartTls(S),
}

struct Tx {
    sender: Option<String>,
    recipients: Vec<String>,
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

/// The logged-in user of a session.
struct Login {
    user: ObjectId,
    username: String,
    /// The secret the login used and the user's beacons: a beacon revoking it
    /// (logout, password change, ASP deleted, account disabled) ends the session.
    source: AuthSource,
    beacons: broadcast::Receiver<Beacon>,
}

pub struct Session<S> {
    deliverer: Arc<Deliverer>,
    config: Arc<SessionConfig>,
    io: S,
    peer: SocketAddr,
    shutdown: watch::Receiver<bool>,
    tls_active: bool,
    rbuf: Vec<u8>,
    rpos: usize,
    out: Vec<u8>,
    ehlo: Option<String>,
    login: Option<Login>,
    tx: Option<Tx>,
    errors: u32,
    /// The client went away in the middle of an exchange.
    gone: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    pub fn new(
        deliverer: Arc<Deliverer>,
        config: Arc<SessionConfig>,
        io: S,
        peer: SocketAddr,
        shutdown: watch::Receiver<bool>,
        tls_active: bool,
    ) -> Self {
        Self {
            deliverer,
            config,
            io,
            peer,
            shutdown,
            tls_active,
            rbuf: Vec::new(),
            rpos: 0,
            out: Vec::new(),
            ehlo: None,
            login: None,
            tx: None,
            errors: 0,
            gone: false,
        }
    }

    /// Passwords may cross only over TLS or from this machine.
    fn auth_allowed(&self) -> bool {
        self.tls_active || self.peer.ip().to_canonical().is_loopback()
    }

    /// Greet (unless `greet` is false), then serve until QUIT, EOF, an error, a
    /// timeout, shutdown or STARTTLS.
    pub async fn run(mut self, greet: bool) -> io::Result<SessionEnd<S>> {
        if greet {
            let banner = format!("{} ESMTP Eider submission ready", self.config.name);
            self.push(&Reply::plain(220, vec![banner.into()]));
        }
        loop {
            let line = match self.next_line_or_end().await? {
                Some(l) => l,
                None => return Ok(SessionEnd::Closed),
            };
            let line = match line {
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
                    &[("protocol", "submission"), ("command", cmd.name())],
                );
            }
            match parsed {
                Err(e) => self.fail(reply::for_parse_error(&e)),
                Ok(Command::Quit) => {
                    self.push(&reply::bye());
                    self.flush().await?;
                    let _ = self.io.shutdown().await;
                    return Ok(SessionEnd::Closed);
                }
                Ok(Command::StartTls) => {
                    if self.tls_active {
                        self.fail(reply::bad_sequence("TLS is already active"));
                    } else if !self.config.starttls {
                        self.fail(reply::tls_unavailable());
                    } else {
                        self.push(&reply::ready_tls());
                        self.flush().await?;
                        // RFC 3207: anything pipelined after STARTTLS is discarded.
                        return Ok(SessionEnd::StartTls(self.io));
                    }
                }
                Ok(Command::Data) => {
                    if !self.data().await? {
                        return Ok(SessionEnd::Closed);
                    }
                }
                Ok(Command::Auth { mechanism, initial }) => {
                    if !self.auth(&mechanism, initial).await? {
                        return Ok(SessionEnd::Closed);
                    }
                }
                Ok(Command::Rcpt { to }) => self.rcpt(to).await,
                Ok(cmd) => self.command(cmd),
            }
            if self.too_many_errors().await {
                return Ok(SessionEnd::Closed);
            }
            if self.rpos >= self.rbuf.len() && self.rbuf.capacity() > KEEP_BUFFER {
                self.rbuf = Vec::new();
                self.rpos = 0;
            }
        }
    }

    /// The next line; None when the session ended (timeout or shutdown, answered).
    async fn next_line_or_end(&mut self) -> io::Result<Option<Input>> {
        match self.next_line().await {
            Ok(i) => Ok(Some(i)),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                self.push(&reply::timeout());
                let _ = self.flush().await;
                Ok(None)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                self.push(&reply::shutting_down());
                let _ = self.flush().await;
                Ok(None)
            }
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                info!(peer = %self.peer, "submission session revoked");
                self.push(&Reply::new(
                    421,
                    "4.7.0",
                    "Session ended: the credentials were revoked",
                ));
                let _ = self.flush().await;
                Ok(None)
            }
            Err(e) => Err(e),
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

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Ehlo(name) => {
                let mut lines: Vec<Cow<'static, str>> = vec![
                    format!("{} Nice to meet you, {name}", self.config.name).into(),
                    "PIPELINING".into(),
                    "8BITMIME".into(),
                    "SMTPUTF8".into(),
                    "ENHANCEDSTATUSCODES".into(),
                    format!("SIZE {}", self.config.max_size).into(),
                ];
                if self.config.starttls && !self.tls_active {
                    lines.push("STARTTLS".into());
                }
                if self.auth_allowed() {
                    lines.push("AUTH PLAIN LOGIN".into());
                }
                self.push(&Reply::plain(250, lines));
                self.ehlo = Some(name);
                self.tx = None;
            }
            Command::Helo => {
                self.push(&Reply::plain(250, vec![self.config.name.clone().into()]));
                self.ehlo = Some("unknown".into());
                self.tx = None;
            }
            // LHLO is LMTP's greeting.
            Command::Lhlo(_) => self.fail(reply::unknown_command()),
            Command::Mail { from, params } => self.mail(from, params),
            Command::Rset => {
                self.tx = None;
                self.push(&reply::ok());
            }
            Command::Noop => self.push(&reply::ok()),
            Command::Vrfy(_) => self.push(&reply::vrfy()),
            Command::Help => self.push(&Reply::new(
                214,
                "2.0.0",
                "Commands: EHLO HELO AUTH MAIL RCPT DATA RSET NOOP QUIT VRFY HELP STARTTLS",
            )),
            Command::Expn => self.fail(reply::not_implemented()),
            // Handled by the loop.
            Command::Quit
            | Command::StartTls
            | Command::Data
            | Command::Auth { .. }
            | Command::Rcpt { .. } => {}
        }
    }

    /// RCPT: an address of this server that cannot take mail now is refused here
    /// (the others, local or not, are sorted by the service after DATA).
    async fn rcpt(&mut self, to: String) {
        let Some(count) = self.tx.as_ref().map(|t| t.recipients.len()) else {
            self.fail(reply::bad_sequence("Need MAIL command first"));
            return;
        };
        if count >= self.config.max_recipients {
            self.push(&reply::too_many_recipients());
            return;
        }
        let refusal = match self.deliverer.check_recipient(&to).await {
            Ok(RecipientCheck::Accepted(_) | RecipientCheck::Unknown) => None,
            Ok(RecipientCheck::Disabled) => Some(Reply::new(550, "5.2.1", "Mailbox disabled")),
            Ok(RecipientCheck::Suspended) => {
                Some(Reply::new(450, "4.2.1", "Mailbox temporarily disabled"))
            }
            Ok(RecipientCheck::OverQuota) => Some(Reply::new(452, "4.2.2", "Mailbox full")),
            Ok(RecipientCheck::ForwardingUnavailable) => Some(Reply::new(
                451,
                "4.3.0",
                "Forwarding is not available, try again later",
            )),
            Err(e) => {
                warn!(peer = %self.peer, "recipient check failed: {e}");
                Some(reply::temp_failure())
            }
        };
        match refusal {
            Some(r) => self.fail(r),
            None => {
                if let Some(tx) = self.tx.as_mut() {
                    tx.recipients.push(to);
                }
                self.push(&reply::recipient_ok());
            }
        }
    }

    fn mail(&mut self, from: Option<String>, params: MailParams) {
        if self.ehlo.is_none() {
            self.fail(reply::bad_sequence("Send EHLO first"));
        } else if self.login.is_none() {
            self.fail(Reply::new(530, "5.7.0", "Authentication required"));
        } else if self.tx.is_some() {
            self.fail(reply::bad_sequence("Nested MAIL command"));
        } else if params.size.is_some_and(|s| s > self.config.max_size as u64) {
            self.fail(reply::too_big());
        } else {
            self.tx = Some(Tx {
                sender: from,
                recipients: Vec::new(),
            });
            self.push(&reply::sender_ok());
        }
    }

    /// AUTH PLAIN / LOGIN (RFC 4954, 4616). False when the connection is gone.
    async fn auth(&mut self, mechanism: &str, initial: Option<String>) -> io::Result<bool> {
        if self.ehlo.is_none() {
            self.fail(reply::bad_sequence("Send EHLO first"));
            return Ok(true);
        }
        if self.login.is_some() {
            self.fail(reply::bad_sequence("Already authenticated"));
            return Ok(true);
        }
        if self.tx.is_some() {
            self.fail(reply::bad_sequence(
                "AUTH not allowed during a mail transaction",
            ));
            return Ok(true);
        }
        if !self.auth_allowed() {
            self.fail(Reply::new(
                538,
                "5.7.11",
                "Encryption required for requested authentication mechanism",
            ));
            return Ok(true);
        }
        let credentials = match mechanism {
            "PLAIN" => {
                let response = match initial {
                    // "=" is an empty initial response.
                    Some(r) => r,
                    None => match self.challenge("").await? {
                        Some(r) => r,
                        None => return Ok(!self.gone),
                    },
                };
                decode_plain(&response)
            }
            "LOGIN" => {
                let user = match initial {
                    Some(r) => Some(r),
                    None => self.challenge("VXNlcm5hbWU6").await?,
                };
                let Some(user) = user else {
                    return Ok(!self.gone);
                };
                let Some(pass) = self.challenge("UGFzc3dvcmQ6").await? else {
                    return Ok(!self.gone);
                };
                match (decode_text(&user), decode_text(&pass)) {
                    (Some(u), Some(p)) => Ok((u, p)),
                    _ => Err(()),
                }
            }
            _ => {
                self.fail(Reply::new(504, "5.5.4", "Unrecognized authentication type"));
                return Ok(true);
            }
        };
        let Ok((username, password)) = credentials else {
            self.fail(Reply::new(501, "5.5.2", "Cannot decode the response"));
            return Ok(true);
        };
        let request = AuthRequest {
            username: username.clone(),
            password,
            protocol: Protocol::Smtp,
            remote_ip: Some(self.peer.ip().to_canonical()),
        };
        let service = self.deliverer.service();
        match service
            .authenticate_with(&request, &AuthMeta::default())
            .await
        {
            Ok(ok) => {
                info!(peer = %self.peer, user = %ok.user.id, "submission login");
                let beacons = service.bus().subscribe(ok.user.id);
                self.login = Some(Login {
                    user: ok.user.id,
                    username,
                    source: ok.source,
                    beacons,
                });
                self.push(&Reply::new(235, "2.7.0", "Authentication successful"));
            }
            Err(Error::RateLimited) => self.push(&Reply::new(
                454,
                "4.7.0",
                "Too many failed authentication attempts, try again later",
            )),
            Err(e) if e.is_internal() => {
                warn!(peer = %self.peer, "submission login failed: {e}");
                self.push(&Reply::new(
                    454,
                    "4.7.0",
                    "Temporary authentication failure",
                ));
            }
            Err(_) => self.fail(Reply::new(
                535,
                "5.7.8",
                "Authentication credentials invalid",
            )),
        }
        Ok(true)
    }

    /// Send a 334 challenge and read the client's answer; None when the client
    /// cancelled ("*", answered here) or the connection ended.
    async fn challenge(&mut self, text: &'static str) -> io::Result<Option<String>> {
        self.push(&Reply::plain(334, vec![text.into()]));
        match self.next_line_or_end().await? {
            Some(Input::Line(l)) => {
                let l = String::from_utf8_lossy(&l).trim().to_string();
                if l == "*" {
                    self.fail(Reply::new(501, "5.0.0", "Authentication cancelled"));
                    return Ok(None);
                }
                Ok(Some(l))
            }
            Some(Input::TooLong) => {
                self.fail(reply::line_too_long());
                Ok(None)
            }
            Some(Input::Closed) | None => {
                self.gone = true;
                Ok(None)
            }
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
        let (Some(tx), Some(login)) = (self.tx.take(), self.login.as_ref()) else {
            return Ok(true);
        };
        let raw = match data {
            Data::Closed => return Ok(false),
            Data::TooLarge => {
                self.fail(reply::too_big());
                return Ok(true);
            }
            Data::Message(raw) => raw,
        };
        let submission = SmtpSubmission {
            envelope_from: tx.sender,
            recipients: tx.recipients,
            raw,
            origin: Some(format!(
                "{} [{}]",
                self.ehlo.as_deref().unwrap_or("unknown"),
                self.peer
            )),
            sent_copy: self.config.sent_copy,
        };
        let user = login.user;
        let username = login.username.clone();
        let answer = match self.deliverer.submit_smtp(user, submission).await {
            Ok(done) => {
                info!(
                    peer = %self.peer, user = %user, username = %username,
                    local = done.local, remote = done.remote,
                    queue = ?done.queue_id, from_rewritten = done.from_rewritten,
                    "message submitted"
                );
                let text = match &done.queue_id {
                    Some(id) => format!("Message queued as {id}"),
                    None => "Message accepted".to_string(),
                };
                Reply::new(250, "2.0.0", text)
            }
            Err(e) => submit_error_reply(&e, &self.peer),
        };
        self.fail(answer);
        Ok(true)
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
            let revoked = async {
                match self.login.as_mut() {
                    Some(l) => l.source.revoked(&mut l.beacons).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = read => r.map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?,
                _ = wait_true(&mut self.shutdown) => Err(io::ErrorKind::Interrupted.into()),
                _ = revoked => Err(io::ErrorKind::PermissionDenied.into()),
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
                discarding = true;
                self.rpos = self.rbuf.len();
            }
            self.flush().await?;
            let n = self.fill(true, deadline).await?;
            if n == 0 {
                return Ok(Input::Closed);
            }
            scanned = self.rbuf.len() - n;
        }
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

/// The reply for a message the service would not take.
fn submit_error_reply(e: &Error, peer: &SocketAddr) -> Reply {
    match e {
        Error::SendLimitReached(m) => {
            Reply::new(550, "5.4.6", non_empty(m, "Sending limit reached"))
        }
        Error::TooMany(m) => Reply::new(550, "5.5.3", m.clone()),
        Error::Validation(m) => Reply::new(554, "5.6.0", m.clone()),
        Error::EmptyMessage => Reply::new(554, "5.6.0", "Empty message"),
        Error::MessageTooLarge => reply::too_big(),
        Error::OverQuota => Reply::new(552, "5.2.2", "Mailbox full: no room for the Sent copy"),
        Error::UserDisabled => Reply::new(550, "5.7.1", "Account disabled"),
        Error::SendingDisabled => Reply::new(451, "4.3.5", "Sending mail is not configured"),
        other => {
            warn!(%peer, "submission failed: {other}");
            reply::temp_failure()
        }
    }
}

fn non_empty(m: &str, default: &'static str) -> Cow<'static, str> {
    if m.is_empty() {
        default.into()
    } else {
        m.to_string().into()
    }
}

/// AUTH PLAIN: base64 of `authzid NUL authcid NUL password`; an authorization
/// identity other than the login is not supported.
fn decode_plain(response: &str) -> Result<(String, String), ()> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(response.trim())
        .map_err(|_| ())?;
    let text = String::from_utf8(bytes).map_err(|_| ())?;
    let mut parts = text.split('\0');
    let (Some(authz), Some(user), Some(pass), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(());
    };
    if user.is_empty() || (!authz.is_empty() && authz != user) {
        return Err(());
    }
    Ok((user.to_string(), pass.to_string()))
}

fn decode_text(b64: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    String::from_utf8(bytes).ok()
}

async fn wait_true(rx: &mut watch::Receiver<bool>) {
    loop {
        if *rx.borrow() {
            return;
        }
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_responses_are_decoded() {
        let enc = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
        assert_eq!(
            decode_plain(&enc(b"\0user\0pw")),
            Ok(("user".into(), "pw".into()))
        );
        assert_eq!(
            decode_plain(&enc(b"user\0user\0pw")),
            Ok(("user".into(), "pw".into()))
        );
        assert!(decode_plain(&enc(b"other\0user\0pw")).is_err());
        assert!(decode_plain(&enc(b"\0user")).is_err());
        assert!(decode_plain("not base64!").is_err());
    }
}
