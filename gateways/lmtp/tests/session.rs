//! The LMTP protocol driven over an in-memory stream against a fake backend:
//! command sequencing, pipelining, per-recipient replies, dot-unstuffing, limits.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use eider_lmtp::reply::Reply;
use eider_lmtp::{Backend, Session, SessionConfig, SessionEnd, Transaction};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::watch;

/// (sender, recipients stored for, message bytes)
type Delivered = (Option<String>, Vec<String>, Vec<u8>);

#[derive(Default)]
struct Fake {
    delivered: Mutex<Vec<Delivered>>,
}

#[async_trait]
impl Backend for Fake {
    type Recipient = String;

    async fn check_recipient(&self, rcpt: &str) -> Result<String, Reply> {
        match rcpt.split('@').next().unwrap_or("") {
            "unknown" => Err(Reply::new(550, "5.1.1", "Unknown recipient")),
            "disabled" => Err(Reply::new(550, "5.2.1", "Mailbox disabled")),
            "full" => Err(Reply::new(452, "4.2.2", "Mailbox is full")),
            _ => Ok(rcpt.to_string()),
        }
    }

    async fn deliver(&self, tx: &Transaction<String>, raw: Vec<u8>) -> Vec<Reply> {
        let mut stored = Vec::new();
        let replies = tx
            .recipients
            .iter()
            .map(|r| {
                if r.starts_with("quota") {
                    Reply::new(452, "4.2.2", "Mailbox is full")
                } else {
                    stored.push(r.clone());
                    Reply::new(250, "2.0.0", format!("stored for {r}"))
                }
            })
            .collect();
        if let Ok(mut d) = self.delivered.lock() {
            d.push((tx.sender.clone(), stored, raw));
        }
        replies
    }
}

struct Client {
    io: DuplexStream,
    buf: Vec<u8>,
}

impl Client {
    async fn send(&mut self, data: &[u8]) {
        self.io.write_all(data).await.expect("write");
    }

