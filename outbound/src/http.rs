//! Forwarding targets the server reaches for users: an HTTP(S) client (reqwest)
//! posting the parsed message to `http(s)://` targets, and the address checks
//! `smtp://` targets go through before the queue worker connects.
//!
//! Targets come from users, so the addresses they reach are checked against
//! [`TargetPolicy`] after the name is resolved and before connecting (a name that
//! resolves to loopback or a private network is refused unless the operator
//! allows it); the configured relay itself is trusted.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use eider_service::{Outbound, Result, TargetPolicy};

/// The queue key of mail for the relay.
pub const RELAY_KEY: &str = "relay";

pub(crate) fn relay_error(what: impl std::fmt::Display) -> eider_service::Error {
    eider_service::Error::Internal(format!("relay: {what}"))
}

/// Posts to HTTP(S) targets; its presence turns sending on (`Service::with_outbound`).
#[derive(Debug, Clone)]
pub struct HttpPoster {
    timeout: Duration,
    policy: TargetPolicy,
    /// Everything (but `smtp://` targets) goes through `[relay]`: one queue key.
    relay: bool,
    /// Built on first use (building loads the TLS roots).
    http: Arc<tokio::sync::OnceCell<reqwest::Client>>,
}

impl HttpPoster {
    pub fn new(policy: TargetPolicy, timeout: Duration) -> Self {
        Self {
            timeout,
            policy,
            relay: false,
            http: Arc::default(),
        }
    }

    /// Route all mail through the relay (`[relay] enabled`).
    pub fn with_relay(mut self, relay: bool) -> Self {
        self.relay = relay;
        self
    }

    fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The HTTP client: no proxy from the environment, no redirects (a redirect
    /// could lead anywhere), names resolved through the target policy.
    async fn http(&self) -> Result<&reqwest::Client> {
        let policy = self.policy;
        let timeout = self.timeout();
        self.http
            .get_or_try_init(|| async move {
                reqwest::Client::builder()
                    .no_proxy()
                    .redirect(reqwest::redirect::Policy::none())
                    .connect_timeout(timeout)
                    .timeout(timeout)
                    .user_agent("Eider")
                    .dns_resolver(Arc::new(PolicyResolver { policy }))
                    .build()
                    .map_err(relay_error)
            })
            .await
    }
}

/// The addresses `host` resolves to that the policy permits; an error when there are none.
pub(crate) async fn allowed_addrs(
    policy: TargetPolicy,
    host: &str,
    port: u16,
) -> Result<Vec<SocketAddr>> {
    let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| relay_error(format!("cannot resolve {host}: {e}")))?
        .collect();
    let allowed: Vec<SocketAddr> = resolved
        .iter()
        .copied()
        .filter(|a| policy.permits(a.ip()))
        .collect();
    if allowed.is_empty() {
        return Err(relay_error(format!(
            "{host} resolves to no address forwarding may reach (see [relay] allowPrivateTargets)"
        )));
    }
    Ok(allowed)
}

/// reqwest's resolver: the system's, minus the addresses the policy refuses, so
/// the address checked is the address connected to.
struct PolicyResolver {
    policy: TargetPolicy,
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let addrs = allowed_addrs(policy, name.as_str(), 0).await?;
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// `smtp://host:port` (port 25 when absent) into host and port.
pub(crate) fn parse_smtp_url(url: &str) -> Result<(String, u16)> {
    let lower = url.to_ascii_lowercase();
    let rest = if lower.starts_with("smtp://") {
        &url[7..]
    } else {
        return Err(relay_error(format!(
            "unsupported relay URL {url:?} (smtp:// only)"
        )));
    };
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    host_port(authority, 25)
}

fn host_port(authority: &str, default_port: u16) -> Result<(String, u16)> {
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6
            .split_once(']')
            .ok_or_else(|| relay_error("bad IPv6 literal"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| relay_error("bad port"))?,
            None => default_port,
        };
        return Ok((host.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) => Ok((
            h.to_string(),
            p.parse().map_err(|_| relay_error("bad port"))?,
        )),
        None if authority.is_empty() => Err(relay_error("missing host")),
        None => Ok((authority.to_string(), default_port)),
    }
}

#[async_trait]
impl Outbound for HttpPoster {
    fn route(&self, rcpt: &str, via: Option<&str>) -> String {
        if self.relay && via.is_none() {
            RELAY_KEY.to_string()
        } else {
            eider_service::queue_key(rcpt, via)
        }
    }

