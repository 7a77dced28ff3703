//! Outbound delivery for forwards and autoreplies: a small SMTP client that hands
//! messages to the configured relay (or to an `smtp://` target), and an HTTP(S)
//! client (reqwest) for `http(s)://` targets. Messages keep their bytes: only
//! dot-stuffing is applied on the wire.
//!
//! Targets come from users, so the addresses they reach are checked against
//! [`TargetPolicy`] after the name is resolved and before connecting (a name that
//! resolves to loopback or a private network is refused unless the operator
//! allows it); the configured relay itself is trusted.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use eider_service::{Outbound, OutboundMessage, Result, TargetPolicy};
use serde::Deserialize;
use tokio::net::TcpStream;

use crate::client::{relay_error, Conversation};
use crate::data::dot_stuff;

/// `[relay]` settings: where forwarded mail and autoreplies are sent.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RelayConfig {
    /// Without a relay, forwarded addresses are refused (temporarily) at RCPT and
    /// users' forwards and autoreplies are skipped.
    pub enabled: bool,
    pub host: String,
    pub port: u16,
    /// Name sent in EHLO.
    pub name: String,
    /// Seconds to wait for each step of a conversation.
    pub timeout: u64,
    /// Let users' `http(s)://` and `smtp://` forwarding targets reach loopback,
    /// private, link-local and other non-public addresses.
    pub allow_private_targets: bool,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            host: "127.0.0.1".into(),
            port: 25,
            name: String::new(),
            timeout: 60,
            allow_private_targets: false,
        }
    }
}

/// Sends through SMTP (plain; the relay is expected on a trusted network) and
/// posts to HTTP(S) targets.
#[derive(Debug, Clone)]
pub struct SmtpRelay {
    config: RelayConfig,
    policy: TargetPolicy,
    /// Built on first use (building loads the TLS roots).
    http: Arc<tokio::sync::OnceCell<reqwest::Client>>,
}

impl SmtpRelay {
    pub fn new(config: RelayConfig) -> Self {
        let policy = TargetPolicy {
            allow_private: config.allow_private_targets,
        };
        Self {
            config,
            policy,
            http: Arc::default(),
        }
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.config.timeout.max(1))
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

    /// Connect to a user-named SMTP server, on an address the policy permits.
    async fn connect_target(&self, host: &str, port: u16) -> Result<TcpStream> {
        let addrs = allowed_addrs(self.policy, host, port).await?;
        let mut last = None;
        for addr in addrs {
            match tokio::time::timeout(self.timeout(), TcpStream::connect(addr)).await {
                Ok(Ok(s)) => return Ok(s),
                Ok(Err(e)) => last = Some(e.to_string()),
                Err(_) => last = Some("connect timeout".into()),
            }
        }
        Err(relay_error(format!(
            "cannot connect to {host}:{port}: {}",
            last.unwrap_or_default()
        )))
    }
}

/// The addresses `host` resolves to that the policy permits; an error when there are none.
async fn allowed_addrs(policy: TargetPolicy, host: &str, port: u16) -> Result<Vec<SocketAddr>> {
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
fn parse_smtp_url(url: &str) -> Result<(String, u16)> {
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
impl Outbound for SmtpRelay {
    async fn send(&self, message: OutboundMessage) -> Result<()> {
        if message.to.is_empty() {
            return Err(relay_error("no recipients"));
        }
        let stream = match &message.via {
            Some(url) => {
                let (host, port) = parse_smtp_url(url)?;
                self.connect_target(&host, port).await?
            }
            None => {
                let (host, port) = (self.config.host.as_str(), self.config.port);
                tokio::time::timeout(self.timeout(), TcpStream::connect((host, port)))
                    .await
                    .map_err(|_| relay_error("connect timeout"))?
                    .map_err(|e| relay_error(format!("cannot connect to {host}:{port}: {e}")))?
            }
        };
        let mut c = Conversation::new(stream, self.timeout());
        let (code, _) = c.reply().await?;
        if code != 220 {
            return Err(relay_error(format!("greeting {code}")));
        }
        let name = match self.config.name.trim() {
            "" => "localhost",
            n => n,
        };
        let caps = c.command(&format!("EHLO {name}"), 250).await?;
        let has = |cap: &str| {
            caps.iter().any(|l| {
                l.split(' ')
                    .next()
                    .is_some_and(|w| w.eq_ignore_ascii_case(cap))
            })
        };
        let mut mail = format!("MAIL FROM:<{}>", message.from.as_deref().unwrap_or(""));
        if message.raw.iter().any(|b| *b >= 0x80) && has("8BITMIME") {
            mail.push_str(" BODY=8BITMIME");
        }
        let non_ascii = |s: &str| !s.is_ascii();
        if (message.from.as_deref().is_some_and(non_ascii)
            || message.to.iter().any(|t| non_ascii(t)))
            && has("SMTPUTF8")
        {
            mail.push_str(" SMTPUTF8");
        }
        c.command(&mail, 250).await?;
        for to in &message.to {
            c.command(&format!("RCPT TO:<{to}>"), 250).await?;
        }
        c.command("DATA", 354).await?;
        let mut wire = Vec::with_capacity(message.raw.len() + message.raw.len() / 64 + 8);
        dot_stuff(&message.raw, &mut wire);
        c.send(&wire).await?;
        let (code, text) = c.reply().await?;
        if !(200..300).contains(&code) {
            return Err(relay_error(format!(
                "message refused: {code} {}",
                text.join(" ")
            )));
        }
        let _ = c.command("QUIT", 221).await;
        Ok(())
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
pub struct HttpPoster {
    client: reqwest::Client,
}

impl HttpPoster {
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
impl eider_service::webhooks::WebhookPoster for HttpPoster {
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
        let strict = SmtpRelay::new(RelayConfig {
            timeout: 5,
            ..Default::default()
        });
        let open = SmtpRelay::new(RelayConfig {
            timeout: 5,
            allow_private_targets: true,
            ..Default::default()
        });
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
        let message = OutboundMessage {
            from: None,
            to: vec!["a@example.com".into()],
            via: Some(format!("smtp://localhost:{port}")),
            raw: std::sync::Arc::new(b"Subject: x\r\n\r\nx\r\n".to_vec()),
        };
        assert!(strict.send(message).await.is_err());
        let pending = tokio::time::timeout(Duration::from_millis(1), listener.accept()).await;
        assert!(pending.is_err(), "a refused target was contacted");
    }
}
