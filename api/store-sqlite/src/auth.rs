//! Account security records (application passwords, 2FA, tokens, auth log).

use async_trait::async_trait;
use eider_service::AuthStore;

use crate::SqliteStore;

#[async_trait]
impl AuthStore for SqliteStore {}
