//! DKIM key material: generate RSA (2048 bits) or Ed25519 keys, read imported ones
//! (PEM PKCS#8, PEM PKCS#1 "RSA PRIVATE KEY", or a raw Ed25519 seed in base64 as
//! WildDuck accepts), and derive what DNS publishes (RFC 6376 `p=`: the RSA
//! SubjectPublicKeyInfo; RFC 8463: the raw 32-byte Ed25519 key).
//!
//! Private keys are always handed on as PKCS#8 PEM (version 1 for Ed25519), the
//! form OpenSSL, dkimpy and the Rust DKIM signers read.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use sha2::{Digest, Sha256};
use thiserror::Error;

/// The key algorithm (DKIM `k=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DkimAlgorithm {
    Rsa,
    Ed25519,
}

impl DkimAlgorithm {
    /// The DKIM `k=` tag value.
    pub fn tag(self) -> &'static str {
        match self {
            DkimAlgorithm::Rsa => "rsa",
            DkimAlgorithm::Ed25519 => "ed25519",
        }
    }

    pub fn from_tag(tag: &str) -> Option<Self> {
        match tag {
            "rsa" => Some(DkimAlgorithm::Rsa),
            "ed25519" => Some(DkimAlgorithm::Ed25519),
            _ => None,
        }
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum DkimKeyError {
    #[error("Invalid or incompatible private key. {0}")]
    Invalid(String),
    #[error("Failed to generate key pair")]
    Generate,
}

/// A private key and what is derived from it.
#[derive(Clone, PartialEq, Eq)]
pub struct DkimKeyMaterial {
    pub algorithm: DkimAlgorithm,
    /// PKCS#8 PEM.
    pub private_key_pem: String,
    /// SubjectPublicKeyInfo PEM.
    pub public_key_pem: String,
    /// The `p=` value of the DNS record (base64, one line).
    pub dns_public_key: String,
    /// SHA-256 of the SubjectPublicKeyInfo, hex pairs joined by ':'.
    pub fingerprint: String,
}

impl std::fmt::Debug for DkimKeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DkimKeyMaterial")
            .field("algorithm", &self.algorithm)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// PKCS#8 v1 prefix of an Ed25519 private key (RFC 8410): what precedes the seed.
const ED25519_PKCS8_V1: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
/// PKCS#8 v2 (with the public key) prefix, as ring and some tools write it.
const ED25519_PKCS8_V2: [u8; 16] = [
    0x30, 0x53, 0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
/// SubjectPublicKeyInfo prefix of an Ed25519 public key.
const ED25519_SPKI: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// Smallest and largest RSA modulus accepted (RFC 8301 forbids under 1024 bits).
const RSA_MIN_BITS: usize = 1024;
const RSA_MAX_BITS: usize = 4096;

/// A new key: RSA 2048 bits (slow in debug builds: run it off the async workers) or Ed25519.
pub fn generate_dkim_key(algorithm: DkimAlgorithm) -> Result<DkimKeyMaterial, DkimKeyError> {
    match algorithm {
        DkimAlgorithm::Rsa => {
            let mut rng = getrandom::rand_core::UnwrapErr(getrandom::SysRng);
            let key = RsaPrivateKey::new(&mut rng, 2048).map_err(|_| DkimKeyError::Generate)?;
            rsa_material(&key)
        }
        DkimAlgorithm::Ed25519 => {
            let mut seed = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut seed);
            ed25519_material(&seed)
        }
    }
}

/// Read an imported key: PEM (PKCS#8 RSA or Ed25519, PKCS#1 RSA) or a base64 Ed25519
/// seed of 44 characters.
pub fn parse_dkim_key(input: &str) -> Result<DkimKeyMaterial, DkimKeyError> {
    let input = input.trim();
    if input.len() == 44 && !input.starts_with("-----") {
        let seed = STANDARD
            .decode(input)
            .map_err(|_| DkimKeyError::Invalid("Raw Ed25519 key is not base64".into()))?;
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| DkimKeyError::Invalid("Raw Ed25519 key must be 32 bytes".into()))?;
        return ed25519_material(&seed);
    }
    let (label, der) = pem_decode(input)
        .ok_or_else(|| DkimKeyError::Invalid("Expected a PEM private key".into()))?;
    match label.as_str() {
        "RSA PRIVATE KEY" => {
            let key = RsaPrivateKey::from_pkcs1_der(&der)
                .map_err(|e| DkimKeyError::Invalid(format!("Cannot read the RSA key: {e}")))?;
            rsa_material(&key)
        }
        "PRIVATE KEY" => {
            if der.len() >= 48 && (der[..16] == ED25519_PKCS8_V1 || der[..16] == ED25519_PKCS8_V2) {
                let seed: [u8; 32] = der[16..48]
                    .try_into()
                    .map_err(|_| DkimKeyError::Invalid("Truncated Ed25519 key".into()))?;
                if der[..16] == ED25519_PKCS8_V2 {
                    // The embedded public key must be the one the seed gives.
                    ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
                        .map_err(|e| DkimKeyError::Invalid(format!("Ed25519 key: {e}")))?;
                }
                return ed25519_material(&seed);
            }
            let key = RsaPrivateKey::from_pkcs8_der(&der).map_err(|e| {
                DkimKeyError::Invalid(format!("Unsupported key (RSA or Ed25519 expected): {e}"))
            })?;
            rsa_material(&key)
        }
        other => Err(DkimKeyError::Invalid(format!(
            "Unsupported PEM type {other:?}"
        ))),
    }
}

