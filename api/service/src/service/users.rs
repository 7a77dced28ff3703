//! Accounts: creation with default mailboxes and main address, updates, listing.

use chrono::Utc;

use super::Service;
use crate::model::{Address, Mailbox, Page, SpecialUse, User, UserProfile, UserQuery};
use crate::normalize::{parse_address, username_view};
use crate::{Error, ObjectId, Result, StoreError};

/// What creating a user takes. Mirrors POST /users.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub username: String,
    /// Plain password, or a hash when `hashed_password`; None disables password login.
    pub password: Option<String>,
    pub hashed_password: bool,
    pub address: Option<String>,
    /// Do not generate an address when none is given.
    pub empty_address: bool,
    pub name: Option<String>,
    pub quota: Option<u64>,
    pub tags: Vec<String>,
    pub add_tags_to_address: bool,
    pub meta_data: Option<serde_json::Value>,
    pub internal_data: Option<serde_json::Value>,
    pub profile: UserProfile,
    /// Custom names for the special-use mailboxes.
    pub mailbox_names: Vec<(SpecialUse, String)>,
}

/// A partial update of a user. Mirrors PUT /users/{user}; None leaves a field as is.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    pub name: Option<Option<String>>,
    pub password: Option<Option<String>>,
    pub hashed_password: bool,
    pub quota: Option<u64>,
    pub disabled: Option<bool>,
    pub suspended: Option<bool>,
    pub tags: Option<Vec<String>>,
    pub meta_data: Option<serde_json::Value>,
    pub internal_data: Option<serde_json::Value>,
    /// Replaces the stored profile (callers read, modify and pass it back).
    pub profile: Option<UserProfile>,
    /// The access token making the change: it outlives a password change (as in
    /// WildDuck), while the user's other tokens end.
    pub keep_token: Option<String>,
    /// With a new password: it works only from this time on (None: at once).
    pub password_valid_after: Option<chrono::DateTime<Utc>>,
}

const DEFAULT_FOLDERS: [SpecialUse; 4] = [
    SpecialUse::Drafts,
    SpecialUse::Junk,
    SpecialUse::Sent,
    SpecialUse::Trash,
];

/// A UIDVALIDITY for a new mailbox: seconds since the epoch, but strictly increasing
/// within the process, so a path deleted and re-created in the same second still gets
/// a new value (RFC 3501 2.3.1.1) and restarts continue from the clock.
pub(crate) fn new_uid_validity() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static LAST: AtomicU32 = AtomicU32::new(0);
    let now = Utc::now().timestamp().clamp(1, i64::from(u32::MAX)) as u32;
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(last.saturating_add(1));
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

pub(crate) fn new_mailbox(
    user: ObjectId,
    path: &str,
    special_use: Option<SpecialUse>,
    retention: u64,
) -> Mailbox {
    Mailbox {
        id: ObjectId::new(),
        user,
        path: path.to_string(),
        special_use,
        uid_validity: new_uid_validity(),
        uid_next: 1,
        modify_index: 0,
        subscribed: true,
        retention,
        hidden: false,
        created: Utc::now(),
    }
}

/// `field` (metaData, internalData) as a JSON object; a string is parsed first.
fn json_object(field: &'static str, v: Option<serde_json::Value>) -> Result<serde_json::Value> {
    let invalid = || Error::InvalidField(field, format!("\"{field}\" must be a JSON object"));
    match v {
        None => Ok(serde_json::json!({})),
        Some(serde_json::Value::String(s)) => {
            let parsed: serde_json::Value = serde_json::from_str(&s).map_err(|_| invalid())?;
            json_object(field, Some(parsed))
        }
        Some(v @ serde_json::Value::Object(_)) => Ok(v),
        Some(_) => Err(invalid()),
    }
}

