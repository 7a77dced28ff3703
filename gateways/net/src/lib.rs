//! eider-net: what every Eider listener shares, so that each rule lives once.
//!
//! - [`limit`]: admission — a cap on a listener's connections in total and per client
//!   address, handing out a [`Permit`] that lives as long as the connection.
//! - [`proxy`]: the PROXY protocol (v1 and v2) header and the list of peers trusted to
//!   send one.
//! - [`gate`]: both together, as a listener uses them: admit at accept, learn the
//!   client's address, and refuse cheaply (the protocol's "try later", then close).
//! - [`deadline`]: a write deadline on a stream (a client that stops reading is cut).
//! - [`metrics`]: the process's metrics registry, rendered as Prometheus text.
//! - [`nofile`]: raising the process's descriptor limit at start, and fitting the
//!   listeners' caps under it so that one listener cannot starve the others.

pub mod deadline;
pub mod gate;
pub mod limit;
pub mod metrics;
pub mod nofile;
pub mod proxy;

pub use deadline::WriteDeadline;
pub use gate::{refuse, say_and_close, Gate, GateConfig, GateError, Rejected};
pub use limit::{Limiter, Permit, PermitStream, Refused};
pub use proxy::{ProxyError, TrustedProxies};