/// Sign DKIM header data with a stored private key (PKCS#8 PEM, as handed on):
/// `rsa-sha256` is PKCS#1 v1.5 over SHA-256 of `data`; `ed25519-sha256` (RFC 8463)
/// is Ed25519 over the SHA-256 digest of `data`. Returns the raw signature.
pub fn dkim_sign(
    algorithm: DkimAlgorithm,
    private_key_pem: &str,
    data: &[u8],
) -> Result<Vec<u8>, DkimKeyError> {
    let (_, der) = pem_decode(private_key_pem)
        .ok_or_else(|| DkimKeyError::Invalid("Expected a PEM private key".into()))?;
    match algorithm {
        DkimAlgorithm::Rsa => {
            // ring is fast even in debug builds but takes 2048 bits and up only;
            // the smaller keys WildDuck accepts are signed with the rsa crate.
            if let Ok(pair) = ring::signature::RsaKeyPair::from_pkcs8(&der) {
                let mut sig = vec![0u8; pair.public().modulus_len()];
                pair.sign(
                    &ring::signature::RSA_PKCS1_SHA256,
                    &ring::rand::SystemRandom::new(),
                    data,
                    &mut sig,
                )
                .map_err(|_| DkimKeyError::Invalid("RSA signing failed".into()))?;
                return Ok(sig);
            }
            let key = RsaPrivateKey::from_pkcs8_der(&der)
                .map_err(|e| DkimKeyError::Invalid(format!("Cannot read the RSA key: {e}")))?;
            let digest = rsa::sha2::Sha256::digest(data);
            key.sign(rsa::Pkcs1v15Sign::new::<rsa::sha2::Sha256>(), &digest)
                .map_err(|e| DkimKeyError::Invalid(format!("RSA signing failed: {e}")))
        }
        DkimAlgorithm::Ed25519 => {
            let seed: [u8; 32] = if der.len() >= 48
                && (der[..16] == ED25519_PKCS8_V1 || der[..16] == ED25519_PKCS8_V2)
            {
                der[16..48]
                    .try_into()
                    .map_err(|_| DkimKeyError::Invalid("Truncated Ed25519 key".into()))?
            } else {
                return Err(DkimKeyError::Invalid("Not an Ed25519 key".into()));
            };
            let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(&seed)
                .map_err(|e| DkimKeyError::Invalid(format!("Ed25519 key: {e}")))?;
            let digest = Sha256::digest(data);
            Ok(pair.sign(&digest).as_ref().to_vec())
        }
    }
}

