//! Normalized keys for usernames and addresses: what makes "John.Doe",
//! "johndoe" and "JOHNDOE" the same account, and "jöhn@xn--bcher-kva.example"
//! the same address as "jöhn@bücher.example".

use crate::{Error, Result};

/// Longest username accepted, in characters.
pub const MAX_USERNAME_CHARS: usize = 128;

/// WildDuck's username schema for lookups (`GET /users/resolve/{username}`):
/// lower-cased, then segments of `[a-z0-9-]` joined by one of `._=:`, with an
/// optional `@` and a domain of the same form. Returns the lower-cased name.
pub fn username_pattern(username: &str) -> Result<String> {
    let u = username.to_lowercase();
    fn part(p: &str) -> bool {
        !p.is_empty()
            && p.split(['.', '_', '=', ':']).all(|seg| {
                !seg.is_empty()
                    && seg
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            })
    }
    let ok = match u.split_once('@') {
        Some((local, domain)) => part(local) && part(domain),
        None => part(&u),
    };
    if !ok {
        return Err(Error::InvalidField(
            "username",
            format!("\"username\" with value \"{u}\" fails to match the username pattern"),
        ));
    }
    if u.chars().count() > MAX_USERNAME_CHARS {
        return Err(Error::InvalidField(
            "username",
            format!("\"username\" length must be less than or equal to {MAX_USERNAME_CHARS} characters long"),
        ));
    }
    Ok(u)
}

/// Validate a username and return its normalized view (lower-case, dots removed).
pub fn username_view(username: &str) -> Result<String> {
    let u = username.trim();
    let count = u.chars().count();
    if count == 0 || count > MAX_USERNAME_CHARS {
        return Err(Error::InvalidField(
            "username",
            format!("\"username\" must be 1 to {MAX_USERNAME_CHARS} characters"),
        ));
    }
    if !u
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'))
    {
        return Err(Error::InvalidField(
            "username",
            format!("\"username\" with value \"{u}\" matches the inverted username pattern"),
        ));
    }
    let view: String = u
        .chars()
        .filter(|c| *c != '.')
        .flat_map(char::to_lowercase)
        .collect();
    if view.is_empty() {
        return Err(Error::Validation(
            "username must contain a letter or digit".into(),
        ));
    }
    Ok(view)
}

/// WildDuck's username rule (its `invertedAddressRegex`), on top of ours: no
/// leading, trailing or doubled dot, none next to '@', and no character in
/// U+007F..=U+00FF (its byte-range class, as JavaScript applies it to UTF-16
/// units: "ö" is refused while letters beyond Latin-1 pass).
/// Applied to new usernames only: existing accounts stay reachable by name.
pub fn check_new_username(username: &str) -> Result<String> {
    let view = username_view(username)?;
    let u = username.trim();
    if u.starts_with('.')
        || u.ends_with('.')
        || u.contains("..")
        || u.contains(".@")
        || u.contains("@.")
        || u.chars().any(|c| ('\u{7f}'..='\u{ff}').contains(&c))
    {
        return Err(Error::InvalidField(
            "username",
            format!("\"username\" with value \"{u}\" matches the inverted username pattern"),
        ));
    }
    Ok(view)
}

/// A syntactically valid address split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedAddress {
    /// Local part as written ("*" for a catch-all).
    pub local: String,
    /// Domain in unicode form, lower-case.
    pub domain: String,
}

impl ParsedAddress {
    /// Display form: local part as written, domain in unicode.
    pub fn display(&self) -> String {
        format!("{}@{}", self.local, self.domain)
    }

    /// The key addresses are stored and matched under.
    pub fn view(&self) -> String {
        format!("{}@{}", local_view(&self.local), self.domain)
    }

    /// The key with any `+label` removed from the local part.
    pub fn view_without_label(&self) -> String {
        let base = self.local.split('+').next().unwrap_or(&self.local);
        format!("{}@{}", local_view(base), self.domain)
    }

