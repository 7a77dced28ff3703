//! Message filters in WildDuck's model: a query a message must match and the
//! actions applied when it does. Storage-independent: the rules, validation,
//! matching and the descriptions the API lists live here.

use chrono::{DateTime, Utc};
use eider_message::{HeaderLine, MessageIndex};
use serde::{Deserialize, Serialize};

use super::forward::ForwardTarget;
use crate::{Error, ObjectId, Result};

/// WildDuck's default for users without `limits.filters`.
pub const DEFAULT_MAX_FILTERS: u64 = 400;
/// Longest text accepted in a query field or a filter name.
pub const MAX_FILTER_TEXT: usize = 255;
/// Most forwarding targets one filter may name.
pub const MAX_FILTER_TARGETS: usize = 32;

/// What a message must match; every field set must match (AND). Text matches are
/// case-insensitive substrings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FilterQuery {
    /// From: (or Sender:) header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// To:, Cc: (or Delivered-To:) headers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// List-ID: header (only the id inside angle brackets counts when one is given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list_id: Option<String>,
    /// Plain-text body (whitespace runs compare as one space).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Has (true) or has no (false) attachments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ha: Option<bool>,
    /// Positive: at least this many bytes; negative: at most abs(size) bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
}

/// What to do with a matching message. Unset fields leave the decision to later
/// filters (the first filter that sets a field wins, as in WildDuck).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FilterAction {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seen: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flag: Option<bool>,
    /// Do not store the message (forwards still happen).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete: Option<bool>,
    /// true: to Junk; false: never Junk (overrides the spam header test).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spam: Option<bool>,
    /// Store into this mailbox.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<ObjectId>,
    /// Forward to these targets (addresses, smtp:// relays, http(s):// URLs).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
}

/// What filters look at in a message.
#[derive(Debug, Clone, Copy)]
pub struct MessageFacts<'a> {
    /// Top-level headers, decoded.
    pub headers: &'a [HeaderLine],
    /// Decoded subject.
    pub subject: &'a str,
    /// Plain-text body ("" when none).
    pub text: &'a str,
    pub has_attachments: bool,
    /// RFC822.SIZE.
    pub size: u64,
}

impl<'a> From<&'a MessageIndex> for MessageFacts<'a> {
    fn from(m: &'a MessageIndex) -> Self {
        Self {
            headers: &m.headers,
            subject: &m.subject,
            text: m.text.as_deref().unwrap_or(""),
            has_attachments: !m.attachments.is_empty(),
            size: m.size,
        }
    }
}

/// A stored filter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Filter {
    pub id: ObjectId,
    pub user: ObjectId,
    pub name: Option<String>,
    pub query: FilterQuery,
    pub action: FilterAction,
    pub disabled: bool,
    pub meta_data: serde_json::Value,
    pub created: DateTime<Utc>,
}

impl Filter {
    /// Check a filter before it is stored. `mailbox_exists` answers whether the
    /// action's mailbox belongs to the user (the caller looks it up).
    pub fn validate(&self, mailbox_exists: bool) -> Result<()> {
        let q = &self.query;
        let texts = [&q.from, &q.to, &q.subject, &q.list_id, &q.text];
        if texts
            .iter()
            .filter_map(|t| t.as_deref())
            .chain(self.name.as_deref())
            .any(|t| t.chars().count() > MAX_FILTER_TEXT)
        {
            return Err(Error::Validation(format!(
                "filter texts are limited to {MAX_FILTER_TEXT} characters"
            )));
        }
        if q == &FilterQuery::default() {
            return Err(Error::Validation("filter query is empty".into()));
        }
        if self.action == FilterAction::default() {
            return Err(Error::Validation("filter action is empty".into()));
        }
        if self.action.targets.len() > MAX_FILTER_TARGETS {
            return Err(Error::Validation(format!(
                "at most {MAX_FILTER_TARGETS} forwarding targets"
            )));
        }
        for t in &self.action.targets {
            ForwardTarget::parse(t)
                .map_err(|_| Error::Validation(format!("Unknown target type \"{t}\"")))?;
        }
        if self.action.mailbox.is_some() && !mailbox_exists {
            return Err(Error::NoSuchMailbox);
        }
        Ok(())
    }

    /// Whether `message` matches this filter's query (disabled filters never match).
    pub fn matches(&self, message: &MessageFacts<'_>) -> bool {
        !self.disabled && query_matches(&self.query, message)
    }

