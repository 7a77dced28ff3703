//! The verified-credential cache (as Dovecot's auth cache): after a password or an
//! application password matched a stored hash, the same secret against the same
//! stored hash skips the hash function for `ttl`. argon2id costs 150–260 ms of a
//! core under load; a mail client that reconnects every few minutes pays it once.
//!
//! What is cached is the outcome of the pure check "does this secret match this
//! stored hash": the entry's key is a keyed digest ([`eider_auth::CredentialKey`],
//! a random key per process) of the user id, the stored hash and the secret. So:
//! - no secret is kept, only digests under a key that never leaves memory;
//! - a wrong secret gives another digest and is always verified (never a hit);
//! - a password change stores a new hash (new salt), so old entries can never match
//!   again, on every instance, without any message between instances: each login
//!   reads the user's current hash from the store. The same holds for a deleted or
//!   expired ASP (no longer listed), 2FA turned on, a disabled or suspended account
//!   and a password hold: `Service::authenticate` reads and checks them on every
//!   login, before or after the (cached) hash check;
//! - a local change also drops the user's entries at once ([`CredentialCache::forget_user`]),
//!   so they do not even linger in memory.
//!
//! Only successes are stored; the map is bounded (`MAX_ENTRIES`), expired entries
//! are swept when it fills.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::ObjectId;

/// Entries kept at most (about 64 bytes each).
const MAX_ENTRIES: usize = 100_000;

/// Shared by clones of the security configuration (one per process).
#[derive(Clone)]
pub struct CredentialCache {
    inner: Arc<Inner>,
}

struct Inner {
    ttl: Duration,
    key: eider_auth::CredentialKey,
    entries: Mutex<HashMap<[u8; 32], (ObjectId, Instant)>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl std::fmt::Debug for CredentialCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialCache")
            .field("ttl", &self.inner.ttl)
            .finish()
    }
}

impl Default for CredentialCache {
    fn default() -> Self {
        Self::new(Duration::from_secs(300))
    }
}

impl CredentialCache {
    /// A cache keeping verified credentials for `ttl` (zero: off).
    pub fn new(ttl: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                ttl,
                key: eider_auth::CredentialKey::generate(),
                entries: Mutex::new(HashMap::new()),
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
            }),
        }
    }

    pub fn ttl(&self) -> Duration {
        self.inner.ttl
    }

    /// Checks answered from the cache, and checks that had to hash, since start.
    pub fn stats(&self) -> (u64, u64) {
        (
            self.inner.hits.load(Ordering::Relaxed),
            self.inner.misses.load(Ordering::Relaxed),
        )
    }

    fn digest(&self, user: ObjectId, secret: &str, hash: &str) -> [u8; 32] {
        self.inner
            .key
            .digest(&[&user.0, hash.as_bytes(), secret.as_bytes()])
    }

    /// Did `secret` match `hash` (for `user`) within the last `ttl`?
    pub(crate) fn verified(&self, user: ObjectId, secret: &str, hash: &str) -> bool {
        if self.inner.ttl.is_zero() {
            return false;
        }
        let d = self.digest(user, secret, hash);
        let now = Instant::now();
        let hit = self
            .inner
            .entries
            .lock()
            .map(|mut map| match map.get(&d) {
                Some((_, expires)) if *expires > now => true,
                Some(_) => {
                    map.remove(&d);
                    false
                }
                None => false,
            })
            .unwrap_or(false);
        let counter = if hit {
            &self.inner.hits
        } else {
            &self.inner.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        hit
    }

    /// Remember that `secret` matched `hash` (call only after a successful check).
    pub(crate) fn remember(&self, user: ObjectId, secret: &str, hash: &str) {
        if self.inner.ttl.is_zero() {
            return;
        }
        let d = self.digest(user, secret, hash);
        let now = Instant::now();
        if let Ok(mut map) = self.inner.entries.lock() {
            if map.len() >= MAX_ENTRIES {
                map.retain(|_, (_, expires)| *expires > now);
                if map.len() >= MAX_ENTRIES {
                    // Full of live entries: start over rather than grow (a miss costs
                    // one hash, never a wrong answer).
                    map.clear();
                }
            }
            map.insert(d, (user, now + self.inner.ttl));
        }
    }

    /// Drop every entry of `user` (its password, ASPs, 2FA or state changed here).
    pub fn forget_user(&self, user: ObjectId) {
        if let Ok(mut map) = self.inner.entries.lock() {
            map.retain(|_, (u, _)| *u != user);
        }
    }
}
