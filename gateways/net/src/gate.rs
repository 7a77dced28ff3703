//! A listener's gate: admission against its caps, the client's address (from a
//! trusted PROXY header or the socket), and the cheap refusal of what is not admitted.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::{debug, info};

use crate::limit::{Limiter, Permit, Refused};
use crate::proxy::{self, BadTrustedProxy, ProxyError, TrustedProxies};

/// How long a load balancer may take to send its PROXY header (it sends it at once).
pub const PROXY_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a refused connection is kept to deliver its "try later" and read what the
/// client already sent (closing with unread input would reset the connection, and the
/// client could lose the answer).
const REFUSAL_LINGER: Duration = Duration::from_secs(2);
/// Refused connections lingering at once; beyond this they are closed at once, so a
/// flood of refusals cannot itself hold many descriptors.
pub const MAX_LINGERING: usize = 64;
/// Most bytes read from a refused connection before closing it.
const REFUSAL_DRAIN: usize = 16 * 1024;

static LINGERING: AtomicUsize = AtomicUsize::new(0);

/// A listener's caps and PROXY settings, from its configuration section.
#[derive(Debug, Clone, Default)]
pub struct GateConfig {
    /// Most connections open at once; 0 for no cap.
    pub max_clients: usize,
    /// Most connections open at once from one client address; 0 for no cap.
    pub max_clients_per_ip: usize,
    /// Expect a PROXY header on every connection.
    pub use_proxy: bool,
    /// Peers allowed to send it (addresses or CIDR ranges).
    pub trusted_proxies: Vec<String>,
}

#[derive(Debug, Error)]
pub enum GateError {
    #[error(transparent)]
    TrustedProxy(#[from] BadTrustedProxy),
}

/// Why a connection admitted at accept is not served.
#[derive(Debug, Error)]
pub enum Rejected {
    #[error("PROXY header expected, but the peer is not a trusted proxy")]
    Untrusted,
    #[error("{0}")]
    Proxy(#[from] ProxyError),
    #[error("no PROXY header within {PROXY_HEADER_TIMEOUT:?}")]
    ProxyTimeout,
    /// The client's address (named by the PROXY header) is at its cap.
    #[error("too many connections from the client's address")]
    Busy(Refused),
}

/// Admission and addressing for one listener.
#[derive(Clone)]
pub struct Gate {
    name: &'static str,
    limiter: Limiter,
    proxies: Option<TrustedProxies>,
}

impl Gate {
    /// `name` labels the listener in logs ("IMAP", "POP3", ...).
    pub fn new(name: &'static str, config: &GateConfig) -> Result<Self, GateError> {
        let proxies = if config.use_proxy {
            Some(TrustedProxies::parse(&config.trusted_proxies)?)
        } else {
            None
        };
        let limiter = Limiter::new(config.max_clients, config.max_clients_per_ip);
        // Open connections, read at each scrape (a listener's limiter lives as long
        // as the process).
        let open = limiter.clone();
        crate::metrics::register_gauge(
            "eider_connections_open",
            "Connections currently open, by listener.",
            move || {
                vec![(
                    vec![("protocol", name.to_ascii_lowercase())],
                    open.open() as f64,
                )]
            },
        );
        Ok(Self {
            name,
            limiter,
            proxies,
        })
    }

    /// At accept: the total cap, and the per-address cap unless a PROXY header will
    /// name the client (then [`client_address`](Self::client_address) applies it).
    pub fn admit(&self, peer: SocketAddr) -> Result<Permit, Refused> {
        let result = if self.proxies.is_some() {
            self.limiter.admit_total()
        } else {
            self.limiter.admit(peer.ip())
        };
        let protocol = self.name.to_ascii_lowercase();
        match &result {
            Ok(_) => crate::metrics::inc(
                "eider_connections_total",
                "Connections accepted, by listener.",
                &[("protocol", &protocol)],
            ),
            Err(r) => {
                crate::metrics::inc(
                    "eider_connections_refused_total",
                    "Connections refused at a connection cap, by listener.",
                    &[("protocol", &protocol)],
                );
                debug!(%peer, listener = self.name, "connection refused: {r:?} cap reached");
            }
        }
        result
    }

    /// The client's address: the socket's, or the one a trusted proxy's header names
    /// (read from `stream`, exactly the header's bytes). Applies the per-address cap to it.
    pub async fn client_address<S: AsyncRead + Unpin>(
        &self,
        stream: &mut S,
        peer: SocketAddr,
        permit: &mut Permit,
    ) -> Result<SocketAddr, Rejected> {
        let Some(proxies) = &self.proxies else {
            return Ok(peer);
        };
        if !proxies.contains(peer.ip()) {
            info!(%peer, listener = self.name, "connection closed: useProxy is on and the peer is not in trustedProxies");
            return Err(Rejected::Untrusted);
        }
        let client =
            match tokio::time::timeout(PROXY_HEADER_TIMEOUT, proxy::read_header(stream)).await {
                Ok(Ok(Some(addr))) => addr,
                // LOCAL / UNKNOWN: the proxy's own connection (a health check).
                Ok(Ok(None)) => peer,
                Ok(Err(e)) => {
                    debug!(%peer, listener = self.name, "PROXY header rejected: {e}");
                    return Err(e.into());
                }
                Err(_) => return Err(Rejected::ProxyTimeout),
            };
        permit.claim_ip(client.ip()).map_err(|r| {
            debug!(%client, listener = self.name, "connection refused: per-address cap reached");
            Rejected::Busy(r)
        })?;
        Ok(client)
    }

