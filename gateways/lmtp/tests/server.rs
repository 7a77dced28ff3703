//! The listener end to end in-process: a real embedded store, a bound server,
//! a TCP client, STARTTLS with the generated certificate, and shutdown.

use std::sync::Arc;

use eider_lmtp::LmtpConfig;
use eider_service::{InProcessBus, NewUser, Service, ServiceConfig};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

struct Setup {
    _dir: tempfile::TempDir,
    service: Service,
    tls: eider_tls::Tls,
    cert: std::path::PathBuf,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let store =
        eider_store_sqlite::SqliteStore::open(dir.path(), Default::default()).expect("open store");
    let service = Service::new(
        Arc::new(store),
        Arc::new(InProcessBus::new()),
        ServiceConfig::default(),
    );
    let tls = eider_tls::Tls::load(&Default::default(), dir.path()).expect("tls");
    let cert = dir.path().join("tls/selfsigned.crt");
    Setup {
        _dir: dir,
        service,
        tls,
        cert,
    }
}

/// Read one reply (all its lines); returns the lines.
async fn reply<S: AsyncRead + Unpin>(r: &mut BufReader<S>) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        let n = r.read_line(&mut line).await.expect("read");
        assert!(n > 0, "connection closed after {lines:?}");
        let line = line.trim_end().to_string();
        let last = line.as_bytes().get(3) == Some(&b' ');
        lines.push(line);
        if last {
            return lines;
        }
    }
}

async fn say<S: AsyncRead + AsyncWrite + Unpin>(r: &mut BufReader<S>, line: &str) -> Vec<String> {
    r.get_mut()
        .write_all(format!("{line}\r\n").as_bytes())
        .await
        .expect("write");
    reply(r).await
}

#[tokio::test]
async fn starttls_then_delivery_into_the_store() {
    let s = setup().await;
    let user = s
        .service
        .create_user(NewUser {
            username: "tlsuser".into(),
            address: Some("tlsuser@example.com".into()),
            ..Default::default()
        })
        .await
        .expect("user");
    let config = LmtpConfig {
        port: 0,
        ..Default::default()
    };
    let server = eider_lmtp::bind(s.service.clone(), &config, Some(s.tls.clone()))
        .await
        .expect("bind");
    let addr = server.local_addr().expect("addr");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async {
        let _ = stop_rx.await;
    }));

    let mut plain = BufReader::new(TcpStream::connect(addr).await.expect("connect"));
    assert!(reply(&mut plain).await[0].starts_with("220 "));
    let caps = say(&mut plain, "LHLO client.test").await;
    assert!(caps.iter().any(|l| l.ends_with("STARTTLS")), "{caps:?}");
    assert!(say(&mut plain, "STARTTLS").await[0].starts_with("220 2.0.0"));

    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&s.cert).expect("pem") {
        roots.add(cert.expect("cert")).expect("add root");
    }
    let client_config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config));
    let secured = connector
        .connect(
            ServerName::try_from("localhost").expect("name"),
            plain.into_inner(),
        )
        .await
        .expect("handshake");
    let mut tls = BufReader::new(secured);
    // A new session: LHLO again, STARTTLS no longer offered.
    let caps = say(&mut tls, "LHLO client.test").await;
    assert!(!caps.iter().any(|l| l.ends_with("STARTTLS")), "{caps:?}");
    assert!(say(&mut tls, "STARTTLS").await[0].starts_with("503 "));
    assert!(say(&mut tls, "MAIL FROM:<s@example.org>").await[0].starts_with("250 "));
    assert!(say(&mut tls, "RCPT TO:<TLSUser@Example.com>").await[0].starts_with("250 "));
    assert!(say(&mut tls, "DATA").await[0].starts_with("354 "));
    let message = b"Subject: over TLS\r\nMessage-ID: <tls@example.org>\r\n\r\n.dot\r\nbody\r\n";
    tls.get_mut()
        .write_all(
            b"Subject: over TLS\r\nMessage-ID: <tls@example.org>\r\n\r\n..dot\r\nbody\r\n.\r\n",
        )
        .await
        .expect("data");
    let stored = reply(&mut tls).await;
    assert!(
        stored[0].starts_with("250 2.0.0 Message stored as "),
        "{stored:?}"
    );

    let inbox = s
        .service
        .find_mailbox(user.id, "INBOX")
        .await
        .expect("inbox");
    let uids = s.service.list_uids(user.id, inbox.id).await.expect("uids");
    assert_eq!(uids.len(), 1);
    let mut body = s
        .service
        .message_body(user.id, inbox.id, uids[0])
        .await
        .expect("body");
    // Delivery puts the recipient's Delivered-To line in front of the received bytes.
    let mut expected = b"Delivered-To: TLSUser@Example.com\r\n".to_vec();
    expected.extend_from_slice(message);
    assert_eq!(body.read_all().await.expect("read"), expected);

    // Shutdown: idle sessions are told, the server returns.
    let _ = stop_tx.send(());
    assert!(reply(&mut tls).await[0].starts_with("421 4.3.2"));
    running.await.expect("join").expect("run");
}

