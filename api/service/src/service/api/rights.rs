//! What a user's own token may change, beyond reaching its own routes.
//!
//! WildDuck's `user` role may update its own account and addresses; Eider keeps
//! that role smaller. About itself a user token may change its name, its password
//! (giving the current one), its forwarding targets (the daily forward limit stays
//! the operator's), language, spam level, sent-copy setting, PGP key and encryption settings, 2FA, ASPs, filters,
//! autoreply, mailboxes and messages. Quota, limits, scopes, sender whitelist,
//! retention, tags, metadata, the disabled/suspended flags and pre-hashed passwords
//! need root. A refused change answers 403 MissingPrivileges and changes nothing.
//!
//! Addresses a user token adds (or renames to) must be in an allowed domain (the
//! operator's `userAddressDomains`, else the domains of the user's own addresses),
//! and may not be catch-alls or role addresses such as postmaster@: those receive
//! other people's mail.

use super::access::{AccessError, AccessPolicy, Principal};
use crate::model::{User, UserLimits, UserProfile};
use crate::normalize::{domain_unicode, parse_address};
use crate::service::{Service, UserUpdate};
use crate::ObjectId;

/// Local parts that name a role of the domain rather than a person (RFC 2142 and
/// common practice); compared without dots, case and `+label`, as delivery matches.
const RESERVED_LOCAL_PARTS: [&str; 12] = [
    "abuse",
    "admin",
    "administrator",
    "hostmaster",
    "mailer-daemon",
    "noc",
    "no-reply",
    "noreply",
    "postmaster",
    "root",
    "security",
    "webmaster",
];

/// The API names of the limits that differ between two settings.
fn changed_limits(before: &UserLimits, after: &UserLimits, out: &mut Vec<&'static str>) {
    // Destructured so that a new limit cannot be added without deciding here.
    let UserLimits {
        recipients,
        forwards,
        filters,
        imap_max_upload,
        imap_max_download,
        pop3_max_download,
        pop3_max_messages,
        imap_max_connections,
        received_max,
    } = after;
    let pairs = [
        ("recipients", &before.recipients, recipients),
        ("forwards", &before.forwards, forwards),
        ("filters", &before.filters, filters),
        ("imapMaxUpload", &before.imap_max_upload, imap_max_upload),
        (
            "imapMaxDownload",
            &before.imap_max_download,
            imap_max_download,
        ),
        (
            "pop3MaxDownload",
            &before.pop3_max_download,
            pop3_max_download,
        ),
        (
            "pop3MaxMessages",
            &before.pop3_max_messages,
            pop3_max_messages,
        ),
        (
            "imapMaxConnections",
            &before.imap_max_connections,
            imap_max_connections,
        ),
        ("receivedMax", &before.received_max, received_max),
    ];
    out.extend(pairs.iter().filter(|(_, b, a)| b != a).map(|(n, _, _)| *n));
}

/// Profile settings a user token changed but may not.
fn changed_profile(
    before: &UserProfile,
    after: &UserProfile,
    password_set: bool,
    out: &mut Vec<&'static str>,
) {
    // Destructured so that a new setting cannot be added without deciding here.
    let UserProfile {
        language: _,
        retention,
        targets: _,
        spam_level: _,
        upload_sent_messages: _,
        disabled_scopes,
        from_whitelist,
        require_password_change,
        limits,
        password_changed: _,
        // Set by the service with a password reset only; no request field names it.
        password_valid_after: _,
        // The user's own privacy: its key and whether mail is kept encrypted.
        pub_key: _,
        encrypt_messages: _,
        encrypt_forwarded: _,
    } = after;
    if *retention != before.retention {
        out.push("retention");
    }
    if *disabled_scopes != before.disabled_scopes {
        out.push("disabledScopes");
    }
    if *from_whitelist != before.from_whitelist {
        out.push("fromWhitelist");
    }
    // Setting a new password clears the demand for one; nothing else may.
    if *require_password_change != before.require_password_change
        && (*require_password_change || !password_set)
    {
        out.push("requirePasswordChange");
    }
    changed_limits(&before.limits, limits, out);
}

