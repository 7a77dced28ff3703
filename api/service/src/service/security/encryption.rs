//! Encryption at rest (WildDuck's `pubKey`, `encryptMessages`, `encryptForwarded`).
//!
//! One rule, applied where raw bytes become stored content: a message stored for
//! a user with `encryptMessages` and a key (LMTP delivery, IMAP APPEND, API upload,
//! the Sent copy of submitted mail, bounces) is replaced by a PGP/MIME message
//! (`eider_message::pgp_mime`) whose ciphertext is the whole original, encrypted
//! to the user's key (`eider_pgp`). Drafts stay readable (the user edits them, as
//! WildDuck skips `\Draft`), and a message already encrypted (PGP/MIME, inline PGP,
//! S/MIME enveloped) is stored as it is. `encryptForwarded` does the same for the
//! copies a user's forwarding targets get.
//!
//! Keys are checked when set (`check_pub_key`), so encryption does not fail on a
//! stored key; if it ever does, the message is stored as it came (and a warning
//! logged) rather than lost, as WildDuck does.

use std::sync::Arc;

use tracing::warn;

use crate::model::{NewContent, User};
use crate::service::Service;
use crate::{Error, Result};

pub use eider_pgp::KeyInfo;

/// What WildDuck's schema wants a key to start with (after trimming).
const ARMOR_START: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";

/// Validate a `pubKey` as POST/PUT /users do: empty clears it; otherwise it must
/// be an armored public key that parses, verifies and can encrypt. Errors carry
/// WildDuck's texts.
pub fn check_pub_key(key: &str) -> Result<()> {
    let key = key.trim();
    if key.is_empty() {
        return Ok(());
    }
    if !key.starts_with(ARMOR_START) {
        let shown: String = key.chars().take(64).collect();
        return Err(Error::InvalidField(
            "pubKey",
            format!("\"pubKey\" with value \"{shown}\" fails to match the PGP key format pattern"),
        ));
    }
    eider_pgp::RecipientKey::from_armored(key)
        .map(|_| ())
        .map_err(|e| Error::InvalidField("pubKey", format!("PGP key validation failed. {e}")))
}

/// The key information GET /users/{user} shows (None without a usable key).
pub fn key_info(user: &User) -> Option<KeyInfo> {
    let key = user.profile.pub_key.trim();
    if key.is_empty() {
        return None;
    }
    eider_pgp::RecipientKey::from_armored(key)
        .ok()
        .map(|k| k.info())
}

/// `raw` encrypted to `pub_key` as PGP/MIME; None when it is already encrypted
/// (or, unexpectedly, cannot be encrypted: logged). CPU-bound: called off the
/// async workers.
fn seal(pub_key: &str, raw: &[u8]) -> Option<Vec<u8>> {
    if eider_message::is_encrypted(raw) {
        return None;
    }
    let sealed = eider_pgp::RecipientKey::from_armored(pub_key).and_then(|key| {
        let armored = key.encrypt_armored(raw)?;
        let boundary = format!("eider_pgp_{}", hex::encode(rand::random::<[u8; 14]>()));
        Ok(eider_message::pgp_mime(raw, &armored, &boundary))
    });
    match sealed {
        Ok(m) => Some(m),
        Err(e) => {
            warn!("cannot encrypt a message to the user's key, stored as it came: {e}");
            None
        }
    }
}

/// The user's key when messages stored for them are encrypted.
fn storage_key(owner: &User, draft: bool) -> Option<&str> {
    let key = owner.profile.pub_key.trim();
    (owner.profile.encrypt_messages && !draft && !key.is_empty()).then_some(key)
}

impl Service {
    /// Does storing a message for `owner` encrypt it (`draft`: it is a \Draft)?
    pub(crate) fn encrypts_storage(owner: &User, draft: bool) -> bool {
        storage_key(owner, draft).is_some()
    }

