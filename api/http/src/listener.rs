//! The API's TCP listener with connection caps (`[api] maxClients`, `maxClientsPerIP`):
//! axum serves only admitted connections, each carrying its permit; the others get a
//! minimal 503 with WildDuck's error shape and are closed, without reaching axum.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use eider_net::{Gate, PermitStream};
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
