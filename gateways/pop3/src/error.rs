//! Errors of the POP3 gateway.

use thiserror::Error;

/// What binding or serving the POP3 listener can fail with.
#[derive(Debug, Error)]
pub enum Pop3Error {
    #[error("cannot listen on {0}: {1}")]
    Bind(String, std::io::Error),
    #[error("[pop3] secure = true needs TLS certificates, but none were provided")]
    TlsRequired,
    #[error("[pop3] {0}")]
    Gate(#[from] eider_net::GateError),
    #[error("POP3 server failed: {0}")]
    Serve(std::io::Error),
}
