//! One client connection: the state machine of RFC 3501 section 3, command
//! framing (lines, literals, limits), and the journal application that keeps a
//! selected mailbox's view in step with changes made elsewhere.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use eider_service::model::{Beacon, JournalEntry, JournalKind, SpecialUse, UidSet};
use eider_service::{AuthSource, Error as ServiceError, ObjectId};
use tokio::net::TcpStream;
use tokio::sync::broadcast;
use tracing::{debug, info};

use crate::parser::framing::{literal_at_end, peek_tag_and_name};
use crate::parser::{parse_command, Command, Request, SequenceSet};
use crate::response::{compress_set, flag_list, Reply, Status};
use crate::transport::{Connection, Line};
use crate::{Shared, UserSlot};

/// Longest command line accepted (bytes, without CRLF).
pub const MAX_LINE: usize = 64 * 1024;
/// Longest command accepted, lines and literals, not counting an APPEND message.
pub const MAX_COMMAND: usize = 1024 * 1024;
/// Longest command accepted before login, lines and literals (APPEND included):
/// LOGIN or AUTHENTICATE need a few hundred bytes, and an unauthenticated peer
/// must not make the server hold more (Dovecot allows a few KB too).
pub const MAX_PREAUTH_COMMAND: usize = 8 * 1024;
/// One APPEND command (all of a MULTIAPPEND's messages and CATENATE's text parts)
/// is read into memory whole, so it may hold at most this many times APPENDLIMIT
/// in all (each literal is still capped at APPENDLIMIT).
pub const APPEND_TOTAL_FACTOR: u64 = 2;
/// Consecutive bad commands after which the connection is closed.
const MAX_ERRORS: u32 = 50;
/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// The answer when a cap is reached.
pub(crate) const TOO_MANY: &[u8] = b"* BYE [UNAVAILABLE] Too many connections, try later\r\n";

pub const SYSTEM_FLAGS: [&str; 5] = ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    NotAuthenticated,
    Authenticated,
    Selected,
    Logout,
}

/// What a session keeps about its selected mailbox: the UIDs the client knows
/// (sequence number = index + 1) and the MODSEQ up to which it is up to date.
pub struct Selected {
    pub id: ObjectId,
    pub path: String,
    pub readonly: bool,
    pub uid_validity: u32,
    pub uids: Vec<u32>,
    pub modseq: u64,
    pub recent: HashSet<u32>,
    /// Keywords announced in FLAGS so far.
    pub keywords: BTreeSet<String>,
    /// Expunged elsewhere, not yet reported (no EXPUNGE during FETCH/STORE/SEARCH).
    pub pending_expunge: BTreeSet<u32>,
    /// Flag changes this session already reported: uid -> modseq.
    pub reported: HashMap<u32, u64>,
    /// The saved search result (RFC 5182 `$`), as UIDs, ascending.
    pub saved: Vec<u32>,
}

/// Why a sequence set could not be resolved.
pub struct BadSequence;

impl Selected {
    pub fn seq_of(&self, uid: u32) -> Option<u32> {
        self.uids.binary_search(&uid).ok().map(|i| i as u32 + 1)
    }

    pub fn exists(&self) -> usize {
        self.uids.len()
    }

    /// The UIDs a set names, ascending. Sequence numbers past the end are an
    /// error; UIDs that do not exist are skipped (RFC 3501 6.4.8). `*` is resolved
    /// here and the ranges merged before any UID is listed, so the work is
    /// O(r log r + r log n + answer) whatever the set repeats.
    pub fn resolve(&self, set: &SequenceSet, uid_mode: bool) -> Result<Vec<u32>, BadSequence> {
        if set.is_saved() {
            // `$`: the saved messages that still exist (RFC 5182 2.1).
            return Ok(self
                .saved
                .iter()
                .copied()
                .filter(|u| self.uids.binary_search(u).is_ok())
                .collect());
        }
        let mut out: Vec<u32> = Vec::new();
        if uid_mode {
            // `*` is the highest UID in use (nothing to name in an empty mailbox).
            for (lo, hi) in set.ranges(self.uids.last().copied()) {
                let start = self.uids.partition_point(|&u| u < lo);
                out.extend(self.uids[start..].iter().take_while(|&&u| u <= hi));
            }
        } else {
            let n = self.uids.len() as u32;
            let ranges = set.ranges((n > 0).then_some(n));
            if ranges.last().is_some_and(|&(_, hi)| hi > n)
                || ranges.first().is_some_and(|&(lo, _)| lo == 0)
            {
                return Err(BadSequence);
            }
            for (lo, hi) in ranges {
                out.extend_from_slice(&self.uids[(lo - 1) as usize..hi as usize]);
            }
        }
        Ok(out)
    }

    /// Every flag of the mailbox: system flags, then the keywords seen.
    pub fn flags_line(&self) -> String {
        let mut all: Vec<String> = SYSTEM_FLAGS.iter().map(|s| s.to_string()).collect();
        all.extend(self.keywords.iter().cloned());
        flag_list(&all, false)
    }

    pub fn permanent_flags_line(&self) -> String {
        if self.readonly {
            return "()".into();
        }
        let mut all: Vec<String> = SYSTEM_FLAGS.iter().map(|s| s.to_string()).collect();
        all.extend(self.keywords.iter().cloned());
        all.push("\\*".into());
        flag_list(&all, false)
    }
}

