//! Password hashes. New hashes are argon2id; verification accepts every format
//! WildDuck's `hashedPassword` accepts, each checked with the parameters stored in
//! the hash itself:
//!
//! | prefix | format |
//! |---|---|
//! | `$argon2id$`, `$argon2i$`, `$argon2d$` | PHC argon2 |
//! | `$pbkdf2-sha512$`, `$pbkdf2-sha256$`, `$pbkdf2-sha1$` | PHC pbkdf2 as written by WildDuck (`@phc/pbkdf2`: `i=N`, no `l=`, standard base64 without padding; the key length is the stored hash's length) |
//! | `$2a$`, `$2b$`, `$2y$` | bcrypt |
//! | `$1$` | md5-crypt |
//! | `$5$`, `$6$` | sha256-crypt, sha512-crypt |
//! | 13 characters of `[./0-9A-Za-z]` | traditional DES crypt(3) |
//!
//! Anything but a current argon2id hash is rehashed after a successful login
//! ([`needs_rehash`]). All comparisons of derived keys are constant-time.

use argon2::password_hash::PasswordHash;
use argon2::Argon2;
use base64::Engine;
use md5::{Digest, Md5};
use subtle::ConstantTimeEq;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum PasswordError {
    #[error("unsupported or malformed password hash")]
    UnsupportedHash,
    #[error("could not hash password: {0}")]
    Hash(String),
}

/// The families of stored hashes this crate verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashFormat {
    Argon2,
    Pbkdf2,
    Bcrypt,
    Md5Crypt,
    ShaCrypt,
    DesCrypt,
}

/// Upper bounds on the work a stored hash may ask for, per format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashLimits {
    /// bcrypt's cost (log2 of the rounds).
    pub bcrypt_cost: u32,
    /// pbkdf2 iterations.
    pub pbkdf2_iterations: u32,
    /// sha256-crypt and sha512-crypt rounds.
    pub sha_crypt_rounds: u32,
    /// argon2 memory in KiB.
    pub argon2_memory_kib: u32,
    /// argon2 passes.
    pub argon2_time: u32,
}

impl HashLimits {
    /// The most any stored hash is verified with: beyond it a hash never matches, so
    /// that one login cannot pin a CPU for minutes or allocate gigabytes.
    pub const VERIFY: HashLimits = HashLimits {
        bcrypt_cost: 16,
        pbkdf2_iterations: 5_000_000,
        sha_crypt_rounds: 5_000_000,
        argon2_memory_kib: 256 * 1024,
        argon2_time: 16,
    };

    /// What an imported hash (`hashedPassword`) may cost by default: about a
    /// quarter second or less per check (bcrypt 12 is WildDuck's own cost).
    pub const IMPORT: HashLimits = HashLimits {
        bcrypt_cost: 12,
        pbkdf2_iterations: 1_000_000,
        sha_crypt_rounds: 1_000_000,
        argon2_memory_kib: 64 * 1024,
        argon2_time: 8,
    };

    /// These limits, never above [`HashLimits::VERIFY`].
    pub fn capped(self) -> HashLimits {
        let v = HashLimits::VERIFY;
        HashLimits {
            bcrypt_cost: self.bcrypt_cost.min(v.bcrypt_cost),
            pbkdf2_iterations: self.pbkdf2_iterations.min(v.pbkdf2_iterations),
            sha_crypt_rounds: self.sha_crypt_rounds.min(v.sha_crypt_rounds),
            argon2_memory_kib: self.argon2_memory_kib.min(v.argon2_memory_kib),
            argon2_time: self.argon2_time.min(v.argon2_time),
        }
    }
}

impl Default for HashLimits {
    fn default() -> Self {
        HashLimits::IMPORT
    }
}

/// Hash a password with argon2id (default parameters) and a random salt, as a PHC
/// string.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    let mut salt = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut salt);
    let params = argon2::Params::default();
    let mut out = [0u8; 32];
    argon2_raw(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        params.clone(),
        password.as_bytes(),
        &salt,
        &mut out,
    )
    .map_err(|e| PasswordError::Hash(e.to_string()))?;
    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
    Ok(format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        b64.encode(salt),
        b64.encode(out)
    ))
}

/// Blocks (1 KiB each) of argon2's default memory cost.
const DEFAULT_ARGON2_BLOCKS: usize = argon2::Params::DEFAULT_M_COST as usize;

