//! TOTP (RFC 6238, 30-second steps, 6 digits, HMAC-SHA1) as WildDuck sets it up:
//! a 20-byte random seed shown as base32, an `otpauth://` URL and its QR code as a
//! PNG data URL.

use rand::RngCore;
use totp_rs::{Algorithm, Builder, Secret, Totp};

use crate::qr;

#[derive(Debug, thiserror::Error)]
pub enum TotpError {
    #[error("invalid TOTP seed")]
    InvalidSeed,
    #[error("failed to generate QR code: {0}")]
    Qr(String),
}

/// A new random seed (20 bytes, as speakeasy's default), base32 without padding.
pub fn generate_totp_seed() -> String {
    let mut bytes = [0u8; 20];
    rand::rng().fill_bytes(&mut bytes);
    Secret::from(bytes).to_base32()
}

/// otpauth labels and issuers may not contain ':' (it separates them).
fn label_text(s: &str) -> String {
    let s: String = s.replace(':', " ").trim().to_string();
    if s.is_empty() {
        "user".into()
    } else {
        s
    }
}

fn totp(seed: &str, skew: u16, label: &str, issuer: &str) -> Result<Totp, TotpError> {
    let secret = Secret::try_from_base32(seed.trim().trim_end_matches('=').to_ascii_uppercase())
        .map_err(|_| TotpError::InvalidSeed)?;
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_skew(skew)
        .with_secret(secret)
        .with_account_name(label_text(label))
        .with_issuer(Some(label_text(issuer)))
        .build()
        .map_err(|_| TotpError::InvalidSeed)
}

/// The `otpauth://totp/...` URL an authenticator app imports.
pub fn otpauth_url(seed: &str, label: &str, issuer: &str) -> Result<String, TotpError> {
    totp(seed, 0, label, issuer)?
        .to_url()
        .map_err(|e| TotpError::Qr(e.to_string()))
}

/// The QR code of `text` as `data:image/png;base64,...` (what WildDuck's
/// `QRCode.toDataURL` returns).
pub fn qr_data_url(text: &str) -> Result<String, TotpError> {
    qr::png_data_url(text).map_err(TotpError::Qr)
}

/// Check a 6-digit code at `now` (seconds since the epoch) allowing `skew` steps
/// either side. Returns the matched time step, which the caller remembers so that a
/// code is accepted only once (RFC 6238 5.2).
pub fn check_totp(seed: &str, code: &str, skew: u16, now: u64) -> Result<Option<u64>, TotpError> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    Ok(totp(seed, skew, "user", "x")?.check(&code, now))
}

/// The code for `now` (tests, and clients built on this crate).
pub fn totp_code(seed: &str, now: u64) -> Result<String, TotpError> {
    Ok(totp(seed, 0, "user", "x")?.generate(now).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_vector() {
        // RFC 6238 appendix B, SHA1, T = 59 s: 94287082 (8 digits) -> last 6 "287082".
        let seed = Secret::from(b"12345678901234567890".to_vec()).to_base32();
        assert_eq!(totp_code(&seed, 59).expect("code"), "287082");
        assert_eq!(check_totp(&seed, "287082", 0, 59).expect("check"), Some(1));
        assert_eq!(check_totp(&seed, "287 082", 1, 75).expect("check"), Some(1));
        assert_eq!(check_totp(&seed, "287082", 0, 200).expect("check"), None);
        assert_eq!(check_totp(&seed, "abc", 1, 59).expect("check"), None);
    }

    #[test]
    fn setup_material() {
        let seed = generate_totp_seed();
        assert_eq!(seed.len(), 32);
        let url = otpauth_url(&seed, "john:doe", "Eider").expect("url");
        assert!(url.starts_with("otpauth://totp/"), "{url}");
        assert!(url.contains(&format!("secret={seed}")), "{url}");
        assert!(url.contains("issuer=Eider"), "{url}");
        let qr = qr_data_url(&url).expect("qr");
        assert!(qr.starts_with("data:image/png;base64,"));
        assert!(check_totp("not base32!", "123456", 1, 0).is_err());
    }
}
