//! GET/POST /users/{user}/search: WildDuck's search parameters turned into a
//! SearchKey over all of a user's mailboxes, paged, and the "search and apply" action.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Duration, Utc};

use super::messages::{MessageChanges, MessagePage};
use super::paging::{window, PageRequest};
use crate::flags::{FLAGGED, SEEN};
use crate::model::{DateField, SearchKey, SearchQuery, SortOrder, SpecialUse, UidSet};
use crate::service::Service;
use crate::{Error, ObjectId, Result};

/// Terms of which at least one must match (`or`).
#[derive(Debug, Clone, Default)]
pub struct OrTerms {
    pub query: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub subject: Option<String>,
}

/// WildDuck's search parameters. Boolean filters apply only when true.
#[derive(Debug, Clone, Default)]
pub struct MessageSearch {
    /// Gmail-like query string: words, "phrases", from:, to:, subject:,
    /// has:attachment, is:unseen|seen|flagged|unflagged, larger:N, smaller:N, -negation.
    pub q: Option<String>,
    pub mailbox: Option<ObjectId>,
    /// UIDs, only together with `mailbox`.
    pub ids: Option<UidSet>,
    pub thread: Option<ObjectId>,
    /// Words that must all appear in the headers or body.
    pub query: Option<String>,
    /// Earliest and latest receive time (inclusive).
    pub datestart: Option<DateTime<Utc>>,
    pub dateend: Option<DateTime<Utc>>,
    pub from: Option<String>,
    /// Matches To: or Cc:.
    pub to: Option<String>,
    pub subject: Option<String>,
    pub min_size: Option<u64>,
    pub max_size: Option<u64>,
    pub attachments: bool,
    pub flagged: bool,
    pub unseen: bool,
    /// Leave out Junk and Trash.
    pub searchable: bool,
    pub or: OrTerms,
}

/// What POST /users/{user}/search does to the matches.
#[derive(Debug, Clone, Default)]
pub struct SearchAction {
    pub move_to: Option<ObjectId>,
    pub seen: Option<bool>,
    pub flagged: Option<bool>,
    /// Delete the matches.
    pub delete: bool,
}

fn words_key(text: &str) -> Option<SearchKey> {
    let keys: Vec<SearchKey> = split_terms(text)
        .into_iter()
        .map(|(_, w)| SearchKey::Text(w))
        .collect();
    and(keys)
}

fn and(mut keys: Vec<SearchKey>) -> Option<SearchKey> {
    match keys.len() {
        0 => None,
        1 => keys.pop(),
        _ => Some(SearchKey::And(keys)),
    }
}

fn or(keys: Vec<SearchKey>) -> Option<SearchKey> {
    keys.into_iter()
        .reduce(|a, b| SearchKey::Or(Box::new(a), Box::new(b)))
}

fn to_or_cc(needle: &str) -> SearchKey {
    SearchKey::Or(
        Box::new(SearchKey::Header("to".into(), needle.to_string())),
        Box::new(SearchKey::Header("cc".into(), needle.to_string())),
    )
}

/// Split a query string into (negated, term) pairs; "double quotes" group words.
fn split_terms(text: &str) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(&first) = chars.peek() else { break };
        let negated = first == '-';
        if negated {
            chars.next();
        }
        let mut term = String::new();
        let mut quoted = false;
        while let Some(&c) = chars.peek() {
            if c == '"' {
                quoted = !quoted;
                chars.next();
                continue;
            }
            if c.is_whitespace() && !quoted {
                break;
            }
            term.push(c);
            chars.next();
        }
        if !term.is_empty() {
            out.push((negated, term));
        }
    }
    out
}

/// Parse the `q` mini-language into keys that must all match.
fn query_string_keys(q: &str) -> Result<Vec<SearchKey>> {
    let mut keys = Vec::new();
    for (negated, term) in split_terms(q) {
        let key = match term.split_once(':') {
            Some((field, value)) if !value.is_empty() => {
                match field.to_ascii_lowercase().as_str() {
                    "from" => SearchKey::Header("from".into(), value.to_string()),
                    "to" => to_or_cc(value),
                    "subject" => SearchKey::Header("subject".into(), value.to_string()),
                    "has" if value.eq_ignore_ascii_case("attachment") => {
                        SearchKey::HasAttachment(true)
                    }
                    "is" => match value.to_ascii_lowercase().as_str() {
                        "unseen" | "unread" => SearchKey::Flag(SEEN.into(), false),
                        "seen" | "read" => SearchKey::Flag(SEEN.into(), true),
                        "flagged" | "starred" => SearchKey::Flag(FLAGGED.into(), true),
                        "unflagged" | "unstarred" => SearchKey::Flag(FLAGGED.into(), false),
                        other => {
                            return Err(Error::Validation(format!(
                                "unknown search term is:{other}"
                            )))
                        }
                    },
                    "larger" => SearchKey::Larger(parse_size(value)?),
                    "smaller" => SearchKey::Smaller(parse_size(value)?),
                    _ => SearchKey::Text(term.clone()),
                }
            }
            _ => SearchKey::Text(term.clone()),
        };
        keys.push(if negated {
            SearchKey::Not(Box::new(key))
        } else {
            key
        });
    }
    Ok(keys)
}

