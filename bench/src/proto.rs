//! Minimal protocol clients (LMTP, IMAP, POP3, HTTP/1.1) for the load generator:
//! just enough to drive the workload and count what comes back, with no
//! dependencies beyond tokio.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub type Res<T> = Result<T, String>;

fn io(e: std::io::Error) -> String {
    e.to_string()
}

/// A buffered TCP connection.
pub struct Conn {
    s: BufReader<TcpStream>,
    line: Vec<u8>,
}

impl Conn {
    pub async fn connect(addr: SocketAddr) -> Res<Self> {
        let s = tokio::time::timeout(Duration::from_secs(30), TcpStream::connect(addr))
            .await
            .map_err(|_| format!("connect {addr}: timeout"))?
            .map_err(|e| format!("connect {addr}: {e}"))?;
        let _ = s.set_nodelay(true);
        Ok(Self {
            s: BufReader::with_capacity(256 * 1024, s),
            line: Vec::with_capacity(1024),
        })
    }

    pub async fn write(&mut self, data: &[u8]) -> Res<()> {
        self.s.get_mut().write_all(data).await.map_err(io)
    }

    /// One line including CRLF; an error at end of stream.
    pub async fn read_line(&mut self) -> Res<&[u8]> {
        self.line.clear();
        let n = self.s.read_until(b'\n', &mut self.line).await.map_err(io)?;
        if n == 0 {
            return Err("connection closed by server".into());
        }
        Ok(&self.line)
    }

    /// Read and discard `n` bytes.
    pub async fn skip(&mut self, n: u64) -> Res<u64> {
        let copied = tokio::io::copy(&mut (&mut self.s).take(n), &mut tokio::io::sink())
            .await
            .map_err(io)?;
        if copied != n {
            return Err("connection closed inside a literal".into());
        }
        Ok(copied)
    }

    pub async fn read_exact(&mut self, n: usize) -> Res<Vec<u8>> {
        let mut v = vec![0u8; n];
        self.s.read_exact(&mut v).await.map_err(io)?;
        Ok(v)
    }
}

fn text(line: &[u8]) -> String {
    String::from_utf8_lossy(line).trim_end().to_string()
}

// ---------------------------------------------------------------- LMTP

pub struct Lmtp {
    c: Conn,
}

impl Lmtp {
    pub async fn connect(addr: SocketAddr) -> Res<Self> {
        let mut l = Self {
            c: Conn::connect(addr).await?,
        };
        l.reply(220).await?;
        l.c.write(b"LHLO bench.example\r\n").await?;
        l.reply(250).await?;
        Ok(l)
    }

    /// Read a (possibly multi-line) reply and check its code.
    async fn reply(&mut self, want: u16) -> Res<()> {
        loop {
            let line = self.c.read_line().await?;
            if line.len() < 4 {
                return Err(format!("short LMTP reply {:?}", text(line)));
            }
            if line[3] == b'-' {
                continue;
            }
            let code: u16 = std::str::from_utf8(&line[..3])
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            if code != want {
                return Err(format!("LMTP: {}", text(line)));
            }
            return Ok(());
        }
    }

    /// Deliver one message (CRLF, no dot-stuffing needed) to `rcpt`. `on_sent` runs
    /// right before the terminating dot is written.
    pub async fn deliver(&mut self, rcpt: &str, data: &[u8], on_sent: impl FnOnce()) -> Res<()> {
        self.c
            .write(
                format!("MAIL FROM:<sender@example.com>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n")
                    .as_bytes(),
            )
            .await?;
        self.reply(250).await?;
        self.reply(250).await?;
        self.reply(354).await?;
        self.c.write(data).await?;
        on_sent();
        self.c.write(b".\r\n").await?;
        self.reply(250).await
    }
}

// ---------------------------------------------------------------- IMAP

