//! One POP3 session: the AUTHORIZATION and TRANSACTION states of RFC 1939 and the
//! answers to each command. Rules (what the listing holds, what QUIT changes) are the
//! service layer's; the session keeps only the listing and the pending changes.

use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use eider_service::model::{Beacon, FetchWant, FetchedMessage, MessageMeta, UidSet};
use eider_service::{AuthRequest, AuthSource, Error as ServiceError, ObjectId, Protocol, Service};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::broadcast;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::command::{self, Command};
use crate::connection::{Conn, Input};
use crate::dotstuff::{DotStuffer, TopFilter};
use crate::sasl;
use crate::Pop3Config;

/// Consecutive invalid commands tolerated before the connection is closed.
const MAX_BAD_COMMANDS: u32 = 10;
/// Failed logins tolerated on one connection before it is closed.
const MAX_AUTH_FAILURES: u32 = 5;

/// What the connection does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Close the connection (after QUIT, on idle timeout, on shutdown, on EOF).
    Close,
    /// "+OK" to STLS was sent: the caller performs the TLS handshake.
    StartTls,
}

/// Settings and collaborators shared by every session of a listener.
pub struct Context {
    pub service: Service,
    pub config: Pop3Config,
    /// STLS may be offered on plaintext connections.
    pub starttls: bool,
}

/// A session's state across the TLS upgrade.
pub struct Session {
    ctx: Arc<Context>,
    remote: SocketAddr,
    secure: bool,
    state: State,
    auth_failures: u32,
    bad_commands: u32,
    /// The client must have logged in by then (`loginTimeout` after connect).
    login_deadline: Instant,
}

enum State {
    Authorization { user: Option<String> },
    Transaction(Maildrop),
}

/// The listing fixed at login and the changes to apply at QUIT.
struct Maildrop {
    user: ObjectId,
    mailbox: ObjectId,
    messages: Vec<Entry>,
    /// The user's beacons and the secret the login used: a beacon revoking it
    /// (logout, account disabled, password changed, ASP deleted) ends the session.
    beacons: broadcast::Receiver<Beacon>,
    source: AuthSource,
}

struct Entry {
    uid: u32,
    id: ObjectId,
    size: u64,
    seen: bool,
    deleted: bool,
    retrieved: bool,
}

impl From<&MessageMeta> for Entry {
    fn from(m: &MessageMeta) -> Self {
        Self {
            uid: m.uid,
            id: m.id,
            size: m.size,
            seen: m.seen(),
            deleted: false,
            retrieved: false,
        }
    }
}

impl Maildrop {
    /// Message `n` (1-based) unless it does not exist or is marked deleted.
    fn entry(&self, n: u32) -> Result<&Entry, String> {
        let e = n
            .checked_sub(1)
            .and_then(|i| self.messages.get(i as usize))
            .ok_or_else(|| "-ERR no such message\r\n".to_string())?;
        if e.deleted {
            return Err(format!("-ERR message {n} already deleted\r\n"));
        }
        Ok(e)
    }

    fn entry_mut(&mut self, n: u32) -> Result<&mut Entry, String> {
        self.entry(n)?;
        n.checked_sub(1)
            .and_then(|i| self.messages.get_mut(i as usize))
            .ok_or_else(|| "-ERR no such message\r\n".to_string())
    }

    /// Count and size of the messages not marked deleted.
    fn stat(&self) -> (usize, u64) {
        self.messages
            .iter()
            .filter(|e| !e.deleted)
            .fold((0, 0), |(n, s), e| (n + 1, s + e.size))
    }
}

impl Session {
    /// A session for a client that connected at `connected`.
    pub fn new(ctx: Arc<Context>, remote: SocketAddr, secure: bool, connected: Instant) -> Self {
        let login_deadline = connected + ctx.config.login();
        Self {
            login_deadline,
            ctx,
            remote,
            secure,
            state: State::Authorization { user: None },
            auth_failures: 0,
            bad_commands: 0,
        }
    }

    /// The connection is now encrypted (after STLS).
    pub fn set_secure(&mut self) {
        self.secure = true;
    }

