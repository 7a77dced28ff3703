//! `[pop3]` settings, read from `config/default.toml` and its overrides.

use std::time::Duration;

use serde::Deserialize;

/// WildDuck lists this many of the newest INBOX messages when `maxMessages` is 0.
pub const DEFAULT_MAX_MESSAGES: u32 = 250;

/// RFC 1939 section 3: the autologout timer is at least 10 minutes.
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 600;

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
    /// Seconds of client silence before the session is closed (no UPDATE).
    pub idle_timeout: u64,
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
            idle_timeout: DEFAULT_IDLE_TIMEOUT_SECS,
        }
    }
}

impl Pop3Config {
    pub(crate) fn idle(&self) -> Duration {
        Duration::from_secs(self.idle_timeout.max(1))
    }
}
