//! eider-lmtp