impl Principal {
    /// May this request apply `update` to `current` (PUT /users/{user})?
    /// `password_verified`: the request gave the account's current password.
    pub fn check_user_update(
        &self,
        current: &User,
        update: &UserUpdate,
        password_verified: bool,
    ) -> Result<(), AccessError> {
        if self.is_root() {
            return Ok(());
        }
        let mut refused: Vec<&'static str> = Vec::new();
        if update.password.is_some() && update.hashed_password {
            refused.push("hashedPassword");
        }
        if update.quota.is_some_and(|q| q != current.quota) {
            refused.push("quota");
        }
        if update.disabled.is_some_and(|d| d != current.disabled) {
            refused.push("disabled");
        }
        if update.suspended.is_some_and(|s| s != current.suspended) {
            refused.push("suspended");
        }
        if update.tags.as_ref().is_some_and(|t| *t != current.tags) {
            refused.push("tags");
        }
        if update
            .meta_data
            .as_ref()
            .is_some_and(|m| *m != current.meta_data)
        {
            refused.push("metaData");
        }
        if update.internal_data.is_some() {
            refused.push("internalData");
        }
        if let Some(profile) = &update.profile {
            changed_profile(
                &current.profile,
                profile,
                update.password.is_some(),
                &mut refused,
            );
        }
        if !refused.is_empty() {
            return Err(AccessError::Denied(format!(
                "Not enough privileges to change {}",
                refused.join(", ")
            )));
        }
        // A stolen token must not be able to lock the owner out.
        if update.password.is_some() && !password_verified {
            return Err(AccessError::Denied(
                "Not enough privileges to change the password without existingPassword".into(),
            ));
        }
        Ok(())
    }
}

impl Service {
    /// May this request give `user` the address `text` (POST
    /// /users/{user}/addresses, or renaming one of its addresses to it)?
    pub async fn check_address_claim(
        &self,
        principal: &Principal,
        policy: &AccessPolicy,
        user: ObjectId,
        text: &str,
    ) -> Result<(), AccessError> {
        if principal.is_root() {
            return Ok(());
        }
        let parsed = parse_address(text)?;
        if parsed.local.contains('*') || parsed.domain.contains('*') {
            return Err(AccessError::Denied(
                "Not enough privileges to add a wildcard address".into(),
            ));
        }
        let base: String = parsed
            .local
            .split('+')
            .next()
            .unwrap_or(&parsed.local)
            .chars()
            .filter(|c| *c != '.')
            .flat_map(char::to_lowercase)
            .collect();
        if RESERVED_LOCAL_PARTS.contains(&base.as_str()) {
            return Err(AccessError::Denied(format!(
                "Not enough privileges to add the reserved address {}",
                parsed.display()
            )));
        }
        let allowed = if policy.user_address_domains.is_empty() {
            self.list_user_addresses(user)
                .await?
                .iter()
                .filter_map(|a| a.address.rsplit_once('@').map(|(_, d)| d.to_string()))
                .any(|d| d == parsed.domain)
        } else {
            policy
                .user_address_domains
                .iter()
                .filter_map(|d| domain_unicode(d))
                .any(|d| d == parsed.domain)
        };
        if allowed {
            Ok(())
        } else {
            Err(AccessError::Denied(format!(
                "Not enough privileges to add addresses in {}",
                parsed.domain
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn user() -> User {
        User {
            id: ObjectId::new(),
            username: "u".into(),
            unameview: "u".into(),
            name: None,
            address: "u@example.org".into(),
            password: None,
            quota: 0,
            storage_used: 0,
            disabled: false,
            suspended: false,
            tags: vec![],
            meta_data: serde_json::json!({}),
            internal_data: serde_json::json!({}),
            profile: UserProfile::default(),
            created: Utc::now(),
        }
    }

    fn refused(update: &UserUpdate, verified: bool) -> Option<String> {
        let u = user();
        match Principal::User(u.id).check_user_update(&u, update, verified) {
            Ok(()) => None,
            Err(e) => Some(e.to_string()),
        }
    }

    #[test]
    fn user_tokens_change_a_short_list() {
        let u = user();
        let mut profile = u.profile.clone();
        profile.targets = vec!["a@example.net".into()];
        profile.language = Some("et".into());
        let fine = UserUpdate {
            name: Some(Some("New".into())),
            profile: Some(profile),
            ..Default::default()
        };
        assert_eq!(refused(&fine, false), None);
        let quota = UserUpdate {
            quota: Some(1 << 40),
            ..Default::default()
        };
        assert!(refused(&quota, false).is_some_and(|m| m.contains("quota")));
        // Naming the current value changes nothing and is allowed.
        let same = UserUpdate {
            quota: Some(0),
            ..Default::default()
        };
        assert_eq!(refused(&same, false), None);
        let mut p = u.profile.clone();
        p.from_whitelist = vec!["*".into()];
        p.limits.recipients = Some(1_000_000);
        let r = refused(
            &UserUpdate {
                profile: Some(p),
                ..Default::default()
            },
            false,
        )
        .unwrap_or_default();
        assert!(
            r.contains("fromWhitelist") && r.contains("recipients"),
            "{r}"
        );
        let pw = UserUpdate {
            password: Some(Some("new-password".into())),
            ..Default::default()
        };
        assert!(refused(&pw, false).is_some());
        assert_eq!(refused(&pw, true), None);
        let hashed = UserUpdate {
            password: Some(Some("$1$x".into())),
            hashed_password: true,
            ..Default::default()
        };
        assert!(refused(&hashed, true).is_some_and(|m| m.contains("hashedPassword")));
        assert!(Principal::Root.check_user_update(&u, &quota, false).is_ok());
    }
}