    /// WildDuck's listing form: `query` and `action` as lists of description tuples.
    /// `mailbox_path` names a mailbox id for "move to folder".
    pub fn describe(
        &self,
        mailbox_path: impl Fn(ObjectId) -> Option<String>,
    ) -> (serde_json::Value, serde_json::Value) {
        use serde_json::json;
        let q = &self.query;
        let mut query = Vec::new();
        for (key, value) in [
            ("from", &q.from),
            ("to", &q.to),
            ("subject", &q.subject),
            ("listId", &q.list_id),
        ] {
            if let Some(v) = value {
                query.push(json!([key, format!("({v})")]));
            }
        }
        match q.ha {
            Some(true) => query.push(json!(["has attachment"])),
            Some(false) => query.push(json!(["no attachments"])),
            None => {}
        }
        if let Some(t) = &q.text {
            query.push(json!([false, format!("\"{t}\"")]));
        }
        match q.size {
            Some(s) if s > 0 => query.push(json!(["larger", s])),
            Some(s) if s < 0 => query.push(json!(["smaller", s.unsigned_abs()])),
            _ => {}
        }
        let a = &self.action;
        let mut action = Vec::new();
        if let Some(seen) = a.seen {
            action.push(json!([if seen {
                "mark as read"
            } else {
                "do not mark as read"
            }]));
        }
        if let Some(flag) = a.flag {
            action.push(json!([if flag { "flag it" } else { "do not flag it" }]));
        }
        if let Some(m) = a.mailbox {
            let path = mailbox_path(m)
                .map(|p| format!("\"{p}\""))
                .unwrap_or_else(|| "?".into());
            action.push(json!(["move to folder", path]));
        }
        if !a.targets.is_empty() {
            let shown: Vec<String> = a
                .targets
                .iter()
                .map(|t| match ForwardTarget::parse(t) {
                    Ok(ForwardTarget::Http(url)) => url_host(&url).to_string(),
                    _ => t.clone(),
                })
                .collect();
            action.push(json!(["forward to", shown.join(", ")]));
        }
        match a.spam {
            Some(true) => action.push(json!(["mark it as spam"])),
            Some(false) => action.push(json!(["do not mark it as spam"])),
            None => {}
        }
        if let Some(delete) = a.delete {
            action.push(json!([if delete {
                "delete it"
            } else {
                "do not delete it"
            }]));
        }
        (
            serde_json::Value::Array(query),
            serde_json::Value::Array(action),
        )
    }
}

fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    host.split(':').next().unwrap_or(host)
}

fn contains_ci(haystack: &str, needle: &str) -> bool {
    haystack.to_lowercase().contains(&needle.to_lowercase())
}

fn header_matches(message: &MessageFacts<'_>, keys: &[&str], needle: &str) -> bool {
    message
        .headers
        .iter()
        .filter(|h| keys.iter().any(|k| h.key.trim().eq_ignore_ascii_case(k)))
        .any(|h| contains_ci(&h.value, needle))
}

fn collapse_ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn query_matches(q: &FilterQuery, m: &MessageFacts<'_>) -> bool {
    if let Some(from) = non_empty(&q.from) {
        if !header_matches(m, &["from", "sender"], from) {
            return false;
        }
    }
    if let Some(to) = non_empty(&q.to) {
        if !header_matches(m, &["to", "cc", "delivered-to"], to) {
            return false;
        }
    }
    if let Some(subject) = non_empty(&q.subject) {
        if !contains_ci(m.subject, subject) && !header_matches(m, &["subject"], subject) {
            return false;
        }
    }
    if let Some(list) = non_empty(&q.list_id) {
        let needle = list
            .split_once('<')
            .and_then(|(_, r)| r.split('>').next())
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or(list);
        if !header_matches(m, &["list-id"], needle) {
            return false;
        }
    }
    if let Some(ha) = q.ha {
        if ha != m.has_attachments {
            return false;
        }
    }
    if let Some(size) = q.size {
        let limit = size.unsigned_abs();
        if (size > 0 && m.size < limit) || (size < 0 && m.size > limit) {
            return false;
        }
    }
    if let Some(text) = non_empty(&q.text) {
        let body = collapse_ws(m.text);
        if !contains_ci(&body, &collapse_ws(text)) {
            return false;
        }
    }
    true
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// The combined effect of the filters that matched a message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FilterOutcome {
    pub seen: bool,
    pub flag: bool,
    pub delete: bool,
    /// None when no matching filter decided.
    pub spam: Option<bool>,
    pub mailbox: Option<ObjectId>,
    /// Forwarding targets of all matching filters, first occurrence kept.
    pub targets: Vec<String>,
    /// Ids of the filters that matched, in order.
    pub matched: Vec<ObjectId>,
}