pub struct Session {
    pub(crate) shared: Arc<Shared>,
    pub conn: Connection,
    pub state: State,
    /// Set at login; meaningless before (commands check the state first).
    user: ObjectId,
    pub username: String,
    slot: Option<UserSlot>,
    /// The secret the login used: beacons revoking it end the session.
    pub(crate) auth_source: AuthSource,
    pub beacons: Option<broadcast::Receiver<Beacon>>,
    pub selected: Option<Selected>,
    /// CONDSTORE enabled (ENABLE, SELECT (CONDSTORE) or a MODSEQ-using command).
    pub condstore: bool,
    pub qresync: bool,
    pub utf8: bool,
    /// Live SEARCH/SORT results (RFC 5267 CONTEXT), of the selected mailbox.
    pub(crate) contexts: Vec<crate::commands::context::SearchContext>,
    /// ENABLE IMAP4rev2 was given: RFC 9051 answers (no \Recent, ESEARCH, ...).
    pub rev2: bool,
    /// NOTIFY SET in force (RFC 5465).
    pub(crate) notify: Option<crate::commands::notify::Notify>,
    errors: u32,
    /// Until login, every read and command must finish by then (`loginTimeout`).
    login_deadline: tokio::time::Instant,
}

/// A command read off the wire, or why it was refused before parsing.
enum Framed {
    Eof,
    Command(Vec<u8>),
    Refused { tag: Option<String>, reply: Reply },
}

/// Accept one connection: PROXY header, implicit TLS, then the session. `_permit`
/// holds the connection's place in the listener's caps until it closes.
pub(crate) async fn serve_connection(
    shared: Arc<Shared>,
    gate: eider_net::Gate,
    mut permit: eider_net::Permit,
    mut stream: TcpStream,
    peer: SocketAddr,
) {
    let login_deadline =
        tokio::time::Instant::now() + Duration::from_secs(shared.config.login_timeout.max(1));
    let remote = match gate.client_address(&mut stream, peer, &mut permit).await {
        Ok(addr) => addr,
        Err(eider_net::Rejected::Busy(_)) => {
            return eider_net::say_and_close(stream, TOO_MANY).await
        }
        Err(_) => return,
    };
    // Every line this connection logs carries its session id and remote address.
    let span = tracing::info_span!(
        "session",
        proto = "imap",
        session = %ObjectId::new().to_hex(),
        remote = %remote
    );
    let body = session_body(shared, permit, stream, remote, login_deadline);
    tracing::Instrument::instrument(body, span).await;
}

async fn session_body(
    shared: Arc<Shared>,
    _permit: eider_net::Permit,
    stream: TcpStream,
    remote: SocketAddr,
    login_deadline: tokio::time::Instant,
) {
    // On the socket, under TLS and DEFLATE: every write of the session is bounded.
    let write_limit = Duration::from_secs(shared.config.write_timeout.max(1));
    let stream = eider_net::WriteDeadline::new(stream, write_limit);
    let mut conn = Connection::new(Box::new(stream), remote, false);
    if shared.config.secure {
        let Some(tls) = shared.tls.as_ref() else {
            return;
        };
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, conn.start_tls(tls.acceptor(), true)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                debug!(%remote, "TLS handshake failed: {e}");
                return;
            }
            Err(_) => return,
        }
    }
    let session = Session {
        shared,
        conn,
        state: State::NotAuthenticated,
        user: ObjectId::new(),
        username: String::new(),
        slot: None,
        auth_source: AuthSource::Master,
        beacons: None,
        selected: None,
        contexts: Vec::new(),
        condstore: false,
        qresync: false,
        utf8: false,
        rev2: false,
        notify: None,
        errors: 0,
        login_deadline,
    };
    info!(event = "session_start", "IMAP session started");
    session.run().await;
}

impl Session {
    pub fn service(&self) -> &eider_service::Service {
        &self.shared.service
    }

    /// The authenticated user (callers check the state first).
    pub fn user_id(&self) -> ObjectId {
        self.user
    }

    /// Plaintext LOGIN/AUTHENTICATE are refused: no TLS, not loopback, not allowed by config.
    pub fn login_disabled(&self) -> bool {
        !self.conn.tls
            && !self.conn.remote.ip().is_loopback()
            && !self.shared.config.ignore_starttls
    }

    pub fn starttls_available(&self) -> bool {
        !self.conn.tls && self.shared.tls.is_some() && !self.shared.config.disable_starttls
    }

    /// The CAPABILITY list for the current state.
    pub fn capabilities(&self) -> String {
        let mut caps = vec!["IMAP4rev1".to_string(), "IMAP4rev2".to_string()];
        if self.state == State::NotAuthenticated {
            // STARTTLS is a command of the not-authenticated state only (RFC 3501 6.2.1).
            if self.starttls_available() {
                caps.push("STARTTLS".into());
            }
            if self.login_disabled() {
                caps.push("LOGINDISABLED".into());
            } else {
                caps.push("AUTH=PLAIN".into());
            }
            caps.push("SASL-IR".into());
        }
        for c in [
            "LITERAL+",
            "ID",
            "ENABLE",
            "IDLE",
            "NAMESPACE",
            "UNSELECT",
            "UIDPLUS",
            "MOVE",
            "CHILDREN",
            "SPECIAL-USE",
            "CREATE-SPECIAL-USE",
            "XLIST",
            "LIST-EXTENDED",
            "LIST-STATUS",
            "ESEARCH",
            "SEARCHRES",
            "SORT",
            "SORT=DISPLAY",
            "ESORT",
            "THREAD=ORDEREDSUBJECT",
            "THREAD=REFERENCES",
            "CONTEXT=SEARCH",
            "CONTEXT=SORT",
            "PARTIAL",
            "STATUS=SIZE",
            "NOTIFY",
            "BINARY",
            "CONDSTORE",
            "QRESYNC",
            "QUOTA",
            "UTF8=ACCEPT",
            "MULTIAPPEND",
            "CATENATE",
            "OBJECTID",
            "SAVEDATE",
            "METADATA",
            "METADATA-SERVER",
            "URLAUTH",
        ] {
            caps.push(c.into());
        }
        caps.push(format!("APPENDLIMIT={}", self.shared.max_message));
        if self.shared.config.enable_compression && !self.conn.compressed {
            caps.push("COMPRESS=DEFLATE".into());
        }
        caps.join(" ")
    }