    /// Read until `n` complete replies (final lines) arrived; returns their lines.
    async fn replies(&mut self, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        let mut finals = 0;
        while finals < n {
            while let Some(pos) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..pos + 2).collect();
                let text = String::from_utf8_lossy(&line[..pos]).to_string();
                if text.as_bytes().get(3) == Some(&b' ') || text.len() == 3 {
                    finals += 1;
                }
                out.push(text);
                if finals == n {
                    return out;
                }
            }
            let mut chunk = [0u8; 4096];
            let got = tokio::time::timeout(Duration::from_secs(5), self.io.read(&mut chunk))
                .await
                .expect("reply in time")
                .expect("read");
            assert!(got > 0, "connection closed; got so far: {out:?}");
            self.buf.extend_from_slice(&chunk[..got]);
        }
        out
    }

    async fn codes(&mut self, n: usize) -> Vec<String> {
        self.replies(n)
            .await
            .into_iter()
            .filter(|l| l.as_bytes().get(3) != Some(&b'-'))
            .map(|l| l.chars().take(9).collect())
            .collect()
    }

    async fn closed(&mut self) -> bool {
        let mut chunk = [0u8; 64];
        matches!(
            tokio::time::timeout(Duration::from_secs(5), self.io.read(&mut chunk)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}

fn config() -> SessionConfig {
    SessionConfig {
        name: "mx.test".into(),
        max_size: 1000,
        max_recipients: 3,
        timeout: Duration::from_secs(30),
        starttls: false,
        max_errors: 5,
    }
}

struct Running {
    client: Client,
    backend: Arc<Fake>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<bool>,
}

async fn start_with(config: SessionConfig) -> Running {
    let (a, b) = tokio::io::duplex(1 << 20);
    let backend = Arc::new(Fake::default());
    let (stop, stop_rx) = watch::channel(false);
    let session = Session::new(
        backend.clone(),
        Arc::new(config),
        b,
        "test".into(),
        stop_rx,
        false,
    );
    let task =
        tokio::spawn(async move { matches!(session.run(true).await, Ok(SessionEnd::StartTls(_))) });
    let mut client = Client {
        io: a,
        buf: Vec::new(),
    };
    let greeting = client.replies(1).await;
    assert_eq!(greeting, vec!["220 mx.test LMTP Eider ready".to_string()]);
    Running {
        client,
        backend,
        stop,
        task,
    }
}

async fn start() -> Running {
    start_with(config()).await
}

#[tokio::test]
async fn lhlo_advertises_the_extensions() {
    let mut r = start().await;
    r.client.send(b"LHLO client.test\r\n").await;
    let lines = r.client.replies(1).await;
    assert_eq!(
        lines,
        vec![
            "250-mx.test",
            "250-PIPELINING",
            "250-8BITMIME",
            "250-SMTPUTF8",
            "250-ENHANCEDSTATUSCODES",
            "250 SIZE 1000"
        ]
    );
    r.client.send(b"EHLO client.test\r\nHELO x\r\n").await;
    assert_eq!(r.client.codes(2).await, vec!["500 5.5.1", "500 5.5.1"]);
    r.client.send(b"QUIT\r\n").await;
    assert_eq!(r.client.codes(1).await, vec!["221 2.0.0"]);
    assert!(r.client.closed().await);
}

#[tokio::test]
async fn one_reply_per_accepted_recipient_in_order() {
    let mut r = start().await;
    r.client.send(b"LHLO c\r\n").await;
    r.client.replies(1).await;
    r.client
        .send(b"MAIL FROM:<s@example.com> SIZE=100 BODY=8BITMIME\r\n")
        .await;
    assert_eq!(r.client.codes(1).await, vec!["250 2.1.0"]);
    for rcpt in ["a@x", "unknown@x", "quota@x", "full@x", "b@x"] {
        r.client
            .send(format!("RCPT TO:<{rcpt}>\r\n").as_bytes())
            .await;
    }
    assert_eq!(
        r.client.codes(5).await,
        vec![
            "250 2.1.5",
            "550 5.1.1",
            "250 2.1.5",
            "452 4.2.2",
            "250 2.1.5"
        ]
    );
    r.client.send(b"DATA\r\n").await;
    assert_eq!(r.client.codes(1).await, vec!["354 2.0.0"]);
    r.client.send(b"Subject: t\r\n\r\nhello\r\n.\r\n").await;
    let replies = r.client.replies(3).await;
    assert_eq!(
        replies,
        vec![
            "250 2.0.0 stored for a@x",
            "452 4.2.2 Mailbox is full",
            "250 2.0.0 stored for b@x"
        ]
    );
    let delivered = r.backend.delivered.lock().expect("lock").clone();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].0.as_deref(), Some("s@example.com"));
    assert_eq!(delivered[0].1, vec!["a@x", "b@x"]);
    assert_eq!(delivered[0].2, b"Subject: t\r\n\r\nhello\r\n");
}

#[tokio::test]
async fn pipelined_transactions_get_all_replies_in_order() {
    let mut r = start().await;
    r.client
        .send(
            b"LHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<a@x>\r\nRCPT TO:<unknown@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n",
        )
        .await;
    let codes = r.client.codes(6).await;
    assert_eq!(
        codes,
        vec![
            "250 SIZE ",
            "250 2.1.0",
            "250 2.1.5",
            "550 5.1.1",
            "250 2.1.5",
            "354 2.0.0"
        ]
    );
    // Data, terminator and the next transaction in one write.
    r.client
        .send(b"..leading dot\r\n.\r\nMAIL FROM:<x@y>\r\nRCPT TO:<c@x>\r\nDATA\r\n")
        .await;
    assert_eq!(
        r.client.codes(5).await,
        vec![
            "250 2.0.0",
            "250 2.0.0",
            "250 2.1.0",
            "250 2.1.5",
            "354 2.0.0"
        ]
    );
    r.client.send(b"second\r\n.\r\nQUIT\r\n").await;
    assert_eq!(r.client.codes(2).await, vec!["250 2.0.0", "221 2.0.0"]);
    let delivered = r.backend.delivered.lock().expect("lock").clone();
    assert_eq!(delivered.len(), 2);
    assert_eq!(delivered[0].0, None);
    assert_eq!(delivered[0].2, b".leading dot\r\n");
    assert_eq!(delivered[1].2, b"second\r\n");
}

