//! The listener: accept connections within the caps, read an optional PROXY header,
//! run TLS (implicit on a `secure` port, or after STLS) and hand each connection to a
//! [`Session`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use eider_net::{Gate, Permit, Rejected};
use eider_service::Service;
use eider_tls::Tls;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{timeout, Instant};
use tracing::{debug, warn};

use crate::connection::Conn;
use crate::session::{Context, Flow, Session};
use crate::{Pop3Config, Pop3Error};

/// How long a client may take to finish a TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// The answer when a cap is reached (RFC 3206's SYS/TEMP: try again later).
const TOO_MANY: &[u8] = b"-ERR [SYS/TEMP] Too many connections, try later\r\n";

/// A bound POP3 listener, ready to serve.
pub struct Pop3Server {
    listener: TcpListener,
    ctx: Arc<Context>,
    tls: Option<Tls>,
    gate: Gate,
}

/// Bind the POP3 listener. `tls` enables STLS (unless `disableSTARTTLS`) and is
/// required when `secure` asks for implicit TLS.
pub async fn bind(
    service: Service,
    config: &Pop3Config,
    tls: Option<Tls>,
) -> Result<Pop3Server, Pop3Error> {
    if config.secure && tls.is_none() {
        return Err(Pop3Error::TlsRequired);
    }
    let gate = Gate::new("POP3", &config.gate())?;
    let addr = format!("{}:{}", config.host, config.port);
    let listener = TcpListener::bind(&addr)
        .await
        .map_err(|e| Pop3Error::Bind(addr.clone(), e))?;
    let starttls = tls.is_some() && !config.secure && !config.disable_starttls;
    Ok(Pop3Server {
        listener,
        ctx: Arc::new(Context {
            service,
            config: config.clone(),
            starttls,
        }),
        tls,
        gate,
    })
}

impl Pop3Server {
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// True when this listener speaks implicit TLS (POP3S).
    pub fn is_secure(&self) -> bool {
        self.ctx.config.secure
    }

    /// Serve until `shutdown` completes; open sessions are then told to stop and
    /// end at their next wait for input, without entering the UPDATE state.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Pop3Error> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut sessions = JoinSet::new();
        tokio::pin!(shutdown);
        let result = loop {
            tokio::select! {
                _ = &mut shutdown => break Ok(()),
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let Ok(permit) = self.gate.admit(peer) else {
                            eider_net::refuse(stream, TOO_MANY);
                            continue;
                        };
                        let ctx = self.ctx.clone();
                        let tls = self.tls.clone();
                        let gate = self.gate.clone();
                        let stop = stop_rx.clone();
                        sessions.spawn(async move {
                            handle(ctx, tls, gate, permit, stream, peer, stop).await;
                        });
                    }
                    Err(e) if is_transient(&e) => {
                        // Out of descriptors or a connection reset before accept: keep serving.
                        warn!("POP3 accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Err(e) => break Err(Pop3Error::Serve(e)),
                },
                Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            }
        };
        let _ = stop_tx.send(true);
        while sessions.join_next().await.is_some() {}
        result
    }
}

fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock | OutOfMemory
    ) || e.raw_os_error().is_some_and(|c| c == 23 || c == 24) // ENFILE, EMFILE
}

/// One connection from accept to close; `permit` holds its place in the caps.
async fn handle(
    ctx: Arc<Context>,
    tls: Option<Tls>,
    gate: Gate,
    mut permit: Permit,
    mut stream: TcpStream,
    peer: SocketAddr,
    stop: watch::Receiver<bool>,
) {
    let connected = Instant::now();
    let _ = stream.set_nodelay(true);
    let remote = match gate.client_address(&mut stream, peer, &mut permit).await {
        Ok(addr) => addr,
        Err(Rejected::Busy(_)) => return eider_net::say_and_close(stream, TOO_MANY).await,
        Err(_) => return,
    };
    let idle = ctx.config.idle();
    // On the socket, under TLS: every write of the session is bounded.
    let stream = eider_net::WriteDeadline::new(stream, ctx.config.write());
    let result = match (&tls, ctx.config.secure) {
        (Some(tls), true) => {
            match timeout(HANDSHAKE_TIMEOUT, tls.acceptor().accept(stream)).await {
                Ok(Ok(tls_stream)) => {
                    let mut session = Session::new(ctx.clone(), remote, true, connected);
                    serve(&mut session, tls_stream, idle, stop, true)
                        .await
                        .map(|_| ())
                }
                Ok(Err(e)) => {
                    debug!(%remote, "POP3S handshake failed: {e}");
                    return;
                }
                Err(_) => return,
            }
        }
        _ => {
            let mut session = Session::new(ctx.clone(), remote, false, connected);
            match serve(&mut session, stream, idle, stop, true).await {
                Ok(Some((plain, stop))) => match &tls {
                    Some(tls) => {
                        match timeout(HANDSHAKE_TIMEOUT, tls.acceptor().accept(plain)).await {
                            Ok(Ok(tls_stream)) => {
                                session.set_secure();
                                serve(&mut session, tls_stream, idle, stop, false)
                                    .await
                                    .map(|_| ())
                            }
                            Ok(Err(e)) => {
                                debug!(%remote, "POP3 STLS handshake failed: {e}");
                                Ok(())
                            }
                            Err(_) => Ok(()),
                        }
                    }
                    None => Ok(()),
                },
                Ok(None) => Ok(()),
                Err(e) => Err(e),
            }
        }
    };
    if let Err(e) = result {
        debug!(%remote, "POP3 connection ended: {e}");
    }
}

/// Run a session over `stream`. Some(stream) is handed back when the client asked for STLS.
async fn serve<S>(
    session: &mut Session,
    stream: S,
    idle: Duration,
    stop: watch::Receiver<bool>,
    greet: bool,
) -> std::io::Result<Option<(S, watch::Receiver<bool>)>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut conn = Conn::new(stream, idle, stop);
    if greet {
        conn.write(Session::greeting());
    }
    match session.run(&mut conn).await? {
        Flow::StartTls => Ok(Some(conn.into_parts())),
        Flow::Close | Flow::Continue => {
            let (mut stream, _) = conn.into_parts();
            let _ = timeout(
                Duration::from_secs(5),
                tokio::io::AsyncWriteExt::shutdown(&mut stream),
            )
            .await;
            Ok(None)
        }
    }
}
