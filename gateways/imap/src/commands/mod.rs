//! Command handlers, one file per group. Each is an `impl Session` block:
//! handlers write untagged answers to the connection and return the tagged one.

mod auth;
mod idle;
mod mailbox;
mod message;
pub(crate) mod notify;