thread_local! {
    /// Each thread's argon2 working memory, allocated once at the default size and
    /// reused: the hashing pool's few threads hold a few buffers for the life of
    /// the process instead of allocating (and fragmenting) 19 MiB per login.
    static ARGON2_MEMORY: std::cell::RefCell<Vec<argon2::Block>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// argon2 into `out` with the given parameters, on the thread's working memory
/// (hashes with a larger memory cost use a buffer of their own, freed afterwards).
fn argon2_raw(
    algorithm: argon2::Algorithm,
    version: argon2::Version,
    params: argon2::Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    let blocks = params.block_count();
    let hasher = Argon2::new(algorithm, version, params);
    if blocks <= DEFAULT_ARGON2_BLOCKS {
        ARGON2_MEMORY.with(|memory| {
            let mut memory = memory.borrow_mut();
            if memory.len() < DEFAULT_ARGON2_BLOCKS {
                memory.resize(DEFAULT_ARGON2_BLOCKS, argon2::Block::default());
            }
            hasher.hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
        })
    } else {
        let mut memory = vec![argon2::Block::default(); blocks];
        hasher.hash_password_into_with_memory(password, salt, out, &mut memory)
    }
}

/// Verify against a PHC argon2 hash with the parameters it carries.
fn verify_argon2(password: &str, parsed: &PasswordHash<'_>) -> Result<bool, PasswordError> {
    let bad = |_| PasswordError::UnsupportedHash;
    let algorithm = argon2::Algorithm::try_from(parsed.algorithm).map_err(bad)?;
    let version = match parsed.version {
        Some(v) => argon2::Version::try_from(v).map_err(|_| PasswordError::UnsupportedHash)?,
        None => argon2::Version::V0x13,
    };
    let params = argon2::Params::try_from(parsed).map_err(bad)?;
    let expected = parsed.hash.ok_or(PasswordError::UnsupportedHash)?;
    let salt = parsed.salt.ok_or(PasswordError::UnsupportedHash)?;
    let mut salt_buf = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_buf).map_err(bad)?;
    let mut out = vec![0u8; expected.len()];
    argon2_raw(
        algorithm,
        version,
        params,
        password.as_bytes(),
        salt,
        &mut out,
    )
    .map_err(|_| PasswordError::UnsupportedHash)?;
    Ok(bool::from(out.as_slice().ct_eq(expected.as_bytes())))
}

/// The format of a stored hash, None when it is not one this crate verifies.
pub fn hash_format(hash: &str) -> Option<HashFormat> {
    if crate::des_crypt::is_des_crypt(hash) {
        return Some(HashFormat::DesCrypt);
    }
    let id = hash.strip_prefix('$')?.split('$').next()?;
    Some(match id.to_ascii_lowercase().as_str() {
        "argon2id" | "argon2i" | "argon2d" => HashFormat::Argon2,
        "pbkdf2-sha512" | "pbkdf2-sha256" | "pbkdf2-sha1" => HashFormat::Pbkdf2,
        "2a" | "2b" | "2y" => HashFormat::Bcrypt,
        "1" => HashFormat::Md5Crypt,
        "5" | "6" => HashFormat::ShaCrypt,
        _ => return None,
    })
}

/// True when `hash` is a well-formed hash of a supported format that
/// [`verify_password`] checks (its cost within [`HashLimits::VERIFY`]).
pub fn is_supported_hash(hash: &str) -> bool {
    is_supported_hash_within(hash, &HashLimits::VERIFY)
}

/// True when `hash` is a well-formed hash of a supported format whose cost stays
/// within `limits` (what POST /users with `hashedPassword` accepts).
pub fn is_supported_hash_within(hash: &str, limits: &HashLimits) -> bool {
    let limits = limits.capped();
    match hash_format(hash) {
        Some(HashFormat::Argon2) => PasswordHash::new(hash)
            .ok()
            .is_some_and(|h| argon2_params_ok(&h, &limits)),
        Some(HashFormat::Pbkdf2) => parse_pbkdf2(hash, &limits).is_some(),
        Some(HashFormat::Bcrypt) => bcrypt_cost(hash, &limits).is_some(),
        Some(HashFormat::Md5Crypt) => hash.split('$').count() == 4,
        Some(HashFormat::ShaCrypt) => sha_crypt_rounds_ok(hash, &limits),
        // A fixed, small cost.
        Some(HashFormat::DesCrypt) => true,
        None => false,
    }
}

