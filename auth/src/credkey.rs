//! The key of a verified-credential cache: a keyed hash (HMAC-SHA256 under a random
//! key that lives only in this process's memory) of what a password check took. The
//! cache keeps these digests, never a password: a memory dump shows nothing that
//! can be checked offline without the key, and the key dies with the process.

use ring::hmac;

/// A per-process random HMAC key.
pub struct CredentialKey(hmac::Key);

impl std::fmt::Debug for CredentialKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CredentialKey(..)")
    }
}

impl CredentialKey {
    /// A fresh random key (the OS generator).
    pub fn generate() -> Self {
        let rng = ring::rand::SystemRandom::new();
        // ring fails only when the OS has no random source; fall back to a key from
        // the process's other generator rather than refuse to start.
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng).unwrap_or_else(|_| {
            let bytes: [u8; 32] = rand::random();
            hmac::Key::new(hmac::HMAC_SHA256, &bytes)
        });
        Self(key)
    }

    /// The keyed digest of `parts`, each length-prefixed so that no two different
    /// lists of parts give the same input.
    pub fn digest(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.0);
        for p in parts {
            ctx.update(&(p.len() as u64).to_be_bytes());
            ctx.update(p);
        }
        let tag = ctx.sign();
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_depend_on_key_and_every_part() {
        let k = CredentialKey::generate();
        let a = k.digest(&[b"user", b"hash", b"secret"]);
        assert_eq!(a, k.digest(&[b"user", b"hash", b"secret"]));
        assert_ne!(a, k.digest(&[b"user", b"hash", b"secreT"]));
        assert_ne!(
            a,
            k.digest(&[b"user", b"hashs", b"ecret"]),
            "parts are framed"
        );
        assert_ne!(
            a,
            CredentialKey::generate().digest(&[b"user", b"hash", b"secret"])
        );
    }
}