    /// Write `* text\r\n`.
    pub fn untagged(&mut self, text: &str) {
        let out = self.conn.out();
        out.extend_from_slice(b"* ");
        out.extend_from_slice(text.as_bytes());
        out.extend_from_slice(b"\r\n");
    }

    async fn run(mut self) {
        let mut stop = self.shared.stop.clone();
        let greeting = format!("OK [CAPABILITY {}] Eider IMAP ready", self.capabilities());
        self.untagged(&greeting);
        let idle = Duration::from_secs(self.shared.config.idle_timeout.max(1));
        // After login: a second view of the user's beacons, watched for the end of
        // the session (logout, account disabled, its password changed or ASP
        // deleted) while waiting for a command.
        let mut logout: Option<broadcast::Receiver<Beacon>> = None;
        // How the session ended, for the session_end log line.
        let mut ended = "closed";
        loop {
            // A client that does not read its answers cannot hold the connection:
            // before login the write shares the login deadline, after it the idle one.
            let write_deadline = if self.state == State::NotAuthenticated {
                self.login_deadline
            } else {
                tokio::time::Instant::now() + idle
            };
            match tokio::time::timeout_at(write_deadline, self.conn.flush()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => {
                    ended = "write_failed";
                    break;
                }
            }
            self.conn.release_buffers();
            if logout.is_none() {
                logout = self.beacons.as_ref().map(|b| b.resubscribe());
            }
            let source = self.auth_source.clone();
            // Before login, the whole exchange must end by the login deadline; after,
            // each command must arrive within the idle period (RFC 3501's autologout).
            let unauthenticated = self.state == State::NotAuthenticated;
            let mut deadline = tokio::time::Instant::now() + idle;
            if unauthenticated {
                deadline = deadline.min(self.login_deadline);
            }
            // With NOTIFY, events are sent while the client is quiet: wait for input
            // (cancel-safe, nothing is consumed) or a beacon, whichever comes first.
            if self.notify.is_some() && !self.conn.has_buffered_input() {
                let Some(rx) = self.notify.as_mut().map(|n| &mut n.rx) else {
                    continue;
                };
                let woke = tokio::select! {
                    r = tokio::time::timeout_at(deadline, self.conn.fill()) => match r {
                        Ok(Ok(0)) | Ok(Err(_)) => break,
                        Ok(Ok(_)) => false,
                        Err(_) => {
                            self.untagged("BYE Autologout; idle for too long");
                            break;
                        }
                    },
                    // A closed Bus (shutdown) wakes nothing: read the command.
                    r = rx.recv() => self.notify.as_mut().is_some_and(|n| n.woken_by(&r)),
                    _ = stop.changed() => {
                        self.untagged("BYE Server shutting down");
                        break;
                    }
                    _ = wait_logout(&mut logout, &source) => {
                        self.untagged("BYE Logged out");
                        break;
                    }
                };
                if woke {
                    match self.notify_deliver().await {
                        Ok(()) if self.state == State::Logout => break,
                        Ok(()) => continue,
                        Err(_) => break,
                    }
                }
            }
            let framed = tokio::select! {
                r = tokio::time::timeout_at(deadline, self.read_command()) => r,
                _ = stop.changed() => {
                    self.untagged("BYE Server shutting down");
                    ended = "shutdown";
                    break;
                }
                _ = wait_logout(&mut logout, &source) => {
                    self.untagged("BYE Logged out");
                    ended = "revoked";
                    break;
                }
            };
            let framed = match framed {
                Ok(Ok(f)) => f,
                Ok(Err(e)) => {
                    debug!(remote = %self.conn.remote, "connection error: {e}");
                    ended = "error";
                    break;
                }
                Err(_) if unauthenticated && tokio::time::Instant::now() >= self.login_deadline => {
                    debug!(remote = %self.conn.remote, "IMAP login timeout");
                    self.untagged("BYE Autologout; login not completed in time");
                    ended = "timeout";
                    break;
                }
                Err(_) => {
                    self.untagged("BYE Autologout; idle for too long");
                    ended = "timeout";
                    break;
                }
            };
            match framed {
                Framed::Eof => break,
                Framed::Refused { tag, reply } => {
                    self.count_error();
                    reply.write(tag.as_deref().unwrap_or("*"), self.conn.out());
                }
                Framed::Command(bytes) => match parse_command(&bytes) {
                    Ok(req) => {
                        drop(bytes);
                        // AUTHENTICATE's continuation and STARTTLS's handshake read from
                        // the client too: before login they share the login deadline.
                        let outcome = if unauthenticated {
                            tokio::time::timeout_at(self.login_deadline, self.execute(req)).await
                        } else {
                            Ok(self.execute(req).await)
                        };
                        match outcome {
                            Ok(Ok(())) => {}
                            Ok(Err(e)) => {
                                debug!(remote = %self.conn.remote, "connection error: {e}");
                                ended = "error";
                                break;
                            }
                            Err(_) => {
                                debug!(remote = %self.conn.remote, "IMAP login timeout");
                                self.untagged("BYE Autologout; login not completed in time");
                                ended = "timeout";
                                break;
                            }
                        }
                    }
                    Err(e) => {
                        self.count_error();
                        let reply = Reply::bad(format!("Error in IMAP command: {}", e.message));
                        reply.write(e.tag.as_deref().unwrap_or("*"), self.conn.out());
                    }
                },
            }
            if self.errors >= MAX_ERRORS {
                self.untagged("BYE Too many invalid commands");
                ended = "too_many_errors";
                break;
            }
            if self.state == State::Logout {
                ended = "logout";
                break;
            }
        }
        let _ = self.conn.flush().await;
        self.conn.shutdown().await;
        // The user id only once logged in (the field holds a placeholder before).
        let user = if self.slot.is_some() {
            self.user.to_hex()
        } else {
            String::new()
        };
        info!(event = "session_end", user = %user, outcome = ended, "IMAP session ended");
    }