impl Service {
    async fn password_field(
        &self,
        password: Option<String>,
        hashed: bool,
    ) -> Result<Option<String>> {
        match password {
            None => Ok(None),
            Some(p) if p.is_empty() => Ok(None),
            Some(p) if hashed => {
                if !eider_auth::is_supported_hash(&p) {
                    Err(Error::InvalidField(
                        "password",
                        "\"password\" is not a supported password hash".into(),
                    ))
                } else if !eider_auth::is_supported_hash_within(&p, &self.security().hash_limits) {
                    // Every login would pay this cost on the shared hashing pool.
                    Err(Error::InvalidField(
                        "password",
                        "\"password\" hash is costlier than this server accepts".into(),
                    ))
                } else {
                    Ok(Some(p))
                }
            }
            Some(p) => Ok(Some(self.hash_password(&p).await?)),
        }
    }

    pub async fn create_user(&self, new: NewUser) -> Result<User> {
        let unameview = crate::normalize::check_new_username(&new.username)?;
        super::security::encryption::check_pub_key(&new.profile.pub_key)?;
        let id = ObjectId::new();
        let address_text = match (&new.address, new.empty_address) {
            (Some(a), _) => Some(a.clone()),
            (None, true) => None,
            (None, false) if new.username.contains('@') => Some(new.username.clone()),
            (None, false) => self
                .config()
                .email_domain
                .as_ref()
                .map(|d| format!("{}@{}", new.username.trim().to_lowercase(), d)),
        };
        let address = match address_text {
            Some(text) => {
                let parsed = parse_address(&text)?;
                if parsed.is_wildcard() {
                    return Err(Error::WildcardNotPermitted);
                }
                Some(Address {
                    id: ObjectId::new(),
                    user: Some(id),
                    address: parsed.display(),
                    addrview: parsed.view(),
                    name: new.name.clone(),
                    main: true,
                    tags: if new.add_tags_to_address {
                        new.tags.clone()
                    } else {
                        Vec::new()
                    },
                    targets: Vec::new(),
                    forwards: None,
                    meta_data: serde_json::json!({}),
                    internal_data: serde_json::json!({}),
                    created: Utc::now(),
                })
            }
            None => None,
        };
        let password = self
            .password_field(new.password, new.hashed_password)
            .await?;
        let user = User {
            id,
            // WildDuck's schema lower-cases the username it stores.
            username: new.username.trim().to_lowercase(),
            unameview,
            name: new.name,
            address: address
                .as_ref()
                .map(|a| a.address.clone())
                .unwrap_or_default(),
            password,
            quota: new.quota.unwrap_or(0),
            storage_used: 0,
            disabled: false,
            suspended: false,
            tags: new.tags,
            meta_data: json_object("metaData", new.meta_data)?,
            internal_data: json_object("internalData", new.internal_data)?,
            profile: new.profile,
            created: Utc::now(),
        };
        let retention = user.profile.retention;
        let mut mailboxes = vec![new_mailbox(id, "INBOX", None, retention)];
        for role in DEFAULT_FOLDERS {
            let name = new
                .mailbox_names
                .iter()
                .find(|(r, _)| *r == role)
                .map(|(_, n)| n.clone())
                .unwrap_or_else(|| role.default_name().to_string());
            mailboxes.push(new_mailbox(id, &name, Some(role), retention));
        }
        match self
            .store()
            .create_user(&user, address.as_ref(), &mailboxes)
            .await
        {
            Ok(()) => {
                self.emit(
                    super::webhooks::events::USER_CREATED,
                    Some(user.id),
                    serde_json::json!({ "username": user.username, "address": user.address }),
                )
                .await;
                Ok(user)
            }
            Err(StoreError::Conflict("username")) => Err(Error::UserExists),
            Err(StoreError::Conflict("address")) => Err(Error::AddressExists),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn get_user(&self, id: ObjectId) -> Result<User> {
        self.timed("get_user", self.store().get_user(id))
            .await?
            .ok_or(Error::UserNotFound)
    }

    /// Find a user by username (any case, dots ignored) or by one of its addresses.
    pub async fn find_user(&self, name: &str) -> Result<User> {
        if name.contains('@') {
            if let Ok(view) = username_view(name) {
                if let Some(u) = self.store().find_user_by_unameview(&view).await? {
                    return Ok(u);
                }
            }
            let addr = self
                .lookup_address(name)
                .await?
                .ok_or(Error::UserNotFound)?;
            let user = addr.user.ok_or(Error::UserNotFound)?;
            return self.get_user(user).await;
        }
        let view = username_view(name).map_err(|_| Error::UserNotFound)?;
        self.store()
            .find_user_by_unameview(&view)
            .await?
            .ok_or(Error::UserNotFound)
    }

    pub async fn list_users(&self, query: &UserQuery) -> Result<Page<User>> {
        Ok(self.store().list_users(query).await?)
    }

    pub async fn update_user(&self, id: ObjectId, update: UserUpdate) -> Result<User> {
        let mut user = self.get_user(id).await?;
        let locks = update.disabled == Some(true) || update.suspended == Some(true);
        let password_changed = update.password.is_some();
        if let Some(name) = update.name {
            user.name = name;
        }
        if let Some(password) = update.password {
            user.password = self
                .password_field(password, update.hashed_password)
                .await?;
            user.profile.password_changed = Some(Utc::now());
        }
        if let Some(q) = update.quota {
            user.quota = q;
        }
        if let Some(d) = update.disabled {
            user.disabled = d;
        }
        if let Some(s) = update.suspended {
            user.suspended = s;
        }
        if let Some(t) = update.tags {
            user.tags = t;
        }
        if let Some(m) = update.meta_data {
            user.meta_data = json_object("metaData", Some(m))?;
        }
        if let Some(m) = update.internal_data {
            user.internal_data = json_object("internalData", Some(m))?;
        }
        if let Some(p) = update.profile {
            if p.pub_key != user.profile.pub_key {
                super::security::encryption::check_pub_key(&p.pub_key)?;
            }
            user.profile = p;
        }
        if password_changed {
            // A hold on an earlier password does not carry over to a new one.
            user.profile.password_valid_after = update.password_valid_after;
        }
        // Deleted meanwhile: the same answer as when it was already gone.
        self.store().update_user(&user).await.map_err(|e| match e {
            StoreError::NotFound => Error::UserNotFound,
            e => e.into(),
        })?;
        // Sessions must not outlive the credentials they logged in with: disabling
        // or suspending ends all of them, a new password those that used the old one
        // (ASP sessions stay). Access tokens are refused by `token_user` already.
        if locks || password_changed {
            // Entries of the old hash can no longer match; drop them now anyway.
            self.security().credential_cache.forget_user(id);
        }
        if locks {
            self.bus().publish(crate::model::Beacon::logout(id));
        } else if password_changed {
            self.bus().publish(crate::model::Beacon::revoke(id, None));
            self.revoke_tokens_except(id, update.keep_token.as_deref())
                .await?;
        }
        Ok(user)
    }

    pub async fn delete_user(&self, id: ObjectId) -> Result<()> {
        if self.store().delete_user(id).await? {
            // Its ASPs, 2FA, tokens and auth log go too; a user id is never reused.
            self.store().delete_user_auth(id).await?;
            self.security().credential_cache.forget_user(id);
            self.bus().publish(crate::model::Beacon::logout(id));
            self.emit(
                super::webhooks::events::USER_DELETE_COMPLETED,
                Some(id),
                serde_json::json!({}),
            )
            .await;
            Ok(())
        } else {
            Err(Error::UserNotFound)
        }
    }

    /// The quota limit in force for a user: its own, else the `const:max:storage` setting.
    pub async fn quota_limit(&self, user: &User) -> u64 {
        if user.quota > 0 {
            return user.quota;
        }
        self.setting_u64(super::settings::keys::MAX_STORAGE).await
    }

    /// Recount a user's storage from its messages.
    pub async fn recalculate_quota(&self, id: ObjectId) -> Result<u64> {
        self.get_user(id).await?;
        Ok(self.store().recalculate_storage(id).await?)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn uid_validity_strictly_increases() {
        let a = super::new_uid_validity();
        let b = super::new_uid_validity();
        assert!(b > a);
    }
}