/// Check a password against a stored hash of any supported format.
pub fn verify_password(password: &str, hash: &str) -> Result<bool, PasswordError> {
    let format = hash_format(hash).ok_or(PasswordError::UnsupportedHash)?;
    match format {
        HashFormat::Argon2 => {
            let parsed = PasswordHash::new(hash).map_err(|_| PasswordError::UnsupportedHash)?;
            if !argon2_params_ok(&parsed, &HashLimits::VERIFY) {
                return Err(PasswordError::UnsupportedHash);
            }
            verify_argon2(password, &parsed)
        }
        HashFormat::Pbkdf2 => verify_pbkdf2(password, hash),
        HashFormat::Bcrypt => {
            bcrypt_cost(hash, &HashLimits::VERIFY).ok_or(PasswordError::UnsupportedHash)?;
            bcrypt::verify(password, hash).map_err(|_| PasswordError::UnsupportedHash)
        }
        HashFormat::Md5Crypt => {
            let salt = hash
                .split('$')
                .nth(2)
                .ok_or(PasswordError::UnsupportedHash)?;
            let computed = md5_crypt(password.as_bytes(), salt.as_bytes());
            Ok(bool::from(computed.as_bytes().ct_eq(hash.as_bytes())))
        }
        HashFormat::ShaCrypt => {
            if !sha_crypt_rounds_ok(hash, &HashLimits::VERIFY) {
                return Err(PasswordError::UnsupportedHash);
            }
            use sha_crypt::PasswordVerifier as _;
            match sha_crypt::ShaCrypt::default().verify_password(password.as_bytes(), hash) {
                Ok(()) => Ok(true),
                Err(sha_crypt::password_hash::Error::PasswordInvalid) => Ok(false),
                Err(_) => Err(PasswordError::UnsupportedHash),
            }
        }
        HashFormat::DesCrypt => {
            let computed = crate::des_crypt::des_crypt(password.as_bytes(), hash.as_bytes());
            Ok(bool::from(computed.as_bytes().ct_eq(hash.as_bytes())))
        }
    }
}

/// True when a hash should be replaced by a fresh argon2id hash after a successful
/// login: every other format, and argon2id with weaker parameters than the default.
pub fn needs_rehash(hash: &str) -> bool {
    if !hash.starts_with("$argon2id$") {
        return true;
    }
    let Ok(parsed) = PasswordHash::new(hash) else {
        return true;
    };
    let Ok(params) = argon2::Params::try_from(&parsed) else {
        return true;
    };
    let default = argon2::Params::default();
    params.m_cost() < default.m_cost() || params.t_cost() < default.t_cost()
}

fn argon2_params_ok(hash: &PasswordHash<'_>, limits: &HashLimits) -> bool {
    if hash.hash.is_none() || hash.salt.is_none() {
        return false;
    }
    match argon2::Params::try_from(hash) {
        Ok(p) => p.m_cost() <= limits.argon2_memory_kib && p.t_cost() <= limits.argon2_time,
        Err(_) => false,
    }
}

fn bcrypt_cost(hash: &str, limits: &HashLimits) -> Option<u32> {
    let cost: u32 = hash.split('$').nth(2)?.parse().ok()?;
    (4..=limits.bcrypt_cost).contains(&cost).then_some(cost)
}

fn sha_crypt_rounds_ok(hash: &str, limits: &HashLimits) -> bool {
    let mut fields = hash.split('$').skip(2);
    let Some(first) = fields.next() else {
        return false;
    };
    match first.strip_prefix("rounds=") {
        Some(r) => r
            .parse::<u32>()
            .is_ok_and(|r| r <= limits.sha_crypt_rounds && fields.count() == 2),
        None => fields.count() == 1,
    }
}

// ---------------------------------------------------------------------------
// pbkdf2 (WildDuck's `$pbkdf2-<digest>$i=N$salt$hash`)

