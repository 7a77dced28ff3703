//! The byte stream under a session: TCP, then maybe TLS (implicit or STARTTLS),
//! then maybe DEFLATE (RFC 4978). Reads are line/literal oriented with hard
//! limits; writes are buffered and flushed at the end of each batch of answers.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

/// Anything a session can talk over.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Io for T {}

/// Buffers above this are released when they empty (idle sessions stay small).
const KEEP_CAPACITY: usize = 16 * 1024;
/// Flush the output buffer once it holds this much (streaming answers).
pub const FLUSH_AT: usize = 64 * 1024;

/// What reading a line produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// The line without its CRLF.
    Data(Vec<u8>),
    /// The line exceeded the limit; it was read and dropped up to its end.
    /// Carries the line's first bytes (to find the tag).
    TooLong(Vec<u8>),
}

pub struct Connection {
    io: Option<Box<dyn Io>>,
    rbuf: Vec<u8>,
    rpos: usize,
    /// Dropping input up to the next LF (an over-long line); keeps its first bytes.
    discarding: Option<Vec<u8>>,
    wbuf: Vec<u8>,
    /// How many times buffered output was sent (for [`Connection::rollback`]).
    sends: u64,
    pub remote: SocketAddr,
    pub tls: bool,
    pub compressed: bool,
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "connection closed")
}

impl Connection {
    pub fn new(io: Box<dyn Io>, remote: SocketAddr, tls: bool) -> Self {
        Self {
            io: Some(io),
            rbuf: Vec::new(),
            rpos: 0,
            discarding: None,
            wbuf: Vec::new(),
            sends: 0,
            remote,
            tls,
            compressed: false,
        }
    }

    fn io(&mut self) -> io::Result<&mut Box<dyn Io>> {
        self.io.as_mut().ok_or_else(closed)
    }

    fn buffered(&self) -> &[u8] {
        &self.rbuf[self.rpos..]
    }

    /// True when the client sent bytes that were not consumed yet.
    pub fn has_buffered_input(&self) -> bool {
        self.rpos < self.rbuf.len()
    }

    fn consume(&mut self, n: usize) {
        self.rpos += n;
        if self.rpos >= self.rbuf.len() {
            self.rbuf.clear();
            self.rpos = 0;
            if self.rbuf.capacity() > KEEP_CAPACITY {
                self.rbuf = Vec::new();
            }
        }
    }

    /// Read more input. Cancel-safe: nothing is lost when the future is dropped.
    /// Returns 0 at end of stream.
    pub async fn fill(&mut self) -> io::Result<usize> {
        if self.rpos > 0 && self.rpos == self.rbuf.len() {
            self.rbuf.clear();
            self.rpos = 0;
        }
        if self.rbuf.capacity() - self.rbuf.len() < 1024 {
            self.rbuf.reserve(8192);
        }
        let io = self.io.as_mut().ok_or_else(closed)?;
        io.read_buf(&mut self.rbuf).await
    }

    /// The next complete line, if one is buffered (no I/O).
    pub fn take_line(&mut self, max: usize) -> Option<Line> {
        const PREFIX: usize = 64;
        let buf = &self.rbuf[self.rpos..];
        match memchr::memchr(b'\n', buf) {
            Some(i) => {
                if let Some(prefix) = self.discarding.take() {
                    self.consume(i + 1);
                    return Some(Line::TooLong(prefix));
                }
                let mut line = buf[..i].to_vec();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                self.consume(i + 1);
                if line.len() > max {
                    line.truncate(PREFIX);
                    return Some(Line::TooLong(line));
                }
                Some(Line::Data(line))
            }
            None => {
                let n = buf.len();
                if self.discarding.is_none() && n > max + 2 {
                    self.discarding =
                        Some(self.rbuf[self.rpos..self.rpos + PREFIX.min(n)].to_vec());
                }
                if self.discarding.is_some() {
                    self.consume(n);
                }
                None
            }
        }
    }

    /// Read one line of at most `max` bytes. None at end of stream.
    /// Cancel-safe (all state lives in `self`).
    pub async fn read_line(&mut self, max: usize) -> io::Result<Option<Line>> {
        loop {
            if let Some(line) = self.take_line(max) {
                return Ok(Some(line));
            }
            if self.fill().await? == 0 {
                return Ok(None);
            }
        }
    }

