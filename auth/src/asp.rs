//! Application-specific passwords: 16 lowercase latin letters, shown once, stored
//! hashed. A cheap selector (WildDuck's: the sum of the password's sha1 bytes
//! modulo 32, in hex) narrows a login to the few ASPs that may match, so a login
//! costs one hash verification however many ASPs a user has.

use rand::Rng;
use sha1::{Digest, Sha1};

/// Length of a generated application password.
pub const ASP_LEN: usize = 16;

/// The scopes an application password may carry (`*` stands for all of them).
pub const ASP_SCOPES: [&str; 3] = ["imap", "pop3", "smtp"];

/// A new random application password.
pub fn generate_asp() -> String {
    let mut rng = rand::rng();
    (0..ASP_LEN)
        .map(|_| char::from(b'a' + rng.random_range(0..26u8)))
        .collect()
}

/// What a client typed, as an application password: whitespace removed, lowercase.
/// None when it cannot be one (so the login is a master-password attempt only).
pub fn normalize_asp(input: &str) -> Option<String> {
    let s: String = input
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    (s.len() == ASP_LEN && s.bytes().all(|b| b.is_ascii_lowercase())).then_some(s)
}

/// WildDuck's selector of a (normalized) application password.
pub fn asp_selector(password: &str) -> String {
    let digest = Sha1::digest(password.as_bytes());
    let sum: u32 = digest.iter().map(|&b| u32::from(b)).sum();
    format!("{:x}", sum % 32)
}

/// Normalize requested scopes WildDuck's way: unknown ones dropped, `*` or the full
/// set collapses to `["*"]`, otherwise sorted. None when nothing valid remains.
pub fn normalize_scopes<S: AsRef<str>>(scopes: &[S]) -> Option<Vec<String>> {
    let mut set: Vec<String> = Vec::new();
    for s in scopes {
        let s = s.as_ref().trim().to_ascii_lowercase();
        if s == "*" {
            return Some(vec!["*".into()]);
        }
        if ASP_SCOPES.contains(&s.as_str()) && !set.contains(&s) {
            set.push(s);
        }
    }
    if set.len() == ASP_SCOPES.len() {
        return Some(vec!["*".into()]);
    }
    set.sort();
    (!set.is_empty()).then_some(set)
}

/// Does an ASP with `scopes` allow `scope`?
pub fn scope_allowed<S: AsRef<str>>(scopes: &[S], scope: &str) -> bool {
    scopes
        .iter()
        .any(|s| s.as_ref() == "*" || s.as_ref() == scope)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_normalize_to_themselves() {
        let p = generate_asp();
        assert_eq!(p.len(), 16);
        assert_eq!(normalize_asp(&p).as_deref(), Some(p.as_str()));
        let spaced = format!("{} {} {} {}", &p[..4], &p[4..8], &p[8..12], &p[12..]);
        assert_eq!(
            normalize_asp(&spaced.to_uppercase()).as_deref(),
            Some(p.as_str())
        );
        assert_eq!(normalize_asp("short"), None);
        assert_eq!(normalize_asp("abcdefghijklmno1"), None);
    }

    #[test]
    fn selector_matches_wildduck() {
        // sha1("abcdefghijklmnop") summed mod 32, as WildDuck's getStringSelector computes.
        let s = asp_selector("abcdefghijklmnop");
        let digest = Sha1::digest(b"abcdefghijklmnop");
        let sum: u32 = digest.iter().map(|&b| u32::from(b)).sum();
        assert_eq!(s, format!("{:x}", sum % 32));
        assert!(s.len() <= 2);
    }

    #[test]
    fn scopes() {
        assert_eq!(normalize_scopes(&["*"]), Some(vec!["*".to_string()]));
        assert_eq!(
            normalize_scopes(&["smtp", "IMAP", "bogus"]),
            Some(vec!["imap".to_string(), "smtp".to_string()])
        );
        assert_eq!(
            normalize_scopes(&["imap", "pop3", "smtp"]),
            Some(vec!["*".to_string()])
        );
        assert_eq!(normalize_scopes(&["master"]), None);
        assert!(scope_allowed(&["*"], "pop3"));
        assert!(scope_allowed(&["pop3"], "pop3"));
        assert!(!scope_allowed(&["pop3"], "imap"));
    }
}
