//! Connection admission: a cap on a listener's open connections in total and per
//! client address. A [`Permit`] is handed out per connection and gives its place back
//! when dropped, however the connection ends.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The listener holds its maximum number of connections.
    Total,
    /// The client's address holds its maximum number of connections.
    PerIp,
}

/// The caps of one listener (shared by its accept loop and its connections).
#[derive(Clone)]
pub struct Limiter {
    inner: Arc<Inner>,
}

struct Inner {
    /// 0: no cap.
    max_total: usize,
    /// 0: no cap.
    max_per_ip: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// The address a per-IP count is kept under. An IPv6 client usually holds a whole /64,
/// so its connections are counted together; IPv4-mapped addresses count as IPv4.
fn ip_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

impl Limiter {
    /// `max_total` connections at once, `max_per_ip` of them from one address; 0 for no cap.
    pub fn new(max_total: usize, max_per_ip: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                max_total,
                max_per_ip,
                state: Mutex::new(State::default()),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admit a connection against the total cap only (its client address is not known
    /// yet: a PROXY header will name it); see [`Permit::claim_ip`].
    pub fn admit_total(&self) -> Result<Permit, Refused> {
        let mut st = self.state();
        if self.inner.max_total > 0 && st.total >= self.inner.max_total {
            return Err(Refused::Total);
        }
        st.total += 1;
        Ok(Permit {
            inner: Arc::clone(&self.inner),
            ip: None,
        })
    }

    /// Admit a connection from `ip` against both caps.
    pub fn admit(&self, ip: IpAddr) -> Result<Permit, Refused> {
        let mut permit = self.admit_total()?;
        permit.claim_ip(ip)?;
        Ok(permit)
    }

    /// Connections currently admitted.
    pub fn open(&self) -> usize {
        self.state().total
    }
}

/// One admitted connection's place; given back on drop.
pub struct Permit {
    inner: Arc<Inner>,
    ip: Option<IpAddr>,
}

impl Permit {
    /// Count this connection against its client's address (once). On refusal the
    /// permit still holds its place in the total until dropped.
    pub fn claim_ip(&mut self, ip: IpAddr) -> Result<(), Refused> {
        if self.ip.is_some() {
            return Ok(());
        }
        let key = ip_key(ip);
        let mut st = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        let n = st.per_ip.entry(key).or_insert(0);
        if self.inner.max_per_ip > 0 && *n >= self.inner.max_per_ip {
            if *n == 0 {
                st.per_ip.remove(&key);
            }
            return Err(Refused::PerIp);
        }
        *n += 1;
        self.ip = Some(key);
        Ok(())
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut st = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        st.total = st.total.saturating_sub(1);
        if let Some(key) = self.ip {
            if let Some(n) = st.per_ip.get_mut(&key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    st.per_ip.remove(&key);
                }
            }
        }
    }
}

/// A stream carrying its connection's permit (for servers that take a stream type,
/// such as axum's `Listener::Io`): the place is given back when the stream is dropped.
pub struct PermitStream<S> {
    inner: S,
    _permit: Permit,
}

impl<S> PermitStream<S> {
    pub fn new(inner: S, permit: Permit) -> Self {
        Self {
            inner,
            _permit: permit,
        }
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for PermitStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for PermitStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, data)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn total_cap_and_release() {
        let l = Limiter::new(2, 0);
        let a = l.admit(ip("10.0.0.1")).expect("first");
        let _b = l.admit(ip("10.0.0.2")).expect("second");
        assert_eq!(l.admit(ip("10.0.0.3")).err(), Some(Refused::Total));
        drop(a);
        assert_eq!(l.open(), 1);
        let _c = l.admit(ip("10.0.0.3")).expect("a place was given back");
    }

    #[test]
    fn per_ip_cap_counts_each_address() {
        let l = Limiter::new(10, 2);
        let a1 = l.admit(ip("10.0.0.1")).expect("1");
        let _a2 = l.admit(ip("10.0.0.1")).expect("2");
        assert_eq!(l.admit(ip("10.0.0.1")).err(), Some(Refused::PerIp));
        // The refused attempt holds nothing.
        assert_eq!(l.open(), 2);
        let _b = l.admit(ip("10.0.0.2")).expect("another address");
        drop(a1);
        let _a3 = l.admit(ip("10.0.0.1")).expect("after one closed");
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_v4_as_v4() {
        let l = Limiter::new(0, 1);
        let _a = l.admit(ip("2001:db8:1:2::1")).expect("first");
        assert_eq!(
            l.admit(ip("2001:db8:1:2::ffff")).err(),
            Some(Refused::PerIp),
            "same /64"
        );
        let _b = l.admit(ip("2001:db8:1:3::1")).expect("another /64");
        let _c = l.admit(ip("192.0.2.1")).expect("v4");
        assert_eq!(
            l.admit(ip("::ffff:192.0.2.1")).err(),
            Some(Refused::PerIp),
            "mapped v4 is the same client"
        );
    }

    #[test]
    fn claim_after_total_admission() {
        let l = Limiter::new(3, 1);
        let mut p = l.admit_total().expect("total");
        p.claim_ip(ip("10.0.0.1")).expect("claim");
        p.claim_ip(ip("10.0.0.9")).expect("second claim is a no-op");
        let mut q = l.admit_total().expect("total");
        assert_eq!(q.claim_ip(ip("10.0.0.1")), Err(Refused::PerIp));
        drop(q);
        drop(p);
        assert_eq!(l.open(), 0);
        let _r = l.admit(ip("10.0.0.1")).expect("released");
    }

    #[test]
    fn zero_means_no_cap() {
        let l = Limiter::new(0, 0);
        let permits: Vec<Permit> = (0..100)
            .map(|_| l.admit(ip("10.0.0.1")).expect("admit"))
            .collect();
        assert_eq!(l.open(), 100);
        drop(permits);
        assert_eq!(l.open(), 0);
    }
}
