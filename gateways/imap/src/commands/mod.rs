//! Command handlers, one file per group. Each is an `impl Session` block:
//! handlers write untagged answers to the connection and return the tagged one.

mod append;
mod auth;
pub(crate) mod context;
mod idle;
mod mailbox;
mod message;
mod metadata;
pub(crate) mod notify;
mod sort;
mod urlauth;