#[derive(Debug)]
struct Pbkdf2Hash {
    digest: Pbkdf2Digest,
    iterations: u32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
enum Pbkdf2Digest {
    Sha1,
    Sha256,
    Sha512,
}

/// PHC's base64: standard alphabet, padding optional. passlib's variant writes `.`
/// for `+`; both are accepted.
fn b64(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=').replace('.', "+");
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(s)
        .ok()
}

fn parse_pbkdf2(hash: &str, limits: &HashLimits) -> Option<Pbkdf2Hash> {
    let mut parts = hash.strip_prefix('$')?.split('$');
    let digest = match parts.next()?.to_ascii_lowercase().as_str() {
        "pbkdf2-sha1" => Pbkdf2Digest::Sha1,
        "pbkdf2-sha256" => Pbkdf2Digest::Sha256,
        "pbkdf2-sha512" => Pbkdf2Digest::Sha512,
        _ => return None,
    };
    let params = parts.next()?;
    let mut iterations = None;
    for p in params.split(',') {
        let (k, v) = p.split_once('=')?;
        match k {
            "i" => iterations = v.parse::<u32>().ok(),
            // The key length is implied by the stored hash; `l` is checked against it.
            "l" => {
                v.parse::<usize>().ok()?;
            }
            _ => return None,
        }
    }
    let iterations = iterations.filter(|i| (1..=limits.pbkdf2_iterations).contains(i))?;
    let salt = b64(parts.next()?)?;
    let hash_bytes = b64(parts.next()?)?;
    if parts.next().is_some() || hash_bytes.is_empty() || hash_bytes.len() > 128 {
        return None;
    }
    if let Some(l) = params
        .split(',')
        .find_map(|p| p.strip_prefix("l="))
        .and_then(|v| v.parse::<usize>().ok())
    {
        if l != hash_bytes.len() {
            return None;
        }
    }
    Some(Pbkdf2Hash {
        digest,
        iterations,
        salt,
        hash: hash_bytes,
    })
}

fn verify_pbkdf2(password: &str, hash: &str) -> Result<bool, PasswordError> {
    let parsed = parse_pbkdf2(hash, &HashLimits::VERIFY).ok_or(PasswordError::UnsupportedHash)?;
    let mut out = vec![0u8; parsed.hash.len()];
    let (pw, salt, rounds) = (password.as_bytes(), &parsed.salt[..], parsed.iterations);
    match parsed.digest {
        Pbkdf2Digest::Sha1 => pbkdf2::pbkdf2_hmac::<sha1::Sha1>(pw, salt, rounds, &mut out),
        Pbkdf2Digest::Sha256 => pbkdf2::pbkdf2_hmac::<sha2::Sha256>(pw, salt, rounds, &mut out),
        Pbkdf2Digest::Sha512 => pbkdf2::pbkdf2_hmac::<sha2::Sha512>(pw, salt, rounds, &mut out),
    }
    Ok(bool::from(out.ct_eq(&parsed.hash)))
}

// ---------------------------------------------------------------------------
// md5-crypt (`$1$salt$hash`, Poul-Henning Kamp's FreeBSD algorithm)

const CRYPT_B64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn md5_crypt(password: &[u8], salt: &[u8]) -> String {
    let salt = &salt[..salt.len().min(8)];
    let mut alt = Md5::new();
    alt.update(password);
    alt.update(salt);
    alt.update(password);
    let alt = alt.finalize();

    let mut ctx = Md5::new();
    ctx.update(password);
    ctx.update(b"$1$");
    ctx.update(salt);
    let mut left = password.len();
    while left > 0 {
        let n = left.min(16);
        ctx.update(&alt[..n]);
        left -= n;
    }
    let mut i = password.len();
    while i > 0 {
        if i & 1 == 1 {
            ctx.update([0u8]);
        } else {
            ctx.update(&password[..1]);
        }
        i >>= 1;
    }
    let mut fin = ctx.finalize();
    for round in 0..1000 {
        let mut c = Md5::new();
        if round & 1 == 1 {
            c.update(password);
        } else {
            c.update(fin);
        }
        if round % 3 != 0 {
            c.update(salt);
        }
        if round % 7 != 0 {
            c.update(password);
        }
        if round & 1 == 1 {
            c.update(fin);
        } else {
            c.update(password);
        }
        fin = c.finalize();
    }
    let mut out = String::with_capacity(34);
    out.push_str("$1$");
    out.push_str(&String::from_utf8_lossy(salt));
    out.push('$');
    let f = fin;
    let mut put = |v: u32, n: usize| {
        let mut v = v;
        for _ in 0..n {
            out.push(CRYPT_B64[(v & 0x3f) as usize] as char);
            v >>= 6;
        }
    };
    for (a, b, c) in [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)] {
        put(
            (u32::from(f[a]) << 16) | (u32::from(f[b]) << 8) | u32::from(f[c]),
            4,
        );
    }
    put(u32::from(f[11]), 2);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepts(password: &str, hash: &str) {
        assert!(is_supported_hash(hash), "supported: {hash}");
        assert!(verify_password(password, hash).expect("verify"), "{hash}");
        assert!(
            !verify_password("wrong password", hash).expect("verify"),
            "{hash}"
        );
        assert!(needs_rehash(hash), "{hash}");
    }

