//! Command handlers, one file per group. Each is an `impl Session` block:
//! handlers write untagged answers to the connection and return the tagged one.

mod append;
mod auth;
mod idle;
mod mailbox;
mod message;
mod metadata;
mod urlauth;
