//! eider-http
