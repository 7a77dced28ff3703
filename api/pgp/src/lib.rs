//! OpenPGP behind a small surface: read a user's public key (what WildDuck's
//! `getKeyInfo` checks: it parses, its bindings verify, and it can encrypt) and
//! encrypt bytes to it as an armored OpenPGP message (SEIPD v1, AES-256: what
//! every OpenPGP implementation, GnuPG 2.2 included, decrypts).
//!
//! Pure Rust (rPGP); no shelling out. The MIME around the ciphertext (PGP/MIME,
//! RFC 3156) is composed in `eider-message`; when to encrypt is a service rule.

use pgp::composed::{ArmorOptions, Deserializable, MessageBuilder, SignedPublicKey};
use pgp::crypto::sym::SymmetricKeyAlgorithm;
use pgp::types::KeyDetails;

/// Why a key cannot be used. The texts follow OpenPGP.js's where WildDuck shows them.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PgpError {
    #[error("Misformed armored text")]
    Armor,
    /// Not an OpenPGP public key (the detail is rPGP's).
    #[error("Error during parsing. This message / key probably does not conform to a valid OpenPGP format. ({0})")]
    Key(String),
    #[error("Error encrypting message: Could not find valid encryption key packet in key {0}")]
    NoEncryptionKey(String),
    #[error("Error encrypting message: {0}")]
    Encrypt(String),
}

/// What GET /users/{user} shows of a key (WildDuck's `keyInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// The name of the first user id.
    pub name: String,
    /// The address of the first user id, lower-cased.
    pub address: String,
    /// The primary key's fingerprint, lower-case hex.
    pub fingerprint: String,
}

/// A parsed public key with the (sub)key messages are encrypted to.
#[derive(Debug, Clone)]
pub struct RecipientKey {
    key: SignedPublicKey,
    /// Index into `public_subkeys`; None: the primary key encrypts.
    subkey: Option<usize>,
}

/// WildDuck's `prepareArmoredPubKey`: CRLF to LF, trimmed, and the blank line after
/// the armor header line added when a pasted key lost it.
pub fn prepare_armored(text: &str) -> String {
    let text = text.replace("\r\n", "\n");
    let text = text.trim();
    let header_line = text.starts_with("-----")
        && text
            .split_once('\n')
            .is_some_and(|(first, _)| first.len() > 10 && first.ends_with("-----"));
    if header_line && !text.contains("\n\n") {
        return text.replacen('\n', "\n\n", 1);
    }
    text.to_string()
}

impl RecipientKey {
    /// Parse an armored public key and choose the key to encrypt to: the first
    /// subkey whose latest binding allows encryption, else an encryption-capable
    /// primary key. Bindings must verify (a tampered key is refused).
    pub fn from_armored(armored: &str) -> Result<Self, PgpError> {
        let prepared = prepare_armored(armored);
        if !prepared.starts_with("-----BEGIN PGP ") {
            return Err(PgpError::Armor);
        }
        let (key, _headers) =
            SignedPublicKey::from_string(&prepared).map_err(|e| PgpError::Key(e.to_string()))?;
        key.verify_bindings()
            .map_err(|e| PgpError::Key(e.to_string()))?;
        let subkey = key.public_subkeys.iter().position(|sk| {
            sk.key.algorithm().can_encrypt()
                && sk
                    .signatures
                    .iter()
                    .max_by_key(|s| s.created().map(|t| t.as_secs()))
                    .is_some_and(|s| {
                        let flags = s.key_flags();
                        flags.encrypt_comms() || flags.encrypt_storage()
                    })
        });
        if subkey.is_none() && !primary_encrypts(&key) {
            let id = key.primary_key.legacy_key_id();
            let hex: String = id.as_ref().iter().map(|b| format!("{b:02x}")).collect();
            return Err(PgpError::NoEncryptionKey(hex));
        }
        Ok(Self { key, subkey })
    }

    pub fn info(&self) -> KeyInfo {
        let (name, address) = self
            .key
            .details
            .users
            .iter()
            .map(|u| String::from_utf8_lossy(u.id.id()).into_owned())
            .find(|u| !u.trim().is_empty())
            .map(|u| split_user_id(&u))
            .unwrap_or_default();
        KeyInfo {
            name,
            address,
            fingerprint: format!("{:x}", self.key.primary_key.fingerprint()),
        }
    }

