//! eider-store-sqlite
