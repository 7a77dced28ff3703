//! Folders: flat paths with "/" as separator; renames carry the children along.

use super::users::new_mailbox;
use super::Service;
use crate::model::{Beacon, Mailbox, MailboxCounters, SpecialUse, UidSet};
use crate::{Error, ObjectId, Result, StoreError};

/// WildDuck's limits: nesting depth (MAX_SUB_MAILBOXES) and characters per
/// path segment (MAX_MAILBOX_NAME_LENGTH).
pub const MAX_PATH_DEPTH: usize = 128;
pub const MAX_SEGMENT_CHARS: usize = 512;

/// Validate and normalize a path the way WildDuck does, with its texts: no
/// empty path, no "//" and no trailing "/" (one leading "/" is dropped), at most
/// MAX_PATH_DEPTH levels of at most MAX_SEGMENT_CHARS characters; "inbox" in any
/// case is INBOX. Blank segments and control characters are refused as well.
pub fn normalize_path(path: &str) -> Result<String> {
    if path.is_empty() {
        return Err(Error::Validation(
            "\"path\" is not allowed to be empty".into(),
        ));
    }
    if path.contains("//") || path.ends_with('/') {
        return Err(Error::Validation(format!(
            "\"path\" with value \"{path}\" matches the inverted pattern: /\\/{{2,}}|\\/$/"
        )));
    }
    let p = path.strip_prefix('/').unwrap_or(path);
    let segments: Vec<&str> = p.split('/').collect();
    if segments.len() > MAX_PATH_DEPTH {
        return Err(Error::Validation(format!(
            "The mailbox path cannot be more than {MAX_PATH_DEPTH} levels deep"
        )));
    }
    if segments
        .iter()
        .any(|s| s.chars().count() > MAX_SEGMENT_CHARS)
    {
        return Err(Error::Validation(format!(
            "Any part of the mailbox path cannot be longer than {MAX_SEGMENT_CHARS} chars"
        )));
    }
    if segments
        .iter()
        .any(|s| s.trim().is_empty() || s.chars().any(char::is_control))
    {
        return Err(Error::Validation("invalid mailbox path".into()));
    }
    if segments[0].eq_ignore_ascii_case("INBOX") {
        let mut out = String::from("INBOX");
        for s in &segments[1..] {
            out.push('/');
            out.push_str(s);
        }
        return Ok(out);
    }
    Ok(p.to_string())
}

impl Service {
    pub async fn list_mailboxes(&self, user: ObjectId) -> Result<Vec<Mailbox>> {
        let mut list = self.store().list_mailboxes(user).await?;
        // INBOX first, then by path: what clients and WildDuck's API show.
        list.sort_by(|a, b| (!a.is_inbox(), &a.path).cmp(&(!b.is_inbox(), &b.path)));
        Ok(list)
    }

    pub async fn get_mailbox(&self, user: ObjectId, id: ObjectId) -> Result<Mailbox> {
        self.store()
            .get_mailbox(user, id)
            .await?
            .ok_or(Error::NoSuchMailbox)
    }

    pub async fn find_mailbox(&self, user: ObjectId, path: &str) -> Result<Mailbox> {
        let p = normalize_path(path).map_err(|_| Error::NoSuchMailbox)?;
        self.store()
            .find_mailbox(user, &p)
            .await?
            .ok_or(Error::NoSuchMailbox)
    }

    pub async fn find_special_mailbox(&self, user: ObjectId, role: SpecialUse) -> Result<Mailbox> {
        self.store()
            .list_mailboxes(user)
            .await?
            .into_iter()
            .find(|m| m.special_use == Some(role))
            .ok_or(Error::NoSuchMailbox)
    }

    /// Create a subscribed mailbox (the API's and WildDuck's default).
    pub async fn create_mailbox(
        &self,
        user: ObjectId,
        path: &str,
        special_use: Option<SpecialUse>,
        hidden: bool,
        retention: Option<u64>,
    ) -> Result<Mailbox> {
        self.create_mailbox_as(user, path, special_use, hidden, retention, true)
            .await
    }