    fn count_error(&mut self) {
        self.errors += 1;
    }

    /// Read one command: its lines and literals, sending "+" for synchronizing
    /// literals and enforcing the size limits.
    async fn read_command(&mut self) -> io::Result<Framed> {
        let preauth = self.state == State::NotAuthenticated;
        let (max_line, max_command) = if preauth {
            (MAX_PREAUTH_COMMAND, MAX_PREAUTH_COMMAND)
        } else {
            (MAX_LINE, MAX_COMMAND)
        };
        let mut buf: Vec<u8> = Vec::new();
        let mut first_line: Option<Vec<u8>> = None;
        let mut refused: Option<Reply> = None;
        // Bytes of refused literals skipped so far (see below).
        let mut discarded: u64 = 0;
        let skip_limit = 2 * self.shared.max_message.max(MAX_COMMAND as u64);
        loop {
            let line = match self.conn.read_line(max_line).await? {
                None => return Ok(Framed::Eof),
                Some(Line::TooLong(prefix)) => {
                    let head = first_line.as_deref().unwrap_or(&prefix);
                    let (tag, _) = peek_tag_and_name(head);
                    // The rest of a command whose line was cut cannot be framed reliably.
                    return Ok(Framed::Refused {
                        tag,
                        reply: Reply::bad("Command line too long").with_code("TOOBIG"),
                    });
                }
                Some(Line::Data(l)) => l,
            };
            if buf.is_empty() && first_line.is_none() && line.is_empty() {
                continue;
            }
            if first_line.is_none() {
                first_line = Some(line.iter().copied().take(256).collect());
            }
            let literal = literal_at_end(&line);
            if refused.is_none() {
                buf.extend_from_slice(&line);
                buf.extend_from_slice(b"\r\n");
            }
            let Some(lit) = literal else {
                if let Some(reply) = refused {
                    let (tag, _) = peek_tag_and_name(first_line.as_deref().unwrap_or_default());
                    return Ok(Framed::Refused { tag, reply });
                }
                return Ok(Framed::Command(buf));
            };
            let (tag, name) = peek_tag_and_name(first_line.as_deref().unwrap_or_default());
            // Before login APPEND cannot run: it gets the small limit of any command.
            let is_append = name == "APPEND" && !preauth;
            let limit = if is_append {
                // Per literal APPENDLIMIT, and all literals together the multiple.
                let total = APPEND_TOTAL_FACTOR.saturating_mul(self.shared.max_message);
                self.shared
                    .max_message
                    .min(total.saturating_sub(buf.len() as u64))
            } else {
                (max_command.saturating_sub(buf.len())) as u64
            };
            if refused.is_none() && (lit.len > limit || (!is_append && buf.len() > max_command)) {
                let reply = if is_append {
                    Reply::no("Message too large").with_code("TOOBIG")
                } else if preauth {
                    Reply::bad(format!(
                        "Command too long before login (max {MAX_PREAUTH_COMMAND} bytes)"
                    ))
                    .with_code("TOOBIG")
                } else {
                    Reply::bad("Literal too large").with_code("TOOBIG")
                };
                refused = Some(reply);
                buf = Vec::new();
            }
            if let Some(reply) = refused.take() {
                // A non-synchronizing literal comes anyway (RFC 7888 4). Skipping a
                // little keeps the session; reading a huge announced size, or
                // anything from a peer that has not logged in, is not worth it:
                // refuse and close, as Dovecot does.
                if !lit.non_sync {
                    // Not "+": the client abandons the command on the answer.
                    return Ok(Framed::Refused { tag, reply });
                }
                discarded = discarded.saturating_add(lit.len);
                if preauth || discarded > skip_limit {
                    self.untagged("BYE Literal too large");
                    self.state = State::Logout;
                    return Ok(Framed::Refused { tag, reply });
                }
                self.conn.discard(lit.len).await?;
                refused = Some(reply);
                continue;
            }
            if !lit.non_sync {
                self.conn.write(b"+ Ready for literal data\r\n");
                self.conn.flush().await?;
            }
            self.conn
                .read_exact_into(lit.len as usize, &mut buf)
                .await?;
        }
    }

