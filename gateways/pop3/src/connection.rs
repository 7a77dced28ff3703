//! Line-oriented I/O over one client stream: bounded command lines, buffered answers
//! flushed only when the client has nothing more queued (so pipelined commands are
//! answered in one write, in order), one deadline per command line (the whole line must
//! arrive within the idle period, however it is split: a client dripping one byte at a
//! time cannot hold the connection), an optional earlier cap on it (the login
//! deadline), and the server's stop signal.

use std::io;
use std::time::Duration;

use memchr::memchr;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::{timeout_at, Instant};

use crate::command::MAX_LINE;

/// Answers are written out once this much is buffered (RETR of a large message).
const WRITE_HIGH_WATER: usize = 64 * 1024;
/// Buffers larger than this are released once drained, so idle sessions stay small.
const KEEP_CAPACITY: usize = 16 * 1024;
/// Bytes requested from the socket per read.
const READ_SIZE: usize = 4096;

/// What waiting for the next client line produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Input {
    /// One line, without its CRLF (or bare LF).
    Line(Vec<u8>),
    /// A line longer than [`MAX_LINE`]; it has been skipped.
    TooLong,
    /// The client closed the connection.
    Eof,
    /// The line did not arrive in full before its deadline.
    Idle,
    /// The server is stopping.
    Shutdown,
}

/// One client connection.
pub struct Conn<S> {
    stream: S,
    rbuf: Vec<u8>,
    rpos: usize,
    wbuf: Vec<u8>,
    idle: Duration,
    /// A deadline no line may pass (the login deadline), if any.
    cap: Option<Instant>,
    shutdown: watch::Receiver<bool>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    pub fn new(stream: S, idle: Duration, shutdown: watch::Receiver<bool>) -> Self {
        Self {
            stream,
            rbuf: Vec::new(),
            rpos: 0,
            wbuf: Vec::new(),
            idle,
            cap: None,
            shutdown,
        }
    }

    /// Set (or lift) a deadline that every following read must meet.
    pub fn set_cap(&mut self, cap: Option<Instant>) {
        self.cap = cap;
    }

    /// Give back the stream (for a TLS upgrade) and the stop signal. Unread input is
    /// dropped: nothing sent before a TLS handshake may be acted on after it.
    pub fn into_parts(self) -> (S, watch::Receiver<bool>) {
        (self.stream, self.shutdown)
    }

    /// True when the client already sent bytes that have not been read as lines.
    pub fn has_unread_input(&self) -> bool {
        self.rpos < self.rbuf.len()
    }

    /// Queue bytes for the client.
    pub fn write(&mut self, bytes: &[u8]) {
        self.wbuf.extend_from_slice(bytes);
    }

    /// Queue bytes and write out if enough is buffered (for long multi-line answers).
    pub async fn write_streaming(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.wbuf.extend_from_slice(bytes);
        if self.wbuf.len() >= WRITE_HIGH_WATER {
            self.flush().await?;
        }
        Ok(())
    }

    /// Write out everything queued.
    pub async fn flush(&mut self) -> io::Result<()> {
        if !self.wbuf.is_empty() {
            // A client that does not read cannot hold the connection past the deadline.
            let mut deadline = Instant::now() + self.idle;
            if let Some(cap) = self.cap {
                deadline = deadline.min(cap);
            }
            let write = async {
                self.stream.write_all(&self.wbuf).await?;
                self.stream.flush().await
            };
            match timeout_at(deadline, write).await {
                Ok(r) => r?,
                Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "write timed out")),
            }
            self.wbuf.clear();
        }
        if self.wbuf.capacity() > KEEP_CAPACITY {
            self.wbuf = Vec::new();
        }
        Ok(())
    }

    /// The next client line. Queued answers are flushed before waiting on the socket.
    /// The whole line must arrive within the idle period (and before the cap).
    pub async fn read_line(&mut self) -> io::Result<Input> {
        let mut discarding = false;
        let mut deadline = Instant::now() + self.idle;
        if let Some(cap) = self.cap {
            deadline = deadline.min(cap);
        }
        loop {
            if let Some(i) = memchr(b'\n', &self.rbuf[self.rpos..]) {
                let start = self.rpos;
                let mut end = start + i;
                self.rpos = end + 1;
                if discarding {
                    self.compact();
                    return Ok(Input::TooLong);
                }
                if end > start && self.rbuf[end - 1] == b'\r' {
                    end -= 1;
                }
                let line = if end - start > MAX_LINE {
                    Input::TooLong
                } else {
                    Input::Line(self.rbuf[start..end].to_vec())
                };
                self.compact();
                return Ok(line);
            }
            // No complete line: a partial one longer than the limit is skipped up to its LF.
            if self.rbuf.len() - self.rpos > MAX_LINE + 1 {
                discarding = true;
                self.rbuf.clear();
                self.rpos = 0;
            }
            self.compact();
            self.flush().await?;
            match self.fill(deadline).await? {
                Some(0) => return Ok(Input::Eof),
                Some(_) => {}
                None if *self.shutdown.borrow() => return Ok(Input::Shutdown),
                None => return Ok(Input::Idle),
            }
        }
    }

    /// Read more bytes. None when the deadline passed or the server is stopping.
    async fn fill(&mut self, deadline: Instant) -> io::Result<Option<usize>> {
        if *self.shutdown.borrow() {
            return Ok(None);
        }
        self.rbuf.reserve(READ_SIZE);
        let stream = &mut self.stream;
        let rbuf = &mut self.rbuf;
        let shutdown = &mut self.shutdown;
        tokio::select! {
            r = timeout_at(deadline, stream.read_buf(rbuf)) => match r {
                Ok(n) => n.map(Some),
                Err(_) => Ok(None),
            },
            _ = stopped(shutdown) => Ok(None),
        }
    }

    /// Drop consumed bytes; release a large buffer once it is empty.
    fn compact(&mut self) {
        if self.rpos == self.rbuf.len() {
            self.rbuf.clear();
            self.rpos = 0;
            if self.rbuf.capacity() > KEEP_CAPACITY {
                self.rbuf = Vec::new();
            }
        } else if self.rpos > 0 && self.rpos >= self.rbuf.len() / 2 {
            self.rbuf.drain(..self.rpos);
            self.rpos = 0;
        }
    }
}

