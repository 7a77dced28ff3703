//! The POP3 gateway over a real embedded store and a real TCP socket: protocol flows,
//! byte-exact RETR/TOP, QUIT/RSET/drop semantics, concurrent expunge, pipelining,
//! AUTH PLAIN, STLS and implicit TLS.

use std::net::SocketAddr;
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use eider_pop3::{bind, Pop3Config};
use eider_service::model::{MessageMeta, SortOrder, SpecialUse, UidSet};
use eider_service::{AppendOptions, InProcessBus, NewUser, ObjectId, Service, ServiceConfig};
use eider_store_sqlite::{SqliteOptions, SqliteStore, Synchronous};
use eider_tls::{Tls, TlsConfig};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

const PASSWORD: &str = "secret-pass";

struct Harness {
    dir: tempfile::TempDir,
    service: Service,
    addr: SocketAddr,
    user: ObjectId,
    inbox: ObjectId,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Harness {
    async fn start(configure: impl FnOnce(&mut Pop3Config), with_tls: bool) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = SqliteOptions {
            synchronous: Synchronous::Normal,
            ..SqliteOptions::default()
        };
        let store = SqliteStore::open(&dir.path().join("data"), opts).expect("store");
        let service = Service::new(
            Arc::new(store),
            Arc::new(InProcessBus::new()),
            ServiceConfig::default(),
        );
        let user = service
            .create_user(NewUser {
                username: "pop.user".into(),
                password: Some(PASSWORD.into()),
                ..NewUser::default()
            })
            .await
            .expect("user");
        let inbox = service
            .find_mailbox(user.id, "INBOX")
            .await
            .expect("inbox")
            .id;
        let mut config = Pop3Config {
            port: 0,
            ..Pop3Config::default()
        };
        configure(&mut config);
        let tls = with_tls.then(|| Tls::load(&TlsConfig::default(), dir.path()).expect("tls"));
        let server = bind(service.clone(), &config, tls).await.expect("bind");
        let addr = server.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server
                .run(async {
                    let _ = rx.await;
                })
                .await
                .expect("run");
        });
        Self {
            dir,
            service,
            addr,
            user: user.id,
            inbox,
            stop: Some(tx),
            task: Some(task),
        }
    }

    async fn append(&self, raw: &[u8]) {
        self.service
            .append(
                self.user,
                self.inbox,
                raw.to_vec(),
                AppendOptions::default(),
            )
            .await
            .expect("append");
    }

    async fn list(&self, mailbox: ObjectId) -> Vec<MessageMeta> {
        self.service
            .list_messages(self.user, mailbox, &UidSet::all(), SortOrder::Ascending, 0)
            .await
            .expect("list")
    }

    async fn trash(&self) -> ObjectId {
        self.service
            .find_special_mailbox(self.user, SpecialUse::Trash)
            .await
            .expect("trash")
            .id
    }

    async fn connect(&self) -> Client<TcpStream> {
        Client::new(TcpStream::connect(self.addr).await.expect("connect")).await
    }

    async fn login(&self) -> Client<TcpStream> {
        let mut c = self.connect().await;
        c.login().await;
        c
    }

    fn client_tls(&self) -> tokio_rustls::TlsConnector {
        let cert = self.dir.path().join("tls/selfsigned.crt");
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(&cert).expect("pem") {
            roots.add(c.expect("cert")).expect("root");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }

    async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task");
        }
    }
}

/// A minimal POP3 client that keeps every byte.
struct Client<S> {
    io: BufReader<S>,
    greeting: String,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    async fn new(stream: S) -> Self {
        let mut c = Self {
            io: BufReader::new(stream),
            greeting: String::new(),
        };
        c.greeting = c.status().await;
        c
    }

    async fn send(&mut self, data: &[u8]) {
        self.io.get_mut().write_all(data).await.expect("send");
        self.io.get_mut().flush().await.expect("flush");
    }