/// "10", "10k", "2M" in bytes.
fn parse_size(v: &str) -> Result<u64> {
    let lower = v.to_ascii_lowercase();
    let (digits, mult) = match lower.strip_suffix(['k', 'm', 'g']) {
        Some(d) if lower.ends_with('k') => (d, 1024),
        Some(d) if lower.ends_with('m') => (d, 1024 * 1024),
        Some(d) => (d, 1024 * 1024 * 1024),
        None => (lower.as_str(), 1),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| Error::Validation(format!("invalid size {v:?}")))
}

impl MessageSearch {
    /// The search as one key (All when nothing restricts it).
    pub fn key(&self) -> Result<SearchKey> {
        let mut keys = Vec::new();
        if let (Some(ids), Some(_)) = (&self.ids, self.mailbox) {
            keys.push(SearchKey::Uids(ids.clone()));
        }
        if let Some(t) = self.thread {
            keys.push(SearchKey::Thread(t));
        }
        if let Some(q) = self.q.as_deref() {
            keys.extend(query_string_keys(q)?);
        }
        if let Some(k) = self.query.as_deref().and_then(words_key) {
            keys.push(k);
        }
        if let Some(d) = self.datestart {
            keys.push(SearchKey::Since(DateField::Internal, d));
        }
        if let Some(d) = self.dateend {
            // Inclusive end: everything before the next millisecond.
            keys.push(SearchKey::Before(
                DateField::Internal,
                d + Duration::milliseconds(1),
            ));
        }
        if let Some(f) = self.from.as_deref().filter(|s| !s.is_empty()) {
            keys.push(SearchKey::Header("from".into(), f.to_string()));
        }
        if let Some(t) = self.to.as_deref().filter(|s| !s.is_empty()) {
            keys.push(to_or_cc(t));
        }
        if let Some(s) = self.subject.as_deref().filter(|s| !s.is_empty()) {
            keys.push(SearchKey::Header("subject".into(), s.to_string()));
        }
        if let Some(n) = self.min_size {
            keys.push(SearchKey::Larger(n.saturating_sub(1)));
        }
        if let Some(n) = self.max_size {
            keys.push(SearchKey::Smaller(n.saturating_add(1)));
        }
        if self.attachments {
            keys.push(SearchKey::HasAttachment(true));
        }
        if self.flagged {
            keys.push(SearchKey::Flag(FLAGGED.into(), true));
        }
        if self.unseen {
            keys.push(SearchKey::Flag(SEEN.into(), false));
        }
        let mut any = Vec::new();
        if let Some(k) = self.or.query.as_deref().and_then(words_key) {
            any.push(k);
        }
        if let Some(f) = self.or.from.as_deref().filter(|s| !s.is_empty()) {
            any.push(SearchKey::Header("from".into(), f.to_string()));
        }
        if let Some(t) = self.or.to.as_deref().filter(|s| !s.is_empty()) {
            any.push(to_or_cc(t));
        }
        if let Some(s) = self.or.subject.as_deref().filter(|s| !s.is_empty()) {
            any.push(SearchKey::Header("subject".into(), s.to_string()));
        }
        keys.extend(or(any));
        Ok(and(keys).unwrap_or(SearchKey::All))
    }
}

/// Message cursors of user-wide searches: the message id.
fn id_cursor(id: ObjectId) -> String {
    format!("o{}", id.to_hex())
}

fn parse_id_cursor(s: &str) -> Option<ObjectId> {
    ObjectId::parse(s.strip_prefix('o')?)
}