    /// `data` encrypted to this key, ASCII-armored (CRLF line ends, as mail wants).
    pub fn encrypt_armored(&self, data: &[u8]) -> Result<String, PgpError> {
        let mut rng = rand08::thread_rng();
        let mut builder = MessageBuilder::from_bytes("", data.to_vec())
            .seipd_v1(&mut rng, SymmetricKeyAlgorithm::AES256);
        let added = match self.subkey.and_then(|i| self.key.public_subkeys.get(i)) {
            Some(sk) => builder.encrypt_to_key(&mut rng, &sk.key),
            None => builder.encrypt_to_key(&mut rng, &self.key.primary_key),
        };
        added.map_err(|e| PgpError::Encrypt(e.to_string()))?;
        let armored = builder
            .to_armored_string(&mut rng, ArmorOptions::default())
            .map_err(|e| PgpError::Encrypt(e.to_string()))?;
        Ok(crlf(&armored))
    }
}

/// A primary key encrypts when its algorithm can and no self-signature limits it
/// to other uses (old RSA keys carry no key flags at all).
fn primary_encrypts(key: &SignedPublicKey) -> bool {
    if !key.primary_key.algorithm().can_encrypt() {
        return false;
    }
    // A signature without a key flags subpacket reads as all flags off.
    let none = pgp::packet::KeyFlags::default();
    let flags: Vec<_> = key
        .details
        .users
        .iter()
        .flat_map(|u| u.signatures.iter())
        .chain(key.details.direct_signatures.iter())
        .map(|s| s.key_flags())
        .collect();
    flags.iter().all(|f| *f == none)
        || flags
            .iter()
            .any(|f| f.encrypt_comms() || f.encrypt_storage())
}

/// "Name (comment) <address>" into the name and the lower-cased address.
fn split_user_id(uid: &str) -> (String, String) {
    let uid = uid.trim();
    if let (Some(open), Some(close)) = (uid.rfind('<'), uid.rfind('>')) {
        if open < close {
            let address = uid[open + 1..close].trim().to_lowercase();
            let mut name = uid[..open].trim();
            if let Some(i) = name.find(" (") {
                name = name[..i].trim();
            }
            let name = name.trim_matches('"').trim().to_string();
            return (name, address);
        }
    }
    if uid.contains('@') && !uid.contains(' ') {
        return (String::new(), uid.to_lowercase());
    }
    (uid.to_string(), String::new())
}

/// LF line ends to CRLF (armor lines are ASCII, so no CR exists already).
fn crlf(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 64 + 2);
    for line in text.split_inclusive('\n') {
        match line.strip_suffix('\n') {
            Some(l) => {
                out.push_str(l.strip_suffix('\r').unwrap_or(l));
                out.push_str("\r\n");
            }
            None => out.push_str(line),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn armor_without_blank_line_gets_one() {
        let k = "-----BEGIN PGP PUBLIC KEY BLOCK-----\r\nxsBN\r\n-----END PGP PUBLIC KEY BLOCK-----\r\n";
        assert_eq!(
            prepare_armored(k),
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nxsBN\n-----END PGP PUBLIC KEY BLOCK-----"
        );
        let ok = "-----BEGIN PGP PUBLIC KEY BLOCK-----\nVersion: x\n\nxsBN\n-----END PGP PUBLIC KEY BLOCK-----";
        assert_eq!(prepare_armored(ok), ok);
    }

    #[test]
    fn user_ids_split() {
        assert_eq!(
            split_user_id("Wild Duck <Test@WildDuck.Email>"),
            ("Wild Duck".into(), "test@wildduck.email".into())
        );
        assert_eq!(
            split_user_id("A B (work) <a@b.test>"),
            ("A B".into(), "a@b.test".into())
        );
        assert_eq!(
            split_user_id("a@b.test"),
            (String::new(), "a@b.test".into())
        );
        assert_eq!(
            split_user_id("Just a name"),
            ("Just a name".into(), String::new())
        );
    }

    #[test]
    fn garbage_is_refused() {
        assert!(RecipientKey::from_armored("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot base64!\n-----END PGP PUBLIC KEY BLOCK-----").is_err());
        assert!(RecipientKey::from_armored("").is_err());
    }

    #[test]
    fn crlf_line_ends() {
        assert_eq!(crlf("a\nb\r\nc"), "a\r\nb\r\nc");
    }
}
