//! Service calls shaped for the IMAP gateway: what SELECT loads in one read,
//! batched message reads for FETCH, quota usage, and CREATE's rule that
//! missing superior names are created too (RFC 3501 6.3.3). Authorization is
//! checked here, once per call, like everywhere else in the service.

use super::mailboxes::normalize_path;
use super::Service;
use crate::model::{FetchWant, FetchedMessage, Mailbox, SortOrder, SpecialUse, UidSet};
use crate::{Error, ObjectId, Result};

/// Rows read per page while loading a mailbox for SELECT.
const SELECT_PAGE: u32 = 5000;

/// What a session needs to select a mailbox.
#[derive(Debug, Clone)]
pub struct MailboxSnapshot {
    /// Read before the message list, so `modify_index` is not ahead of `uids`:
    /// journal entries past it may repeat what the list shows, never miss a change.
    pub mailbox: Mailbox,
    /// UIDs in ascending order.
    pub uids: Vec<u32>,
    /// Keywords (non-system flags) in use in the mailbox, sorted.
    pub keywords: Vec<String>,
    /// UID of the first message without \Seen.
    pub first_unseen: Option<u32>,
}

impl Service {
    /// Load a mailbox for SELECT/EXAMINE: its row, UIDs, keywords and first unseen.
    pub async fn imap_select(&self, user: ObjectId, mailbox: ObjectId) -> Result<MailboxSnapshot> {
        let mailbox = self.get_mailbox(user, mailbox).await?;
        // WildDuck: hidden folders are kept from IMAP listings and cannot be opened.
        if mailbox.hidden {
            return Err(Error::MailboxNotAllowed("Mailbox is hidden"));
        }
        let mut keywords: Vec<String> = Vec::new();
        let mut first_unseen = None;
        let mut uids: Vec<u32> = Vec::new();
        // Paged by UID so a large mailbox is never held as rows all at once.
        let mut next = 1u32;
        loop {
            let page = self
                .store()
                .list_messages(
                    mailbox.id,
                    &UidSet::range(next, u32::MAX),
                    SortOrder::Ascending,
                    SELECT_PAGE,
                )
                .await?;
            for m in &page {
                uids.push(m.uid);
                if first_unseen.is_none() && !m.seen() {
                    first_unseen = Some(m.uid);
                }
                for f in &m.flags {
                    if !f.starts_with('\\') && !keywords.contains(f) {
                        keywords.push(f.clone());
                    }
                }
            }
            match page.last() {
                Some(last) if page.len() as u32 == SELECT_PAGE && last.uid < u32::MAX => {
                    next = last.uid + 1
                }
                _ => break,
            }
        }
        uids.sort_unstable();
        uids.dedup();
        keywords.sort();
        Ok(MailboxSnapshot {
            mailbox,
            uids,
            keywords,
            first_unseen,
        })
    }

    /// Messages of one mailbox with UIDs in `uids` and the parts of their content
    /// that `want` names, in one store read (FETCH, POP3 RETR).
    pub async fn fetch_messages(
        &self,
        user: ObjectId,
        mailbox: ObjectId,
        uids: &UidSet,
        want: FetchWant,
    ) -> Result<Vec<FetchedMessage>> {
        self.get_mailbox(user, mailbox).await?;
        Ok(self
            .timed(
                "fetch_messages",
                self.store().fetch_messages(mailbox, uids, want),
            )
            .await?)
    }

    /// Storage used and the quota limit of a user, in bytes.
    pub async fn quota_usage(&self, user: ObjectId) -> Result<(u64, u64)> {
        let u = self.get_user(user).await?;
        Ok((u.storage_used, self.quota_limit(&u).await))
    }

    /// Create a mailbox and any missing superior names ("a/b/c" creates "a" and
    /// "a/b" when they do not exist), unsubscribed as RFC 3501 has it. Fails with
    /// MailboxExists when the path exists.
    pub async fn imap_create_mailbox(
        &self,
        user: ObjectId,
        path: &str,
        special_use: Option<SpecialUse>,
    ) -> Result<Mailbox> {
        // RFC 3501 6.3.3: a trailing delimiter only says names will go below.
        let path = normalize_path(path.strip_suffix('/').unwrap_or(path))?;
        let segments: Vec<&str> = path.split('/').collect();
        for depth in 1..segments.len() {
            let parent = segments[..depth].join("/");
            match self.find_mailbox(user, &parent).await {
                Ok(_) => {}
                Err(Error::NoSuchMailbox) => {
                    match self
                        .create_mailbox_as(user, &parent, None, false, None, false)
                        .await
                    {
                        Ok(_) | Err(Error::MailboxExists) => {}
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        // RFC 3501: CREATE does not subscribe (the API's default does), nor drop a
        // subscription the name kept from a mailbox deleted earlier.
        self.create_mailbox_as(user, &path, special_use, false, None, false)
            .await
    }
}
