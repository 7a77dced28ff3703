//! Eider's LMTP gateway (RFC 2033): the MTA in front hands mail over here, many
//! recipients per transaction, one reply per recipient after DATA, each positive
//! only once that copy is durably stored.
//!
//! Modules by concept: [`parser`] (command lines), [`data`] (dot-unstuffing with
//! a size limit), [`reply`] (codes and rendering), [`session`] (one connection's
//! state machine), [`backend`] (what a session asks of the store: the service
//! layer's delivery rules). Forwards and autoreplies are queued by the service for
//! the outbound workers (eider-outbound); the LMTP client (`push_message`) lives there.

pub mod backend;
// The line protocol lives in eider-smtp-proto, shared with submission and the outbound client.
pub use eider_smtp_proto::{data, parser, reply};
pub mod session;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use eider_net::{Gate, Permit, Rejected};
use eider_service::{Deliverer, DeliveryConfig, Service, SpamConfig};
use serde::Deserialize;
use thiserror::Error;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracing::{debug, info, warn};

pub use backend::{Backend, ServiceBackend, Transaction};
pub use session::{Session, SessionConfig, SessionEnd};

/// `[lmtp]` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LmtpConfig {
    pub enabled: bool,
    pub host: String,
    pub port: u16,
    /// Largest message accepted, in megabytes.
    #[serde(rename = "maxMB")]
    pub max_mb: u64,
    /// Server name in the greeting and the LHLO reply.
    pub name: String,
    /// Most recipients in one transaction.
    pub max_recipients: usize,
    /// Seconds within which each command line must arrive in full (counted from when
    /// the server starts waiting for it); the base of the DATA deadline.
    pub timeout: u64,
    /// Most connections open at once; more are answered 421 and closed (0: no cap).
    pub max_clients: usize,
    /// Most connections open at once from one address (0: no cap).
    #[serde(rename = "maxClientsPerIP")]
    pub max_clients_per_ip: usize,
    /// The earlier name of `maxClients`; when set, it wins.
    #[serde(rename = "maxConnections")]
    pub legacy_max_connections: Option<usize>,
    /// Expect a PROXY protocol (v1 or v2) header on every connection.
    pub use_proxy: bool,
    /// Peers allowed to send the PROXY header (addresses or CIDR ranges).
    pub trusted_proxies: Vec<String>,
    /// Seconds within which a message whose Message-ID is already in the target
    /// mailbox is not stored again (answered 250); 0 for no time limit.
    pub duplicate_window: u64,
    /// Seconds during which a sender gets at most one autoreply from a user.
    pub autoreply_interval: u64,
    /// Do not offer STARTTLS even when TLS is available.
    #[serde(rename = "disableSTARTTLS")]
    pub disable_starttls: bool,
    /// The `[spam]` section (read by the binary: shared with the API's uploads).
    #[serde(skip)]
    pub spam: SpamConfig,
}

impl Default for LmtpConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            host: "127.0.0.1".into(),
            port: 2424,
            max_mb: 64,
            name: String::new(),
            max_recipients: 1000,
            timeout: 300,
            max_clients: 1000,
            max_clients_per_ip: 1000,
            legacy_max_connections: None,
            use_proxy: false,
            trusted_proxies: vec!["127.0.0.0/8".into(), "::1".into()],
            duplicate_window: 7 * 24 * 3600,
            autoreply_interval: 4 * 24 * 3600,
            disable_starttls: false,
            spam: SpamConfig::default(),
        }
    }
}

impl LmtpConfig {
    /// The caps and PROXY settings of this listener.
    pub fn gate(&self) -> eider_net::GateConfig {
        eider_net::GateConfig {
            max_clients: self.legacy_max_connections.unwrap_or(self.max_clients),
            max_clients_per_ip: self.max_clients_per_ip,
            use_proxy: self.use_proxy,
            trusted_proxies: self.trusted_proxies.clone(),
        }
    }
}