    async fn execute(&mut self, req: Request) -> io::Result<()> {
        let Request { tag, command } = req;
        let name = command.name();
        eider_net::metrics::inc(
            "eider_commands_total",
            "Protocol commands received, by protocol and command.",
            &[("protocol", "imap"), ("command", name)],
        );
        let tail = tail_rule(&command);
        let reply = self.dispatch(&tag, command).await?;
        match &reply {
            Some(r) if r.status == Status::Bad => self.count_error(),
            Some(_) => self.errors = 0,
            None => {}
        }
        if let Some(reply) = reply {
            if self.state == State::Selected {
                match tail {
                    Tail::None => {}
                    Tail::Always => self.sync(true).await?,
                    Tail::IfChanged { expunge } => {
                        if self.beacon_pending() {
                            self.sync(expunge).await?;
                        }
                    }
                }
                if !matches!(tail, Tail::None) {
                    self.update_contexts().await?;
                }
            }
            reply.write(&tag, self.conn.out());
            if reply.status != Status::Ok {
                debug!(command = name, user = %self.username, "{} {}", reply.status.as_str(), reply.text);
            }
        }
        Ok(())
    }

    /// Run one command. None when the handler wrote its tagged answer itself.
    async fn dispatch(&mut self, tag: &str, command: Command) -> io::Result<Option<Reply>> {
        use Command as C;
        let state = self.state;
        let authed = matches!(state, State::Authenticated | State::Selected);
        let selected = state == State::Selected;
        Ok(Some(match command {
            C::Capability => {
                let caps = format!("CAPABILITY {}", self.capabilities());
                self.untagged(&caps);
                Reply::ok("Capability completed")
            }
            C::Noop => Reply::ok("NOOP completed"),
            C::Check if selected => Reply::ok("CHECK completed"),
            C::Logout => {
                self.untagged("BYE Logging out");
                self.state = State::Logout;
                Reply::ok("LOGOUT completed")
            }
            C::Id(params) => self.cmd_id(params),
            C::StartTls => return self.cmd_starttls(tag).await,
            C::Login { username, password } if state == State::NotAuthenticated => {
                self.cmd_login(username, password).await
            }
            C::Authenticate { mechanism, initial } if state == State::NotAuthenticated => {
                self.cmd_authenticate(mechanism, initial).await?
            }
            C::Login { .. } | C::Authenticate { .. } => Reply::bad("Already authenticated"),
            _ if !authed => Reply::bad("Log in first"),
            C::Compress(alg) => return self.cmd_compress(tag, alg).await,
            C::Enable(caps) => self.cmd_enable(caps),
            C::Namespace => {
                self.untagged("NAMESPACE ((\"\" \"/\")) NIL NIL");
                Reply::ok("NAMESPACE completed")
            }
            C::Select {
                mailbox,
                readonly,
                params,
            } => self.cmd_select(mailbox, readonly, params).await?,
            C::Create {
                mailbox,
                special_use,
            } => self.cmd_create(mailbox, special_use).await,
            C::Delete(mailbox) => self.cmd_delete(mailbox).await,
            C::Rename { from, to } => self.cmd_rename(from, to).await,
            C::Subscribe(mailbox) => self.cmd_subscribe(mailbox, true).await,
            C::Unsubscribe(mailbox) => self.cmd_subscribe(mailbox, false).await,
            C::List(list) => self.cmd_list(list).await?,
            C::Status { mailbox, items } => self.cmd_status(mailbox, items).await,
            C::Append { mailbox, messages } => self.cmd_append(mailbox, messages).await,
            C::GetMetadata {
                mailbox,
                maxsize,
                depth,
                entries,
            } => self.cmd_getmetadata(mailbox, maxsize, depth, entries).await,
            C::SetMetadata { mailbox, entries } => self.cmd_setmetadata(mailbox, entries).await,
            C::GenUrlAuth(pairs) => self.cmd_genurlauth(pairs).await,
            C::ResetKey(mailbox) => self.cmd_resetkey(mailbox).await,
            C::UrlFetch(urls) => self.cmd_urlfetch(urls).await?,
            C::GetQuota(root) => self.cmd_getquota(root).await,
            C::GetQuotaRoot(mailbox) => self.cmd_getquotaroot(mailbox).await,
            C::SetQuota(_) => Reply::no("Quotas are set through the API").with_code("CANNOT"),
            C::Notify(n) => self.cmd_notify(n).await?,
            C::Idle => return self.cmd_idle(tag).await,
            _ if !selected => Reply::bad("No mailbox selected"),
            C::Check => Reply::ok("CHECK completed"),
            C::Close => self.cmd_close(true).await,
            C::Unselect => self.cmd_close(false).await,
            C::Expunge { uids } => self.cmd_expunge(uids).await?,
            C::Search {
                uid,
                charset,
                criteria,
                ret,
            } => self.cmd_search(tag, uid, charset, criteria, ret).await?,
            C::Sort {
                uid,
                ret,
                program,
                charset,
                criteria,
            } => {
                self.cmd_sort(tag, uid, ret, program, charset, criteria)
                    .await?
            }
            C::Thread {
                uid,
                algorithm,
                charset,
                criteria,
            } => self.cmd_thread(uid, algorithm, charset, criteria).await?,
            C::CancelUpdate(tags) => self.cmd_cancel_update(tags),
            C::Fetch {
                uid,
                set,
                items,
                modifiers,
                macro_or_single: _,
            } => self.cmd_fetch(uid, set, items, modifiers).await?,
            C::Store {
                uid,
                set,
                unchanged_since,
                op,
                silent,
                flags,
            } => {
                self.cmd_store(uid, set, unchanged_since, op, silent, flags)
                    .await?
            }
            C::Copy { uid, set, mailbox } => self.cmd_copy(uid, set, mailbox, false).await?,
            C::Move { uid, set, mailbox } => self.cmd_copy(uid, set, mailbox, true).await?,
        }))
    }

