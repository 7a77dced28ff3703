//! Account security primitives: password hashing and verification.
//! (TOTP, WebAuthn, application passwords and tokens arrive with the auth work.)

mod password;

pub use password::{hash_password, needs_rehash, verify_password, PasswordError};