    /// The bytes stored for `owner` from `raw`: the rule of this module.
    pub(crate) async fn sealed_for_storage(
        &self,
        owner: &User,
        raw: Vec<u8>,
        draft: bool,
    ) -> Result<Vec<u8>> {
        let Some(key) = storage_key(owner, draft).map(str::to_string) else {
            return Ok(raw);
        };
        tokio::task::spawn_blocking(move || seal(&key, &raw).unwrap_or(raw))
            .await
            .map_err(|e| Error::Internal(e.to_string()))
    }

    /// `content` (ingested from `raw`) as stored for `owner`: itself, or the
    /// ingested encrypted form when the rule applies (paths that parsed the
    /// message already to check it, such as submission).
    pub(crate) async fn stored_content(
        &self,
        owner: &User,
        raw: &[u8],
        content: NewContent,
        draft: bool,
    ) -> Result<NewContent> {
        if !Self::encrypts_storage(owner, draft) {
            return Ok(content);
        }
        let sealed = self.sealed_for_storage(owner, raw.to_vec(), draft).await?;
        if sealed == raw {
            return Ok(content);
        }
        self.ingest_accepted(sealed).await
    }

    /// What `owner`'s forwarding targets get: `raw` encrypted when they asked
    /// for `encryptForwarded`, else `raw` itself.
    pub(crate) async fn sealed_for_forwarding(
        &self,
        owner: &User,
        raw: &Arc<Vec<u8>>,
    ) -> Arc<Vec<u8>> {
        let key = owner.profile.pub_key.trim();
        if !owner.profile.encrypt_forwarded || key.is_empty() {
            return raw.clone();
        }
        let (key, copy) = (key.to_string(), raw.clone());
        match tokio::task::spawn_blocking(move || seal(&key, &copy)).await {
            Ok(Some(sealed)) => Arc::new(sealed),
            _ => raw.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::UserProfile;
    use crate::ObjectId;

    const KEY: &str = include_str!("../../../../pgp/tests/user2-public.asc");

    fn user(profile: UserProfile) -> User {
        User {
            id: ObjectId::new(),
            username: "u".into(),
            unameview: "u".into(),
            name: None,
            address: String::new(),
            password: None,
            quota: 0,
            storage_used: 0,
            disabled: false,
            suspended: false,
            tags: Vec::new(),
            meta_data: serde_json::json!({}),
            internal_data: serde_json::json!({}),
            profile,
            created: chrono::Utc::now(),
        }
    }

    #[test]
    fn who_gets_encrypted() {
        let on = user(UserProfile {
            pub_key: KEY.into(),
            encrypt_messages: true,
            ..Default::default()
        });
        assert!(Service::encrypts_storage(&on, false));
        assert!(
            !Service::encrypts_storage(&on, true),
            "drafts stay readable"
        );
        let off = user(UserProfile {
            pub_key: KEY.into(),
            ..Default::default()
        });
        assert!(!Service::encrypts_storage(&off, false));
        let keyless = user(UserProfile {
            encrypt_messages: true,
            ..Default::default()
        });
        assert!(!Service::encrypts_storage(&keyless, false));
    }

    #[test]
    fn sealing_wraps_once() {
        let raw = b"From: a@example.com\r\nSubject: s\r\nContent-Type: text/plain\r\n\r\nbody\r\n";
        let sealed = seal(KEY, raw).expect("sealed");
        assert!(eider_message::is_encrypted(&sealed));
        assert!(sealed.starts_with(b"From: a@example.com\r\nSubject: s\r\nMIME-Version: 1.0\r\n"));
        // Already encrypted: stored as it is.
        assert!(seal(KEY, &sealed).is_none());
        // A broken stored key: the message is kept as it came (None), not lost.
        assert!(seal(
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----",
            raw
        )
        .is_none());
    }

    #[test]
    fn key_checks_use_wildduck_texts() {
        assert!(check_pub_key("").is_ok() && check_pub_key("  \n").is_ok());
        assert!(check_pub_key(KEY).is_ok());
        let e = check_pub_key("hello").unwrap_err().to_string();
        assert_eq!(
            e,
            "\"pubKey\" with value \"hello\" fails to match the PGP key format pattern"
        );
        let e = check_pub_key(
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("PGP key validation failed. "), "{e}");
    }
}
