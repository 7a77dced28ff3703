//! Sessions over an in-memory pipe with a chosen peer address: what a remote
//! client that has not started TLS may do (AUTH is neither offered nor accepted),
//! and that MAIL needs a login.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use eider_service::{Deliverer, DeliveryConfig, InProcessBus, Service, ServiceConfig};
use eider_submission::{Session, SessionConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

async fn exchange(peer: &str, input: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let store =
        eider_store_sqlite::SqliteStore::open(dir.path(), Default::default()).expect("open store");
    let service = Service::new(
        Arc::new(store),
        Arc::new(InProcessBus::new()),
        ServiceConfig::default(),
    );
    let deliverer = Arc::new(Deliverer::new(service, DeliveryConfig::default()));
    let config = Arc::new(SessionConfig {
        name: "mx.test".into(),
        max_size: 1024 * 1024,
        max_recipients: 10,
        timeout: Duration::from_secs(5),
        starttls: true,
        max_errors: 10,
        sent_copy: true,
    });
    let (client, server) = tokio::io::duplex(64 * 1024);
    let (_stop_tx, stop) = watch::channel(false);
    let peer: SocketAddr = peer.parse().expect("peer");
    let task = tokio::spawn(Session::new(deliverer, config, server, peer, stop, false).run(true));
    let (mut rd, mut wr) = tokio::io::split(client);
    wr.write_all(input).await.expect("write");
    let mut out = Vec::new();
    rd.read_to_end(&mut out).await.expect("read");
    let _ = task.await;
    String::from_utf8(out).expect("utf-8")
}

#[tokio::test]
async fn auth_needs_tls_unless_from_loopback() {
    // "\0user\0pw" in base64.
    let script =
        b"EHLO client.test\r\nAUTH PLAIN AHVzZXIAcHc=\r\nMAIL FROM:<a@example.com>\r\nQUIT\r\n";
    let remote = exchange("192.0.2.7:40000", script).await;
    assert!(remote.contains("250 STARTTLS\r\n"), "{remote}");
    assert!(!remote.contains("AUTH PLAIN LOGIN"), "{remote}");
    assert!(remote.contains("538 5.7.11 "), "{remote}");
    assert!(
        remote.contains("530 5.7.0 Authentication required"),
        "{remote}"
    );

    let local = exchange("127.0.0.1:40000", script).await;
    assert!(local.contains("250 AUTH PLAIN LOGIN\r\n"), "{local}");
    // Offered, tried, and refused only because there is no such user.
    assert!(local.contains("535 5.7.8 "), "{local}");
}

#[tokio::test]
async fn sequence_and_mechanism_errors() {
    let out = exchange(
        "127.0.0.1:40000",
        b"AUTH PLAIN\r\nEHLO c\r\nAUTH CRAM-MD5\r\nAUTH LOGIN\r\n*\r\nRCPT TO:<b@example.com>\r\nDATA\r\nQUIT\r\n",
    )
    .await;
    assert!(out.contains("503 5.5.1 Send EHLO first"), "{out}");
    assert!(out.contains("504 5.5.4 "), "{out}");
    assert!(out.contains("334 VXNlcm5hbWU6"), "{out}");
    assert!(out.contains("501 5.0.0 Authentication cancelled"), "{out}");
    assert!(out.contains("503 5.5.1 Need MAIL command first"), "{out}");
    assert!(out.ends_with("221 2.0.0 Bye\r\n"), "{out}");
}
