//! Eider's service layer: the one place where the rules live. The HTTP API and
//! the IMAP, POP3 and LMTP gateways call it; it calls the Store and the Bus.

mod bus;
mod error;
pub mod flags;
mod id;
pub mod model;
pub mod normalize;
mod service;
mod store;

pub use bus::{Bus, InProcessBus};
pub use error::{Error, Result, StoreError};
pub use id::{InvalidObjectId, ObjectId};
pub use service::{
    AppendOptions, AuthRequest, AuthSuccess, BodyReader, NewAddress, NewUser, Protocol,
    ResolvedRecipient, Service, ServiceConfig, UserUpdate,
};
pub use store::{
    AddressStore, BlobStore, MailboxStore, MessageStore, Store, StoreResult, UserStore,
};

/// Re-exported so that gateways need not depend on the message crate directly.
pub use eider_message as message;