#[tokio::test]
async fn dot_unstuffing_is_exact_across_writes() {
    let mut r = start().await;
    r.client
        .send(b"LHLO c\r\nMAIL FROM:<s@x>\r\nRCPT TO:<a@x>\r\nDATA\r\n")
        .await;
    r.client.codes(4).await;
    let wire: &[u8] =
        b"A: b\r\n\r\n..\r\n...two\r\nbare\nlf\n.\r\ncr\r.\r\n\r\n.x\r\n\xff\x00\r\n.\r\n";
    // Split at every awkward position: one byte at a time.
    for b in wire {
        r.client.send(std::slice::from_ref(b)).await;
    }
    assert_eq!(r.client.codes(1).await, vec!["250 2.0.0"]);
    let delivered = r.backend.delivered.lock().expect("lock").clone();
    assert_eq!(
        delivered[0].2,
        b"A: b\r\n\r\n.\r\n..two\r\nbare\nlf\n.\r\ncr\r.\r\n\r\nx\r\n\xff\x00\r\n"
    );
}

#[tokio::test]
async fn oversized_messages_are_refused_per_recipient_and_the_session_goes_on() {
    let mut r = start().await;
    r.client
        .send(b"LHLO c\r\nMAIL FROM:<s@x> SIZE=5000\r\n")
        .await;
    assert_eq!(r.client.codes(2).await, vec!["250 SIZE ", "552 5.3.4"]);
    r.client
        .send(b"MAIL FROM:<s@x>\r\nRCPT TO:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\n")
        .await;
    r.client.codes(4).await;
    let line = vec![b'x'; 98];
    for _ in 0..30 {
        r.client.send(&line).await;
        r.client.send(b"\r\n").await;
    }
    r.client.send(b".\r\n").await;
    assert_eq!(r.client.codes(2).await, vec!["552 5.3.4", "552 5.3.4"]);
    assert!(r.backend.delivered.lock().expect("lock").is_empty());
    // The transaction is over; a new one works.
    r.client
        .send(b"MAIL FROM:<s@x>\r\nRCPT TO:<a@x>\r\nDATA\r\nsmall\r\n.\r\n")
        .await;
    assert_eq!(
        r.client.codes(4).await,
        vec!["250 2.1.0", "250 2.1.5", "354 2.0.0", "250 2.0.0"]
    );
}

#[tokio::test]
async fn sequencing_errors_and_simple_commands() {
    let mut cfg = config();
    cfg.max_errors = 50;
    let mut r = start_with(cfg).await;
    r.client.send(b"MAIL FROM:<a@x>\r\n").await;
    assert_eq!(r.client.codes(1).await, vec!["503 5.5.1"]);
    r.client.send(b"LHLO c\r\nRCPT TO:<a@x>\r\nDATA\r\n").await;
    assert_eq!(
        r.client.codes(3).await,
        vec!["250 SIZE ", "503 5.5.1", "503 5.5.1"]
    );
    r.client
        .send(b"MAIL FROM:<a@x>\r\nMAIL FROM:<a@x>\r\nDATA\r\n")
        .await;
    assert_eq!(
        r.client.codes(3).await,
        vec!["250 2.1.0", "503 5.5.1", "503 5.5.1"]
    );
    r.client
        .send(b"RSET\r\nNOOP\r\nVRFY bob\r\nHELP\r\nEXPN list\r\nSTARTTLS\r\nFROB\r\n")
        .await;
    assert_eq!(
        r.client.codes(7).await,
        vec![
            "250 2.0.0",
            "250 2.0.0",
            "252 2.5.0",
            "214 2.0.0",
            "502 5.5.1",
            "454 4.7.0",
            "500 5.5.1"
        ]
    );
    r.client
        .send(b"MAIL FROM:<a@x> RET=HDRS\r\nMAIL FROM:<a@x\r\nRCPT TO:<a@x>\r\n")
        .await;
    assert_eq!(
        r.client.codes(3).await,
        vec!["555 5.5.4", "501 5.5.4", "503 5.5.1"]
    );
}

#[tokio::test]
async fn too_many_recipients_are_deferred() {
    let mut r = start().await;
    r.client.send(b"LHLO c\r\nMAIL FROM:<>\r\n").await;
    r.client.codes(2).await;
    for i in 0..4 {
        r.client
            .send(format!("RCPT TO:<r{i}@x>\r\n").as_bytes())
            .await;
    }
    assert_eq!(
        r.client.codes(4).await,
        vec!["250 2.1.5", "250 2.1.5", "250 2.1.5", "452 4.5.3"]
    );
}

