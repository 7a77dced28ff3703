//! Password hashes. New hashes are argon2id; verification accepts any PHC string
//! the argon2 crate understands.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, SaltString};
use argon2::{Argon2, PasswordVerifier};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum PasswordError {
    #[error("unsupported or malformed password hash")]
    UnsupportedHash,
    #[error("could not hash password: {0}")]
    Hash(String),
}

/// Hash a password with argon2id and a random salt (PHC string).
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Check a password against a stored hash. Comparison is constant-time inside argon2.
pub fn verify_password(password: &str, hash: &str) -> Result<bool, PasswordError> {
    let parsed = PasswordHash::new(hash).map_err(|_| PasswordError::UnsupportedHash)?;
    match parsed.algorithm.as_str() {
        "argon2id" | "argon2i" | "argon2d" => Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()),
        _ => Err(PasswordError::UnsupportedHash),
    }
}

/// True when a hash should be replaced by a fresh argon2id hash after a successful login.
pub fn needs_rehash(hash: &str) -> bool {
    !hash.starts_with("$argon2id$")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_reject() {
        let h = hash_password("correct horse").expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h).expect("verify"));
        assert!(!verify_password("wrong", &h).expect("verify"));
        assert!(verify_password("x", "not a hash").is_err());
        assert!(!needs_rehash(&h));
    }
}