    async fn post(&self, url: &str, payload: serde_json::Value) -> Result<()> {
        // The target was validated when it was stored; parse again, it is user data.
        let target = eider_service::ForwardTarget::parse(url)?;
        let eider_service::ForwardTarget::Http(url) = target else {
            return Err(relay_error(format!("not an HTTP target: {url:?}")));
        };
        let url = reqwest::Url::parse(&url).map_err(relay_error)?;
        // IP literals are not resolved, so the resolver never sees them: check here.
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
            _ => None,
        };
        if literal.is_some_and(|ip| !self.policy.permits(ip)) {
            return Err(relay_error(format!(
                "{url} is not an address forwarding may reach (see [relay] allowPrivateTargets)"
            )));
        }
        let answer = self
            .http()
            .await?
            .post(url.clone())
            .json(&payload)
            .send()
            .await
            .map_err(|e| relay_error(format!("{url}: {e}")))?;
        let code = answer.status();
        if code.is_success() {
            Ok(())
        } else {
            Err(relay_error(format!(
                "{url} answered HTTP {}",
                code.as_u16()
            )))
        }
    }
}

/// Posts webhook events (`[webhooks]`): no proxy from the environment, no redirects.
/// Webhook URLs are the operator's, so private addresses are allowed (unlike users'
/// forwarding targets).
pub struct WebhookClient {
    client: reqwest::Client,
}

impl WebhookClient {
    pub fn new(timeout: Duration) -> std::result::Result<Self, String> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout)
            .timeout(timeout)
            .user_agent("Eider")
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self { client })
    }
}

#[async_trait]
impl eider_service::webhooks::WebhookPoster for WebhookClient {
    async fn post(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> std::result::Result<u16, String> {
        let mut req = self.client.post(url).body(body);
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        let answer = req.send().await.map_err(|e| format!("{url}: {e}"))?;
        Ok(answer.status().as_u16())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse() {
        assert_eq!(
            parse_smtp_url("smtp://mx.example.com:2525").ok(),
            Some(("mx.example.com".to_string(), 2525))
        );
        assert_eq!(
            parse_smtp_url("SMTP://mx.example.com").ok(),
            Some(("mx.example.com".to_string(), 25))
        );
        assert_eq!(
            parse_smtp_url("smtp://[::1]:26").ok(),
            Some(("::1".to_string(), 26))
        );
        assert!(parse_smtp_url("smtps://x").is_err());
        assert!(parse_smtp_url("smtp://x:notaport").is_err());
        assert!(parse_smtp_url("smtp://").is_err());
    }

    /// Targets the policy refuses, by IP literal or by a name resolving to
    /// loopback, and targets with CR/LF stored before validation existed, are
    /// refused before any connection is made.
    #[tokio::test]
    async fn refused_targets_are_never_contacted() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let timeout = Duration::from_secs(5);
        let strict = HttpPoster::new(TargetPolicy::default(), timeout);
        let open = HttpPoster::new(
            TargetPolicy {
                allow_private: true,
            },
            timeout,
        );
        let payload = serde_json::json!({"subject": "x"});
        for url in [
            format!("http://127.0.0.1:{port}/x"),
            format!("http://localhost:{port}/x"),
            format!("http://[::ffff:127.0.0.1]:{port}/x"),
        ] {
            assert!(strict.post(&url, payload.clone()).await.is_err(), "{url}");
        }
        let smuggling = format!("http://127.0.0.1:{port}/x HTTP/1.1\r\nHost: a\r\n\r\nPOST /y");
        assert!(open.post(&smuggling, payload.clone()).await.is_err());
        assert!(allowed_addrs(TargetPolicy::default(), "localhost", port)
            .await
            .is_err());
        let pending = tokio::time::timeout(Duration::from_millis(1), listener.accept()).await;
        assert!(pending.is_err(), "a refused target was contacted");
    }
}