#[tokio::test]
async fn long_lines_are_refused_without_losing_the_session() {
    let mut r = start().await;
    let mut long = b"NOOP ".to_vec();
    long.extend(std::iter::repeat_n(b'a', 10_000));
    long.extend_from_slice(b"\r\nNOOP\r\n");
    r.client.send(&long).await;
    assert_eq!(r.client.codes(2).await, vec!["500 5.5.2", "250 2.0.0"]);
    r.client.send(b"NOOP \xff\xfe\r\n").await;
    assert_eq!(r.client.codes(1).await, vec!["501 5.5.2"]);
}

#[tokio::test]
async fn too_many_errors_close_the_connection() {
    let mut r = start().await;
    r.client.send(b"A\r\nB\r\nC\r\nD\r\nE\r\nF\r\n").await;
    let codes = r.client.codes(6).await;
    assert_eq!(codes.last().map(String::as_str), Some("421 4.7.0"));
    assert!(r.client.closed().await);
}

#[tokio::test]
async fn shutdown_tells_idle_clients() {
    let mut r = start().await;
    r.client.send(b"LHLO c\r\n").await;
    r.client.codes(1).await;
    r.stop.send(true).expect("stop");
    assert_eq!(r.client.codes(1).await, vec!["421 4.3.2"]);
    assert!(r.client.closed().await);
    assert!(!r.task.await.expect("join"));
}

#[tokio::test(start_paused = true)]
async fn idle_clients_time_out() {
    let mut cfg = config();
    cfg.timeout = Duration::from_secs(1);
    let mut r = start_with(cfg).await;
    // Time is paused: the runtime jumps to the session's deadline.
    assert_eq!(r.client.codes(1).await, vec!["421 4.4.2"]);
    assert!(r.client.closed().await);
}

/// Send `bytes` one at a time, `gap` apart (ignoring a closed connection).
async fn drip(client: &mut Client, bytes: &[u8], gap: Duration) {
    for b in bytes {
        if client.io.write_all(&[*b]).await.is_err() {
            return;
        }
        tokio::time::sleep(gap).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_command_dripped_byte_by_byte_times_out() {
    let mut cfg = config();
    cfg.timeout = Duration::from_secs(10);
    let mut r = start_with(cfg).await;
    let started = tokio::time::Instant::now();
    // Each read comes well within the timeout; the line as a whole does not.
    drip(
        &mut r.client,
        b"LHLO slow.example\r\n",
        Duration::from_secs(3),
    )
    .await;
    assert_eq!(r.client.codes(1).await, vec!["421 4.4.2"]);
    assert!(r.client.closed().await);
    assert!(started.elapsed() >= Duration::from_secs(10));
}

#[tokio::test(start_paused = true)]
async fn data_dripped_byte_by_byte_times_out() {
    let mut cfg = config();
    cfg.timeout = Duration::from_secs(10);
    let mut r = start_with(cfg).await;
    r.client
        .send(b"LHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<a@x>\r\nDATA\r\n")
        .await;
    let lines = r.client.replies(4).await;
    assert!(
        lines.last().is_some_and(|l| l.starts_with("354 ")),
        "{lines:?}"
    );
    drip(&mut r.client, &[b'x'; 20], Duration::from_secs(1)).await;
    assert_eq!(r.client.codes(1).await, vec!["421 4.4.2"]);
    assert!(r.client.closed().await);
    assert!(r.backend.delivered.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn starttls_is_handed_back_when_offered() {
    let mut cfg = config();
    cfg.starttls = true;
    let mut r = start_with(cfg).await;
    r.client.send(b"LHLO c\r\n").await;
    let lines = r.client.replies(1).await;
    assert!(lines
        .iter()
        .any(|l| l == "250-STARTTLS" || l == "250 STARTTLS"));
    r.client.send(b"STARTTLS\r\n").await;
    assert_eq!(r.client.codes(1).await, vec!["220 2.0.0"]);
    assert!(r.task.await.expect("join"));
}
