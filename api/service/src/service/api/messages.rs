//! Message operations of the REST API: paged listings, updates of one, many or
//! all messages, deletes, attachment downloads.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use eider_message::{AttachmentInfo, BlobHash};

use super::paging::{parse_uid_cursor, uid_cursor, window, PageRequest};
use crate::flags::{DELETED, DRAFT, FLAGGED, SEEN};
use crate::model::{FlagOp, ListedMessage, Mailbox, SearchKey, SearchQuery, SortOrder, UidSet};
use crate::service::Service;
use crate::{Error, ObjectId, Result};

/// How a mailbox listing is filtered and paged.
#[derive(Debug, Clone, Default)]
pub struct MessageListOptions {
    /// Only messages without \Seen.
    pub unseen: bool,
    pub order: SortOrder,
    pub page: PageRequest,
}

/// One page of messages with the cursors around it.
#[derive(Debug, Clone)]
pub struct MessagePage {
    pub messages: Vec<ListedMessage>,
    pub total: u64,
    pub next: Option<String>,
    pub previous: Option<String>,
}

/// Changes PUT .../messages applies to every selected message.
#[derive(Debug, Clone, Default)]
pub struct MessageChanges {
    pub seen: Option<bool>,
    pub flagged: Option<bool>,
    pub draft: Option<bool>,
    pub deleted: Option<bool>,
    /// Some(None) removes the expiry.
    pub expires: Option<Option<DateTime<Utc>>>,
    pub meta_data: Option<serde_json::Value>,
    /// Move the messages here after the other changes.
    pub move_to: Option<ObjectId>,
}

/// What an update did.
#[derive(Debug, Clone, Default)]
pub struct MessageUpdate {
    /// Messages the update applied to.
    pub updated: u64,
    /// (old uid, new uid) of moved messages.
    pub moved: Vec<(u32, u32)>,
}

/// The UIDs lo..=hi, None when empty (a cursor at either end of the UID space).
fn span(lo: u64, hi: u64) -> Option<UidSet> {
    let (lo, hi) = (lo.max(1), hi.min(u64::from(u32::MAX)));
    (lo <= hi).then(|| UidSet::range(lo as u32, hi as u32))
}

/// Parse WildDuck's message selector: "5", "1,2,3", "3:15" or "3:*".
pub fn parse_uid_range(s: &str) -> Result<UidSet> {
    let invalid = || Error::Validation(format!("invalid message identifier {s:?}"));
    let s = s.trim();
    if let Some((a, b)) = s.split_once(':') {
        let lo: u32 = a.parse().map_err(|_| invalid())?;
        let hi: u32 = if b == "*" {
            u32::MAX
        } else {
            b.parse().map_err(|_| invalid())?
        };
        if lo == 0 || hi == 0 {
            return Err(invalid());
        }
        return Ok(UidSet::range(lo, hi));
    }
    let mut uids = Vec::new();
    for part in s.split(',') {
        let uid: u32 = part.parse().map_err(|_| invalid())?;
        if uid == 0 {
            return Err(invalid());
        }
        uids.push(uid);
    }
    Ok(UidSet::from_uids(uids))
}

/// Decoded content of one attachment, produced chunk by chunk.
pub struct AttachmentReader {
    pub info: AttachmentInfo,
    source: AttachmentSource,
}

enum AttachmentSource {
    /// Decoded content in the blob store, read in ranges.
    Blob {
        service: Service,
        hash: BlobHash,
        next: u64,
        len: u64,
    },
    /// Decoded already (small parts kept inline with the message).
    Memory(Option<Bytes>),
}

/// How much of a blob one read fetches.
const BLOB_CHUNK: u64 = 256 * 1024;

