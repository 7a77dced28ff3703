//! The line protocol SMTP and LMTP share (RFC 5321, RFC 2033): [`parser`] (one
//! command line into a command), [`data`] (the DATA reader that removes
//! dot-stuffing, and `dot_stuff` for the sending side) and [`reply`] (reply codes
//! with enhanced status codes). The LMTP and submission gateways read with it and
//! the outbound client writes with it, so the rules of the wire have one home.

pub mod data;
pub mod parser;
pub mod reply;
