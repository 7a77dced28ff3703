//! The operator's subcommands besides `serve`: backup, integrity check and the
//! admin commands over the service layer.

pub mod admin;
pub mod ops;
pub mod progress;
