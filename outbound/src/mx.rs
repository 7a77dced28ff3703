//! Where a domain's mail goes: its MX hosts by preference (RFC 5321 5.1), the
//! domain itself when it has none (implicit MX), nowhere for a null MX (RFC 7505).

use std::net::{IpAddr, SocketAddr};

use hickory_resolver::TokioResolver;

use crate::smtp::SmtpError;

/// The DNS side of direct delivery.
pub struct MxResolver {
    resolver: TokioResolver,
}

/// One host to try, with its addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxHost {
    pub name: String,
    pub addrs: Vec<SocketAddr>,
}

impl MxResolver {
    /// The system's resolver configuration (/etc/resolv.conf).
    pub fn from_system() -> Result<Self, SmtpError> {
        let resolver = TokioResolver::builder_tokio()
            .map_err(|e| SmtpError::io(format!("DNS configuration: {e}")))?
            .build()
            .map_err(|e| SmtpError::io(format!("DNS resolver: {e}")))?;
        Ok(Self { resolver })
    }

    /// The hosts to try for `domain`, best first, each with its addresses on `port`.
    /// A permanent error (code 556) for a null MX or a domain that does not exist.
    pub async fn hosts(&self, domain: &str, port: u16) -> Result<Vec<MxHost>, SmtpError> {
        let domain = domain.trim_end_matches('.');
        if let Some(ip) = literal(domain) {
            return Ok(vec![MxHost {
                name: domain.to_string(),
                addrs: vec![SocketAddr::new(ip, port)],
            }]);
        }
        let fqdn = format!("{domain}.");
        let mut names: Vec<(u16, String)> = match self
            .resolver
            .lookup(fqdn.as_str(), hickory_resolver::proto::rr::RecordType::MX)
            .await
        {
            Ok(lookup) => lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    hickory_resolver::proto::rr::RData::MX(mx) => {
                        Some((mx.preference, mx.exchange.to_utf8()))
                    }
                    _ => None,
                })
                .collect(),
            Err(e) if e.is_nx_domain() => {
                return Err(SmtpError {
                    code: Some(556),
                    text: format!("556 5.1.10 domain {domain} does not exist"),
                })
            }
            Err(e) if e.is_no_records_found() => Vec::new(),
            Err(e) => return Err(SmtpError::io(format!("MX lookup for {domain}: {e}"))),
        };
        if names.len() == 1 && names[0].1.trim_end_matches('.').is_empty() {
            return Err(SmtpError {
                code: Some(556),
                text: format!("556 5.1.10 {domain} accepts no mail (null MX)"),
            });
        }
        if names.is_empty() {
            names.push((0, fqdn.clone()));
        }
        names.sort_by_key(|(pref, _)| *pref);
        let mut hosts = Vec::new();
        for (_, name) in names {
            let addrs: Vec<SocketAddr> = match self.resolver.lookup_ip(name.as_str()).await {
                Ok(ips) => ips.iter().map(|ip| SocketAddr::new(ip, port)).collect(),
                Err(_) => continue,
            };
            if !addrs.is_empty() {
                hosts.push(MxHost {
                    name: name.trim_end_matches('.').to_string(),
                    addrs,
                });
            }
        }
        if hosts.is_empty() {
            return Err(SmtpError::io(format!(
                "no address for the MX hosts of {domain}"
            )));
        }
        Ok(hosts)
    }
}

/// `[192.0.2.1]` or `[IPv6:2001:db8::1]` domain literals (RFC 5321 4.1.3).
fn literal(domain: &str) -> Option<IpAddr> {
    let inner = domain.strip_prefix('[')?.strip_suffix(']')?;
    let inner = inner
        .get(..5)
        .filter(|p| p.eq_ignore_ascii_case("ipv6:"))
        .map_or(inner, |_| &inner[5..]);
    inner.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_literals() {
        assert_eq!(
            literal("[127.0.0.1]"),
            Some("127.0.0.1".parse().expect("ip"))
        );
        assert_eq!(literal("[IPv6:::1]"), Some("::1".parse().expect("ip")));
        assert_eq!(literal("example.com"), None);
    }
}
