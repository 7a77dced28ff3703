//! `[pop3]` settings, read from `config/default.toml` and its overrides.

use std::time::Duration;

use serde::Deserialize;

/// WildDuck lists this many of the newest INBOX messages when `maxMessages` is 0.
pub const DEFAULT_MAX_MESSAGES: u32 = 250;

/// RFC 1939 section 3: the autologout timer is at least 10 minutes.
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 600;

/// Seconds a connection may stay unauthenticated.
pub const DEFAULT_LOGIN_TIMEOUT_SECS: u64 = 60;

/// Seconds a write may make no progress.
pub const DEFAULT_WRITE_TIMEOUT_SECS: u64 = 60;

/// `[pop3]` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Pop3Config {
    pub enabled: bool,
    pub host: String,
    pub port: u16,
    /// Implicit TLS on this port (POP3S).
    pub secure: bool,
    /// Do not offer STLS on a plaintext port.
    #[serde(rename = "disableSTARTTLS")]
    pub disable_starttls: bool,
    /// Allow USER/PASS and AUTH PLAIN without TLS from non-loopback clients.
    #[serde(rename = "ignoreSTARTTLS")]
    pub ignore_starttls: bool,
    /// How many of the newest INBOX messages a session lists.
    pub max_messages: u32,
    /// Expect a PROXY protocol (v1 or v2) header on every connection.
    pub use_proxy: bool,
    /// Peers allowed to send the PROXY header (addresses or CIDR ranges).
    pub trusted_proxies: Vec<String>,
    /// Seconds within which each command line must arrive in full, counted from when
    /// the server starts waiting for it (no UPDATE when it does not).
    pub idle_timeout: u64,
    /// Seconds from connect within which the client must log in.
    pub login_timeout: u64,
    /// Seconds a write may wait for a client that stopped reading (RETR, TOP, LIST)
    /// before the session is closed.
    pub write_timeout: u64,
    /// Most connections open at once (0: no cap).
    pub max_clients: usize,
    /// Most connections open at once from one client address (0: no cap).
    #[serde(rename = "maxClientsPerIP")]
    pub max_clients_per_ip: usize,
}

impl Default for Pop3Config {
    fn default() -> Self {
        Self {
            enabled: true,
            host: "127.0.0.1".into(),
            port: 9995,
            secure: false,
            disable_starttls: false,
            ignore_starttls: false,
            max_messages: DEFAULT_MAX_MESSAGES,
            use_proxy: false,
            trusted_proxies: vec!["127.0.0.0/8".into(), "::1".into()],
            idle_timeout: DEFAULT_IDLE_TIMEOUT_SECS,
            login_timeout: DEFAULT_LOGIN_TIMEOUT_SECS,
            write_timeout: DEFAULT_WRITE_TIMEOUT_SECS,
            max_clients: 2000,
            max_clients_per_ip: 50,
        }
    }
}

impl Pop3Config {
    pub(crate) fn idle(&self) -> Duration {
        Duration::from_secs(self.idle_timeout.max(1))
    }

    pub(crate) fn login(&self) -> Duration {
        Duration::from_secs(self.login_timeout.max(1))
    }

    pub(crate) fn write(&self) -> Duration {
        Duration::from_secs(self.write_timeout.max(1))
    }

    /// The caps and PROXY settings of this listener.
    pub fn gate(&self) -> eider_net::GateConfig {
        eider_net::GateConfig {
            max_clients: self.max_clients,
            max_clients_per_ip: self.max_clients_per_ip,
            use_proxy: self.use_proxy,
            trusted_proxies: self.trusted_proxies.clone(),
        }
    }
}