    pub fn greeting() -> &'static [u8] {
        b"+OK Eider POP3 server ready\r\n"
    }

    /// Serve commands until the session ends or asks for a TLS upgrade.
    pub async fn run<S>(&mut self, conn: &mut Conn<S>) -> io::Result<Flow>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        loop {
            // Before login, no read may pass the login deadline.
            let unauthenticated = matches!(self.state, State::Authorization { .. });
            conn.set_cap(unauthenticated.then_some(self.login_deadline));
            let input = match &mut self.state {
                State::Transaction(m) => {
                    // Answers are written before waiting, so only the read (which
                    // loses nothing when cancelled) races the revocation.
                    conn.flush().await?;
                    tokio::select! {
                        input = conn.read_line() => input?,
                        _ = m.source.revoked(&mut m.beacons) => {
                            // Changes are not applied: the session never reaches UPDATE.
                            info!(remote = %self.remote, user = %m.user, "POP3 session revoked");
                            conn.write(b"-ERR [AUTH] session ended: logged out\r\n");
                            return self.close(conn).await;
                        }
                    }
                }
                State::Authorization { .. } => conn.read_line().await?,
            };
            let line = match input {
                Input::Line(line) => line,
                Input::TooLong => {
                    conn.write(b"-ERR command line too long\r\n");
                    if self.bad_command(conn) {
                        return self.close(conn).await;
                    }
                    continue;
                }
                // A dropped connection never reaches the UPDATE state: nothing changes.
                Input::Eof => return Ok(Flow::Close),
                Input::Idle if unauthenticated && Instant::now() >= self.login_deadline => {
                    debug!(remote = %self.remote, "POP3 login timeout");
                    conn.write(b"-ERR autologout; login not completed in time\r\n");
                    return self.close(conn).await;
                }
                Input::Idle => {
                    conn.write(b"-ERR autologout; idle for too long\r\n");
                    return self.close(conn).await;
                }
                Input::Shutdown => {
                    conn.write(b"-ERR [SYS/TEMP] server shutting down\r\n");
                    return self.close(conn).await;
                }
            };
            let flow = match command::parse(&line) {
                Ok(cmd) => {
                    self.bad_commands = 0;
                    debug!(remote = %self.remote, command = cmd.name(), "POP3 command");
                    {
                        eider_net::metrics::inc(
                            "eider_commands_total",
                            "Protocol commands received, by protocol and command.",
                            &[("protocol", "pop3"), ("command", cmd.name())],
                        );
                        self.dispatch(cmd, conn).await?
                    }
                }
                Err(e) => {
                    conn.write(format!("-ERR {e}\r\n").as_bytes());
                    if self.bad_command(conn) {
                        Flow::Close
                    } else {
                        Flow::Continue
                    }
                }
            };
            match flow {
                Flow::Continue => {}
                Flow::Close => return self.close(conn).await,
                Flow::StartTls => {
                    conn.flush().await?;
                    return Ok(Flow::StartTls);
                }
            }
        }
    }

    async fn close<S>(&mut self, conn: &mut Conn<S>) -> io::Result<Flow>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        conn.flush().await?;
        Ok(Flow::Close)
    }

    /// Count an invalid command; true when the connection should be closed.
    fn bad_command<S>(&mut self, conn: &mut Conn<S>) -> bool
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        self.bad_commands += 1;
        if self.bad_commands >= MAX_BAD_COMMANDS {
            conn.write(b"-ERR too many invalid commands, closing connection\r\n");
            return true;
        }
        false
    }

    /// USER/PASS and AUTH PLAIN send the password readable: only over TLS, from
    /// loopback, or when configured to allow it.
    fn plaintext_allowed(&self) -> bool {
        self.secure
            || self.ctx.config.ignore_starttls
            || self.remote.ip().to_canonical().is_loopback()
    }

    fn stls_offered(&self) -> bool {
        self.ctx.starttls && !self.secure
    }

    async fn dispatch<S>(&mut self, cmd: Command, conn: &mut Conn<S>) -> io::Result<Flow>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        if let Command::Capa = cmd {
            let caps = self.capabilities();
            conn.write(caps.as_bytes());
            return Ok(Flow::Continue);
        }
        if let Command::Quit = cmd {
            return self.quit(conn).await;
        }
        match &mut self.state {
            State::Authorization { .. } => self.authorization(cmd, conn).await,
            State::Transaction(maildrop) => {
                transaction(&self.ctx.service, maildrop, cmd, conn).await
            }
        }
    }

    fn capabilities(&self) -> String {
        let mut caps = String::from("+OK Capability list follows\r\nTOP\r\nUIDL\r\n");
        let authorization = matches!(self.state, State::Authorization { .. });
        if authorization && self.plaintext_allowed() {
            caps.push_str("USER\r\nSASL PLAIN\r\n");
        }
        caps.push_str("RESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n");
        if authorization && self.stls_offered() {
            caps.push_str("STLS\r\n");
        }
        caps.push_str("IMPLEMENTATION Eider\r\n.\r\n");
        caps
    }

    async fn authorization<S>(&mut self, cmd: Command, conn: &mut Conn<S>) -> io::Result<Flow>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        match cmd {
            Command::Stls => {
                if !self.stls_offered() {
                    let why = if self.secure {
                        "-ERR TLS is already active\r\n"
                    } else {
                        "-ERR STLS is not available\r\n"
                    };
                    conn.write(why.as_bytes());
                    return Ok(Flow::Continue);
                }
                conn.write(b"+OK Begin TLS negotiation now\r\n");
                // Anything pipelined after STLS was sent in the clear: it is discarded.
                if conn.has_unread_input() {
                    debug!(remote = %self.remote, "discarding input sent before the TLS handshake");
                }
                Ok(Flow::StartTls)
            }
            Command::User(name) => {
                if !self.plaintext_allowed() {
                    conn.write(b"-ERR [AUTH] plaintext login requires TLS, use STLS first\r\n");
                    return Ok(Flow::Continue);
                }
                conn.write(b"+OK send PASS\r\n");
                self.state = State::Authorization { user: Some(name) };
                Ok(Flow::Continue)
            }
            Command::Pass(password) => {
                let State::Authorization { user } = &mut self.state else {
                    return Ok(Flow::Continue);
                };
                let Some(username) = user.take() else {
                    conn.write(b"-ERR USER first\r\n");
                    return Ok(Flow::Continue);
                };
                self.login(username, password, conn).await
            }
            Command::Auth {
                mechanism: None, ..
            } => {
                if self.plaintext_allowed() {
                    conn.write(b"+OK supported mechanisms follow\r\nPLAIN\r\n.\r\n");
                } else {
                    conn.write(b"+OK supported mechanisms follow\r\n.\r\n");
                }
                Ok(Flow::Continue)
            }
            Command::Auth {
                mechanism: Some(mechanism),
                initial,
            } => {
                if !mechanism.eq_ignore_ascii_case("PLAIN") {
                    conn.write(b"-ERR unsupported authentication mechanism\r\n");
                    return Ok(Flow::Continue);
                }
                if !self.plaintext_allowed() {
                    conn.write(b"-ERR [AUTH] plaintext login requires TLS, use STLS first\r\n");
                    return Ok(Flow::Continue);
                }
                let response = match initial {
                    Some(r) => r,
                    None => {
                        conn.write(b"+ \r\n");
                        match conn.read_line().await? {
                            Input::Line(l) => String::from_utf8_lossy(&l).into_owned(),
                            Input::TooLong => {
                                conn.write(b"-ERR authentication response too long\r\n");
                                return Ok(Flow::Continue);
                            }
                            Input::Eof => return Ok(Flow::Close),
                            Input::Idle | Input::Shutdown => {
                                conn.write(b"-ERR authentication timed out\r\n");
                                return Ok(Flow::Close);
                            }
                        }
                    }
                };
                if response.trim() == "*" {
                    conn.write(b"-ERR authentication cancelled\r\n");
                    return Ok(Flow::Continue);
                }
                match sasl::decode_plain(&response) {
                    Ok(creds) => self.login(creds.username, creds.password, conn).await,
                    Err(e) => {
                        conn.write(format!("-ERR [AUTH] {e}\r\n").as_bytes());
                        Ok(self.auth_failed())
                    }
                }
            }
            Command::Apop => {
                conn.write(b"-ERR APOP is not supported\r\n");
                Ok(Flow::Continue)
            }
            _ => {
                conn.write(b"-ERR command not valid before login\r\n");
                Ok(Flow::Continue)
            }
        }
    }

    fn auth_failed(&mut self) -> Flow {
        self.auth_failures += 1;
        if self.auth_failures >= MAX_AUTH_FAILURES {
            Flow::Close
        } else {
            Flow::Continue
        }
    }

    async fn login<S>(
        &mut self,
        username: String,
        password: String,
        conn: &mut Conn<S>,
    ) -> io::Result<Flow>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let service = &self.ctx.service;
        let req = AuthRequest {
            username,
            password,
            protocol: Protocol::Pop3,
            remote_ip: Some(self.remote.ip()),
        };
        let (user, source) = match service.authenticate(&req).await {
            Ok(ok) => (ok.user, ok.source),
            // A held (not yet valid) password fails like a wrong one here.
            Err(ServiceError::AuthFailed | ServiceError::PasswordNotYetValid) => {
                info!(remote = %self.remote, username = %req.username, "POP3 login failed");
                conn.write(b"-ERR [AUTH] Authentication failed\r\n");
                return Ok(self.auth_failed());
            }
            Err(ServiceError::RateLimited) => {
                conn.write(b"-ERR [SYS/TEMP] Too many failed logins, try again later\r\n");
                return Ok(self.auth_failed());
            }
            Err(e) => {
                warn!(remote = %self.remote, "POP3 login error: {e}");
                conn.write(b"-ERR [SYS/TEMP] Authentication is unavailable, try again later\r\n");
                return Ok(Flow::Continue);
            }
        };
        // Subscribed before the listing, so a revocation from now on is seen.
        let beacons = service.bus().subscribe(user.id);
        match service
            .pop3_listing(user.id, self.ctx.config.max_messages)
            .await
        {
            Ok((inbox, metas)) => {
                let maildrop = Maildrop {
                    user: user.id,
                    mailbox: inbox.id,
                    messages: metas.iter().map(Entry::from).collect(),
                    beacons,
                    source,
                };
                let (count, size) = maildrop.stat();
                info!(remote = %self.remote, user = %user.id, messages = count, "POP3 login");
                conn.write(
                    format!("+OK maildrop has {count} messages ({size} octets)\r\n").as_bytes(),
                );
                self.state = State::Transaction(maildrop);
            }
            Err(e) => {
                warn!(user = %user.id, "POP3 cannot open the maildrop: {e}");
                conn.write(b"-ERR [SYS/TEMP] cannot open the maildrop, try again later\r\n");
            }
        }
        Ok(Flow::Continue)
    }

    /// QUIT: in TRANSACTION state, enter UPDATE and apply the session's changes.
    async fn quit<S>(&mut self, conn: &mut Conn<S>) -> io::Result<Flow>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let State::Transaction(maildrop) = &self.state else {
            conn.write(b"+OK Eider POP3 server signing off\r\n");
            return Ok(Flow::Close);
        };
        let retrieved: Vec<u32> = maildrop
            .messages
            .iter()
            .filter(|e| e.retrieved && !e.deleted && !e.seen)
            .map(|e| e.uid)
            .collect();
        let deleted: Vec<u32> = maildrop
            .messages
            .iter()
            .filter(|e| e.deleted)
            .map(|e| e.uid)
            .collect();
        if retrieved.is_empty() && deleted.is_empty() {
            conn.write(b"+OK Eider POP3 server signing off\r\n");
            return Ok(Flow::Close);
        }
        match self
            .ctx
            .service
            .pop3_update(maildrop.user, maildrop.mailbox, &retrieved, &deleted)
            .await
        {
            Ok(removed) => {
                debug!(user = %maildrop.user, removed, seen = retrieved.len(), "POP3 update");
                conn.write(
                    format!("+OK Eider POP3 server signing off ({removed} messages deleted)\r\n")
                        .as_bytes(),
                );
            }
            Err(e) => {
                warn!(user = %maildrop.user, "POP3 update failed: {e}");
                conn.write(b"-ERR [SYS/TEMP] some deleted messages not removed\r\n");
            }
        }
        Ok(Flow::Close)
    }
}