    /// Append exactly `n` bytes of input to `out`. `out` grows with the bytes
    /// that arrive (doubling, never past `n`), not by `n` up front: a peer that
    /// announces a large literal and stalls costs what it sent.
    pub async fn read_exact_into(&mut self, n: usize, out: &mut Vec<u8>) -> io::Result<()> {
        let mut left = n;
        while left > 0 {
            if !self.has_buffered_input() && self.fill().await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "literal cut short",
                ));
            }
            let take = left.min(self.buffered().len());
            if out.capacity() - out.len() < take {
                out.reserve_exact(out.len().max(KEEP_CAPACITY).min(left).max(take));
            }
            out.extend_from_slice(&self.buffered()[..take]);
            self.consume(take);
            left -= take;
        }
        Ok(())
    }

    /// Read and drop `n` bytes of input (a refused non-synchronizing literal).
    pub async fn discard(&mut self, n: u64) -> io::Result<()> {
        let mut left = n;
        while left > 0 {
            if !self.has_buffered_input() && self.fill().await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "literal cut short",
                ));
            }
            let take = (left.min(self.buffered().len() as u64)) as usize;
            self.consume(take);
            left -= take as u64;
        }
        Ok(())
    }

    /// Drop whatever input is buffered (pipelined bytes before STARTTLS).
    pub fn drop_buffered_input(&mut self) {
        let n = self.buffered().len();
        self.consume(n);
    }

    /// The output buffer: answers are appended here and sent by [`flush`](Self::flush).
    pub fn out(&mut self) -> &mut Vec<u8> {
        &mut self.wbuf
    }

    /// A point in the output to roll back to (see [`rollback`](Self::rollback)).
    pub fn mark(&self) -> (u64, usize) {
        (self.sends, self.wbuf.len())
    }

    /// Drop output written since `mark`; false when part of it was already sent.
    pub fn rollback(&mut self, mark: (u64, usize)) -> bool {
        if self.sends != mark.0 || self.wbuf.len() < mark.1 {
            return false;
        }
        self.wbuf.truncate(mark.1);
        true
    }

    pub fn write(&mut self, data: &[u8]) {
        self.wbuf.extend_from_slice(data);
    }

    /// Append `data`; a large piece (message bodies) goes to the socket without
    /// being copied into the buffer, right after what is buffered.
    pub async fn write_large(&mut self, data: &[u8]) -> io::Result<()> {
        if data.len() < FLUSH_AT {
            self.write(data);
            return self.maybe_flush().await;
        }
        self.send_buffer().await?;
        self.sends += 1;
        self.io()?.write_all(data).await
    }

    /// Send the buffered output when it has grown past [`FLUSH_AT`].
    pub async fn maybe_flush(&mut self) -> io::Result<()> {
        if self.wbuf.len() >= FLUSH_AT {
            self.send_buffer().await?;
        }
        Ok(())
    }

    async fn send_buffer(&mut self) -> io::Result<()> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let buf = std::mem::take(&mut self.wbuf);
        self.sends += 1;
        let res = self.io()?.write_all(&buf).await;
        self.wbuf = buf;
        self.wbuf.clear();
        if self.wbuf.capacity() > KEEP_CAPACITY * 8 {
            self.wbuf = Vec::new();
        }
        res
    }

    /// Send everything buffered and flush every layer (TLS records, DEFLATE blocks).
    pub async fn flush(&mut self) -> io::Result<()> {
        self.send_buffer().await?;
        self.io()?.flush().await
    }

    /// Upgrade to TLS. For STARTTLS (after its tagged OK has been flushed) bytes the
    /// client pipelined in plaintext are dropped (command injection); for implicit TLS
    /// (`keep_buffered`, after a PROXY header) they are the start of the handshake.
    pub async fn start_tls(
        &mut self,
        acceptor: eider_tls::TlsAcceptor,
        keep_buffered: bool,
    ) -> io::Result<()> {
        let prefix = if keep_buffered {
            self.buffered().to_vec()
        } else {
            Vec::new()
        };
        self.drop_buffered_input();
        let io = self.io.take().ok_or_else(closed)?;
        let io: Box<dyn Io> = if prefix.is_empty() {
            io
        } else {
            Box::new(Prefixed {
                prefix,
                pos: 0,
                inner: io,
            })
        };
        let tls = acceptor.accept(io).await?;
        self.io = Some(Box::new(tls));
        self.tls = true;
        self.release_buffers();
        Ok(())
    }

    /// Start DEFLATE in both directions (after the tagged OK has been flushed).
    pub fn start_compression(&mut self) -> io::Result<()> {
        let io = self.io.take().ok_or_else(closed)?;
        // Bytes already read belong to the compressed stream.
        let pending = self.buffered().to_vec();
        self.drop_buffered_input();
        self.io = Some(Box::new(Deflate::new(io, pending)));
        self.compressed = true;
        Ok(())
    }

    /// Release idle buffers (called before waiting a long time for input).
    pub fn release_buffers(&mut self) {
        if !self.has_buffered_input() {
            self.rbuf = Vec::new();
            self.rpos = 0;
        }
        if self.wbuf.is_empty() {
            self.wbuf = Vec::new();
        }
    }

    /// Close the stream (after the final answers were flushed).
    pub async fn shutdown(&mut self) {
        if let Some(io) = self.io.as_mut() {
            let _ = io.shutdown().await;
        }
        self.io = None;
    }
}