fn rsa_material(key: &RsaPrivateKey) -> Result<DkimKeyMaterial, DkimKeyError> {
    let bits = key.size() * 8;
    if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) {
        return Err(DkimKeyError::Invalid(format!(
            "RSA keys must have {RSA_MIN_BITS} to {RSA_MAX_BITS} bits, not {bits}"
        )));
    }
    key.validate()
        .map_err(|e| DkimKeyError::Invalid(format!("Inconsistent RSA key: {e}")))?;
    let private = key
        .to_pkcs8_der()
        .map_err(|e| DkimKeyError::Invalid(e.to_string()))?;
    let spki = key
        .to_public_key()
        .to_public_key_der()
        .map_err(|e| DkimKeyError::Invalid(e.to_string()))?;
    Ok(DkimKeyMaterial {
        algorithm: DkimAlgorithm::Rsa,
        private_key_pem: pem_encode("PRIVATE KEY", private.as_bytes()),
        public_key_pem: pem_encode("PUBLIC KEY", spki.as_bytes()),
        dns_public_key: STANDARD.encode(spki.as_bytes()),
        fingerprint: fingerprint(spki.as_bytes()),
    })
}

fn ed25519_material(seed: &[u8; 32]) -> Result<DkimKeyMaterial, DkimKeyError> {
    let pair = ring::signature::Ed25519KeyPair::from_seed_unchecked(seed)
        .map_err(|e| DkimKeyError::Invalid(format!("Ed25519 key: {e}")))?;
    let public = ring::signature::KeyPair::public_key(&pair)
        .as_ref()
        .to_vec();
    let mut private = ED25519_PKCS8_V1.to_vec();
    private.extend_from_slice(seed);
    let mut spki = ED25519_SPKI.to_vec();
    spki.extend_from_slice(&public);
    Ok(DkimKeyMaterial {
        algorithm: DkimAlgorithm::Ed25519,
        private_key_pem: pem_encode("PRIVATE KEY", &private),
        public_key_pem: pem_encode("PUBLIC KEY", &spki),
        dns_public_key: STANDARD.encode(&public),
        fingerprint: fingerprint(&spki),
    })
}