    /// Become authenticated as `user` (LOGIN and AUTHENTICATE end here).
    pub async fn logged_in(
        &mut self,
        user: eider_service::model::User,
        source: AuthSource,
    ) -> Reply {
        // The user's own limit, else the `const:max:imap:connections` runtime setting
        // (whose default is `[imap] maxConnections`).
        let limit = match user.profile.limits.imap_max_connections {
            Some(n) => n,
            None => {
                self.service()
                    .setting_u64(eider_service::settings::keys::MAX_IMAP_CONNECTIONS)
                    .await
            }
        }
        .max(1);
        let Some(slot) = self.shared.register_user(user.id, limit) else {
            return Reply::no("Too many simultaneous connections").with_code("LIMIT");
        };
        self.slot = Some(slot);
        self.beacons = Some(self.service().bus().subscribe(user.id));
        self.auth_source = source;
        self.user = user.id;
        self.username = user.username.clone();
        self.state = State::Authenticated;
        info!(user = %user.username, remote = %self.conn.remote, "IMAP login");
        Reply::ok(format!(
            "{} authenticated",
            crate::response::sanitize(&user.username)
        ))
        .with_code(format!("CAPABILITY {}", self.capabilities()))
    }

    /// True when a beacon for the selected mailbox (or a lost one) arrived.
    pub fn beacon_pending(&mut self) -> bool {
        let Some(sel) = self.selected.as_ref().map(|s| s.id) else {
            return false;
        };
        let Some(rx) = self.beacons.as_mut() else {
            return false;
        };
        let mut pending = false;
        loop {
            match rx.try_recv() {
                Ok(b) => pending |= b.mailbox.is_none_or(|m| m == sel),
                Err(broadcast::error::TryRecvError::Lagged(_)) => pending = true,
                Err(_) => return pending,
            }
        }
    }

    /// Turn CONDSTORE on. The first CONDSTORE-enabling command in the selected
    /// state announces the mailbox's HIGHESTMODSEQ (RFC 7162 3.1).
    pub fn enable_condstore(&mut self) {
        if self.condstore {
            return;
        }
        self.condstore = true;
        if let Some(modseq) = self.selected.as_ref().map(|s| s.modseq) {
            self.untagged(&format!("OK [HIGHESTMODSEQ {modseq}] Highest"));
        }
    }

    /// Leave the selected state.
    pub fn deselect(&mut self) {
        self.contexts.clear();
        if self.selected.take().is_some() {
            self.state = State::Authenticated;
        }
    }

    /// Note the keywords in `flags`; announce FLAGS/PERMANENTFLAGS when some are new.
    pub fn note_keywords(&mut self, flags: &[String]) {
        let Some(sel) = self.selected.as_mut() else {
            return;
        };
        let mut grew = false;
        for f in flags {
            if !f.starts_with('\\') && !sel.keywords.contains(f) {
                sel.keywords.insert(f.clone());
                grew = true;
            }
        }
        if grew {
            let flags = format!("FLAGS {}", sel.flags_line());
            let perm = format!(
                "OK [PERMANENTFLAGS {}] Flags permitted",
                sel.permanent_flags_line()
            );
            self.untagged(&flags);
            self.untagged(&perm);
        }
    }

    /// Report expunged UIDs the client knows: `* n EXPUNGE` (or VANISHED with QRESYNC).
    pub fn report_expunged(&mut self, removed: &[u32]) {
        self.context_expunged(removed);
        let qresync = self.qresync;
        let Some(sel) = self.selected.as_mut() else {
            return;
        };
        let mut lines: Vec<String> = Vec::new();
        let mut vanished: Vec<u32> = Vec::new();
        for &uid in removed {
            if let Ok(pos) = sel.uids.binary_search(&uid) {
                sel.uids.remove(pos);
                sel.recent.remove(&uid);
                sel.reported.remove(&uid);
                sel.pending_expunge.remove(&uid);
                if qresync {
                    vanished.push(uid);
                } else {
                    lines.push(format!("{} EXPUNGE", pos + 1));
                }
            }
        }
        for l in lines {
            self.untagged(&l);
        }
        if !vanished.is_empty() {
            vanished.sort_unstable();
            let l = format!("VANISHED {}", compress_set(&vanished));
            self.untagged(&l);
        }
    }

