//! Persistence of account security state: application passwords, 2FA, tokens, auth log.

use async_trait::async_trait;

/// Account security records. (Methods arrive with the authentication work.)
#[async_trait]
pub trait AuthStore: Send + Sync {}
