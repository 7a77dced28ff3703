//! Eider's IMAP gateway: IMAP4rev1 (RFC 3501) with the extensions it announces in
//! CAPABILITY, over the service layer.
//!
//! Sessions are stateless in the sense of DESIGN.md: a selected mailbox is its
//! id, the UID list the client knows, and the highest MODSEQ seen. Changes made
//! elsewhere (other sessions, LMTP, the API) reach a session as journal entries,
//! loaded when a beacon arrives and reported at the points RFC 3501 allows.
//!
//! Modules: [`parser`] (commands), [`transport`] (TCP/TLS/DEFLATE, limits),
//! `session` (state machine and journal application), `commands/*` (one file per
//! command group), `fetch` and `search`, [`mailbox_names`] (modified UTF-7, LIST patterns).

mod binary_append;
mod commands;
mod fetch;
pub mod mailbox_names;
mod object_id;
pub mod parser;
pub mod response;
mod search;
mod session;
pub mod transport;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eider_service::{ObjectId, Service};
use eider_tls::Tls;
use serde::Deserialize;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{debug, info, warn};

/// The shared TLS crate, re-exported for the binary.
pub use eider_tls as tls;

/// The `[imap]` section of the configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ImapConfig {
    pub enabled: bool,
    pub host: String,
    pub port: u16,
    /// Implicit TLS on this port.
    pub secure: bool,
    #[serde(rename = "disableSTARTTLS")]
    pub disable_starttls: bool,
    #[serde(rename = "enableCompression")]
    pub enable_compression: bool,
    /// Largest message APPEND accepts, in megabytes.
    #[serde(rename = "maxMB")]
    pub max_mb: u64,
    /// Allow LOGIN/AUTHENTICATE without TLS from non-loopback clients.
    #[serde(rename = "ignoreSTARTTLS")]
    pub ignore_starttls: bool,
    /// Expect a PROXY protocol (v1 or v2) header on every connection.
    #[serde(rename = "useProxy")]
    pub use_proxy: bool,
    /// Peers allowed to send the PROXY header (addresses or CIDR ranges).
    #[serde(rename = "trustedProxies")]
    pub trusted_proxies: Vec<String>,
    /// Most connections open at once (0: no cap).
    #[serde(rename = "maxClients")]
    pub max_clients: usize,
    /// Most connections open at once from one client address (0: no cap).
    #[serde(rename = "maxClientsPerIP")]
    pub max_clients_per_ip: usize,
    /// Seconds from connect within which the client must log in.
    #[serde(rename = "loginTimeout")]
    pub login_timeout: u64,
    /// Simultaneous sessions per user (a user's own limit takes precedence).
    #[serde(rename = "maxConnections")]
    pub max_connections: u64,
    /// Seconds of inactivity before a session is closed (RFC 3501: at least 30 minutes).
    #[serde(rename = "idleTimeout")]
    pub idle_timeout: u64,
    /// Seconds a write may wait for a client that stopped reading before the session
    /// is closed (every write, inside a command too: a large FETCH, IDLE updates).
    #[serde(rename = "writeTimeout")]
    pub write_timeout: u64,
}

impl ImapConfig {
    /// The caps and PROXY settings of this listener.
    pub fn gate(&self) -> eider_net::GateConfig {
        eider_net::GateConfig {
            max_clients: self.max_clients,
            max_clients_per_ip: self.max_clients_per_ip,
            use_proxy: self.use_proxy,
            trusted_proxies: self.trusted_proxies.clone(),
        }
    }
}

impl Default for ImapConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            host: "127.0.0.1".into(),
            port: 9993,
            secure: false,
            disable_starttls: false,
            enable_compression: false,
            max_mb: 64,
            ignore_starttls: false,
            use_proxy: false,
            trusted_proxies: vec!["127.0.0.0/8".into(), "::1".into()],
            max_clients: 10_000,
            max_clients_per_ip: 100,
            login_timeout: 60,
            max_connections: 15,
            idle_timeout: 30 * 60,
            write_timeout: 60,
        }
    }
}

