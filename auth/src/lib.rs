//! eider-auth