    async fn line(&mut self) -> Vec<u8> {
        let mut line = Vec::new();
        self.io.read_until(b'\n', &mut line).await.expect("read");
        line
    }

    async fn status(&mut self) -> String {
        let line = self.line().await;
        let s = String::from_utf8(line).expect("utf8");
        assert!(s.ends_with("\r\n"), "{s:?}");
        s.trim_end().to_string()
    }

    async fn cmd(&mut self, text: &str) -> String {
        self.send(format!("{text}\r\n").as_bytes()).await;
        self.status().await
    }

    /// A multi-line body as sent (dot-stuffed), without its terminating line.
    async fn multiline_raw(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let line = self.line().await;
            assert!(!line.is_empty(), "EOF inside a multi-line answer");
            if line == b".\r\n" {
                return out;
            }
            out.extend_from_slice(&line);
        }
    }

    async fn multiline(&mut self) -> Vec<u8> {
        unstuff(&self.multiline_raw().await)
    }

    async fn login(&mut self) {
        assert!(self.cmd("USER pop.user").await.starts_with("+OK"));
        let s = self.cmd(&format!("PASS {PASSWORD}")).await;
        assert!(s.starts_with("+OK"), "{s}");
    }

    async fn at_eof(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.io.read(&mut b).await, Ok(0) | Err(_))
    }
}

fn unstuff(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut start = true;
    for &b in data {
        if start && b == b'.' {
            start = false;
            continue;
        }
        out.push(b);
        start = b == b'\n';
    }
    out
}

fn as_sent(raw: &[u8]) -> Vec<u8> {
    let mut v = raw.to_vec();
    if !v.is_empty() && !v.ends_with(b"\n") {
        v.extend_from_slice(b"\r\n");
    }
    v
}

fn msg(subject: &str) -> Vec<u8> {
    format!("From: a@example.com\r\nTo: b@example.com\r\nSubject: {subject}\r\n\r\nBody of {subject}\r\nsecond line\r\n").into_bytes()
}

fn subjects(list: &[MessageMeta]) -> Vec<(String, bool)> {
    list.iter().map(|m| (m.subject.clone(), m.seen())).collect()
}