    #[test]
    fn argon2id_roundtrip() {
        let h = hash_password("correct horse").expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h).expect("verify"));
        assert!(!verify_password("wrong", &h).expect("verify"));
        assert!(verify_password("x", "not a hash").is_err());
        assert!(!needs_rehash(&h));
        assert!(is_supported_hash(&h));
    }

    #[test]
    fn argon2id_matches_the_reference_implementation() {
        use argon2::password_hash::{PasswordHasher, SaltString};
        // Our hash verifies with argon2's own verifier, and its hash with ours.
        let h = hash_password("correct horse").expect("hash");
        let parsed = PasswordHash::new(&h).expect("phc");
        assert!(argon2::PasswordVerifier::verify_password(
            &Argon2::default(),
            b"correct horse",
            &parsed
        )
        .is_ok());
        let salt = SaltString::encode_b64(b"0123456789abcdef").expect("salt");
        let theirs = Argon2::default()
            .hash_password(b"correct horse", &salt)
            .expect("hash")
            .to_string();
        assert!(verify_password("correct horse", &theirs).expect("verify"));
        assert!(!needs_rehash(&theirs));
    }

    #[test]
    fn argon2_variants() {
        use argon2::password_hash::{PasswordHasher, SaltString};
        // WildDuck's own test vector (test/api/users-test.js).
        accepts(
            "test",
            "$argon2i$v=19$m=16,t=2,p=1$SFpGczI1bWV1RVRpYjNYaw$EBE/WnOGeWint3eQ+SQ7Sg",
        );
        // The reference implementation's README example.
        accepts(
            "password",
            "$argon2i$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
        );
        // argon2d and a weak argon2id, made with explicit parameters.
        let salt = SaltString::encode_b64(b"0123456789abcdef").expect("salt");
        for alg in [argon2::Algorithm::Argon2d, argon2::Algorithm::Argon2id] {
            let a = Argon2::new(
                alg,
                argon2::Version::V0x13,
                argon2::Params::new(64, 1, 1, Some(24)).expect("params"),
            );
            let h = a
                .hash_password(b"correct horse", &salt)
                .expect("hash")
                .to_string();
            accepts("correct horse", &h);
        }
    }

    #[test]
    fn pbkdf2_wildduck_format() {
        // Made with Python's hashlib.pbkdf2_hmac, written as @phc/pbkdf2 does.
        accepts(
            "correct horse",
            "$pbkdf2-sha256$i=1000$AAECAwQFBgcICQoLDA0ODw$yRTMTwbMbo9G0VfjobWqerzuuxe7BETNTErBbKKumGQ",
        );
        accepts(
            "correct horse",
            "$pbkdf2-sha512$i=1000$AAECAwQFBgcICQoLDA0ODw$Xpx07WjVx4vCIvrmBRj8uOoVVtGqJqtUv2J5bhizSQs7osCteF7W4A61dZDqSIqQjO+dxO6p5FT/Uy7QRBXSXA",
        );
        accepts(
            "correct horse",
            "$pbkdf2-sha1$i=1000$AAECAwQFBgcICQoLDA0ODw$ndhWw3a4srcTtr4HQFTLiKRlVuA",
        );
        // An explicit l= must match the stored length.
        assert!(is_supported_hash(
            "$pbkdf2-sha1$i=1000,l=20$AAECAwQFBgcICQoLDA0ODw$ndhWw3a4srcTtr4HQFTLiKRlVuA"
        ));
        assert!(!is_supported_hash(
            "$pbkdf2-sha1$i=1000,l=32$AAECAwQFBgcICQoLDA0ODw$ndhWw3a4srcTtr4HQFTLiKRlVuA"
        ));
        assert!(!is_supported_hash(
            "$pbkdf2-sha256$i=999999999$AAECAwQFBgcICQoLDA0ODw$yRTMTwbMbo9G0VfjobWqerzuuxe7BETNTErBbKKumGQ"
        ));
    }

    #[test]
    fn bcrypt_variants() {
        // crypt_blowfish's test vectors.
        for prefix in ["$2a$", "$2b$", "$2y$"] {
            accepts(
                "U*U",
                &format!("{prefix}05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"),
            );
        }
        assert!(!is_supported_hash(
            "$2b$31$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"
        ));
    }

    #[test]
    fn crypt_formats() {
        // Made with glibc crypt(3) (Python's crypt module).
        accepts("password", "$1$saltstri$qQY4WxjABChYG1ccLpfkz/");
        // md5-crypt uses at most 8 salt characters.
        accepts("Hello world!", "$1$saltstri$YMyguxXMBpd2TEZ.vS/3q1");
        accepts(
            "correct horse",
            "$5$rounds=5000$usesomesillystri$Nug0sruWJxA8ePkY1nlJaF/4sgRaCVoH0E3Rocn4qO2",
        );
        accepts(
            "correct horse",
            "$5$saltsalt$myjXcpMpE2Ofk7fj9hqyNYSn6lmWG4Mqnjx.KIRRr4/",
        );
        accepts(
            "correct horse",
            "$6$rounds=10000$saltsaltsaltsalt$YymDQcDiPAPffG37wC0ejpCZb/xQsJhGY1cHJm2zkZSqidwOudukvGlotbMGQxkhtPRs0ZAbTYxJp96xB5KQ91",
        );
        accepts(
            "correct horse",
            "$6$saltsalt$hRM5XZ86KXEw9UOmjigeVqFgULtFB2sgpC9lXQDfMib3Zgw7mEiUvBJI2EplzfAqxL5Vvwp2scFtv/uamSo5z0",
        );
        accepts("password", "abJnggxhB/yWI");
        assert_eq!(hash_format("abJnggxhB/yWI"), Some(HashFormat::DesCrypt));
        assert!(!is_supported_hash("abJnggxhB/yW!"));
        assert!(!is_supported_hash(
            "$6$rounds=900000000$saltsalt$hRM5XZ86KXEw9UOmjigeVqFgULtFB2sgpC9lXQDfMib3Zgw7mEiUvBJI2EplzfAqxL5Vvwp2scFtv/uamSo5z0"
        ));
    }

    #[test]
    fn import_limits_are_lower_than_verification_limits() {
        let bcrypt14 = "$2b$14$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";
        assert!(is_supported_hash(bcrypt14));
        assert!(!is_supported_hash_within(bcrypt14, &HashLimits::IMPORT));
        let pbkdf2 = "$pbkdf2-sha256$i=2000000$AAECAwQFBgcICQoLDA0ODw$yRTMTwbMbo9G0VfjobWqerzuuxe7BETNTErBbKKumGQ";
        assert!(is_supported_hash(pbkdf2));
        assert!(!is_supported_hash_within(pbkdf2, &HashLimits::IMPORT));
        let sha = "$6$rounds=2000000$saltsalt$hRM5XZ86KXEw9UOmjigeVqFgULtFB2sgpC9lXQDfMib3Zgw7mEiUvBJI2EplzfAqxL5Vvwp2scFtv/uamSo5z0";
        assert!(is_supported_hash(sha));
        assert!(!is_supported_hash_within(sha, &HashLimits::IMPORT));
        let argon = "$argon2i$v=19$m=131072,t=2,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG";
        assert!(is_supported_hash(argon));
        assert!(!is_supported_hash_within(argon, &HashLimits::IMPORT));
        // Limits above the verification bounds are capped to them.
        let loose = HashLimits {
            bcrypt_cost: 31,
            ..HashLimits::IMPORT
        };
        assert!(is_supported_hash_within(bcrypt14, &loose));
        assert!(!is_supported_hash_within(
            "$2b$31$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
            &loose
        ));
    }

    #[test]
    fn unknown_formats_are_refused() {
        for h in ["", "plain", "$unknown$abc", "$argon2id$garbage"] {
            assert!(!is_supported_hash(h), "{h}");
            assert!(verify_password("x", h).is_err(), "{h}");
        }
    }
}
