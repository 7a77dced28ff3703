//! eider-imap
