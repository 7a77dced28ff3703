//! Eider's outbound mail: the adapter the service is given to send mail.
//!
//! The service queues what is to be sent (`Service::queue_mail`: API submissions,
//! forwards, autoreplies, bounces) in the store's durable queue; [`Worker`]s here
//! claim the entries with a lease, deliver them over SMTP ([`smtp`]) to the
//! `[relay]` smarthost or, without one, to the recipient domain's MX ([`mx`]),
//! reusing one connection per next hop for the entries waiting for it, retry
//! temporary failures with exponential backoff within `[outbound] lifetime`, and
//! hand permanent failures and expiries to the service, which writes the DSN.
//! [`HttpPoster`] posts to users' `http(s)://` forwarding targets.

pub mod dkim;
pub mod http;
pub mod lmtp;
pub mod mx;
pub mod smtp;
mod tls;
pub mod worker;

use serde::Deserialize;

pub use dkim::DkimSigner;
pub use http::{HttpPoster, WebhookClient};
pub use lmtp::{push_message, sample_message, PushResult};
pub use worker::{Worker, WorkerStats};

/// `[relay]`: the smarthost all outbound mail goes through, when enabled.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RelayConfig {
    /// Without a relay, mail goes to each recipient domain's MX.
    pub enabled: bool,
    pub host: String,
    pub port: u16,
    /// Name sent in EHLO (also the DSNs' Reporting-MTA); the host name when empty.
    pub name: String,
    /// Seconds to wait for each step of a conversation.
    pub timeout: u64,
    /// TLS from the first byte (port 465); otherwise STARTTLS when offered.
    pub secure: bool,
    /// Refuse to send unless the connection is encrypted.
    pub require_tls: bool,
    /// Check the relay's certificate (off for a relay with a self-signed one).
    pub reject_unauthorized: bool,
    /// AUTH PLAIN credentials (sent only over TLS, or to a loopback relay).
    pub user: String,
    pub pass: String,
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
            secure: false,
            require_tls: false,
            reject_unauthorized: true,
            user: String::new(),
            pass: String::new(),
            allow_private_targets: false,
        }
    }
}

/// `[outbound]`: the queue workers.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct OutboundConfig {
    /// Send mail at all (API submit, forwards, autoreplies); off refuses sending.
    pub enabled: bool,
    /// Run queue workers in this instance (instances sharing a store share the queue).
    pub workers: bool,
    /// Next hops delivered to at once.
    pub concurrency: usize,
    /// Hours a message may wait in the queue before it bounces.
    pub lifetime: u64,
    /// Seconds before the first retry; each further retry waits twice as long.
    pub retry_delay: u64,
    /// Longest wait between two retries, in seconds.
    pub max_retry_delay: u64,
    /// Milliseconds between looks at the queue when nothing woke the workers.
    pub poll_interval: u64,
    /// Seconds a claimed entry stays with a worker before another may take it.
    pub lease: u64,
    /// Port MX hosts are reached on (25; another only for tests).
    pub mx_port: u16,
    /// Entries claimed at a time.
    pub batch: u32,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            workers: true,
            concurrency: 8,
            lifetime: 96,
            retry_delay: 60,
            max_retry_delay: 3600,
            poll_interval: 2000,
            lease: 600,
            mx_port: 25,
            batch: 50,
        }
    }
}
