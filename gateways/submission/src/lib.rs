//! Eider's SMTP submission gateway (RFC 6409): users send mail with their Eider
//! credentials (AUTH PLAIN or LOGIN, after TLS unless from loopback). The message
//! is handed to the service in one call (`Deliverer::submit_smtp`), which applies
//! the sending rules (From, daily limit, Sent copy), delivers local recipients and
//! queues the others; 250 is answered only once that is stored.
//!
//! The line protocol (parser, DATA reader, replies) is eider-smtp-proto's; the
//! listener follows the LMTP gateway (eider-net caps, deadlines, PROXY; eider-tls).

pub mod session;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use eider_net::{Gate, Permit, Rejected};
use eider_service::{Deliverer, DeliveryConfig, Service, SpamConfig};
use eider_smtp_proto::reply;
use serde::Deserialize;
use thiserror::Error;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracing::{debug, info, warn};

pub use session::{Session, SessionConfig, SessionEnd};

/// `[submission]` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SubmissionConfig {
    pub enabled: bool,
    pub host: String,
    pub port: u16,
    /// Implicit TLS from the first byte (port 465 style) instead of STARTTLS.
    pub secure: bool,
    /// Server name in the greeting and the EHLO reply.
    pub name: String,
    /// Largest message accepted, in megabytes.
    #[serde(rename = "maxMB")]
    pub max_mb: u64,
    /// Most recipients in one transaction.
    pub max_recipients: usize,
    /// Seconds within which each command line must arrive; the base of the DATA deadline.
    pub timeout: u64,
    /// Most connections open at once (0: no cap).
    pub max_clients: usize,
    /// Most connections open at once from one address (0: no cap).
    #[serde(rename = "maxClientsPerIP")]
    pub max_clients_per_ip: usize,
    /// Expect a PROXY protocol header on every connection.
    pub use_proxy: bool,
    /// Peers allowed to send the PROXY header.
    pub trusted_proxies: Vec<String>,
    /// Do not offer STARTTLS even when TLS is available.
    #[serde(rename = "disableSTARTTLS")]
    pub disable_starttls: bool,
    /// Store a copy of every submitted message in the sender's Sent mailbox.
    pub upload_sent_messages: bool,
    /// The `[spam]` section (read by the binary: local recipients are delivered
    /// through the same pipeline as LMTP).
    #[serde(skip)]
    pub spam: SpamConfig,
}

impl Default for SubmissionConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            host: "127.0.0.1".into(),
            port: 587,
            secure: false,
            name: String::new(),
            max_mb: 25,
            max_recipients: 100,
            timeout: 300,
            max_clients: 1000,
            max_clients_per_ip: 100,
            use_proxy: false,
            trusted_proxies: vec!["127.0.0.0/8".into(), "::1".into()],
            disable_starttls: false,
            upload_sent_messages: true,
            spam: SpamConfig::default(),
        }
    }
}

impl SubmissionConfig {
    pub fn gate(&self) -> eider_net::GateConfig {
        eider_net::GateConfig {
            max_clients: self.max_clients,
            max_clients_per_ip: self.max_clients_per_ip,
            use_proxy: self.use_proxy,
            trusted_proxies: self.trusted_proxies.clone(),
        }
    }
}