/// Commands of the TRANSACTION state.
async fn transaction<S>(
    service: &Service,
    maildrop: &mut Maildrop,
    cmd: Command,
    conn: &mut Conn<S>,
) -> io::Result<Flow>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    match cmd {
        Command::Stat => {
            let (count, size) = maildrop.stat();
            conn.write(format!("+OK {count} {size}\r\n").as_bytes());
        }
        Command::List(Some(n)) => match maildrop.entry(n) {
            Ok(e) => conn.write(format!("+OK {n} {}\r\n", e.size).as_bytes()),
            Err(msg) => conn.write(msg.as_bytes()),
        },
        Command::List(None) => {
            let (count, size) = maildrop.stat();
            let mut out = format!("+OK {count} messages ({size} octets)\r\n");
            for (i, e) in maildrop.messages.iter().enumerate() {
                if !e.deleted {
                    let _ = write!(out, "{} {}\r\n", i + 1, e.size);
                }
            }
            out.push_str(".\r\n");
            conn.write_streaming(out.as_bytes()).await?;
        }
        Command::Uidl(Some(n)) => match maildrop.entry(n) {
            Ok(e) => conn.write(format!("+OK {n} {}\r\n", e.id).as_bytes()),
            Err(msg) => conn.write(msg.as_bytes()),
        },
        Command::Uidl(None) => {
            let mut out = String::from("+OK unique-id listing follows\r\n");
            for (i, e) in maildrop.messages.iter().enumerate() {
                if !e.deleted {
                    let _ = write!(out, "{} {}\r\n", i + 1, e.id);
                }
            }
            out.push_str(".\r\n");
            conn.write_streaming(out.as_bytes()).await?;
        }
        Command::Retr(n) => {
            if send_message(service, maildrop, n, None, conn).await? {
                if let Ok(e) = maildrop.entry_mut(n) {
                    e.retrieved = true;
                }
            }
        }
        Command::Top(n, lines) => {
            send_message(service, maildrop, n, Some(lines), conn).await?;
        }
        Command::Dele(n) => match maildrop.entry_mut(n) {
            Ok(e) => {
                e.deleted = true;
                conn.write(format!("+OK message {n} deleted\r\n").as_bytes());
            }
            Err(msg) => conn.write(msg.as_bytes()),
        },
        Command::Noop => conn.write(b"+OK\r\n"),
        Command::Rset => {
            // Nothing of this session is applied: deletions and Seen marks are dropped.
            for e in &mut maildrop.messages {
                e.deleted = false;
                e.retrieved = false;
            }
            let (count, size) = maildrop.stat();
            conn.write(format!("+OK maildrop has {count} messages ({size} octets)\r\n").as_bytes());
        }
        Command::User(_)
        | Command::Pass(_)
        | Command::Auth { .. }
        | Command::Apop
        | Command::Stls => conn.write(b"-ERR already authenticated\r\n"),
        Command::Capa | Command::Quit => conn.write(b"-ERR unexpected command\r\n"),
    }
    Ok(Flow::Continue)
}