/// What a command's answer contained.
#[derive(Default, Debug)]
pub struct ImapAnswer {
    /// `* n FETCH` responses.
    pub fetches: u64,
    /// Bytes of literals received.
    pub literal_bytes: u64,
    /// Numbers in `* SEARCH` responses.
    pub search_hits: u64,
    /// `* n EXISTS`, the last one seen.
    pub exists: Option<u64>,
    /// Bytes received in total.
    pub bytes: u64,
}

pub struct Imap {
    c: Conn,
    tag: u64,
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The literal size announced at the end of a line (`{123}` or `{123+}`).
fn literal_len(line: &[u8]) -> Option<u64> {
    let l = line.strip_suffix(b"\r\n").unwrap_or(line);
    let l = l.strip_suffix(b"}")?;
    let open = l.iter().rposition(|b| *b == b'{')?;
    let digits = l[open + 1..].strip_suffix(b"+").unwrap_or(&l[open + 1..]);
    std::str::from_utf8(digits).ok()?.parse().ok()
}

impl Imap {
    pub async fn connect(addr: SocketAddr) -> Res<Self> {
        let mut c = Conn::connect(addr).await?;
        let greeting = text(c.read_line().await?);
        if !greeting.starts_with("* OK") && !greeting.starts_with("* PREAUTH") {
            return Err(format!("IMAP greeting: {greeting}"));
        }
        Ok(Self { c, tag: 0 })
    }

    pub async fn login(addr: SocketAddr, user: &str, pass: &str) -> Res<Self> {
        let mut s = Self::connect(addr).await?;
        s.cmd(&format!("LOGIN {} {}", quote(user), quote(pass)))
            .await?;
        Ok(s)
    }

    /// Send a command and read its answer up to the tagged status; NO/BAD are errors.
    pub async fn cmd(&mut self, command: &str) -> Res<ImapAnswer> {
        self.tag += 1;
        let tag = format!("b{}", self.tag);
        self.c
            .write(format!("{tag} {command}\r\n").as_bytes())
            .await?;
        self.read_until_tagged(&tag).await
    }

    async fn read_until_tagged(&mut self, tag: &str) -> Res<ImapAnswer> {
        let mut a = ImapAnswer::default();
        let tag_sp = format!("{tag} ");
        loop {
            let line = self.c.read_line().await?;
            a.bytes += line.len() as u64;
            if line.starts_with(tag_sp.as_bytes()) {
                let status = text(&line[tag_sp.len()..]);
                if status.starts_with("OK") {
                    return Ok(a);
                }
                return Err(status);
            }
            if line.starts_with(b"* ") {
                Self::inspect(line, &mut a);
            }
            // Literals, possibly several on one response.
            let mut pending = literal_len(line);
            while let Some(n) = pending {
                a.literal_bytes += self.c.skip(n).await?;
                a.bytes += n;
                let rest = self.c.read_line().await?;
                a.bytes += rest.len() as u64;
                pending = literal_len(rest);
            }
        }
    }

    fn inspect(line: &[u8], a: &mut ImapAnswer) {
        let t = &line[2..];
        if t.starts_with(b"SEARCH") {
            a.search_hits += t
                .split(|b| *b == b' ')
                .skip(1)
                .filter(|w| w.first().is_some_and(u8::is_ascii_digit))
                .count() as u64;
            return;
        }
        let mut words = t.splitn(3, |b| *b == b' ');
        let first = words.next().unwrap_or_default();
        let second = words.next().unwrap_or_default();
        if !first.first().is_some_and(u8::is_ascii_digit) {
            return;
        }
        if second.starts_with(b"FETCH") {
            a.fetches += 1;
        } else if second.starts_with(b"EXISTS") {
            a.exists = std::str::from_utf8(first).ok().and_then(|s| s.parse().ok());
        }
    }

    /// Enter IDLE (waits for the continuation).
    pub async fn idle_start(&mut self) -> Res<()> {
        self.tag += 1;
        let tag = format!("b{}", self.tag);
        self.c.write(format!("{tag} IDLE\r\n").as_bytes()).await?;
        loop {
            let line = self.c.read_line().await?;
            if line.starts_with(b"+") {
                return Ok(());
            }
            if line.starts_with(tag.as_bytes()) {
                return Err(text(line));
            }
        }
    }

