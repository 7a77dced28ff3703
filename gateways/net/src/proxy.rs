//! PROXY protocol (HAProxy, versions 1 and 2): a load balancer in front of a
//! listener prepends the client's address to the connection. Read before anything
//! else (and before TLS); exactly the header's bytes are consumed. Only peers in
//! [`TrustedProxies`] may send one: from anyone else it would be a forged address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use ipnet::IpNet;

use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt};

const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// Longest version 1 line (the specification's limit, CRLF included).
const V1_MAX: usize = 107;
/// Largest version 2 payload accepted (addresses plus a modest amount of TLVs).
const V2_MAX_PAYLOAD: usize = 4096;

#[derive(Debug, Error)]
pub enum ProxyError {
    #[error("connection closed before the PROXY header")]
    Io(#[from] std::io::Error),
    #[error("invalid PROXY protocol header")]
    Invalid,
}

/// The peers allowed to send a PROXY header: addresses or CIDR ranges.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

/// A `trustedProxies` entry that is neither an address nor a CIDR range.
#[derive(Debug, Error)]
#[error("invalid trusted proxy {0:?}: expected an address or a CIDR range such as 10.0.0.0/8")]
pub struct BadTrustedProxy(pub String);

impl TrustedProxies {
    /// Parse entries like `10.0.0.5`, `10.0.0.0/8`, `::1`, `fd00::/8`.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, BadTrustedProxy> {
        let mut nets = Vec::with_capacity(entries.len());
        for e in entries {
            let text = e.as_ref().trim();
            let net = match IpNet::from_str(text) {
                Ok(n) => n.trunc(),
                Err(_) => match IpAddr::from_str(text) {
                    Ok(ip) => IpNet::from(ip),
                    Err(_) => return Err(BadTrustedProxy(text.to_string())),
                },
            };
            nets.push(net);
        }
        Ok(Self { nets })
    }

    /// True when `ip` may send a PROXY header (IPv4-mapped IPv6 counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|n| n.contains(&ip))
    }
}

/// Read a PROXY header; Ok(None) when it carries no address (LOCAL, UNKNOWN).
pub async fn read_header<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> Result<Option<SocketAddr>, ProxyError> {
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await?;
    if head == V2_SIGNATURE {
        let mut fixed = [0u8; 4];
        stream.read_exact(&mut fixed).await?;
        let len = usize::from(u16::from_be_bytes([fixed[2], fixed[3]]));
        if len > V2_MAX_PAYLOAD {
            return Err(ProxyError::Invalid);
        }
        let mut payload = vec![0u8; len];
        stream.read_exact(&mut payload).await?;
        return parse_v2(fixed[0], fixed[1], &payload);
    }
    if !head.starts_with(b"PROXY ") {
        return Err(ProxyError::Invalid);
    }
    let mut line = head.to_vec();
    while line.last() != Some(&b'\n') {
        if line.len() >= V1_MAX {
            return Err(ProxyError::Invalid);
        }
        let mut b = [0u8; 1];
        stream.read_exact(&mut b).await?;
        line.push(b[0]);
    }
    parse_v1(&line)
}

/// `PROXY TCP4 src dst sport dport\r\n` or `PROXY UNKNOWN ...\r\n`.
pub fn parse_v1(line: &[u8]) -> Result<Option<SocketAddr>, ProxyError> {
    let line = line
        .strip_suffix(b"\r\n")
        .ok_or(ProxyError::Invalid)
        .and_then(|l| std::str::from_utf8(l).map_err(|_| ProxyError::Invalid))?;
    let mut parts = line.split(' ');
    if parts.next() != Some("PROXY") {
        return Err(ProxyError::Invalid);
    }
    let family = parts.next().ok_or(ProxyError::Invalid)?;
    if family == "UNKNOWN" {
        return Ok(None);
    }
    let fields: Vec<&str> = parts.collect();
    let [src, _dst, sport, _dport] = fields.as_slice() else {
        return Err(ProxyError::Invalid);
    };
    let ip: IpAddr = match family {
        "TCP4" => IpAddr::V4(src.parse::<Ipv4Addr>().map_err(|_| ProxyError::Invalid)?),
        "TCP6" => IpAddr::V6(src.parse::<Ipv6Addr>().map_err(|_| ProxyError::Invalid)?),
        _ => return Err(ProxyError::Invalid),
    };
    let port: u16 = sport.parse().map_err(|_| ProxyError::Invalid)?;
    Ok(Some(SocketAddr::new(ip, port)))
}