impl AttachmentReader {
    /// Decoded length, when known before reading.
    pub fn len(&self) -> Option<u64> {
        match &self.source {
            AttachmentSource::Blob { len, .. } => Some(*len),
            AttachmentSource::Memory(b) => b.as_ref().map(|b| b.len() as u64),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// The next chunk of decoded content, None at the end.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>> {
        match &mut self.source {
            AttachmentSource::Memory(b) => Ok(b.take()),
            AttachmentSource::Blob {
                service,
                hash,
                next,
                len,
            } => {
                if *next >= *len {
                    return Ok(None);
                }
                let end = (*next + BLOB_CHUNK).min(*len);
                let data = service.store().read_blob(hash, *next, end).await?;
                if data.len() as u64 != end - *next {
                    return Err(Error::Database("attachment blob is truncated".into()));
                }
                *next = end;
                Ok(Some(data))
            }
        }
    }
}

fn section_path(part: &str) -> Option<Vec<u32>> {
    part.split('.').map(|p| p.parse().ok()).collect()
}

impl Service {
    /// A page of a mailbox's messages (GET .../messages). Ordered by UID, which
    /// follows the order messages were added in.
    pub async fn list_mailbox_messages(
        &self,
        user: ObjectId,
        mailbox: ObjectId,
        opts: &MessageListOptions,
    ) -> Result<(Mailbox, MessagePage)> {
        let mbox = self.get_mailbox(user, mailbox).await?;
        if !opts.unseen {
            if let Some(page) = self.keyset_page(&mbox, opts).await? {
                return Ok((mbox, page));
            }
        }
        let mut uids: Vec<u32> = if opts.unseen {
            let query = SearchQuery {
                user,
                mailbox: Some(mailbox),
                key: SearchKey::Flag(SEEN.to_string(), false),
            };
            let mut v: Vec<u32> = self
                .store()
                .search(&query)
                .await?
                .into_iter()
                .map(|m| m.uid)
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        } else {
            self.store().list_uids(mailbox).await?
        };
        let descending = opts.order == SortOrder::Descending;
        if descending {
            uids.reverse();
        }
        let (start, end) = window(&uids, &opts.page, parse_uid_cursor, |a, b| {
            if descending {
                a > b
            } else {
                a < b
            }
        })?;
        // A message expunged meanwhile is simply left out.
        let messages = self
            .store()
            .list_entries(mailbox, &uids[start..end])
            .await?;
        let page = MessagePage {
            messages,
            total: uids.len() as u64,
            next: (end < uids.len() && end > start).then(|| uid_cursor(uids[end - 1])),
            previous: (start > 0 && start < uids.len()).then(|| uid_cursor(uids[start])),
        };
        Ok((mbox, page))
    }