    /// Wait for the next `* n EXISTS` while idling.
    pub async fn wait_exists(&mut self) -> Res<u64> {
        loop {
            let line = self.c.read_line().await?;
            if line.starts_with(b"* ") {
                let mut a = ImapAnswer::default();
                Self::inspect(line, &mut a);
                if let Some(n) = a.exists {
                    return Ok(n);
                }
            }
        }
    }
}

// ---------------------------------------------------------------- POP3

pub struct Pop3 {
    c: Conn,
}

impl Pop3 {
    pub async fn login(addr: SocketAddr, user: &str, pass: &str) -> Res<Self> {
        let mut p = Self {
            c: Conn::connect(addr).await?,
        };
        p.ok().await?;
        p.cmd(&format!("USER {user}")).await?;
        p.cmd(&format!("PASS {pass}")).await?;
        Ok(p)
    }

    async fn ok(&mut self) -> Res<String> {
        let line = text(self.c.read_line().await?);
        if line.starts_with("+OK") {
            Ok(line)
        } else {
            Err(format!("POP3: {line}"))
        }
    }

    pub async fn cmd(&mut self, command: &str) -> Res<String> {
        self.c.write(format!("{command}\r\n").as_bytes()).await?;
        self.ok().await
    }

    /// A multi-line command; returns (lines, bytes) of the listing.
    pub async fn multi(&mut self, command: &str) -> Res<(u64, u64)> {
        self.cmd(command).await?;
        let (mut lines, mut bytes) = (0u64, 0u64);
        loop {
            let line = self.c.read_line().await?;
            if line == b".\r\n" || line == b".\n" {
                return Ok((lines, bytes));
            }
            lines += 1;
            bytes += line.len() as u64;
        }
    }
}

// ---------------------------------------------------------------- HTTP/1.1

pub struct Http {
    c: Conn,
    host: String,
}

impl Http {
    pub async fn connect(addr: SocketAddr) -> Res<Self> {
        Ok(Self {
            c: Conn::connect(addr).await?,
            host: addr.to_string(),
        })
    }

    /// One request on the kept-alive connection; returns (status, body).
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        json: Option<&str>,
    ) -> Res<(u16, Vec<u8>)> {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.host);
        if let Some(body) = json {
            req.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ));
        } else {
            req.push_str("\r\n");
        }
        self.c.write(req.as_bytes()).await?;
        let status_line = text(self.c.read_line().await?);
        let status: u16 = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad HTTP status line {status_line:?}"))?;
        let mut length: Option<usize> = None;
        let mut chunked = false;
        loop {
            let line = text(self.c.read_line().await?);
            if line.is_empty() {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().ok();
            } else if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                chunked = true;
            }
        }
        let body = if chunked {
            let mut body = Vec::new();
            loop {
                let size_line = text(self.c.read_line().await?);
                let size =
                    usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
                        .map_err(|_| format!("bad chunk size {size_line:?}"))?;
                if size == 0 {
                    // Trailers until the empty line.
                    while !text(self.c.read_line().await?).is_empty() {}
                    break;
                }
                body.extend(self.c.read_exact(size).await?);
                self.c.read_line().await?;
            }
            body
        } else {
            self.c.read_exact(length.unwrap_or(0)).await?
        };
        Ok((status, body))
    }
}

#[cfg(test)]
mod tests {
    use super::literal_len;

    #[test]
    fn literal_sizes() {
        assert_eq!(literal_len(b"* 1 FETCH (BODY[] {123}\r\n"), Some(123));
        assert_eq!(literal_len(b"* 1 FETCH (BODY[] {12+}\r\n"), Some(12));
        assert_eq!(literal_len(b"* 1 FETCH (FLAGS ())\r\n"), None);
    }
}