/// Apply `filters` (in their stored order) to a message: for each action field the
/// first matching filter that sets it decides; targets accumulate.
pub fn apply_filters(filters: &[Filter], message: &MessageFacts<'_>) -> FilterOutcome {
    let mut out = FilterOutcome::default();
    let (mut seen, mut flag, mut delete) = (None, None, None);
    for f in filters.iter().filter(|f| f.matches(message)) {
        out.matched.push(f.id);
        let a = &f.action;
        seen = seen.or(a.seen);
        flag = flag.or(a.flag);
        delete = delete.or(a.delete);
        out.spam = out.spam.or(a.spam);
        out.mailbox = out.mailbox.or(a.mailbox);
        for t in &a.targets {
            if !out.targets.contains(t) {
                out.targets.push(t.clone());
            }
        }
    }
    out.seen = seen.unwrap_or(false);
    out.flag = flag.unwrap_or(false);
    out.delete = delete.unwrap_or(false);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(headers: &[(&str, &str)]) -> Vec<HeaderLine> {
        headers
            .iter()
            .map(|(k, v)| HeaderLine {
                key: (*k).into(),
                value: (*v).into(),
            })
            .collect()
    }

    fn facts<'a>(headers: &'a [HeaderLine], text: &'a str, size: u64) -> MessageFacts<'a> {
        MessageFacts {
            headers,
            subject: headers
                .iter()
                .find(|h| h.key.eq_ignore_ascii_case("subject"))
                .map_or("", |h| h.value.as_str()),
            text,
            has_attachments: false,
            size,
        }
    }

    fn filter(query: FilterQuery, action: FilterAction) -> Filter {
        Filter {
            id: ObjectId::new(),
            user: ObjectId::new(),
            name: None,
            query,
            action,
            disabled: false,
            meta_data: serde_json::json!({}),
            created: Utc::now(),
        }
    }

    #[test]
    fn queries_match_headers_text_size_and_attachments() {
        let text = "Hello   there,\r\nthe numbers are in.";
        let headers = message(&[
            ("From", "Andris Reinman <andris@example.com>"),
            ("Cc", "Team <team@example.com>"),
            ("Subject", "Weekly REPORT"),
            ("List-ID", "Dev list <dev.lists.example.com>"),
        ]);
        let m = facts(&headers, text, 2000);
        let q = |f: fn(&mut FilterQuery)| {
            let mut q = FilterQuery::default();
            f(&mut q);
            filter(
                q,
                FilterAction {
                    seen: Some(true),
                    ..Default::default()
                },
            )
        };
        assert!(q(|q| q.from = Some("ANDRIS".into())).matches(&m));
        assert!(q(|q| q.to = Some("team@".into())).matches(&m));
        assert!(q(|q| q.subject = Some("weekly report".into())).matches(&m));
        assert!(q(|q| q.list_id = Some("<dev.lists.example.com>".into())).matches(&m));
        assert!(q(|q| q.text = Some("hello there, the".into())).matches(&m));
        assert!(q(|q| q.size = Some(1000)).matches(&m));
        assert!(q(|q| q.size = Some(-3000)).matches(&m));
        assert!(!q(|q| q.size = Some(3000)).matches(&m));
        assert!(!q(|q| q.size = Some(-1000)).matches(&m));
        assert!(!q(|q| q.ha = Some(true)).matches(&m));
        assert!(q(|q| q.ha = Some(false)).matches(&m));
        assert!(!q(|q| q.from = Some("bob".into())).matches(&m));
        let both = q(|q| {
            q.from = Some("andris".into());
            q.subject = Some("monthly".into());
        });
        assert!(!both.matches(&m));
        let mut disabled = q(|q| q.from = Some("andris".into()));
        disabled.disabled = true;
        assert!(!disabled.matches(&m));
    }

    #[test]
    fn first_filter_setting_a_field_wins_and_targets_accumulate() {
        let headers = message(&[("Subject", "x")]);
        let m = facts(&headers, "", 10);
        let any = FilterQuery {
            subject: Some("x".into()),
            ..Default::default()
        };
        let f1 = filter(
            any.clone(),
            FilterAction {
                spam: Some(false),
                targets: vec!["a@example.com".into()],
                ..Default::default()
            },
        );
        let f2 = filter(
            any.clone(),
            FilterAction {
                spam: Some(true),
                seen: Some(true),
                targets: vec!["a@example.com".into(), "https://h.example/x".into()],
                ..Default::default()
            },
        );
        let out = apply_filters(&[f1.clone(), f2.clone()], &m);
        assert_eq!(out.spam, Some(false));
        assert!(out.seen && !out.flag && !out.delete);
        assert_eq!(out.targets.len(), 2);
        assert_eq!(out.matched, vec![f1.id, f2.id]);
        let (query, action) = f2.describe(|_| None);
        assert_eq!(query, serde_json::json!([["subject", "(x)"]]));
        assert_eq!(
            action,
            serde_json::json!([
                ["mark as read"],
                ["forward to", "a@example.com, h.example"],
                ["mark it as spam"]
            ])
        );
    }

    #[test]
    fn validation_rejects_empty_and_bad_filters() {
        let ok = filter(
            FilterQuery {
                from: Some("x".into()),
                ..Default::default()
            },
            FilterAction {
                flag: Some(true),
                ..Default::default()
            },
        );
        assert!(ok.validate(true).is_ok());
        let mut empty_query = ok.clone();
        empty_query.query = FilterQuery::default();
        assert!(empty_query.validate(true).is_err());
        let mut empty_action = ok.clone();
        empty_action.action = FilterAction::default();
        assert!(empty_action.validate(true).is_err());
        let mut bad_target = ok.clone();
        bad_target.action.targets = vec!["nonsense".into()];
        assert!(bad_target.validate(true).is_err());
        let mut missing_mailbox = ok.clone();
        missing_mailbox.action.mailbox = Some(ObjectId::new());
        assert!(matches!(
            missing_mailbox.validate(false),
            Err(Error::NoSuchMailbox)
        ));
    }
}