    /// A page of the whole mailbox read by UID ranges (keyset paging): the rows of
    /// the page plus one to tell whether more follow, and one row beyond a cursor,
    /// instead of every UID of the mailbox per request. The cursors and `total` are
    /// those of [`window`] over the full UID list. None for page numbers past the
    /// first, which the caller serves from the full list.
    async fn keyset_page(
        &self,
        mbox: &Mailbox,
        opts: &MessageListOptions,
    ) -> Result<Option<MessagePage>> {
        let req = &opts.page;
        let read = |field: &'static str, c: Option<&str>| -> Result<Option<u32>> {
            match c {
                None => Ok(None),
                Some(c) => parse_uid_cursor(c)
                    .map(Some)
                    .ok_or_else(|| crate::StoreError::InvalidCursor(field).into()),
            }
        };
        let next = read("next", req.next.as_deref())?;
        let previous = read("previous", req.previous.as_deref())?;
        if next.is_none() && previous.is_none() && req.page > 1 {
            return Ok(None);
        }
        let limit = req.limit();
        let desc = opts.order == SortOrder::Descending;
        let (fwd, back) = if desc {
            (SortOrder::Descending, SortOrder::Ascending)
        } else {
            (SortOrder::Ascending, SortOrder::Descending)
        };
        let k_after = |k: u32| -> Option<UidSet> {
            // Keys strictly after k in display order.
            if desc {
                span(1, u64::from(k).saturating_sub(1))
            } else {
                span(u64::from(k) + 1, u64::from(u32::MAX))
            }
        };
        let k_before = |k: u32| -> Option<UidSet> {
            // Keys strictly before k in display order.
            if desc {
                span(u64::from(k) + 1, u64::from(u32::MAX))
            } else {
                span(1, u64::from(k).saturating_sub(1))
            }
        };
        let rows = |set: Option<UidSet>, order: SortOrder, n: usize| async move {
            match set {
                None => Ok(Vec::new()),
                Some(set) => self
                    .store()
                    .list_messages(mbox.id, &set, order, n.min(u32::MAX as usize) as u32)
                    .await
                    .map(|v| v.into_iter().map(|m| m.uid).collect::<Vec<u32>>()),
            }
        };
        let (page, has_next, has_previous) = if let Some(k) = previous {
            let mut page = rows(k_before(k), back, limit + 1).await?;
            let has_previous = page.len() > limit;
            page.truncate(limit);
            page.reverse();
            // Anything at k or after it: the following page.
            let at_or_after = if desc {
                span(1, u64::from(k))
            } else {
                span(u64::from(k), u64::from(u32::MAX))
            };
            let has_next = !page.is_empty() && !rows(at_or_after, fwd, 1).await?.is_empty();
            (page, has_next, has_previous)
        } else {
            let mut page = match next {
                Some(k) => rows(k_after(k), fwd, limit + 1).await?,
                None => rows(Some(UidSet::all()), fwd, limit + 1).await?,
            };
            let has_next = page.len() > limit;
            page.truncate(limit);
            let has_previous = match next {
                // Anything at k or before it: the preceding page.
                Some(k) => {
                    let at_or_before = if desc {
                        span(u64::from(k), u64::from(u32::MAX))
                    } else {
                        span(1, u64::from(k))
                    };
                    !page.is_empty() && !rows(at_or_before, back, 1).await?.is_empty()
                }
                None => false,
            };
            (page, has_next, has_previous)
        };
        let next = has_next
            .then(|| page.last().map(|&u| uid_cursor(u)))
            .flatten();
        let previous = has_previous
            .then(|| page.first().map(|&u| uid_cursor(u)))
            .flatten();
        let messages = self.store().list_entries(mbox.id, &page).await?;
        // Kept in step by every message change (one row read).
        let total = self.store().mailbox_counters(mbox.id).await?.total;
        Ok(Some(MessagePage {
            messages,
            total,
            next,
            previous,
        }))
    }

    /// How many of the user's messages belong to a thread.
    pub async fn thread_message_count(&self, user: ObjectId, thread: ObjectId) -> Result<u64> {
        let query = SearchQuery {
            user,
            mailbox: None,
            key: SearchKey::Thread(thread),
        };
        Ok(self.store().search(&query).await?.len() as u64)
    }

    /// Apply flag, expiry and metadata changes to the selected messages, then move
    /// them when asked. MessageNotFound when nothing is selected.
    pub async fn update_messages(
        &self,
        user: ObjectId,
        mailbox: ObjectId,
        uids: &UidSet,
        changes: &MessageChanges,
    ) -> Result<MessageUpdate> {
        self.get_mailbox(user, mailbox).await?;
        let meta_data = match &changes.meta_data {
            None => None,
            Some(v) => Some(json_object(v)?),
        };
        if let Some(target) = changes.move_to {
            self.get_mailbox(user, target).await?;
        }
        let selected = self
            .store()
            .list_messages(mailbox, uids, SortOrder::Ascending, 0)
            .await?;
        if selected.is_empty() {
            return Err(Error::MessageNotFound);
        }
        let selection = UidSet::from_uids(selected.iter().map(|m| m.uid));
        let toggles = [
            (SEEN, changes.seen),
            (FLAGGED, changes.flagged),
            (DRAFT, changes.draft),
            (DELETED, changes.deleted),
        ];
        let add: Vec<String> = toggles
            .iter()
            .filter(|(_, v)| *v == Some(true))
            .map(|(f, _)| f.to_string())
            .collect();
        let remove: Vec<String> = toggles
            .iter()
            .filter(|(_, v)| *v == Some(false))
            .map(|(f, _)| f.to_string())
            .collect();
        if !add.is_empty() {
            self.update_flags(user, mailbox, &selection, FlagOp::Add, &add, None)
                .await?;
        }
        if !remove.is_empty() {
            self.update_flags(user, mailbox, &selection, FlagOp::Remove, &remove, None)
                .await?;
        }
        if meta_data.is_some() || changes.expires.is_some() {
            for m in &selected {
                self.store()
                    .update_message_attributes(mailbox, m.uid, meta_data.clone(), changes.expires)
                    .await?;
            }
        }
        let mut outcome = MessageUpdate {
            updated: selected.len() as u64,
            moved: Vec::new(),
        };
        if let Some(target) = changes.move_to {
            if target != mailbox {
                let moved = self
                    .move_messages(user, mailbox, &selection, target)
                    .await?;
                outcome.moved = moved.iter().map(|c| (c.source_uid, c.uid)).collect();
            }
        }
        Ok(outcome)
    }