/// The binary form after its signature: version/command, family/protocol, payload.
pub fn parse_v2(ver_cmd: u8, family: u8, payload: &[u8]) -> Result<Option<SocketAddr>, ProxyError> {
    if ver_cmd >> 4 != 2 {
        return Err(ProxyError::Invalid);
    }
    match ver_cmd & 0x0f {
        0 => return Ok(None), // LOCAL: a health check from the proxy itself
        1 => {}
        _ => return Err(ProxyError::Invalid),
    }
    match family >> 4 {
        1 => {
            let a = payload.get(..12).ok_or(ProxyError::Invalid)?;
            let ip = Ipv4Addr::new(a[0], a[1], a[2], a[3]);
            let port = u16::from_be_bytes([a[8], a[9]]);
            Ok(Some(SocketAddr::new(IpAddr::V4(ip), port)))
        }
        2 => {
            let a = payload.get(..36).ok_or(ProxyError::Invalid)?;
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&a[..16]);
            let port = u16::from_be_bytes([a[32], a[33]]);
            Ok(Some(SocketAddr::new(
                IpAddr::V6(Ipv6Addr::from(octets)),
                port,
            )))
        }
        _ => Ok(None), // AF_UNSPEC or AF_UNIX: no usable address
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_lines() {
        let a = parse_v1(b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 995\r\n").expect("v4");
        assert_eq!(a, Some("192.0.2.1:56324".parse().expect("addr")));
        let a = parse_v1(b"PROXY TCP6 2001:db8::1 2001:db8::2 4000 995\r\n").expect("v6");
        assert_eq!(a, Some("[2001:db8::1]:4000".parse().expect("addr")));
        assert!(matches!(parse_v1(b"PROXY UNKNOWN\r\n"), Ok(None)));
        for bad in [
            &b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2"[..],
            b"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 5.6.7.8 70000 2\r\n",
            b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
            b"PROXY TCP4 1.2.3.4\r\n",
        ] {
            assert!(parse_v1(bad).is_err());
        }
    }

    #[test]
    fn v2_payloads() {
        let mut p = vec![10, 0, 0, 7, 10, 0, 0, 1];
        p.extend_from_slice(&1234u16.to_be_bytes());
        p.extend_from_slice(&995u16.to_be_bytes());
        let a = parse_v2(0x21, 0x11, &p).expect("v4");
        assert_eq!(a, Some("10.0.0.7:1234".parse().expect("addr")));
        assert!(matches!(parse_v2(0x20, 0x00, &[]), Ok(None)));
        assert!(parse_v2(0x21, 0x11, &p[..5]).is_err());
        assert!(parse_v2(0x11, 0x11, &p).is_err());
    }

    #[test]
    fn trusted_proxies() {
        let t =
            TrustedProxies::parse(&["127.0.0.0/8", "10.1.2.3", "fd00::/8", "::1"]).expect("parse");
        for ok in [
            "127.0.0.1",
            "127.9.9.9",
            "10.1.2.3",
            "fd12::1",
            "::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(t.contains(ok.parse().expect("ip")), "{ok}");
        }
        for no in ["10.1.2.4", "192.0.2.1", "fe80::1", "::2"] {
            assert!(!t.contains(no.parse().expect("ip")), "{no}");
        }
        assert!(TrustedProxies::parse(&["10.0.0.0/33"]).is_err());
        assert!(TrustedProxies::parse(&["localhost"]).is_err());
        assert!(!TrustedProxies::default().contains("127.0.0.1".parse().expect("ip")));
    }

    #[tokio::test]
    async fn reads_exactly_the_header() {
        let mut input: &[u8] = b"PROXY TCP4 192.0.2.1 192.0.2.2 1000 110\r\nCAPA\r\n";
        let a = read_header(&mut input).await.expect("header");
        assert_eq!(a, Some("192.0.2.1:1000".parse().expect("addr")));
        assert_eq!(input, b"CAPA\r\n");

        let mut v2 = V2_SIGNATURE.to_vec();
        v2.extend_from_slice(&[0x21, 0x11, 0, 12, 127, 0, 0, 9, 127, 0, 0, 1, 0, 80, 0, 110]);
        v2.extend_from_slice(b"rest");
        let mut input: &[u8] = &v2;
        let a = read_header(&mut input).await.expect("v2 header");
        assert_eq!(a, Some("127.0.0.9:80".parse().expect("addr")));
        assert_eq!(input, b"rest");

        let mut input: &[u8] = b"CAPA\r\nSTAT\r\nQUIT\r\n";
        assert!(read_header(&mut input).await.is_err());
    }
}