    pub fn is_wildcard(&self) -> bool {
        self.local == "*"
    }
}

fn local_view(local: &str) -> String {
    local
        .chars()
        .filter(|c| *c != '.')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Convert a domain (unicode or xn-- form) to lower-case unicode; None if invalid.
pub fn domain_unicode(domain: &str) -> Option<String> {
    let d = domain.trim().trim_end_matches('.');
    if d.is_empty() || d.len() > 253 {
        return None;
    }
    // Validate through the ASCII form so that both spellings are checked alike.
    let ascii = idna::domain_to_ascii(d).ok()?;
    // UTS 46 maps leniently; a hostname label is letters, digits and inner hyphens only.
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if ascii.is_empty() || !ascii.split('.').all(label_ok) {
        return None;
    }
    let (uni, res) = idna::domain_to_unicode(&ascii);
    res.ok()?;
    Some(uni.to_lowercase())
}

/// Parse `local@domain`; the local part may be unicode, or "*" for a catch-all.
pub fn parse_address(input: &str) -> Result<ParsedAddress> {
    let s = input.trim();
    let invalid = || Error::Validation(format!("invalid email address: {input:?}"));
    let (local, domain) = s.rsplit_once('@').ok_or_else(invalid)?;
    if local.is_empty()
        || local.chars().count() > 64
        || local.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '@' | ',' | ';')
        })
        || local.starts_with('.')
        || local.ends_with('.')
    {
        return Err(invalid());
    }
    let domain = domain_unicode(domain).ok_or_else(invalid)?;
    Ok(ParsedAddress {
        local: local.to_string(),
        domain,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_ignore_case_and_dots() {
        assert_eq!(username_view("John.Doe").ok().as_deref(), Some("johndoe"));
        assert_eq!(username_view("андрис").ok().as_deref(), Some("андрис"));
        assert_eq!(username_view("ÄNDRIS").ok().as_deref(), Some("ändris"));
        // New accounts follow WildDuck's rule as well.
        assert!(check_new_username("ÄNDRIS").is_err());
        assert!(check_new_username("ömyuser2").is_err());
        assert!(check_new_username("a..b").is_err());
        assert!(check_new_username(".ab").is_err());
        assert_eq!(check_new_username("андрис").ok().as_deref(), Some("андрис"));
        assert_eq!(
            check_new_username("my.user-2").ok().as_deref(),
            Some("myuser-2")
        );
        assert!(username_view("").is_err());
        assert!(username_view("a b").is_err());
        assert!(username_view("...").is_err());
        assert!(username_view(&"x".repeat(129)).is_err());
    }

    #[test]
    fn addresses_match_across_case_dots_labels_and_idn() {
        let a = parse_address("John.Doe+news@Example.COM").expect("valid");
        assert_eq!(a.view(), "johndoe+news@example.com");
        assert_eq!(a.view_without_label(), "johndoe@example.com");
        let idn = parse_address("jöhn@xn--bcher-kva.example").expect("valid");
        let uni = parse_address("Jöhn@BÜCHER.example").expect("valid");
        assert_eq!(idn.view(), uni.view());
        assert_eq!(uni.domain, "bücher.example");
        assert!(parse_address("*@example.com").expect("valid").is_wildcard());
        assert!(parse_address("no-at-sign").is_err());
        assert!(parse_address("a@").is_err());
        assert!(parse_address("a b@example.com").is_err());
        assert!(parse_address("a@exa mple.com").is_err());
        assert!(domain_unicode("bad domain").is_none());
        assert!(domain_unicode("a..b").is_none());
        assert!(domain_unicode("-a.example").is_none());
        assert_eq!(
            domain_unicode("XN--BCHER-KVA.example").as_deref(),
            Some("bücher.example")
        );
        assert_eq!(
            parse_address("андрис@уайлддак.орг").expect("valid").view(),
            "андрис@уайлддак.орг"
        );
    }
}