#[derive(Debug, Error)]
pub enum SubmissionError {
    #[error("cannot listen on {0}: {1}")]
    Bind(String, std::io::Error),
    #[error("invalid submission setting: {0}")]
    Config(String),
    #[error("[submission] secure = true needs TLS, but no certificate is available")]
    NoTls,
    #[error("[submission] {0}")]
    Gate(#[from] eider_net::GateError),
}

/// A bound submission listener.
pub struct SubmissionServer {
    listener: TcpListener,
    deliverer: Arc<Deliverer>,
    session: Arc<SessionConfig>,
    tls: Option<eider_tls::Tls>,
    secure: bool,
    gate: Gate,
}

/// Bind the submission listener over `service`. With `tls`, STARTTLS is offered
/// (or spoken from the start when `secure`).
pub async fn bind(
    service: Service,
    config: &SubmissionConfig,
    tls: Option<eider_tls::Tls>,
) -> Result<SubmissionServer, SubmissionError> {
    config.spam.validate().map_err(SubmissionError::Config)?;
    if config.max_mb == 0 {
        return Err(SubmissionError::Config("maxMB must be at least 1".into()));
    }
    if config.secure && tls.is_none() {
        return Err(SubmissionError::NoTls);
    }
    let max_size = usize::try_from(config.max_mb.saturating_mul(1024 * 1024))
        .map_err(|_| SubmissionError::Config("maxMB is too large".into()))?;
    let gate = Gate::new("Submission", &config.gate())?;
    let addr = format!("{}:{}", config.host, config.port);
    let listener = TcpListener::bind(&addr)
        .await
        .map_err(|e| SubmissionError::Bind(addr.clone(), e))?;
    let outbound = service.outbound().cloned();
    let mut deliverer = Deliverer::new(
        service,
        DeliveryConfig {
            spam: config.spam.clone(),
            duplicate_window: None,
        },
    );
    if let Some(o) = outbound {
        deliverer = deliverer.with_outbound(o);
    }
    let name = match config.name.trim() {
        "" => "localhost".to_string(),
        n => n.to_string(),
    };
    let tls = if config.secure {
        tls
    } else {
        tls.filter(|_| !config.disable_starttls)
    };
    Ok(SubmissionServer {
        listener,
        deliverer: Arc::new(deliverer),
        session: Arc::new(SessionConfig {
            name,
            max_size,
            max_recipients: config.max_recipients.max(1),
            timeout: Duration::from_secs(config.timeout.max(1)),
            starttls: tls.is_some() && !config.secure,
            max_errors: 10,
            sent_copy: config.upload_sent_messages,
        }),
        tls,
        secure: config.secure,
        gate,
    })
}

impl SubmissionServer {
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// True when this listener speaks implicit TLS.
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// Serve until `shutdown` completes; then stop accepting, tell idle sessions
    /// (421) and wait for the ones handing a message over.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), SubmissionError> {
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
                            warn!("submission accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    };
                    let Ok(permit) = self.gate.admit(peer) else {
                        eider_net::refuse(stream, &TOO_MANY);
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let conn = Conn {
                        deliverer: self.deliverer.clone(),
                        config: self.session.clone(),
                        tls: self.tls.clone(),
                        secure: self.secure,
                        gate: self.gate.clone(),
                        stop: stop_rx.clone(),
                    };
                    sessions.spawn(async move { conn.serve(permit, stream, peer).await });
                }
            }
        }
        let _ = stop_tx.send(true);
        while sessions.join_next().await.is_some() {}
        Ok(())
    }
}

static TOO_MANY: std::sync::LazyLock<Vec<u8>> =
    std::sync::LazyLock::new(|| reply::too_many_connections().to_bytes());

/// What one connection needs of its listener.
struct Conn {
    deliverer: Arc<Deliverer>,
    config: Arc<SessionConfig>,
    tls: Option<eider_tls::Tls>,
    secure: bool,
    gate: Gate,
    stop: watch::Receiver<bool>,
}

impl Conn {
    /// One connection; `permit` holds its place in the caps until it closes.
    async fn serve(self, mut permit: Permit, mut stream: TcpStream, peer: SocketAddr) {
        let peer = match self
            .gate
            .client_address(&mut stream, peer, &mut permit)
            .await
        {
            Ok(addr) => addr,
            Err(Rejected::Busy(_)) => return eider_net::say_and_close(stream, &TOO_MANY).await,
            Err(_) => return,
        };
        debug!(%peer, "submission connection");
        let plain = if self.secure {
            stream
        } else {
            let session = Session::new(
                self.deliverer.clone(),
                self.config.clone(),
                stream,
                peer,
                self.stop.clone(),
                false,
            );
            match session.run(true).await {
                Ok(SessionEnd::Closed) => return,
                Ok(SessionEnd::StartTls(stream)) => stream,
                Err(e) => {
                    debug!(%peer, "submission connection ended: {e}");
                    return;
                }
            }
        };
        let Some(tls) = self.tls else {
            return;
        };
        let handshake = tokio::time::timeout(self.config.timeout, tls.acceptor().accept(plain));
        let secured = match handshake.await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                info!(%peer, "submission TLS handshake failed: {e}");
                return;
            }
            Err(_) => {
                info!(%peer, "submission TLS handshake timed out");
                return;
            }
        };
        // After STARTTLS the client starts over (RFC 3207): no banner, EHLO again;
        // with implicit TLS the banner comes now.
        let session = Session::new(self.deliverer, self.config, secured, peer, self.stop, true);
        if let Err(e) = session.run(self.secure).await {
            debug!(%peer, "submission connection ended: {e}");
        }
    }
}
