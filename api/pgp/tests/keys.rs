//! Keys from WildDuck's own tests (an RSA 4096 key made by GnuPG, an RSA 1024
//! key made by Keybase): read, described and encrypted to as WildDuck does.

use eider_pgp::{PgpError, RecipientKey};

const USER2: &str = include_str!("user2-public.asc");
const KEYBASE: &str = include_str!("keybase-rsa1024.asc");

#[test]
fn gnupg_rsa_key_with_encryption_subkey() {
    let key = RecipientKey::from_armored(USER2).expect("key");
    let info = key.info();
    assert_eq!(info.name, "User 2");
    assert_eq!(info.address, "user2@example.com");
    assert_eq!(info.fingerprint, "b54c6a0e1d027df8a830c306d436505bf8bfef95");
    let armored = key
        .encrypt_armored(b"Subject: hi\r\n\r\nsecret\r\n")
        .expect("encrypt");
    assert!(
        armored.starts_with("-----BEGIN PGP MESSAGE-----\r\n"),
        "{armored}"
    );
    assert!(armored.ends_with("-----END PGP MESSAGE-----\r\n"));
    assert!(!armored.contains("secret"));
    // Every line ends in CRLF (it is stored inside a mail message).
    assert!(!armored.replace("\r\n", "").contains('\n'));
}

#[test]
fn keybase_key_with_armor_headers() {
    let key = RecipientKey::from_armored(KEYBASE).expect("key");
    let info = key.info();
    assert_eq!(
        (info.name.as_str(), info.address.as_str()),
        ("Wild Duck", "test@wildduck.email")
    );
    assert_eq!(info.fingerprint, "213fb18b6dca1e2869de47e6954bb3cc1fe60482");
    assert!(key.encrypt_armored(&[0u8; 100_000]).is_ok());
}

#[test]
fn pasted_key_without_the_blank_line_is_read() {
    let squeezed = USER2
        .replacen("-----\n\n", "-----\n", 1)
        .replace('\n', "\r\n");
    assert!(!squeezed.contains("\r\n\r\n"));
    assert!(RecipientKey::from_armored(&squeezed).is_ok());
}

#[test]
fn damaged_keys_are_refused() {
    // One changed byte inside the key material: parsing or a binding check fails.
    let lines: Vec<&str> = USER2.lines().collect();
    let mut bad: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let row = bad
        .iter()
        .position(|l| l.len() == 64)
        .expect("a base64 row")
        + 5;
    let flipped: String = bad[row]
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i == 10 {
                if c == 'A' {
                    'B'
                } else {
                    'A'
                }
            } else {
                c
            }
        })
        .collect();
    bad[row] = flipped;
    assert!(RecipientKey::from_armored(&bad.join("\n")).is_err());
    assert_eq!(
        RecipientKey::from_armored("nothing here").err(),
        Some(PgpError::Armor)
    );
}
