//! eider-service