#[tokio::test]
async fn without_tls_starttls_is_not_offered() {
    let s = setup().await;
    let config = LmtpConfig {
        port: 0,
        ..Default::default()
    };
    let server = eider_lmtp::bind(s.service.clone(), &config, None)
        .await
        .expect("bind");
    let addr = server.local_addr().expect("addr");
    let running = tokio::spawn(server.run(std::future::pending::<()>()));
    let mut c = BufReader::new(TcpStream::connect(addr).await.expect("connect"));
    reply(&mut c).await;
    let caps = say(&mut c, "LHLO x").await;
    assert!(!caps.iter().any(|l| l.ends_with("STARTTLS")));
    assert!(say(&mut c, "STARTTLS").await[0].starts_with("454 4.7.0"));
    assert!(say(&mut c, "QUIT").await[0].starts_with("221 "));
    running.abort();
}

#[tokio::test]
async fn connection_limit_answers_421() {
    let s = setup().await;
    let config = LmtpConfig {
        port: 0,
        max_clients: 1,
        ..Default::default()
    };
    let server = eider_lmtp::bind(s.service.clone(), &config, None)
        .await
        .expect("bind");
    let addr = server.local_addr().expect("addr");
    let running = tokio::spawn(server.run(std::future::pending::<()>()));
    let mut first = BufReader::new(TcpStream::connect(addr).await.expect("connect"));
    assert!(reply(&mut first).await[0].starts_with("220 "));
    let mut second = BufReader::new(TcpStream::connect(addr).await.expect("connect"));
    assert!(reply(&mut second).await[0].starts_with("421 4.3.2"));
    running.abort();
}

#[tokio::test]
async fn push_message_reports_each_recipient() {
    let s = setup().await;
    s.service
        .create_user(NewUser {
            username: "pushed".into(),
            address: Some("pushed@example.com".into()),
            ..Default::default()
        })
        .await
        .expect("user");
    let config = LmtpConfig {
        port: 0,
        ..Default::default()
    };
    let server = eider_lmtp::bind(s.service.clone(), &config, None)
        .await
        .expect("bind");
    let addr = server.local_addr().expect("addr");
    let running = tokio::spawn(server.run(std::future::pending::<()>()));
    let raw = eider_outbound::sample_message("me@example.org", "pushed@example.com");
    let results = eider_outbound::push_message(
        &addr.ip().to_string(),
        addr.port(),
        Some("me@example.org"),
        &[
            "pushed@example.com".to_string(),
            "nobody@example.com".to_string(),
        ],
        &raw,
        std::time::Duration::from_secs(10),
    )
    .await
    .expect("push");
    let codes: Vec<(&str, u16)> = results.iter().map(|r| (r.rcpt.as_str(), r.code)).collect();
    assert_eq!(
        codes,
        vec![("pushed@example.com", 250), ("nobody@example.com", 550)]
    );
    assert!(results[1].text.starts_with("5.1.1"));
    running.abort();
}