/// Resolves when the stop flag is set (or its sender is gone).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    while !*rx.borrow_and_update() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt};

    fn conn(
        stream: tokio::io::DuplexStream,
        idle: Duration,
    ) -> (Conn<tokio::io::DuplexStream>, watch::Sender<bool>) {
        let (tx, rx) = watch::channel(false);
        (Conn::new(stream, idle, rx), tx)
    }

    #[tokio::test]
    async fn reads_pipelined_lines_in_order() {
        let (mut client, server) = duplex(1 << 16);
        let (mut c, _tx) = conn(server, Duration::from_secs(5));
        client
            .write_all(b"STAT\r\nLIST 1\nNOOP\r\n")
            .await
            .expect("write");
        assert_eq!(
            c.read_line().await.expect("1"),
            Input::Line(b"STAT".to_vec())
        );
        assert_eq!(
            c.read_line().await.expect("2"),
            Input::Line(b"LIST 1".to_vec())
        );
        assert!(c.has_unread_input());
        assert_eq!(
            c.read_line().await.expect("3"),
            Input::Line(b"NOOP".to_vec())
        );
        drop(client);
        assert_eq!(c.read_line().await.expect("eof"), Input::Eof);
    }

    #[tokio::test]
    async fn skips_overlong_lines_and_keeps_going() {
        let (mut client, server) = duplex(1 << 16);
        let (mut c, _tx) = conn(server, Duration::from_secs(5));
        let long = vec![b'A'; MAX_LINE * 3];
        let writer = tokio::spawn(async move {
            client.write_all(&long).await.expect("long");
            client.write_all(b"\r\nNOOP\r\n").await.expect("rest");
            client
        });
        assert_eq!(c.read_line().await.expect("long"), Input::TooLong);
        assert_eq!(
            c.read_line().await.expect("next"),
            Input::Line(b"NOOP".to_vec())
        );
        let _client = writer.await.expect("writer");
    }

    #[tokio::test]
    async fn flushes_answers_before_waiting() {
        let (mut client, server) = duplex(1 << 16);
        let (mut c, _tx) = conn(server, Duration::from_secs(5));
        client.write_all(b"A\r\nB\r\n").await.expect("write");
        assert!(matches!(c.read_line().await, Ok(Input::Line(_))));
        c.write(b"+OK a\r\n");
        assert!(matches!(c.read_line().await, Ok(Input::Line(_))));
        c.write(b"+OK b\r\n");
        let waiter = tokio::spawn(async move { c.read_line().await.map(|_| ()) });
        let mut got = [0u8; 14];
        client.read_exact(&mut got).await.expect("answers");
        assert_eq!(&got, b"+OK a\r\n+OK b\r\n");
        drop(client);
        waiter.await.expect("join").expect("eof");
    }

    #[tokio::test(start_paused = true)]
    async fn a_line_dripped_byte_by_byte_meets_one_deadline() {
        let (mut client, server) = duplex(64);
        let (mut c, _tx) = conn(server, Duration::from_secs(10));
        let drip = tokio::spawn(async move {
            for _ in 0..100 {
                if client.write_all(b"N").await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
            client
        });
        let started = Instant::now();
        assert_eq!(c.read_line().await.expect("read"), Input::Idle);
        assert_eq!(started.elapsed(), Duration::from_secs(10));
        drop(c);
        let _ = drip.await;
    }

    #[tokio::test(start_paused = true)]
    async fn the_cap_comes_first() {
        let (_client, server) = duplex(64);
        let (mut c, _tx) = conn(server, Duration::from_secs(600));
        let started = Instant::now();
        c.set_cap(Some(started + Duration::from_secs(60)));
        assert_eq!(c.read_line().await.expect("read"), Input::Idle);
        assert_eq!(started.elapsed(), Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn idle_and_shutdown() {
        let (_client, server) = duplex(64);
        let (mut c, tx) = conn(server, Duration::from_secs(600));
        assert_eq!(c.read_line().await.expect("idle"), Input::Idle);
        let (_client2, server2) = duplex(64);
        let (mut c2, tx2) = conn(server2, Duration::from_secs(600));
        let t = tokio::spawn(async move { c2.read_line().await });
        tokio::task::yield_now().await;
        tx2.send(true).expect("send");
        assert_eq!(t.await.expect("join").expect("read"), Input::Shutdown);
        drop(tx);
    }
}