impl Service {
    /// Every message of the user matching the search, in id (insertion) order.
    async fn search_matches(
        &self,
        user: ObjectId,
        search: &MessageSearch,
    ) -> Result<Vec<crate::model::MessageMeta>> {
        self.get_user(user).await?;
        if let Some(m) = search.mailbox {
            self.get_mailbox(user, m).await?;
        }
        let query = SearchQuery {
            user,
            mailbox: search.mailbox,
            key: search.key()?,
        };
        let mut found = self.store().search(&query).await?;
        if search.searchable && search.mailbox.is_none() {
            let hidden: HashSet<ObjectId> = self
                .store()
                .list_mailboxes(user)
                .await?
                .into_iter()
                .filter(|m| matches!(m.special_use, Some(SpecialUse::Junk | SpecialUse::Trash)))
                .map(|m| m.id)
                .collect();
            found.retain(|m| !hidden.contains(&m.mailbox));
        }
        found.sort_by_key(|m| m.id);
        found.dedup_by_key(|m| m.id);
        Ok(found)
    }

    /// A page of search results (GET /users/{user}/search), newest first unless
    /// `order` is ascending.
    pub async fn search_messages(
        &self,
        user: ObjectId,
        search: &MessageSearch,
        order: SortOrder,
        page: &PageRequest,
    ) -> Result<MessagePage> {
        let mut found = self.search_matches(user, search).await?;
        let descending = order == SortOrder::Descending;
        if descending {
            found.reverse();
        }
        let ids: Vec<ObjectId> = found.iter().map(|m| m.id).collect();
        let (start, end) = window(&ids, page, parse_id_cursor, |a, b| {
            if descending {
                a > b
            } else {
                a < b
            }
        })?;
        let mut messages = Vec::with_capacity(end - start);
        for meta in &found[start..end] {
            if let Some(m) = self.store().get_message(meta.mailbox, meta.uid).await? {
                messages.push(m.into());
            }
        }
        Ok(MessagePage {
            messages,
            total: ids.len() as u64,
            next: (end < ids.len() && end > start).then(|| id_cursor(ids[end - 1])),
            previous: (start > 0 && start < ids.len()).then(|| id_cursor(ids[start])),
        })
    }

    /// Apply an action to every match (POST /users/{user}/search); returns how
    /// many messages it touched.
    pub async fn search_apply(
        &self,
        user: ObjectId,
        search: &MessageSearch,
        action: &SearchAction,
    ) -> Result<u64> {
        if action.move_to.is_none()
            && action.seen.is_none()
            && action.flagged.is_none()
            && !action.delete
        {
            return Err(Error::Validation(
                "\"action\" must name at least one change".into(),
            ));
        }
        if let Some(target) = action.move_to {
            self.get_mailbox(user, target).await?;
        }
        let mut by_mailbox: BTreeMap<ObjectId, Vec<u32>> = BTreeMap::new();
        for m in self.search_matches(user, search).await? {
            by_mailbox.entry(m.mailbox).or_default().push(m.uid);
        }
        let mut touched = 0;
        for (mailbox, uids) in by_mailbox {
            let set = UidSet::from_uids(uids);
            if action.delete {
                touched += self.expunge(user, mailbox, &set, false).await?.len() as u64;
                continue;
            }
            let changes = MessageChanges {
                seen: action.seen,
                flagged: action.flagged,
                move_to: action.move_to,
                ..Default::default()
            };
            match self.update_messages(user, mailbox, &set, &changes).await {
                Ok(u) => touched += u.updated,
                // Expunged between the search and the update.
                Err(Error::MessageNotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(touched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_parse() {
        let keys = query_string_keys("from:alice \"big report\" -draft is:unseen larger:2k")
            .expect("parses");
        assert_eq!(
            keys,
            vec![
                SearchKey::Header("from".into(), "alice".into()),
                SearchKey::Text("big report".into()),
                SearchKey::Not(Box::new(SearchKey::Text("draft".into()))),
                SearchKey::Flag(SEEN.into(), false),
                SearchKey::Larger(2048),
            ]
        );
        assert!(query_string_keys("is:bogus").is_err());
        assert!(query_string_keys("larger:lots").is_err());
    }

    #[test]
    fn parameters_combine() {
        let s = MessageSearch {
            from: Some("bob".into()),
            min_size: Some(10),
            unseen: true,
            or: OrTerms {
                subject: Some("a".into()),
                to: Some("b".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let SearchKey::And(keys) = s.key().expect("key") else {
            panic!("expected And");
        };
        assert_eq!(keys.len(), 4);
        assert_eq!(MessageSearch::default().key().ok(), Some(SearchKey::All));
        // ids only count together with a mailbox
        let s = MessageSearch {
            ids: Some(UidSet::from_uids([1])),
            ..Default::default()
        };
        assert_eq!(s.key().ok(), Some(SearchKey::All));
    }
}