/// RETR (`top` None) or TOP: stream the message dot-stuffed. Ok(true) when it was sent;
/// Ok(false) when an -ERR was answered instead. An error while streaming (after +OK)
/// cannot be reported in-band: it ends the connection.
async fn send_message<S>(
    service: &Service,
    maildrop: &Maildrop,
    n: u32,
    top: Option<u64>,
    conn: &mut Conn<S>,
) -> io::Result<bool>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let entry = match maildrop.entry(n) {
        Ok(e) => e,
        Err(msg) => {
            conn.write(msg.as_bytes());
            return Ok(false);
        }
    };
    // Only the recipe of the bytes: RETR needs neither the MIME index nor its text.
    let want = FetchWant {
        imap: false,
        body: true,
    };
    let found = service
        .fetch_messages(
            maildrop.user,
            maildrop.mailbox,
            &UidSet::from_uids([entry.uid]),
            want,
        )
        .await
        .map(|v| v.into_iter().next());
    let (meta, body) = match found {
        Ok(Some(FetchedMessage {
            meta,
            body: Some(body),
            ..
        })) if meta.id == entry.id => (meta, body),
        Ok(_) | Err(ServiceError::MessageNotFound) => {
            // Expunged or moved by another session since the listing was made.
            conn.write(format!("-ERR message {n} is no longer available\r\n").as_bytes());
            return Ok(false);
        }
        Err(e) => {
            warn!(user = %maildrop.user, uid = entry.uid, "POP3 cannot read a message: {e}");
            conn.write(b"-ERR [SYS/TEMP] cannot read the message, try again later\r\n");
            return Ok(false);
        }
    };
    match top {
        None => conn.write(format!("+OK {} octets\r\n", meta.size).as_bytes()),
        Some(_) => conn.write(b"+OK top of message follows\r\n"),
    }
    let mut reader = service.content_reader(&body, 0, meta.size);
    let mut filter = top.map(TopFilter::new);
    let mut stuffer = DotStuffer::new();
    let mut out = Vec::new();
    loop {
        if filter.as_ref().is_some_and(TopFilter::is_done) {
            break;
        }
        let chunk = match reader.next_chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(e) => {
                warn!(user = %maildrop.user, uid = entry.uid, "POP3 message read failed mid-answer: {e}");
                return Err(io::Error::other("message read failed"));
            }
        };
        let data = match filter.as_mut() {
            Some(f) => f.take(&chunk),
            None => &chunk[..],
        };
        out.clear();
        stuffer.push(data, &mut out);
        conn.write_streaming(&out).await?;
    }
    out.clear();
    stuffer.finish(&mut out);
    conn.write(&out);
    Ok(true)
}