#[derive(Debug, Error)]
pub enum ImapError {
    #[error("cannot listen on {0}: {1}")]
    Bind(String, std::io::Error),
    #[error("[imap] secure = true needs TLS, but no certificate is available")]
    NoTls,
    #[error("[imap] {0}")]
    Gate(#[from] eider_net::GateError),
    #[error("accept failed: {0}")]
    Accept(std::io::Error),
}

/// State shared by the sessions of one listener.
pub(crate) struct Shared {
    pub service: Service,
    pub config: ImapConfig,
    pub tls: Option<Tls>,
    /// Largest APPEND literal, in bytes.
    pub max_message: u64,
    /// Authenticated sessions per user (the `maxConnections` limit).
    connections: Mutex<HashMap<ObjectId, u64>>,
    /// Per mailbox, the highest UID some session has already been told about:
    /// messages above it are \Recent for the next session that sees them.
    recent: Mutex<HashMap<ObjectId, u32>>,
    pub stop: watch::Receiver<bool>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// Count a session for `user`; None when the limit is reached.
    pub(crate) fn register_user(self: &Arc<Self>, user: ObjectId, limit: u64) -> Option<UserSlot> {
        let mut map = lock(&self.connections);
        let n = map.entry(user).or_insert(0);
        if *n >= limit {
            return None;
        }
        *n += 1;
        Some(UserSlot {
            shared: Arc::clone(self),
            user,
        })
    }

    /// Claim the UIDs above the recent mark (a read-write session seeing them first).
    /// Returns the UIDs of `uids` that are \Recent for this session.
    pub(crate) fn claim_recent(&self, mailbox: ObjectId, uids: &[u32], claim: bool) -> Vec<u32> {
        let mut map = lock(&self.recent);
        if map.len() > 100_000 {
            map.clear();
        }
        let mark = map.get(&mailbox).copied().unwrap_or(0);
        let recent: Vec<u32> = uids.iter().copied().filter(|&u| u > mark).collect();
        if claim {
            if let Some(&max) = recent.last() {
                map.insert(mailbox, max.max(mark));
            }
        }
        recent
    }

    /// How many of `uids` are above the recent mark (STATUS RECENT).
    pub(crate) fn count_recent(&self, mailbox: ObjectId, uids: &[u32]) -> usize {
        let mark = lock(&self.recent).get(&mailbox).copied().unwrap_or(0);
        uids.iter().filter(|&&u| u > mark).count()
    }
}

/// A counted session of a user; released on drop.
pub(crate) struct UserSlot {
    shared: Arc<Shared>,
    user: ObjectId,
}

impl Drop for UserSlot {
    fn drop(&mut self) {
        let mut map = lock(&self.shared.connections);
        if let Some(n) = map.get_mut(&self.user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.user);
            }
        }
    }
}

/// A bound IMAP listener.
pub struct ImapServer {
    listener: TcpListener,
    gate: eider_net::Gate,
    shared: Arc<Shared>,
    stop_tx: watch::Sender<bool>,
}

/// Bind the listener described by `config`. `tls` serves STARTTLS and, with
/// `secure = true`, implicit TLS.
pub async fn bind(
    service: Service,
    config: &ImapConfig,
    tls: Option<Tls>,
) -> Result<ImapServer, ImapError> {
    if config.secure && tls.is_none() {
        return Err(ImapError::NoTls);
    }
    let gate = eider_net::Gate::new("IMAP", &config.gate())?;
    let addr = format!("{}:{}", config.host, config.port);
    let listener = TcpListener::bind(&addr)
        .await
        .map_err(|e| ImapError::Bind(addr.clone(), e))?;
    let max_message = config
        .max_mb
        .saturating_mul(1024 * 1024)
        .min(service.config().max_message_size);
    let (stop_tx, stop_rx) = watch::channel(false);
    let shared = Arc::new(Shared {
        service,
        config: config.clone(),
        tls,
        max_message,
        connections: Mutex::new(HashMap::new()),
        recent: Mutex::new(HashMap::new()),
        stop: stop_rx,
    });
    Ok(ImapServer {
        listener,
        gate,
        shared,
        stop_tx,
    })
}

impl ImapServer {
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// True when this listener speaks implicit TLS.
    pub fn is_secure(&self) -> bool {
        self.shared.config.secure
    }

    /// Accept connections until `shutdown` completes; then tell every session to
    /// say BYE and wait (briefly) for them to finish.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ImapError> {
        let mut sessions = tokio::task::JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, remote)) => {
                        let Ok(permit) = self.gate.admit(remote) else {
                            eider_net::refuse(stream, session::TOO_MANY);
                            continue;
                        };
                        let _ = stream.set_nodelay(true);
                        let shared = Arc::clone(&self.shared);
                        let gate = self.gate.clone();
                        sessions.spawn(async move {
                            session::serve_connection(shared, gate, permit, stream, remote).await;
                        });
                    }
                    Err(e) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        warn!("IMAP accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            }
        }
        let _ = self.stop_tx.send(true);
        let drain = async { while sessions.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(4), drain)
            .await
            .is_err()
        {
            debug!("IMAP sessions still busy at shutdown; aborting them");
            sessions.abort_all();
        }
        info!("IMAP listener stopped");
        Ok(())
    }
}
