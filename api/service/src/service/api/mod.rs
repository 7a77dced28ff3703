//! What the REST API needs beyond the calls the gateways share: access tokens
//! and principals, paged listings, bulk updates, search parameters, attachment
//! downloads. The rules stay here; the HTTP crate only parses and renders.

mod access;
mod accounts;
mod addresses;
mod messages;
mod paging;
mod rights;
mod search;

pub use access::{AccessError, AccessPolicy, Principal, ACCESS_TOKEN_TTL};
pub use accounts::{counter_keys, UsageCounters};
pub use addresses::{
    normalize_tags, validate_targets, AddressChange, DomainRename, ForwardedChange,
};
pub use messages::{
    parse_uid_range, AttachmentReader, MessageChanges, MessageListOptions, MessagePage,
    MessageUpdate,
};
pub use paging::{PageRequest, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
pub use search::{MessageSearch, OrTerms, SearchAction};
