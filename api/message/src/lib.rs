//! eider-message