#[derive(Debug, Error)]
pub enum LmtpError {
    #[error("cannot listen on {0}: {1}")]
    Bind(String, std::io::Error),
    #[error("invalid LMTP setting: {0}")]
    Config(String),
    #[error("[lmtp] {0}")]
    Gate(#[from] eider_net::GateError),
    #[error("LMTP listener failed: {0}")]
    Accept(std::io::Error),
}

/// A bound LMTP listener, ready to serve.
pub struct LmtpServer {
    listener: TcpListener,
    backend: Arc<ServiceBackend>,
    session: Arc<SessionConfig>,
    tls: Option<eider_tls::Tls>,
    gate: Gate,
}

/// Bind the LMTP listener over `service`. With `tls`, STARTTLS is offered.
pub async fn bind(
    service: Service,
    config: &LmtpConfig,
    tls: Option<eider_tls::Tls>,
) -> Result<LmtpServer, LmtpError> {
    config.spam.validate().map_err(LmtpError::Config)?;
    if config.max_mb == 0 {
        return Err(LmtpError::Config("maxMB must be at least 1".into()));
    }
    let max_size = usize::try_from(config.max_mb.saturating_mul(1024 * 1024))
        .map_err(|_| LmtpError::Config("maxMB is too large".into()))?;
    let gate = Gate::new("LMTP", &config.gate())?;
    let addr = format!("{}:{}", config.host, config.port);
    let listener = TcpListener::bind(&addr)
        .await
        .map_err(|e| LmtpError::Bind(addr.clone(), e))?;
    let service_outbound = service.outbound().cloned();
    let mut deliverer = Deliverer::new(
        service,
        DeliveryConfig {
            spam: config.spam.clone(),
            duplicate_window: (config.duplicate_window > 0)
                .then(|| Duration::from_secs(config.duplicate_window)),
        },
    );
    // Forwards and autoreplies are on when the service sends mail.
    if let Some(outbound) = service_outbound {
        deliverer = deliverer.with_outbound(outbound);
    }
    let name = match config.name.trim() {
        "" => "localhost".to_string(),
        n => n.to_string(),
    };
    let tls = tls.filter(|_| !config.disable_starttls);
    Ok(LmtpServer {
        listener,
        backend: Arc::new(ServiceBackend::new(deliverer)),
        session: Arc::new(SessionConfig {
            name,
            max_size,
            max_recipients: config.max_recipients.max(1),
            timeout: Duration::from_secs(config.timeout.max(1)),
            starttls: tls.is_some(),
            max_errors: 20,
        }),
        tls,
        gate,
    })
}

impl LmtpServer {
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serve until `shutdown` completes; then stop accepting, tell idle sessions
    /// (421) and wait for the ones in a delivery to finish.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), LmtpError> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut sessions = tokio::task::JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
                accepted = self.listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            // Out of descriptors and the like: back off, keep serving.
                            warn!("LMTP accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    };
                    let Ok(permit) = self.gate.admit(peer) else {
                        eider_net::refuse(stream, &TOO_MANY);
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let backend = self.backend.clone();
                    let config = self.session.clone();
                    let tls = self.tls.clone();
                    let gate = self.gate.clone();
                    let stop = stop_rx.clone();
                    sessions.spawn(async move {
                        serve_connection(backend, config, tls, gate, permit, stream, peer, stop).await
                    });
                }
            }
        }
        let _ = stop_tx.send(true);
        while sessions.join_next().await.is_some() {}
        Ok(())
    }
}

/// The answer when a cap is reached.
static TOO_MANY: std::sync::LazyLock<Vec<u8>> =
    std::sync::LazyLock::new(|| reply::too_many_connections().to_bytes());

/// One connection; `permit` holds its place in the listener's caps until it closes.
#[allow(clippy::too_many_arguments)]
async fn serve_connection(
    backend: Arc<ServiceBackend>,
    config: Arc<SessionConfig>,
    tls: Option<eider_tls::Tls>,
    gate: Gate,
    mut permit: Permit,
    mut stream: TcpStream,
    peer: SocketAddr,
    stop: watch::Receiver<bool>,
) {
    let peer = match gate.client_address(&mut stream, peer, &mut permit).await {
        Ok(addr) => addr,
        Err(Rejected::Busy(_)) => return eider_net::say_and_close(stream, &TOO_MANY).await,
        Err(_) => return,
    };
    // Every line this connection logs (deliveries too) carries its session id.
    let span = tracing::info_span!(
        "session",
        proto = "lmtp",
        session = %eider_service::ObjectId::new().to_hex(),
        remote = %peer
    );
    let body = async move {
        info!(event = "session_start", "LMTP session started");
        session_body(backend, config, tls, stream, peer, stop).await;
        info!(event = "session_end", "LMTP session ended");
    };
    tracing::Instrument::instrument(body, span).await;
}

async fn session_body(
    backend: Arc<ServiceBackend>,
    config: Arc<SessionConfig>,
    tls: Option<eider_tls::Tls>,
    stream: TcpStream,
    peer: SocketAddr,
    stop: watch::Receiver<bool>,
) {
    let peer_text = peer.to_string();
    let session = Session::new(
        backend.clone(),
        config.clone(),
        stream,
        peer_text.clone(),
        stop.clone(),
        false,
    );
    let plain = match session.run(true).await {
        Ok(SessionEnd::Closed) => return,
        Ok(SessionEnd::StartTls(stream)) => stream,
        Err(e) => {
            debug!(%peer, "LMTP connection ended: {e}");
            return;
        }
    };
    let Some(tls) = tls else {
        return;
    };
    let handshake = tokio::time::timeout(config.timeout, tls.acceptor().accept(plain)).await;
    let secured = match handshake {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            info!(%peer, "LMTP TLS handshake failed: {e}");
            return;
        }
        Err(_) => {
            info!(%peer, "LMTP TLS handshake timed out");
            return;
        }
    };
    let session = Session::new(backend, config, secured, peer_text, stop, true);
    if let Err(e) = session.run(false).await {
        debug!(%peer, "LMTP connection ended: {e}");
    }
}