fn fixtures() -> Vec<Vec<u8>> {
    let head = "From: a@example.com\r\nTo: b@example.com\r\nSubject: ";
    let mut big = format!("{head}big\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n");
    for i in 0..40_000 {
        if i % 3 == 0 {
            big.push_str(&format!(".dot line {i}\r\n"));
        } else {
            big.push_str(&format!("line {i}\r\n"));
        }
    }
    big.push_str("--B\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n");
    let data: Vec<u8> = (0..1_200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let b64 = STANDARD.encode(&data);
    for chunk in b64.as_bytes().chunks(76) {
        big.push_str(std::str::from_utf8(chunk).expect("ascii"));
        big.push_str("\r\n");
    }
    big.push_str("--B--\r\n");
    vec![
        format!("{head}dots\r\n\r\n.one\r\n..two\r\nno.dot\r\n").into_bytes(),
        format!("{head}lone\r\n\r\nbefore\r\n.\r\nafter\r\n").into_bytes(),
        format!("{head}enddot\r\n\r\nlast\r\n.\r\n").into_bytes(),
        format!("{head}open\r\n\r\nno final newline").into_bytes(),
        format!("{head}opendot\r\n\r\nline\r\n.").into_bytes(),
        b"From: a@example.com\nSubject: lf\n\n.lf body\n.\nend\n".to_vec(),
        format!("{head}headers only\r\n").into_bytes(),
        big.into_bytes(),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retr_and_top_are_byte_exact() {
    let h = Harness::start(|_| {}, false).await;
    let fixtures = fixtures();
    for f in &fixtures {
        h.append(f).await;
    }
    let mut c = h.login().await;
    let total: usize = fixtures.iter().map(Vec::len).sum();
    assert_eq!(
        c.cmd("STAT").await,
        format!("+OK {} {total}", fixtures.len())
    );
    assert!(c.cmd("LIST").await.starts_with("+OK"));
    let listing = String::from_utf8(c.multiline().await).expect("utf8");
    let sizes: Vec<usize> = listing
        .lines()
        .map(|l| {
            l.split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .expect("size")
        })
        .collect();
    assert_eq!(sizes, fixtures.iter().map(Vec::len).collect::<Vec<_>>());
    for (i, raw) in fixtures.iter().enumerate() {
        let n = i + 1;
        assert_eq!(
            c.cmd(&format!("RETR {n}")).await,
            format!("+OK {} octets", raw.len())
        );
        let sent = c.multiline_raw().await;
        assert_eq!(unstuff(&sent), as_sent(raw), "message {n}");
        assert!(c.cmd(&format!("TOP {n} 0")).await.starts_with("+OK"));
        let top = c.multiline().await;
        assert!(
            raw.starts_with(&top[..top.len().min(raw.len())]),
            "message {n}"
        );
        assert!(
            top.ends_with(b"\r\n\r\n") || top.ends_with(b"\n\n") || n == 7,
            "message {n}"
        );
    }
    assert!(c.cmd("TOP 1 1").await.starts_with("+OK"));
    assert!(c.multiline_raw().await.ends_with(b"\r\n\r\n..one\r\n"));
    assert!(c.cmd("QUIT").await.starts_with("+OK"));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quit_applies_seen_and_trash() {
    let h = Harness::start(|_| {}, false).await;
    for s in ["m1", "m2", "m3"] {
        h.append(&msg(s)).await;
    }
    let mut c = h.login().await;
    assert!(c.cmd("RETR 1").await.starts_with("+OK"));
    c.multiline().await;
    assert!(c.cmd("DELE 2").await.starts_with("+OK"));
    assert!(c.cmd("TOP 3 1").await.starts_with("+OK"));
    c.multiline().await;
    // Nothing changes before QUIT.
    assert_eq!(
        subjects(&h.list(h.inbox).await),
        [
            ("m1".into(), false),
            ("m2".into(), false),
            ("m3".into(), false)
        ]
    );
    assert_eq!(c.cmd("STAT").await.split(' ').nth(1), Some("2"));
    assert!(c.cmd("QUIT").await.starts_with("+OK"));
    assert!(c.at_eof().await);
    assert_eq!(
        subjects(&h.list(h.inbox).await),
        [("m1".into(), true), ("m3".into(), false)]
    );
    assert_eq!(
        subjects(&h.list(h.trash().await).await),
        [("m2".into(), true)]
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rset_and_dropped_connections_change_nothing() {
    let h = Harness::start(|_| {}, false).await;
    for s in ["m1", "m2", "m3"] {
        h.append(&msg(s)).await;
    }
    let untouched = [
        ("m1".into(), false),
        ("m2".into(), false),
        ("m3".into(), false),
    ];

    let mut c = h.login().await;
    assert!(c.cmd("RETR 1").await.starts_with("+OK"));
    c.multiline().await;
    assert!(c.cmd("DELE 2").await.starts_with("+OK"));
    assert!(c.cmd("RSET").await.starts_with("+OK"));
    assert_eq!(c.cmd("STAT").await.split(' ').nth(1), Some("3"));
    assert!(c.cmd("QUIT").await.starts_with("+OK"));
    assert_eq!(subjects(&h.list(h.inbox).await), untouched);

    let mut c = h.login().await;
    assert!(c.cmd("RETR 1").await.starts_with("+OK"));
    c.multiline().await;
    assert!(c.cmd("DELE 3").await.starts_with("+OK"));
    drop(c);
    // The next session sees everything as it was.
    let mut c = h.login().await;
    assert_eq!(c.cmd("STAT").await.split(' ').nth(1), Some("3"));
    assert!(c.cmd("QUIT").await.starts_with("+OK"));
    assert_eq!(subjects(&h.list(h.inbox).await), untouched);
    assert!(h.list(h.trash().await).await.is_empty());
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_expunged_elsewhere_answers_err_only_for_itself() {
    let h = Harness::start(|_| {}, false).await;
    for s in ["m1", "m2", "m3"] {
        h.append(&msg(s)).await;
    }
    let mut c = h.login().await;
    let uid2 = h.list(h.inbox).await[1].uid;
    h.service
        .expunge(h.user, h.inbox, &UidSet::from_uids([uid2]), false)
        .await
        .expect("expunge");
    assert!(c.cmd("RETR 2").await.starts_with("-ERR"));
    assert!(c.cmd("TOP 2 0").await.starts_with("-ERR"));
    assert!(c.cmd("RETR 1").await.starts_with("+OK"));
    c.multiline().await;
    assert!(c.cmd("DELE 2").await.starts_with("+OK"));
    assert!(c.cmd("DELE 3").await.starts_with("+OK"));
    assert!(c.cmd("QUIT").await.starts_with("+OK"));
    assert_eq!(subjects(&h.list(h.inbox).await), [("m1".into(), true)]);
    assert_eq!(
        subjects(&h.list(h.trash().await).await),
        [("m3".into(), true)]
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newest_messages_only_and_uidl_is_the_message_id() {
    let h = Harness::start(|c| c.max_messages = 2, false).await;
    for s in ["m1", "m2", "m3"] {
        h.append(&msg(s)).await;
    }
    let ids: Vec<String> = h
        .list(h.inbox)
        .await
        .iter()
        .map(|m| m.id.to_hex())
        .collect();
    let mut c = h.login().await;
    assert!(c.cmd("UIDL").await.starts_with("+OK"));
    let uidl = String::from_utf8(c.multiline().await).expect("utf8");
    assert_eq!(uidl, format!("1 {}\r\n2 {}\r\n", ids[1], ids[2]));
    assert_eq!(c.cmd("UIDL 2").await, format!("+OK 2 {}", ids[2]));
    assert!(c.cmd("QUIT").await.starts_with("+OK"));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_commands_and_auth_plain() {
    let h = Harness::start(|_| {}, false).await;
    h.append(&msg("m1")).await;
    h.append(&msg("m2")).await;
    let plain = STANDARD.encode(format!("\0pop.user\0{PASSWORD}"));
    let mut c = h.connect().await;
    assert!(c.greeting.starts_with("+OK"));
    c.send(
        format!("CAPA\r\nAUTH PLAIN {plain}\r\nSTAT\r\nRETR 2\r\nBOGUS\r\nLIST 1\r\nQUIT\r\n")
            .as_bytes(),
    )
    .await;
    assert!(c.status().await.starts_with("+OK"));
    let caps = String::from_utf8(c.multiline().await).expect("utf8");
    for cap in [
        "TOP",
        "UIDL",
        "USER",
        "SASL PLAIN",
        "PIPELINING",
        "RESP-CODES",
        "AUTH-RESP-CODE",
    ] {
        assert!(caps.lines().any(|l| l == cap), "{cap} in {caps}");
    }
    assert!(!caps.contains("STLS"), "no TLS configured");
    assert!(c.status().await.starts_with("+OK"));
    assert!(c.status().await.starts_with("+OK 2 "));
    assert!(c.status().await.starts_with("+OK"));
    assert_eq!(c.multiline().await, msg("m2"));
    assert!(c.status().await.starts_with("-ERR"));
    assert_eq!(c.status().await, format!("+OK 1 {}", msg("m1").len()));
    assert!(c.status().await.starts_with("+OK"));
    assert!(c.at_eof().await);

    // AUTH PLAIN with a continuation, then a failure with the AUTH response code.
    let mut c = h.connect().await;
    assert_eq!(c.cmd("AUTH PLAIN").await, "+");
    assert!(c.cmd(&plain).await.starts_with("+OK"));
    assert!(c.cmd("QUIT").await.starts_with("+OK"));
    let mut c = h.connect().await;
    let bad = STANDARD.encode("\0pop.user\0wrong");
    assert!(c
        .cmd(&format!("AUTH PLAIN {bad}"))
        .await
        .starts_with("-ERR [AUTH]"));
    assert!(c.cmd("USER pop.user").await.starts_with("+OK"));
    assert!(c.cmd("PASS nope").await.starts_with("-ERR [AUTH]"));
    assert!(c.cmd("QUIT").await.starts_with("+OK"));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stls_upgrades_and_pop3s_speaks_tls_first() {
    let h = Harness::start(|_| {}, true).await;
    h.append(&msg("m1")).await;
    let mut c = h.connect().await;
    assert!(c.cmd("CAPA").await.starts_with("+OK"));
    let caps = String::from_utf8(c.multiline().await).expect("utf8");
    assert!(caps.lines().any(|l| l == "STLS"), "{caps}");
    // Input pipelined after STLS is discarded, not executed after the handshake.
    c.send(b"STLS\r\nUSER injected\r\n").await;
    assert!(c.status().await.starts_with("+OK"));
    let tcp = c.io.into_inner();
    let name = ServerName::try_from("localhost").expect("name");
    let tls = h.client_tls().connect(name, tcp).await.expect("handshake");
    let mut c = Client {
        io: BufReader::new(tls),
        greeting: String::new(),
    };
    assert!(c.cmd("PASS secret-pass").await.starts_with("-ERR"));
    assert!(c.cmd("CAPA").await.starts_with("+OK"));
    let caps = String::from_utf8(c.multiline().await).expect("utf8");
    assert!(!caps.contains("STLS"));
    assert!(c.cmd("STLS").await.starts_with("-ERR"));
    c.login().await;
    assert!(c.cmd("RETR 1").await.starts_with("+OK"));
    assert_eq!(c.multiline().await, msg("m1"));
    assert!(c.cmd("QUIT").await.starts_with("+OK"));
    let connector = h.client_tls();
    h.shutdown().await;

    // Implicit TLS on a `secure` port.
    let h = Harness::start(|c| c.secure = true, true).await;
    let tcp = TcpStream::connect(h.addr).await.expect("connect");
    let name = ServerName::try_from("localhost").expect("name");
    let tls = h.client_tls().connect(name, tcp).await.expect("handshake");
    let mut c = Client::new(tls).await;
    assert!(c.greeting.starts_with("+OK"));
    assert!(c.cmd("CAPA").await.starts_with("+OK"));
    assert!(!String::from_utf8(c.multiline().await)
        .expect("utf8")
        .contains("STLS"));
    c.login().await;
    assert!(c.cmd("QUIT").await.starts_with("+OK"));
    drop(connector);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_and_idle_timeout() {
    let h = Harness::start(|c| c.idle_timeout = 1, false).await;
    h.append(&msg("m1")).await;
    let mut c = h.connect().await;
    let mut long = b"USER ".to_vec();
    long.extend(std::iter::repeat_n(b'x', 100_000));
    long.extend_from_slice(b"\r\n");
    c.send(&long).await;
    assert!(c.status().await.starts_with("-ERR"));
    c.login().await;
    assert!(c.cmd("DELE 1").await.starts_with("+OK"));
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert!(c.status().await.starts_with("-ERR"));
    assert!(c.at_eof().await);
    assert_eq!(h.list(h.inbox).await.len(), 1, "no UPDATE after autologout");

    // Bad commands are answered; too many in a row close the connection.
    let mut c = h.connect().await;
    for _ in 0..9 {
        assert!(c.cmd("XYZZY").await.starts_with("-ERR"));
    }
    assert!(c.cmd("XYZZY").await.starts_with("-ERR"));
    assert!(c.status().await.starts_with("-ERR"));
    assert!(c.at_eof().await);
    h.shutdown().await;
}