/// A stream that first yields bytes already read from it.
struct Prefixed<S> {
    prefix: Vec<u8>,
    pos: usize,
    inner: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pos < this.prefix.len() {
            let n = buf.remaining().min(this.prefix.len() - this.pos);
            buf.put_slice(&this.prefix[this.pos..this.pos + n]);
            this.pos += n;
            if this.pos == this.prefix.len() {
                this.prefix = Vec::new();
                this.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, data)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Raw DEFLATE (RFC 1951) in both directions over an inner stream, with a sync
/// flush whenever the writer flushes (RFC 4978).
pub struct Deflate<S> {
    inner: S,
    decompress: Decompress,
    compress: Compress,
    in_buf: Vec<u8>,
    in_pos: usize,
    in_eof: bool,
    out_buf: Vec<u8>,
    out_pos: usize,
    needs_sync: bool,
}

impl<S> Deflate<S> {
    pub fn new(inner: S, pending_input: Vec<u8>) -> Self {
        Self {
            inner,
            decompress: Decompress::new(false),
            compress: Compress::new(Compression::new(6), false),
            in_buf: pending_input,
            in_pos: 0,
            in_eof: false,
            out_buf: Vec::new(),
            out_pos: 0,
            needs_sync: false,
        }
    }
}

fn deflate_err<E: std::fmt::Display>(e: E) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

impl<S: AsyncRead + AsyncWrite + Unpin> Deflate<S> {
    /// Write pending compressed bytes to the inner stream.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.out_pos < self.out_buf.len() {
            let n =
                ready!(Pin::new(&mut self.inner).poll_write(cx, &self.out_buf[self.out_pos..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out_pos += n;
        }
        self.out_buf.clear();
        self.out_pos = 0;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Deflate<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            let before_in = this.decompress.total_in();
            let before_out = this.decompress.total_out();
            let out = buf.initialize_unfilled();
            this.decompress
                .decompress(&this.in_buf[this.in_pos..], out, FlushDecompress::None)
                .map_err(deflate_err)?;
            let consumed = (this.decompress.total_in() - before_in) as usize;
            let produced = (this.decompress.total_out() - before_out) as usize;
            this.in_pos += consumed;
            if produced > 0 {
                buf.advance(produced);
                return Poll::Ready(Ok(()));
            }
            if consumed > 0 {
                continue;
            }
            if this.in_eof {
                return Poll::Ready(Ok(()));
            }
            // Need more compressed input.
            if this.in_pos >= this.in_buf.len() {
                this.in_buf.clear();
                this.in_pos = 0;
            }
            let start = this.in_buf.len();
            this.in_buf.resize(start + 8192, 0);
            let mut rb = ReadBuf::new(&mut this.in_buf[start..]);
            match Pin::new(&mut this.inner).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) => {
                    let n = rb.filled().len();
                    this.in_buf.truncate(start + n);
                    if n == 0 {
                        this.in_eof = true;
                    }
                }
                Poll::Ready(Err(e)) => {
                    this.in_buf.truncate(start);
                    return Poll::Ready(Err(e));
                }
                Poll::Pending => {
                    this.in_buf.truncate(start);
                    return Poll::Pending;
                }
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Deflate<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        let mut consumed = 0;
        while consumed < data.len() {
            this.out_buf.reserve((data.len() - consumed).max(1024));
            let before = this.compress.total_in();
            this.compress
                .compress_vec(&data[consumed..], &mut this.out_buf, FlushCompress::None)
                .map_err(deflate_err)?;
            consumed += (this.compress.total_in() - before) as usize;
        }
        this.needs_sync = true;
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.needs_sync {
            loop {
                this.out_buf.reserve(1024);
                this.compress
                    .compress_vec(&[], &mut this.out_buf, FlushCompress::Sync)
                    .map_err(deflate_err)?;
                if this.out_buf.len() < this.out_buf.capacity() {
                    break;
                }
            }
            this.needs_sync = false;
        }
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_flush(cx))?;
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 1))
    }

    #[tokio::test]
    async fn lines_and_limits() {
        let (client, server) = tokio::io::duplex(1024);
        let mut conn = Connection::new(Box::new(server), addr(), false);
        let mut client = client;
        client
            .write_all(b"a NOOP\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nb\r\n{3}")
            .await
            .expect("write");
        assert_eq!(
            conn.read_line(16).await.expect("io"),
            Some(Line::Data(b"a NOOP".to_vec()))
        );
        assert!(
            matches!(conn.read_line(16).await.expect("io"), Some(Line::TooLong(p)) if p.starts_with(b"xxx"))
        );
        assert_eq!(
            conn.read_line(16).await.expect("io"),
            Some(Line::Data(b"b".to_vec()))
        );
        client.write_all(b"xyz").await.expect("write");
        drop(client);
        let mut v = Vec::new();
        conn.read_exact_into(6, &mut v).await.expect("read");
        assert_eq!(v, b"{3}xyz");
        assert_eq!(conn.read_line(16).await.expect("io"), None);
    }

    /// The write deadline sits on the socket, under DEFLATE (and TLS): a large answer
    /// to a peer that stops reading fails instead of waiting forever.
    #[tokio::test(start_paused = true)]
    async fn writes_under_compression_meet_the_socket_deadline() {
        let (_peer, server) = tokio::io::duplex(4096);
        let limit = std::time::Duration::from_secs(60);
        let socket = eider_net::WriteDeadline::new(server, limit);
        let mut conn = Connection::new(Box::new(socket), addr(), false);
        conn.start_compression().expect("deflate");
        // Incompressible enough that DEFLATE output overflows the pipe.
        let body: Vec<u8> = (0..4 * FLUSH_AT as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        // DEFLATE takes a whole write into its buffer; the socket write then stalls.
        let sent = match conn.write_large(&body).await {
            Ok(()) => conn.flush().await,
            Err(e) => Err(e),
        };
        let err = sent.expect_err("nobody reads");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test]
    async fn deflate_round_trip() {
        let (a, b) = tokio::io::duplex(64 * 1024);
        let mut x = Deflate::new(a, Vec::new());
        let mut y = Deflate::new(b, Vec::new());
        let payload: Vec<u8> = (0..50_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let send = payload.clone();
        let writer = tokio::spawn(async move {
            x.write_all(&send).await.expect("write");
            x.flush().await.expect("flush");
            x.write_all(b"tail\r\n").await.expect("write");
            x.flush().await.expect("flush");
            x
        });
        let mut got = vec![0u8; payload.len() + 6];
        y.read_exact(&mut got).await.expect("read");
        assert_eq!(&got[..payload.len()], &payload[..]);
        assert_eq!(&got[payload.len()..], b"tail\r\n");
        let _ = writer.await;
    }
}
