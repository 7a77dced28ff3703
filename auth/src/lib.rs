//! Account security primitives, free of I/O: password hashing and verification of
//! every format WildDuck accepts, application-specific passwords, TOTP, access
//! token material and Apple mobileconfig profiles. The service layer decides when
//! to use them (and runs the CPU-heavy ones on its bounded hashing pool).

mod asp;
mod credkey;
mod des_crypt;
mod dkim;
pub mod mobileconfig;
mod password;
mod qr;
mod secretbox;
mod token;
mod totp;

pub use asp::{
    asp_selector, generate_asp, normalize_asp, normalize_scopes, scope_allowed, ASP_LEN, ASP_SCOPES,
};
pub use credkey::CredentialKey;
pub use dkim::{
    dkim_sign, generate_dkim_key, parse_dkim_key, pem_encode, DkimAlgorithm, DkimKeyError,
    DkimKeyMaterial,
};
pub use password::{
    hash_format, hash_password, is_supported_hash, is_supported_hash_within, needs_rehash,
    verify_password, HashFormat, HashLimits, PasswordError,
};
pub use secretbox::{is_sealed, SecretBox, SecretError};
pub use token::{hmac_sha256_hex, random_hex, secrets_equal, token_hash};
pub use totp::{check_totp, generate_totp_seed, otpauth_url, qr_data_url, totp_code, TotpError};