    /// Create a mailbox; `subscribe` false leaves the subscriptions alone (IMAP
    /// CREATE: a name subscribed before stays so, an unsubscribed one stays not).
    pub(crate) async fn create_mailbox_as(
        &self,
        user: ObjectId,
        path: &str,
        special_use: Option<SpecialUse>,
        hidden: bool,
        retention: Option<u64>,
        subscribe: bool,
    ) -> Result<Mailbox> {
        let owner = self.get_user(user).await?;
        let path = normalize_path(path)?;
        let mut mailbox = new_mailbox(
            user,
            &path,
            special_use,
            retention.unwrap_or(owner.profile.retention),
        );
        mailbox.hidden = hidden;
        mailbox.subscribed = subscribe;
        match self.store().create_mailbox(&mailbox).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Err(Error::MailboxExists),
            Err(e) => return Err(e.into()),
        }
        self.announce(user, Some(mailbox.id), 0);
        self.emit(
            super::webhooks::events::MAILBOX_CREATED,
            Some(user),
            serde_json::json!({ "mailbox": mailbox.id.to_hex(), "path": mailbox.path }),
        )
        .await;
        Ok(mailbox)
    }

    /// Rename a mailbox and every mailbox below it. Renaming INBOX moves its
    /// messages into a new mailbox with the new name and leaves INBOX empty (RFC 3501 6.3.5).
    pub async fn rename_mailbox(
        &self,
        user: ObjectId,
        id: ObjectId,
        new_path: &str,
    ) -> Result<Mailbox> {
        let mailbox = self.get_mailbox(user, id).await?;
        let new_path = normalize_path(new_path)?;
        if new_path == "INBOX" {
            return Err(Error::MailboxExists);
        }
        if new_path == mailbox.path {
            return Ok(mailbox);
        }
        if mailbox.is_inbox() {
            let target = self
                .create_mailbox(user, &new_path, None, false, None)
                .await?;
            self.move_messages(user, mailbox.id, &UidSet::all(), target.id)
                .await?;
            return Ok(target);
        }
        let prefix = format!("{}/", mailbox.path);
        if new_path.starts_with(&prefix) {
            return Err(Error::Validation(
                "cannot move a mailbox into itself".into(),
            ));
        }
        let mut renames = vec![(mailbox.id, new_path.clone())];
        for child in self.store().list_mailboxes(user).await? {
            if let Some(rest) = child.path.strip_prefix(&prefix) {
                renames.push((child.id, format!("{new_path}/{rest}")));
            }
        }
        match self.store().rename_mailboxes(user, &renames).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Err(Error::MailboxExists),
            Err(e) => return Err(e.into()),
        }
        self.announce(user, Some(id), 0);
        self.emit(
            super::webhooks::events::MAILBOX_RENAMED,
            Some(user),
            serde_json::json!({
                "mailbox": id.to_hex(),
                "previous": mailbox.path,
                "path": new_path,
            }),
        )
        .await;
        self.get_mailbox(user, id).await
    }

    pub async fn update_mailbox(&self, mailbox: &Mailbox) -> Result<()> {
        self.store().update_mailbox(mailbox).await?;
        self.announce(mailbox.user, Some(mailbox.id), 0);
        Ok(())
    }

    /// Subscribe or unsubscribe a mailbox (by id).
    pub async fn set_subscribed(
        &self,
        user: ObjectId,
        id: ObjectId,
        subscribed: bool,
    ) -> Result<()> {
        let m = self.get_mailbox(user, id).await?;
        self.set_subscription(user, &m.path, subscribed).await
    }

    /// The names `user` subscribed to, sorted. A name stays subscribed after its
    /// mailbox is deleted (RFC 3501 6.3.6), so some may not exist.
    pub async fn list_subscriptions(&self, user: ObjectId) -> Result<Vec<String>> {
        Ok(self.store().list_subscriptions(user).await?)
    }

    /// SUBSCRIBE / UNSUBSCRIBE by name. Subscribing needs an existing mailbox (RFC
    /// 3501 lets a server check that); unsubscribing takes any valid name, subscribed
    /// or not, so a name whose mailbox is gone can be dropped, and is idempotent.
    pub async fn set_subscription(
        &self,
        user: ObjectId,
        path: &str,
        subscribed: bool,
    ) -> Result<()> {
        let path = normalize_path(path).map_err(|_| Error::NoSuchMailbox)?;
        let mailbox = match self.store().find_mailbox(user, &path).await? {
            Some(m) => Some(m.id),
            None if subscribed => return Err(Error::NoSuchMailbox),
            None => None,
        };
        match self.store().set_subscription(user, &path, subscribed).await {
            Ok(_) => {}
            Err(StoreError::NotFound) => return Err(Error::UserNotFound),
            Err(e) => return Err(e.into()),
        }
        self.announce(user, mailbox, 0);
        Ok(())
    }

    /// Delete a mailbox with its messages. INBOX and special-use folders stay.
    pub async fn delete_mailbox(&self, user: ObjectId, id: ObjectId) -> Result<()> {
        let m = self.get_mailbox(user, id).await?;
        if m.is_inbox() {
            return Err(Error::MailboxNotAllowed("INBOX can not be deleted"));
        }
        if m.special_use.is_some() {
            return Err(Error::MailboxNotAllowed(
                "Special use mailboxes can not be deleted",
            ));
        }
        if !self.store().delete_mailbox(user, id).await? {
            return Err(Error::NoSuchMailbox);
        }
        self.announce(user, Some(id), 0);
        self.emit(
            super::webhooks::events::MAILBOX_DELETED,
            Some(user),
            serde_json::json!({ "mailbox": id.to_hex(), "path": m.path }),
        )
        .await;
        Ok(())
    }

    pub async fn mailbox_counters(&self, user: ObjectId, id: ObjectId) -> Result<MailboxCounters> {
        self.get_mailbox(user, id).await?;
        Ok(self.store().mailbox_counters(id).await?)
    }

    pub(crate) fn announce(&self, user: ObjectId, mailbox: Option<ObjectId>, modseq: u64) {
        self.bus().publish(Beacon {
            user,
            mailbox,
            modseq,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_path;

    #[test]
    fn paths_normalize() {
        assert_eq!(normalize_path("inbox").ok().as_deref(), Some("INBOX"));
        assert_eq!(
            normalize_path("Inbox/Sub").ok().as_deref(),
            Some("INBOX/Sub")
        );
        assert_eq!(normalize_path("/A/B").ok().as_deref(), Some("A/B"));
        assert!(normalize_path("A/B/").is_err());
        assert!(normalize_path("//INBOX").is_err());
        let deep = vec!["a"; super::MAX_PATH_DEPTH].join("/");
        assert!(normalize_path(&deep).is_ok());
        assert!(normalize_path(&format!("{deep}/a")).is_err());
        assert!(normalize_path(&"é".repeat(super::MAX_SEGMENT_CHARS)).is_ok());
        assert!(normalize_path(&"é".repeat(super::MAX_SEGMENT_CHARS + 1)).is_err());
        assert!(normalize_path("A//B").is_err());
        assert!(normalize_path("").is_err());
        assert!(normalize_path("a\u{0}b").is_err());
    }
}
