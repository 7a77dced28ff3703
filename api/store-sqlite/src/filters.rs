//! Filters and autoreplies.

use async_trait::async_trait;
use eider_service::FilterStore;

use crate::SqliteStore;

#[async_trait]
impl FilterStore for SqliteStore {}
