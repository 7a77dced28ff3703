//! POP3's rules (WildDuck's semantics), so the POP3 gateway stays a protocol front-end:
//! - a session lists the newest N messages of INBOX, oldest first;
//! - nothing changes until the session's UPDATE state (QUIT): then retrieved messages
//!   are marked \Seen, and deleted ones are marked \Seen and moved to Trash;
//! - messages that disappeared meanwhile (expunged or moved elsewhere) are skipped.

use super::Service;
use crate::flags::SEEN;
use crate::model::{FlagOp, Mailbox, MessageMeta, SortOrder, SpecialUse, UidSet};
use crate::{Error, ObjectId, Result};

/// How many messages a POP3 listing holds when the configured maximum is 0 (WildDuck's default).
pub const POP3_DEFAULT_MAX_MESSAGES: u32 = 250;

impl Service {
    /// The POP3 maildrop: the user's INBOX and its newest `max_messages` messages
    /// (0 means WildDuck's default of 250), ordered oldest first (message 1 is the oldest).
    pub async fn pop3_listing(
        &self,
        user: ObjectId,
        max_messages: u32,
    ) -> Result<(Mailbox, Vec<MessageMeta>)> {
        let inbox = self.find_mailbox(user, "INBOX").await?;
        let limit = if max_messages == 0 {
            POP3_DEFAULT_MAX_MESSAGES
        } else {
            max_messages
        };
        let mut messages = self
            .store()
            .list_messages(inbox.id, &UidSet::all(), SortOrder::Descending, limit)
            .await?;
        messages.sort_by_key(|m| m.uid);
        Ok((inbox, messages))
    }

    /// Apply a POP3 session's UPDATE state in `mailbox` (the session's INBOX):
    /// `retrieved` and `deleted` messages are marked \Seen, then `deleted` ones move to
    /// Trash (or are removed when the user has no Trash folder). Returns how many
    /// messages were taken out of the mailbox; UIDs no longer present are skipped.
    pub async fn pop3_update(
        &self,
        user: ObjectId,
        mailbox: ObjectId,
        retrieved: &[u32],
        deleted: &[u32],
    ) -> Result<usize> {
        let seen = UidSet::from_uids(retrieved.iter().chain(deleted).copied());
        if !seen.is_empty() {
            self.update_flags(user, mailbox, &seen, FlagOp::Add, &[SEEN.to_string()], None)
                .await?;
        }
        if deleted.is_empty() {
            return Ok(0);
        }
        let deleted = UidSet::from_uids(deleted.iter().copied());
        match self.find_special_mailbox(user, SpecialUse::Trash).await {
            Ok(trash) if trash.id != mailbox => Ok(self
                .move_messages(user, mailbox, &deleted, trash.id)
                .await?
                .len()),
            Ok(_) | Err(Error::NoSuchMailbox) => {
                Ok(self.expunge(user, mailbox, &deleted, false).await?.len())
            }
            Err(e) => Err(e),
        }
    }
}
