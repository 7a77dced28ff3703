//! eider-pop3
