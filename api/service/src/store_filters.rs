//! Persistence of per-user delivery rules: filters and the autoreply.

use async_trait::async_trait;

/// Filters and autoreplies. (Methods arrive with the filter and autoreply API.)
#[async_trait]
pub trait FilterStore: Send + Sync {}
