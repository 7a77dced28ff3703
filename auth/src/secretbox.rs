//! Secrets kept at rest (TOTP seeds) sealed with AES-256-GCM under a key derived
//! from the configured secret. A sealed value is `$eider-gcm$` + base64(nonce ‖
//! ciphertext ‖ tag), bound to a context (the user and the field) as associated
//! data, so a sealed seed copied to another user's record does not open. Values
//! without the prefix are the plaintext of records written before sealing existed;
//! they are read as they are and sealed when next written.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::Aes256Gcm;
use base64::Engine;
use sha2::{Digest, Sha256};
use thiserror::Error;

const PREFIX: &str = "$eider-gcm$";
const NONCE_LEN: usize = 12;

#[derive(Debug, Error)]
pub enum SecretError {
    #[error("a sealed secret does not open with the configured key")]
    Open,
    #[error("cannot seal a secret")]
    Seal,
}

/// Seals and opens secrets with one key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    /// A box keyed by `secret` (any length: the key is its SHA-256 under a label).
    pub fn new(secret: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(b"eider secretbox v1\0");
        h.update(secret);
        let key: [u8; 32] = h.finalize().into();
        Self {
            cipher: Aes256Gcm::new(&key.into()),
        }
    }

    /// Seal `plain` for `context`.
    pub fn seal(&self, plain: &str, context: &str) -> Result<String, SecretError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut nonce);
        let payload = Payload {
            msg: plain.as_bytes(),
            aad: context.as_bytes(),
        };
        let sealed = self
            .cipher
            .encrypt(&nonce.into(), payload)
            .map_err(|_| SecretError::Seal)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(out)
        ))
    }

    /// The plaintext of a value from [`SecretBox::seal`] with the same context, or
    /// the value itself when it was stored unsealed.
    pub fn open(&self, stored: &str, context: &str) -> Result<String, SecretError> {
        let Some(body) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_string());
        };
        let raw = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(body)
            .map_err(|_| SecretError::Open)?;
        if raw.len() < NONCE_LEN {
            return Err(SecretError::Open);
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SecretError::Open)?;
        let payload = Payload {
            msg: sealed,
            aad: context.as_bytes(),
        };
        let plain = self
            .cipher
            .decrypt(&nonce.into(), payload)
            .map_err(|_| SecretError::Open)?;
        String::from_utf8(plain).map_err(|_| SecretError::Open)
    }
}

/// True for a value written by [`SecretBox::seal`].
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens() {
        let b = SecretBox::new(b"a secret cat");
        let sealed = b.seal("JBSWY3DPEHPK3PXP", "user1:totp").expect("seal");
        assert!(is_sealed(&sealed));
        assert!(!sealed.contains("JBSWY3DPEHPK3PXP"));
        assert_ne!(
            sealed,
            b.seal("JBSWY3DPEHPK3PXP", "user1:totp").expect("seal")
        );
        assert_eq!(
            b.open(&sealed, "user1:totp").expect("open"),
            "JBSWY3DPEHPK3PXP"
        );
        // Another context, another key, or a damaged value does not open.
        assert!(b.open(&sealed, "user2:totp").is_err());
        assert!(SecretBox::new(b"other")
            .open(&sealed, "user1:totp")
            .is_err());
        assert!(b.open("$eider-gcm$AAAA", "user1:totp").is_err());
        // Plaintext from before sealing reads as it is.
        assert_eq!(
            b.open("JBSWY3DPEHPK3PXP", "x").expect("plain"),
            "JBSWY3DPEHPK3PXP"
        );
    }
}