    /// Apply journal entries past the session's MODSEQ and report them:
    /// EXPUNGE/VANISHED (when `expunge_ok`), EXISTS, RECENT and FETCH FLAGS.
    pub async fn sync(&mut self, expunge_ok: bool) -> io::Result<()> {
        let Some(sel) = self.selected.as_ref() else {
            return Ok(());
        };
        let (mailbox, since) = (sel.id, sel.modseq);
        let mut reach = 0;
        let entries = match self
            .service()
            .journal_since(self.user_id(), mailbox, since)
            .await
        {
            Ok(e) => e,
            // The journal was pruned past this session's MODSEQ: rebuild the changes
            // from the mailbox's state (what a fresh SELECT would see).
            Err(ServiceError::JournalPruned) => match self.state_as_journal(mailbox, since).await {
                Ok((e, modseq)) => {
                    reach = modseq;
                    e
                }
                Err(e) => {
                    debug!("mailbox state read failed: {e}");
                    return Ok(());
                }
            },
            Err(ServiceError::NoSuchMailbox) => {
                self.untagged("BYE Selected mailbox was deleted");
                self.state = State::Logout;
                return Ok(());
            }
            Err(e) => {
                debug!("journal read failed: {e}");
                return Ok(());
            }
        };
        let condstore = self.condstore;
        let Some(sel) = self.selected.as_mut() else {
            return Ok(());
        };
        let mut new_uids: Vec<u32> = Vec::new();
        let mut expunged: Vec<u32> = Vec::new();
        let mut flag_updates: HashMap<u32, (Vec<String>, u64)> = HashMap::new();
        let mut new_flags: Vec<String> = Vec::new();
        for e in entries {
            sel.modseq = sel.modseq.max(e.modseq);
            let Some(uid) = e.uid else { continue };
            match e.kind {
                JournalKind::Exists
                    if sel.uids.binary_search(&uid).is_err() && !new_uids.contains(&uid) =>
                {
                    new_uids.push(uid);
                    new_flags.extend(e.flags.iter().cloned());
                }
                JournalKind::Expunge => {
                    if let Some(p) = new_uids.iter().position(|&u| u == uid) {
                        new_uids.remove(p);
                    } else if sel.uids.binary_search(&uid).is_ok() {
                        expunged.push(uid);
                        flag_updates.remove(&uid);
                    }
                }
                JournalKind::Flags => {
                    if sel.reported.get(&uid).is_some_and(|&m| m >= e.modseq) {
                        continue;
                    }
                    if sel.uids.binary_search(&uid).is_ok() {
                        new_flags.extend(e.flags.iter().cloned());
                        flag_updates.insert(uid, (e.flags, e.modseq));
                    }
                }
                _ => {}
            }
        }
        sel.modseq = sel.modseq.max(reach);
        sel.reported.clear();
        // Expunges: now, or held until a command that may report them.
        sel.pending_expunge.extend(expunged);
        let report: Vec<u32> = if expunge_ok {
            std::mem::take(&mut sel.pending_expunge)
                .into_iter()
                .collect()
        } else {
            Vec::new()
        };
        self.report_expunged(&report);
        let Some(sel) = self.selected.as_mut() else {
            return Ok(());
        };
        // New messages.
        if !new_uids.is_empty() {
            new_uids.sort_unstable();
            // IMAP4rev2 has no \Recent (RFC 9051 appendix E): such a session claims none.
            if !self.rev2 {
                let recent = self.shared.claim_recent(sel.id, &new_uids, !sel.readonly);
                sel.recent.extend(recent);
            }
            let start = sel.uids.len();
            sel.uids.extend(new_uids);
            if sel.uids[..start].last() > sel.uids.get(start) {
                sel.uids.sort_unstable();
            }
            let exists = format!("{} EXISTS", sel.uids.len());
            let recent = format!("{} RECENT", sel.recent.len());
            self.untagged(&exists);
            if !self.rev2 {
                self.untagged(&recent);
            }
        }
        self.note_keywords(&new_flags);
        // Flag changes, in sequence order.
        let Some(sel) = self.selected.as_ref() else {
            return Ok(());
        };
        let mut lines: Vec<(u32, String)> = flag_updates
            .into_iter()
            .filter_map(|(uid, (flags, modseq))| {
                let seq = sel.seq_of(uid)?;
                let mut l = format!(
                    "{seq} FETCH (UID {uid} FLAGS {}",
                    flag_list(&flags, sel.recent.contains(&uid))
                );
                if condstore {
                    l.push_str(&format!(" MODSEQ ({modseq})"));
                }
                l.push(')');
                Some((seq, l))
            })
            .collect();
        lines.sort_unstable_by_key(|(seq, _)| *seq);
        for (_, l) in lines {
            self.untagged(&l);
            self.conn.maybe_flush().await?;
        }
        Ok(())
    }

    /// The changes since `since` as journal entries rebuilt from the mailbox's current
    /// state, for a session whose MODSEQ the pruned journal no longer reaches: Expunge
    /// for the session's UIDs that are gone, Exists for new ones, Flags for messages
    /// changed after `since`. Also returns the mailbox's MODSEQ (where the session is
    /// then).
    async fn state_as_journal(
        &self,
        mailbox: ObjectId,
        since: u64,
    ) -> eider_service::Result<(Vec<JournalEntry>, u64)> {
        let user = self.user_id();
        let service = self.service();
        let mb = service.get_mailbox(user, mailbox).await?;
        let metas = service
            .list_messages(
                user,
                mailbox,
                &UidSet::all(),
                eider_service::model::SortOrder::Ascending,
                0,
            )
            .await?;
        let Some(sel) = self.selected.as_ref() else {
            return Ok((Vec::new(), mb.modify_index));
        };
        let entry = |kind, uid, message, flags, modseq| JournalEntry {
            id: 0,
            user,
            mailbox,
            modseq,
            kind,
            uid: Some(uid),
            message,
            flags,
            path: None,
            created: chrono::Utc::now(),
        };
        let mut out = Vec::new();
        let mut present: Vec<u32> = metas.iter().map(|m| m.uid).collect();
        present.sort_unstable();
        for &uid in &sel.uids {
            if present.binary_search(&uid).is_err() {
                out.push(entry(
                    JournalKind::Expunge,
                    uid,
                    None,
                    Vec::new(),
                    mb.modify_index,
                ));
            }
        }
        for m in metas {
            if sel.uids.binary_search(&m.uid).is_err() {
                out.push(entry(
                    JournalKind::Exists,
                    m.uid,
                    Some(m.id),
                    m.flags,
                    m.modseq,
                ));
            } else if m.modseq > since {
                out.push(entry(
                    JournalKind::Flags,
                    m.uid,
                    Some(m.id),
                    m.flags,
                    m.modseq,
                ));
            }
        }
        Ok((out, mb.modify_index))
    }

