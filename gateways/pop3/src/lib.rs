//! eider-pop3: Eider's POP3 gateway.
//!
//! RFC 1939 with CAPA (RFC 2449: TOP, UIDL, USER, SASL PLAIN, PIPELINING, RESP-CODES,
//! AUTH-RESP-CODE), STLS (RFC 2595), AUTH PLAIN (RFC 5034) and an implicit-TLS port.
//! WildDuck's semantics, applied by the service layer: a session lists the newest
//! `maxMessages` INBOX messages; UIDL is the message id; RETR marks a message Seen and
//! DELE moves it to Trash, both only at QUIT; RSET or a dropped connection changes nothing.
//!
//! Modules by concept: [`command`] parses client lines, [`dotstuff`] frames multi-line
//! answers, [`sasl`] decodes AUTH PLAIN, `connection` does bounded line I/O
//! with a whole-line deadline, `session` holds the protocol states and
//! `server` accepts connections (caps and PROXY headers through eider-net) and runs TLS.

pub mod command;
mod config;
mod connection;
pub mod dotstuff;
mod error;
pub mod sasl;
mod server;
mod session;

pub use config::{
    Pop3Config, DEFAULT_IDLE_TIMEOUT_SECS, DEFAULT_LOGIN_TIMEOUT_SECS, DEFAULT_MAX_MESSAGES,
};
pub use error::Pop3Error;
pub use server::{bind, Pop3Server};