fn fingerprint(spki: &[u8]) -> String {
    Sha256::digest(spki)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// PEM with 64-character lines (RFC 7468).
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The label and bytes of the first PEM block.
fn pem_decode(text: &str) -> Option<(String, Vec<u8>)> {
    let start = text.find("-----BEGIN ")?;
    let rest = &text[start + 11..];
    let label_end = rest.find("-----")?;
    let label = rest[..label_end].to_string();
    let body_start = label_end + 5;
    let end_marker = format!("-----END {label}-----");
    let body_end = rest.find(&end_marker)?;
    if body_end < body_start {
        return None;
    }
    let body: String = rest[body_start..body_end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = STANDARD.decode(body).ok()?;
    Some((label, der))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
    use rsa::pkcs8::DecodePublicKey;
    use rsa::signature::{SignatureEncoding, Signer, Verifier};

    /// The DNS value verifies what the private key signs.
    fn assert_pair(m: &DkimKeyMaterial) {
        let der = STANDARD.decode(&m.dns_public_key).expect("p= is base64");
        let (_, private) = pem_decode(&m.private_key_pem).expect("pem");
        match m.algorithm {
            DkimAlgorithm::Rsa => {
                let key = RsaPrivateKey::from_pkcs8_der(&private).expect("pkcs8");
                let sig = SigningKey::<Sha256>::new(key).sign(b"secretvalue");
                let public = rsa::RsaPublicKey::from_public_key_der(&der).expect("spki");
                let sig = Signature::try_from(sig.to_bytes().as_ref()).expect("sig");
                VerifyingKey::<Sha256>::new(public)
                    .verify(b"secretvalue", &sig)
                    .expect("verifies");
            }
            DkimAlgorithm::Ed25519 => {
                assert_eq!(der.len(), 32, "RFC 8463 publishes the raw key");
                let pair = ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&private)
                    .expect("pkcs8");
                let sig = pair.sign(b"secretvalue");
                ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, &der)
                    .verify(b"secretvalue", sig.as_ref())
                    .expect("verifies");
            }
        }
    }

    #[test]
    fn generated_keys_publish_their_public_half() {
        let ed = generate_dkim_key(DkimAlgorithm::Ed25519).expect("ed25519");
        assert_pair(&ed);
        assert_eq!(parse_dkim_key(&ed.private_key_pem).expect("reimport"), ed);
        let rsa = generate_dkim_key(DkimAlgorithm::Rsa).expect("rsa");
        assert_pair(&rsa);
        assert!(rsa
            .private_key_pem
            .starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert_eq!(parse_dkim_key(&rsa.private_key_pem).expect("reimport"), rsa);
        assert_eq!(rsa.fingerprint.len(), 32 * 3 - 1);
    }

    #[test]
    fn raw_ed25519_seed_and_pkcs1() {
        let seed = STANDARD.encode([7u8; 32]);
        let m = parse_dkim_key(&seed).expect("raw seed");
        assert_eq!(m.algorithm, DkimAlgorithm::Ed25519);
        assert_pair(&m);
        let rsa = generate_dkim_key(DkimAlgorithm::Rsa).expect("rsa");
        let (_, der) = pem_decode(&rsa.private_key_pem).expect("pem");
        let key = RsaPrivateKey::from_pkcs8_der(&der).expect("key");
        let pkcs1 = rsa::pkcs1::EncodeRsaPrivateKey::to_pkcs1_der(&key).expect("pkcs1");
        let imported =
            parse_dkim_key(&pem_encode("RSA PRIVATE KEY", pkcs1.as_bytes())).expect("pkcs1 import");
        assert_eq!(imported, rsa, "PKCS#1 is stored as PKCS#8");
    }

    #[test]
    fn refuses_garbage() {
        assert!(parse_dkim_key("hello").is_err());
        assert!(
            parse_dkim_key("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----").is_err()
        );
        assert!(
            parse_dkim_key("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----").is_err()
        );
        // 44 characters that are not base64 of 32 bytes.
        assert!(parse_dkim_key(&"!".repeat(44)).is_err());
    }

    /// dkim_sign makes PKCS#1 v1.5 SHA-256 signatures the public key verifies, on the
    /// ring path (2048 bits) and the rsa-crate path (1024 bits, which ring refuses).
    #[test]
    fn dkim_sign_rsa_verifies_for_both_sizes() {
        let big = generate_dkim_key(DkimAlgorithm::Rsa).expect("2048");
        let mut rng = getrandom::rand_core::UnwrapErr(getrandom::SysRng);
        let small = RsaPrivateKey::new(&mut rng, 1024).expect("1024");
        let small = rsa_material(&small).expect("material");
        for m in [&big, &small] {
            let sig =
                dkim_sign(DkimAlgorithm::Rsa, &m.private_key_pem, b"header data").expect("signs");
            let der = STANDARD.decode(&m.dns_public_key).expect("p=");
            let public = rsa::RsaPublicKey::from_public_key_der(&der).expect("spki");
            let sig = Signature::try_from(sig.as_slice()).expect("sig");
            let verifier = VerifyingKey::<Sha256>::new(public);
            verifier.verify(b"header data", &sig).expect("verifies");
            assert!(verifier.verify(b"header dat4", &sig).is_err());
        }
    }

    /// Ed25519 (RFC 8463) signs the SHA-256 digest of the data.
    #[test]
    fn dkim_sign_ed25519_signs_the_digest() {
        let m = generate_dkim_key(DkimAlgorithm::Ed25519).expect("key");
        let sig =
            dkim_sign(DkimAlgorithm::Ed25519, &m.private_key_pem, b"header data").expect("signs");
        let public = STANDARD.decode(&m.dns_public_key).expect("p=");
        let key = ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, public);
        key.verify(&Sha256::digest(b"header data"), &sig)
            .expect("verifies");
        assert!(key.verify(b"header data", &sig).is_err());
        assert!(dkim_sign(DkimAlgorithm::Ed25519, &big_rsa_pem(), b"x").is_err());
    }

    fn big_rsa_pem() -> String {
        generate_dkim_key(DkimAlgorithm::Rsa)
            .expect("rsa")
            .private_key_pem
    }
}