    /// Connections currently admitted.
    pub fn open(&self) -> usize {
        self.limiter.open()
    }
}

/// Refuse a connection from the accept loop without waiting: the answer and the close
/// happen on a short-lived task (at most [`MAX_LINGERING`] at once; beyond that the
/// answer is written only if the socket takes it at once, and the socket closed).
pub fn refuse(stream: TcpStream, answer: &'static [u8]) {
    if LINGERING.fetch_add(1, Ordering::Relaxed) >= MAX_LINGERING {
        LINGERING.fetch_sub(1, Ordering::Relaxed);
        let _ = stream.try_write(answer);
        return;
    }
    tokio::spawn(async move {
        say_and_close(stream, answer).await;
        LINGERING.fetch_sub(1, Ordering::Relaxed);
    });
}

/// Write `answer`, close our side, and read (and drop) what the client sends until it
/// closes too, all within a short bound.
pub async fn say_and_close<S: AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut stream: S,
    answer: &[u8],
) {
    let _ = tokio::time::timeout(REFUSAL_LINGER, async {
        stream.write_all(answer).await?;
        stream.shutdown().await?;
        let mut buf = [0u8; 1024];
        let mut drained = 0;
        while drained < REFUSAL_DRAIN {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            drained += n;
        }
        Ok::<(), std::io::Error>(())
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    async fn pair(listener: &TcpListener) -> (TcpStream, TcpStream, SocketAddr) {
        let addr = listener.local_addr().expect("addr");
        let client = TcpStream::connect(addr).await.expect("connect");
        let (server, peer) = listener.accept().await.expect("accept");
        (client, server, peer)
    }

    #[tokio::test]
    async fn proxy_header_from_trusted_peer_names_the_client() {
        let gate = Gate::new(
            "TEST",
            &GateConfig {
                max_clients: 10,
                max_clients_per_ip: 1,
                use_proxy: true,
                trusted_proxies: vec!["127.0.0.0/8".into()],
            },
        )
        .expect("gate");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let (mut c1, mut s1, peer) = pair(&listener).await;
        c1.write_all(b"PROXY TCP4 192.0.2.5 192.0.2.1 4000 143\r\nrest")
            .await
            .expect("write");
        let mut p1 = gate.admit(peer).expect("admit");
        let client = gate
            .client_address(&mut s1, peer, &mut p1)
            .await
            .expect("client");
        assert_eq!(client, "192.0.2.5:4000".parse().expect("addr"));
        let mut rest = [0u8; 4];
        s1.read_exact(&mut rest).await.expect("rest");
        assert_eq!(&rest, b"rest");

        // A second connection for the same client address is over its cap; another
        // client behind the same proxy is not.
        let (mut c2, mut s2, peer2) = pair(&listener).await;
        c2.write_all(b"PROXY TCP4 192.0.2.5 192.0.2.1 4001 143\r\n")
            .await
            .expect("write");
        let mut p2 = gate.admit(peer2).expect("admit");
        assert!(matches!(
            gate.client_address(&mut s2, peer2, &mut p2).await,
            Err(Rejected::Busy(Refused::PerIp))
        ));
        let (mut c3, mut s3, peer3) = pair(&listener).await;
        c3.write_all(b"PROXY TCP4 192.0.2.6 192.0.2.1 4001 143\r\n")
            .await
            .expect("write");
        let mut p3 = gate.admit(peer3).expect("admit");
        assert!(gate.client_address(&mut s3, peer3, &mut p3).await.is_ok());
    }

    #[tokio::test]
    async fn proxy_header_from_untrusted_peer_is_refused() {
        let gate = Gate::new(
            "TEST",
            &GateConfig {
                use_proxy: true,
                trusted_proxies: vec!["10.0.0.0/8".into()],
                ..Default::default()
            },
        )
        .expect("gate");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let (mut c, mut s, peer) = pair(&listener).await;
        c.write_all(b"PROXY TCP4 192.0.2.5 192.0.2.1 4000 143\r\n")
            .await
            .expect("write");
        let mut p = gate.admit(peer).expect("admit");
        assert!(matches!(
            gate.client_address(&mut s, peer, &mut p).await,
            Err(Rejected::Untrusted)
        ));
    }

    #[tokio::test]
    async fn without_proxy_the_socket_address_is_the_client() {
        let gate = Gate::new(
            "TEST",
            &GateConfig {
                max_clients: 1,
                ..Default::default()
            },
        )
        .expect("gate");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let (_c, mut s, peer) = pair(&listener).await;
        let mut p = gate.admit(peer).expect("admit");
        assert_eq!(
            gate.client_address(&mut s, peer, &mut p)
                .await
                .expect("addr"),
            peer
        );
        assert_eq!(gate.admit(peer).err(), Some(Refused::Total));
        assert!(Gate::new(
            "TEST",
            &GateConfig {
                use_proxy: true,
                trusted_proxies: vec!["nonsense".into()],
                ..Default::default()
            }
        )
        .is_err());
    }

    #[tokio::test]
    async fn refusal_delivers_the_answer_and_closes() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let (mut c, s, _) = pair(&listener).await;
        c.write_all(b"GET / HTTP/1.1\r\n\r\n").await.expect("write");
        refuse(s, b"busy\r\n");
        let mut got = Vec::new();
        c.read_to_end(&mut got).await.expect("read");
        assert_eq!(got, b"busy\r\n");
    }
}
