//! The API's TCP listener and its connections: caps (`[api] maxClients`,
//! `maxClientsPerIP`) and deadlines (`headerTimeout`, `writeTimeout`). Admitted
//! connections are served by hyper with a timer, each carrying its permit; the others
//! get a minimal 503 with WildDuck's error shape and are closed, without reaching hyper.
//! axum's own `serve` sets no timer, so an idle or slowly dripping client would keep
//! its connection (and a place under the cap) forever: hence this loop.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use eider_net::{Gate, PermitStream, WriteDeadline};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};

/// The answer over the cap (a keep-alive client is told to close; `Retry-After` in seconds).
pub(crate) const TOO_MANY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
Content-Type: application/json\r\n\
Content-Length: 60\r\n\
Retry-After: 5\r\n\
Connection: close\r\n\
\r\n\
{\"error\":\"Too many connections\",\"code\":\"TooManyConnections\"}";

pub(crate) struct CappedListener {
    pub inner: TcpListener,
    pub gate: Gate,
}

impl axum::serve::Listener for CappedListener {
    type Io = PermitStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, peer)) => match self.gate.admit(peer) {
                    Ok(permit) => return (PermitStream::new(stream, permit), peer),
                    Err(_) => eider_net::refuse(stream, TOO_MANY),
                },
                Err(e) => accept_failed(e).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// How long a connection may take at each step.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadlines {
    /// To send a request's head, counted from when the server starts waiting for it:
    /// also how long an idle keep-alive connection stays open.
    pub header: Duration,
    /// For a write to make progress: a client that stops reading is closed.
    pub write: Duration,
}

/// Serve admitted connections until `shutdown` completes; then stop accepting, let
/// the requests in progress finish and close idle connections.
pub(crate) async fn serve(
    mut listener: CappedListener,
    router: Router,
    deadlines: Deadlines,
    shutdown: impl Future<Output = ()>,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(deadlines.header);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (io, peer) = tokio::select! {
            accepted = axum::serve::Listener::accept(&mut listener) => accepted,
            _ = &mut shutdown => break,
        };
        let io = TokioIo::new(WriteDeadline::new(io, deadlines.write));
        // Each request carries the peer's address, as axum's `ConnectInfo` reads it
        // (the webmail's token-less sign-in is rate limited by it).
        let service = tower::ServiceExt::map_request(
            router.clone(),
            move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                req
            },
        );
        let connection =
            graceful.watch(http.serve_connection(io, TowerToHyperService::new(service)));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("API connection ended: {e}");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// A reset before accept is the client's business; anything else (out of descriptors)
/// is logged and retried shortly.
async fn accept_failed(e: io::Error) {
    use io::ErrorKind::*;
    if matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::warn!("API accept failed: {e}");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_is_well_formed() {
        let text = std::str::from_utf8(TOO_MANY).expect("utf8");
        let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
        assert!(head.starts_with("HTTP/1.1 503 "));
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        let json: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(json["code"], "TooManyConnections");
    }
}