    /// Name of a special-use role in LIST answers.
    pub fn special_use_attr(role: SpecialUse, xlist: bool) -> &'static str {
        match (role, xlist) {
            (SpecialUse::Junk, true) => "\\Spam",
            (SpecialUse::Archive, true) => "\\AllMail",
            (r, _) => r.as_str(),
        }
    }
}

/// When a command's tail reports changes made elsewhere.
enum Tail {
    None,
    Always,
    IfChanged { expunge: bool },
}

fn tail_rule(c: &Command) -> Tail {
    match c {
        Command::Noop | Command::Check => Tail::Always,
        Command::Select { .. }
        | Command::Close
        | Command::Unselect
        | Command::Logout
        | Command::StartTls
        | Command::Compress(_)
        | Command::Idle
        | Command::Login { .. }
        | Command::Authenticate { .. } => Tail::None,
        // RFC 3501 7.4.1: no EXPUNGE during FETCH, STORE or SEARCH (UID versions may).
        Command::Fetch { uid, .. }
        | Command::Store { uid, .. }
        | Command::Search { uid, .. }
        | Command::Sort { uid, .. }
        | Command::Thread { uid, .. } => Tail::IfChanged { expunge: *uid },
        _ => Tail::IfChanged { expunge: true },
    }
}

/// Resolves when a beacon ending a session logged in with `source` arrives (never
/// without a receiver).
pub(crate) async fn wait_logout(rx: &mut Option<broadcast::Receiver<Beacon>>, source: &AuthSource) {
    match rx.as_mut() {
        Some(rx) => source.revoked(rx).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(uids: Vec<u32>) -> Selected {
        Selected {
            id: ObjectId::new(),
            path: "INBOX".into(),
            readonly: false,
            uid_validity: 1,
            uids,
            modseq: 0,
            recent: HashSet::new(),
            keywords: BTreeSet::new(),
            pending_expunge: BTreeSet::new(),
            reported: HashMap::new(),
            saved: Vec::new(),
        }
    }

    fn set(s: &str) -> SequenceSet {
        match parse_command(format!("a FETCH {s} UID").as_bytes()).map(|r| r.command) {
            Ok(Command::Fetch { set, .. }) => set,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn resolves_sets() {
        let s = sel(vec![3, 5, 9, 10]);
        assert_eq!(s.resolve(&set("1:*"), false).ok(), Some(vec![3, 5, 9, 10]));
        assert_eq!(s.resolve(&set("2,4"), false).ok(), Some(vec![5, 10]));
        assert!(s.resolve(&set("5"), false).is_err());
        assert_eq!(s.resolve(&set("4:*"), true).ok(), Some(vec![5, 9, 10]));
        assert_eq!(s.resolve(&set("20:*"), true).ok(), Some(vec![10]));
        assert_eq!(s.resolve(&set("6:8"), true).ok(), Some(vec![]));
        assert_eq!(s.resolve(&set("*:2"), false).ok(), Some(vec![5, 9, 10]));
        let empty = sel(vec![]);
        assert_eq!(empty.resolve(&set("1:*"), false).ok(), Some(vec![]));
        assert!(empty.resolve(&set("1"), false).is_err());
        assert_eq!(empty.resolve(&set("1:*"), true).ok(), Some(vec![]));
        assert_eq!(s.seq_of(9), Some(3));
    }

    #[test]
    fn resolves_merged_and_star_ranges() {
        let s = sel(vec![3, 5, 9, 10]);
        // Repeats and overlaps name each message once, in order.
        let repeated = vec!["1:*"; 16_000].join(",");
        assert_eq!(
            s.resolve(&set(&repeated), false).ok(),
            Some(vec![3, 5, 9, 10])
        );
        assert_eq!(
            s.resolve(&set("4,1:2,2:3,1"), false).ok(),
            Some(vec![3, 5, 9, 10])
        );
        assert_eq!(
            s.resolve(&set("10,3,4:6,9"), true).ok(),
            Some(vec![3, 5, 9, 10])
        );
        // `a:*` past the end: an error for sequence numbers, the last UID for UIDs;
        // merging keeps it so however many smaller `a:*` come along.
        assert!(s.resolve(&set("2:*,9:*,3:*"), false).is_err());
        assert_eq!(s.resolve(&set("2:*,5:*"), false).ok(), None);
        assert_eq!(s.resolve(&set("3:*,2:*"), false).ok(), Some(vec![5, 9, 10]));
        assert_eq!(s.resolve(&set("99:*,11:20"), true).ok(), Some(vec![10]));
        assert_eq!(s.resolve(&set("*,1"), false).ok(), Some(vec![3, 10]));
        assert_eq!(s.resolve(&set("*,*:*"), true).ok(), Some(vec![10]));
        let empty = sel(vec![]);
        assert_eq!(empty.resolve(&set("*,1:*,5:*"), false).ok(), Some(vec![]));
        assert!(empty.resolve(&set("*,1"), false).is_err());
    }
}
