//! URLAUTH (RFC 4467): a mailbox access key per mailbox, kept by the store beside the
//! mailbox's METADATA entries under a name clients cannot use (entry names must begin
//! with "/private/" or "/shared/"), so it goes with the mailbox and never shows in
//! GETMETADATA. A token is HMAC-SHA256 of the URL's rump under the key (mechanism
//! INTERNAL); RESETKEY replaces the key, which invalidates every token made with it.

use super::Service;
use crate::{ObjectId, Result};

/// The store entry holding a mailbox's access key.
const KEY_ENTRY: &str = "urlauth:key";
/// The only mechanism offered.
pub const URLAUTH_MECHANISM: &str = "INTERNAL";

impl Service {
    async fn urlauth_key(&self, user: ObjectId, mailbox: ObjectId) -> Result<Option<Vec<u8>>> {
        Ok(self
            .store()
            .list_metadata(user, Some(mailbox))
            .await?
            .into_iter()
            .find(|e| e.name == KEY_ENTRY)
            .map(|e| e.value))
    }

    async fn new_urlauth_key(&self, user: ObjectId, mailbox: ObjectId) -> Result<()> {
        let key = eider_auth::random_hex(32).into_bytes();
        // The key is not a client entry: it may always be written.
        self.store()
            .set_metadata(
                user,
                Some(mailbox),
                &[(KEY_ENTRY.to_string(), Some(key))],
                u64::MAX,
            )
            .await?;
        Ok(())
    }

    /// The token authorizing `rump` (the URL up to its access identifier) on one of
    /// the user's mailboxes; the mailbox gets a key on first use.
    pub async fn genurlauth(
        &self,
        user: ObjectId,
        mailbox: ObjectId,
        rump: &str,
    ) -> Result<String> {
        self.get_mailbox(user, mailbox).await?;
        let key = match self.urlauth_key(user, mailbox).await? {
            Some(k) => k,
            None => {
                self.new_urlauth_key(user, mailbox).await?;
                // Read back: of two concurrent first uses, the key that stayed signs.
                self.urlauth_key(user, mailbox)
                    .await?
                    .ok_or(crate::Error::NoSuchMailbox)?
            }
        };
        Ok(eider_auth::hmac_sha256_hex(&key, rump.as_bytes()))
    }

    /// Whether `token` authorizes `rump` on the owner's mailbox.
    pub async fn urlauth_valid(
        &self,
        owner: ObjectId,
        mailbox: ObjectId,
        rump: &str,
        token: &str,
    ) -> Result<bool> {
        let Some(key) = self.urlauth_key(owner, mailbox).await? else {
            return Ok(false);
        };
        let expected = eider_auth::hmac_sha256_hex(&key, rump.as_bytes());
        Ok(eider_auth::secrets_equal(
            expected.as_bytes(),
            token.to_ascii_lowercase().as_bytes(),
        ))
    }

    /// RESETKEY: new keys for one mailbox, or (None) for every mailbox of the user.
    pub async fn reset_urlauth_keys(
        &self,
        user: ObjectId,
        mailbox: Option<ObjectId>,
    ) -> Result<()> {
        let boxes = match mailbox {
            Some(m) => vec![self.get_mailbox(user, m).await?.id],
            None => self
                .store()
                .list_mailboxes(user)
                .await?
                .into_iter()
                .map(|m| m.id)
                .collect(),
        };
        for m in boxes {
            if self.urlauth_key(user, m).await?.is_some() {
                self.new_urlauth_key(user, m).await?;
            }
        }
        Ok(())
    }
}