    /// Delete one message (DELETE .../messages/{message}).
    pub async fn delete_message(&self, user: ObjectId, mailbox: ObjectId, uid: u32) -> Result<()> {
        let removed = self
            .expunge(user, mailbox, &UidSet::from_uids([uid]), false)
            .await?;
        if removed.is_empty() {
            Err(Error::MessageNotFound)
        } else {
            Ok(())
        }
    }

    /// Delete every message of a mailbox; returns how many were removed.
    pub async fn delete_all_messages(&self, user: ObjectId, mailbox: ObjectId) -> Result<u64> {
        Ok(self
            .expunge(user, mailbox, &UidSet::all(), false)
            .await?
            .len() as u64)
    }

    /// The decoded content of an attachment ("ATT00001"); None when the message
    /// has no such attachment.
    pub async fn attachment(
        &self,
        user: ObjectId,
        mailbox: ObjectId,
        uid: u32,
        attachment: &str,
    ) -> Result<Option<AttachmentReader>> {
        let message = self.get_message(user, mailbox, uid).await?;
        let Some(info) = message
            .index
            .attachments
            .iter()
            .find(|a| a.id.eq_ignore_ascii_case(attachment))
            .cloned()
        else {
            return Ok(None);
        };
        if let Some(hash) = info.blob {
            if let Some(len) = self.store().blob_len(&hash).await? {
                return Ok(Some(AttachmentReader {
                    info,
                    source: AttachmentSource::Blob {
                        service: self.clone(),
                        hash,
                        next: 0,
                        len,
                    },
                }));
            }
        }
        let part = section_path(&info.part)
            .and_then(|p| message.index.section(&p).cloned())
            .ok_or_else(|| Error::Database("attachment part is missing".into()))?;
        let raw = self
            .body_reader(&message, part.body_start, part.body_end)
            .read_all()
            .await?;
        let decoded = eider_message::decode_transfer(&part.encoding, &raw);
        Ok(Some(AttachmentReader {
            info,
            source: AttachmentSource::Memory(Some(Bytes::from(decoded))),
        }))
    }
}

/// Metadata must be a JSON object (or a string holding one).
pub(crate) fn json_object(v: &serde_json::Value) -> Result<serde_json::Value> {
    match v {
        serde_json::Value::Object(_) => Ok(v.clone()),
        serde_json::Value::String(s) => match serde_json::from_str::<serde_json::Value>(s) {
            Ok(o @ serde_json::Value::Object(_)) => Ok(o),
            _ => Err(Error::Validation(
                "metaData value must be valid JSON object string".into(),
            )),
        },
        _ => Err(Error::Validation(
            "metaData value must be a JSON object".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_ranges_parse() {
        assert_eq!(parse_uid_range("5").ok(), Some(UidSet::from_uids([5])));
        assert_eq!(
            parse_uid_range("1,3,2").ok(),
            Some(UidSet::from_uids([1, 2, 3]))
        );
        assert_eq!(parse_uid_range("3:15").ok(), Some(UidSet::range(3, 15)));
        assert_eq!(
            parse_uid_range("3:*").ok(),
            Some(UidSet::range(3, u32::MAX))
        );
        for bad in ["", "a", "1,,2", "0", "1:x", "-1", "1;2"] {
            assert!(parse_uid_range(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn metadata_must_be_an_object() {
        assert!(json_object(&serde_json::json!({"a": 1})).is_ok());
        assert!(json_object(&serde_json::json!("{\"a\":1}")).is_ok());
        assert!(json_object(&serde_json::json!("[1]")).is_err());
        assert!(json_object(&serde_json::json!(3)).is_err());
    }
}
