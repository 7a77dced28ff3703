//! SEARCH. The key is compiled into a MongoDB filter that selects a superset of the
//! matches from the mailbox's (or user's) messages: flags, sizes, dates, UIDs, MODSEQ,
//! thread and attachments are exact document predicates; text keys cannot be
//! (substring semantics), so they compile to "maybe". When the filter is not exact,
//! every candidate is confirmed here against the full key, text keys on the stored
//! decoded text. Where the server has a `$text` index, needles with whole words
//! inside them narrow the contents whose text must be loaded; elsewhere the text of
//! every candidate is read. Both answer exactly, with case-insensitive substring
//! semantics.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use eider_service::model::{
    epoch_day, saved_bound, saved_date, DateField, MessageMeta, SearchKey, SearchQuery,
};
use eider_service::{ObjectId, StoreError};
use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};

use crate::codec::{date, int, oid, DocExt};
use crate::error::{Error, Result};
use crate::messages::meta;
use crate::names::{CONTENTS, MAILBOXES, MESSAGES};
use crate::MongoStore;

/// Deepest nesting of AND/OR/NOT accepted (gateways limit it long before this).
const MAX_DEPTH: usize = 64;
/// UID sets with more ranges than this are filtered by their span, then exactly here.
const INLINE_RANGES: usize = 16;
/// Contents whose text is loaded per query.
const TEXT_BATCH: usize = 256;

/// A compiled condition: always, never, or a filter document; `exact` says whether
/// the document is the condition itself or only a superset of it.
#[derive(Debug, Clone)]
enum Cond {
    True,
    False,
    Doc(Document),
}

struct Compiled {
    cond: Cond,
    exact: bool,
}

fn exact(cond: Cond) -> Compiled {
    Compiled { cond, exact: true }
}

fn date_field(field: DateField, op: &str, t: chrono::DateTime<chrono::Utc>) -> Document {
    match field {
        DateField::Internal => doc! { "idate": { op: date(t) } },
        // Without a Date: header the internal date stands in, as other servers do.
        DateField::Header => doc! { "$or": [
            { "hdate": { op: date(t) } },
            { "hdate": Bson::Null, "idate": { op: date(t) } },
        ] },
        // The id's leading timestamp orders ids by the second they were made.
        DateField::Saved => doc! { "_id": { op: oid(saved_bound(t)) } },
    }
}

/// The sent day as a stored `sday` value (days since 1970, as an Int32).
fn sday(d: NaiveDate) -> i32 {
    epoch_day(d).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// The Date: header's day as written (`sday`) compared with `d`; messages stored
/// before `sday` existed compare the UTC day of `hdate`, and without a Date: header
/// the UTC day of the internal date (a UTC day compares like its midnight).
fn sent_day_cond(op: &str, d: NaiveDate) -> Document {
    let midnight = date(d.and_time(chrono::NaiveTime::MIN).and_utc());
    doc! { "$or": [
        { "sday": { op: sday(d) } },
        { "sday": Bson::Null, "hdate": { op: midnight } },
        { "sday": Bson::Null, "hdate": Bson::Null, "idate": { op: midnight } },
    ] }
}

fn compile(k: &SearchKey, depth: usize) -> Result<Compiled> {
    if depth > MAX_DEPTH {
        return Err(Error::Store(StoreError::Backend(
            "search query is nested too deeply".into(),
        )));
    }
    Ok(match k {
        SearchKey::All => exact(Cond::True),
        SearchKey::Uids(set) => {
            let ranges = set.ranges();
            match (ranges.first(), ranges.last()) {
                (None, _) | (_, None) => exact(Cond::False),
                (Some(&(lo, _)), Some(&(_, hi))) if ranges.len() > INLINE_RANGES => Compiled {
                    cond: Cond::Doc(
                        doc! { "uid": { "$gte": i64::from(lo), "$lte": i64::from(hi) } },
                    ),
                    exact: false,
                },
                _ => {
                    let parts: Vec<Document> = ranges
                        .iter()
                        .map(|&(lo, hi)| {
                            doc! { "uid": { "$gte": i64::from(lo), "$lte": i64::from(hi) } }
                        })
                        .collect();
                    exact(Cond::Doc(if parts.len() == 1 {
                        parts.into_iter().next().unwrap_or_default()
                    } else {
                        doc! { "$or": parts }
                    }))
                }
            }
        }
        SearchKey::Flag(flag, set) => {
            let field = match flag.to_ascii_lowercase().as_str() {
                "\\seen" => Some("seen"),
                "\\deleted" => Some("deleted"),
                "\\flagged" => Some("flagged"),
                _ => None,
            };
            exact(Cond::Doc(match field {
                Some(f) if *set => doc! { f: true },
                Some(f) => doc! { f: { "$ne": true } },
                None if *set => doc! { "fv": flag.to_lowercase() },
                None => doc! { "fv": { "$ne": flag.to_lowercase() } },
            }))
        }
        SearchKey::Larger(n) => exact(Cond::Doc(doc! { "size": { "$gt": int(*n) } })),
        SearchKey::Smaller(n) => exact(Cond::Doc(doc! { "size": { "$lt": int(*n) } })),
        SearchKey::Since(field, t) => exact(Cond::Doc(date_field(*field, "$gte", *t))),
        SearchKey::Before(field, t) => exact(Cond::Doc(date_field(*field, "$lt", *t))),
        SearchKey::SentSince(d) => exact(Cond::Doc(sent_day_cond("$gte", *d))),
        SearchKey::SentBefore(d) => exact(Cond::Doc(sent_day_cond("$lt", *d))),
        SearchKey::Header(..) | SearchKey::Body(_) | SearchKey::Text(_) => Compiled {
            cond: Cond::True,
            exact: false,
        },
        SearchKey::ModSeq(n) => exact(Cond::Doc(doc! { "modseq": { "$gte": int(*n) } })),
        SearchKey::Thread(id) => exact(Cond::Doc(doc! { "thread": oid(*id) })),
        SearchKey::Content(id) => exact(Cond::Doc(doc! { "content": oid(*id) })),
        SearchKey::HasAttachment(b) => exact(Cond::Doc(doc! { "ha": *b })),
        SearchKey::And(keys) => {
            let mut docs = Vec::new();
            let mut all_exact = true;
            for key in keys {
                let c = compile(key, depth + 1)?;
                all_exact &= c.exact;
                match c.cond {
                    Cond::True => {}
                    Cond::False => return Ok(exact(Cond::False)),
                    Cond::Doc(d) => docs.push(d),
                }
            }
            Compiled {
                cond: match docs.len() {
                    0 => Cond::True,
                    1 => Cond::Doc(docs.into_iter().next().unwrap_or_default()),
                    _ => Cond::Doc(doc! { "$and": docs }),
                },
                exact: all_exact,
            }
        }
        SearchKey::Or(a, b) => {
            let (a, b) = (compile(a, depth + 1)?, compile(b, depth + 1)?);
            let both = a.exact && b.exact;
            match (a.cond, b.cond) {
                (Cond::True, _) | (_, Cond::True) => Compiled {
                    cond: Cond::True,
                    // TRUE OR x is exactly TRUE only when the TRUE side was exact.
                    exact: both,
                },
                (Cond::False, other) => Compiled {
                    cond: other,
                    exact: both,
                },
                (other, Cond::False) => Compiled {
                    cond: other,
                    exact: both,
                },
                (Cond::Doc(x), Cond::Doc(y)) => Compiled {
                    cond: Cond::Doc(doc! { "$or": [x, y] }),
                    exact: both,
                },
            }
        }
        SearchKey::Not(a) => {
            let c = compile(a, depth + 1)?;
            if !c.exact {
                // The complement of a superset is not a superset of the complement.
                return Ok(Compiled {
                    cond: Cond::True,
                    exact: false,
                });
            }
            exact(match c.cond {
                Cond::True => Cond::False,
                Cond::False => Cond::True,
                Cond::Doc(d) => Cond::Doc(doc! { "$nor": [d] }),
            })
        }
    })
}

fn needs_text(k: &SearchKey) -> bool {
    match k {
        SearchKey::Header(..) | SearchKey::Body(_) | SearchKey::Text(_) => true,
        SearchKey::And(v) => v.iter().any(needs_text),
        SearchKey::Or(a, b) => needs_text(a) || needs_text(b),
        SearchKey::Not(a) => needs_text(a),
        _ => false,
    }
}

/// Whether `k` reads the body text (BODY, TEXT); header keys read only the headers'
/// text, which is a small part of a message's.
fn needs_body(k: &SearchKey) -> bool {
    match k {
        SearchKey::Body(_) | SearchKey::Text(_) => true,
        SearchKey::And(v) => v.iter().any(needs_body),
        SearchKey::Or(a, b) => needs_body(a) || needs_body(b),
        SearchKey::Not(a) => needs_body(a),
        _ => false,
    }
}

/// Case-insensitive substring test (ASCII fast path, Unicode lower-casing otherwise).
pub(crate) fn contains_ci(hay: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return true;
    }
    if needle.is_ascii() {
        let n = needle.as_bytes();
        let h = hay.as_bytes();
        if n.len() > h.len() {
            return false;
        }
        let first = n[0].to_ascii_lowercase();
        return (0..=h.len() - n.len()).any(|i| {
            h[i].to_ascii_lowercase() == first && h[i..i + n.len()].eq_ignore_ascii_case(n)
        });
    }
    hay.to_lowercase().contains(&needle.to_lowercase())
}

/// Whether a `Key: value` line of `headers` with key `name` contains `needle`.
fn header_contains(headers: &str, name: &str, needle: &str) -> bool {
    headers.lines().any(|line| {
        line.split_once(':').is_some_and(|(key, value)| {
            key.trim().eq_ignore_ascii_case(name.trim()) && contains_ci(value.trim(), needle)
        })
    })
}

/// A candidate: its row and its stored sent day (`sday`, not part of the row model).
struct Candidate {
    meta: MessageMeta,
    sent_day: Option<i64>,
}

impl Candidate {
    /// The day SENT* keys compare (see [`sent_day_cond`] for the fallbacks).
    fn sent_day(&self) -> i64 {
        self.sent_day.unwrap_or_else(|| {
            let t = self.meta.header_date.unwrap_or(self.meta.internal_date);
            t.timestamp().div_euclid(86_400)
        })
    }
}

/// The full key on one message (`text`: its headers and body, when loaded).
fn eval(k: &SearchKey, c: &Candidate, text: Option<&(String, String)>) -> bool {
    let empty = (String::new(), String::new());
    let t = text.unwrap_or(&empty);
    let m = &c.meta;
    match k {
        SearchKey::All => true,
        SearchKey::Uids(set) => set.contains(m.uid),
        SearchKey::Flag(f, set) => m.has_flag(f) == *set,
        SearchKey::Larger(n) => m.size > *n,
        SearchKey::Smaller(n) => m.size < *n,
        SearchKey::Since(field, at) => stamp(*field, m) >= *at,
        SearchKey::Before(field, at) => stamp(*field, m) < *at,
        SearchKey::SentSince(d) => c.sent_day() >= epoch_day(*d),
        SearchKey::SentBefore(d) => c.sent_day() < epoch_day(*d),
        SearchKey::Header(name, needle) => header_contains(&t.0, name, needle),
        SearchKey::Body(needle) => contains_ci(&t.1, needle),
        SearchKey::Text(needle) => contains_ci(&t.0, needle) || contains_ci(&t.1, needle),
        SearchKey::ModSeq(n) => m.modseq >= *n,
        SearchKey::Thread(id) => m.thread == *id,
        SearchKey::Content(id) => m.content == *id,
        SearchKey::HasAttachment(b) => m.has_attachments == *b,
        SearchKey::And(v) => v.iter().all(|x| eval(x, c, text)),
        SearchKey::Or(a, b) => eval(a, c, text) || eval(b, c, text),
        SearchKey::Not(a) => !eval(a, c, text),
    }
}

fn stamp(field: DateField, m: &MessageMeta) -> chrono::DateTime<chrono::Utc> {
    match field {
        DateField::Internal => m.internal_date,
        DateField::Header => m.header_date.unwrap_or(m.internal_date),
        DateField::Saved => saved_date(m),
    }
}

/// Words a `$text` index must hold for any content containing `needle`: those the
/// needle has whole, i.e. with an ASCII space on both sides inside the needle (the
/// first and last words may be parts of longer words). ASCII letters and digits only,
/// so that the server's tokenizer and case folding agree with ours.
pub(crate) fn whole_words(needle: &str) -> Vec<String> {
    let parts: Vec<&str> = needle.split(' ').collect();
    if parts.len() < 3 {
        return Vec::new();
    }
    parts[1..parts.len() - 1]
        .iter()
        .filter(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_alphanumeric()))
        .map(|w| w.to_ascii_lowercase())
        .collect()
}

/// Words every match must contain (from text keys that must hold for the whole key).
fn required_words(k: &SearchKey, out: &mut Vec<String>) {
    match k {
        SearchKey::Body(n) | SearchKey::Text(n) => out.extend(whole_words(n)),
        SearchKey::And(v) => v.iter().for_each(|x| required_words(x, out)),
        _ => {}
    }
}

impl MongoStore {
    pub(crate) async fn search_inner(&self, q: &SearchQuery) -> Result<Vec<MessageMeta>> {
        let compiled = compile(&q.key, 0)?;
        let mut filter = match q.mailbox {
            Some(m) => doc! { "mailbox": oid(m), "user": oid(q.user) },
            None => {
                // Across the user's mailboxes: name them, so that the query carries the
                // shard key and never sees messages of a mailbox being deleted.
                let boxes: Vec<Document> = self
                    .coll(MAILBOXES)
                    .find(doc! { "user": oid(q.user) })
                    .projection(doc! { "_id": 1 })
                    .await?
                    .try_collect()
                    .await?;
                let ids: Vec<Bson> = boxes.iter().filter_map(|d| d.get("_id").cloned()).collect();
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                doc! { "mailbox": { "$in": ids }, "user": oid(q.user) }
            }
        };
        match compiled.cond {
            Cond::False => return Ok(Vec::new()),
            Cond::True => {}
            Cond::Doc(d) => filter = doc! { "$and": [filter, d] },
        }
        let docs: Vec<Document> = self
            .coll(MESSAGES)
            .find(filter)
            .sort(doc! { "mailbox": 1, "uid": 1 })
            .await?
            .try_collect()
            .await?;
        let mut rows = docs
            .iter()
            .map(|d| {
                Ok(Candidate {
                    meta: meta(d)?,
                    sent_day: d.opt_i64("sday")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        // The filter sorts ObjectIds as the server does, which is byte order too;
        // re-sort to be independent of how a server orders mixed mailboxes.
        rows.sort_by_key(|c| (c.meta.mailbox, c.meta.uid));
        let metas = |rows: Vec<Candidate>| rows.into_iter().map(|c| c.meta).collect();
        if compiled.exact {
            return Ok(metas(rows));
        }
        if !needs_text(&q.key) {
            rows.retain(|c| eval(&q.key, c, None));
            return Ok(metas(rows));
        }
        let mut contents: Vec<ObjectId> = rows.iter().map(|c| c.meta.content).collect();
        contents.sort_unstable();
        contents.dedup();
        let mut words = Vec::new();
        required_words(&q.key, &mut words);
        let texts = self
            .load_texts(&contents, &words, needs_body(&q.key))
            .await?;
        rows.retain(|c| match texts.get(&c.meta.content) {
            Some(t) => eval(&q.key, c, Some(t)),
            // Excluded by the $text pre-filter: lacks a word every match contains. Only
            // reachable when such words exist, so the key cannot hold without its text.
            None => words.is_empty() && eval(&q.key, c, None),
        });
        Ok(metas(rows))
    }

    /// Search text of `contents`; with `words` and a `$text` index, only of those
    /// contents that hold all the words (or keep their text in a blob). Without
    /// `body` the body text is left out (empty) unless it shares a blob with the headers.
    async fn load_texts(
        &self,
        contents: &[ObjectId],
        words: &[String],
        body: bool,
    ) -> Result<HashMap<ObjectId, (String, String)>> {
        let mut out = HashMap::new();
        for batch in contents.chunks(TEXT_BATCH) {
            let ids: Vec<Bson> = batch.iter().map(|c| Bson::ObjectId(oid(*c))).collect();
            let mut keep: Option<HashSet<ObjectId>> = None;
            if self.text_index && !words.is_empty() {
                let phrase = words
                    .iter()
                    .map(|w| format!("\"{w}\""))
                    .collect::<Vec<_>>()
                    .join(" ");
                let hits: Vec<Document> = self
                    .coll(CONTENTS)
                    .find(doc! {
                        "_id": { "$in": ids.clone() },
                        "$text": { "$search": phrase, "$caseSensitive": false, "$diacriticSensitive": false },
                    })
                    .projection(doc! { "_id": 1 })
                    .await?
                    .try_collect()
                    .await?;
                let big: Vec<Document> = self
                    .coll(CONTENTS)
                    .find(doc! { "_id": { "$in": ids.clone() }, "tb": { "$exists": true } })
                    .projection(doc! { "_id": 1 })
                    .await?
                    .try_collect()
                    .await?;
                keep = Some(
                    hits.iter()
                        .chain(&big)
                        .filter_map(|d| d.id("_id").ok())
                        .collect(),
                );
            }
            let wanted: Vec<Bson> = match &keep {
                None => ids,
                Some(k) => k.iter().map(|c| Bson::ObjectId(oid(*c))).collect(),
            };
            if wanted.is_empty() {
                continue;
            }
            let docs: Vec<Document> = self
                .coll(CONTENTS)
                .find(doc! { "_id": { "$in": wanted } })
                .projection(if body {
                    doc! { "sh": 1, "sb": 1, "tb": 1 }
                } else {
                    doc! { "sh": 1, "tb": 1 }
                })
                .await?
                .try_collect()
                .await?;
            for d in docs {
                let id = d.id("_id")?;
                out.insert(id, self.content_text(&d).await?);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_words_are_interior_ascii_words() {
        assert!(whole_words("report").is_empty());
        assert!(whole_words("quarterly report").is_empty());
        assert_eq!(whole_words("the numbers are here"), vec!["numbers", "are"]);
        assert_eq!(whole_words("a Köln b c"), vec!["b"]);
        assert!(whole_words("x  y").is_empty());
    }

    #[test]
    fn substring_ignores_case() {
        assert!(contains_ci("Hello World", "WORLD"));
        assert!(contains_ci("Grüße aus Köln", "KÖLN"));
        assert!(!contains_ci("Grüße", "grüsse"));
        assert!(contains_ci("x", ""));
        assert!(header_contains(
            "Subject: Hi there\nX-A: b\n",
            "subject",
            "THERE"
        ));
        assert!(header_contains("X-Project: Apollo\n", "x-project", ""));
        assert!(!header_contains("Subject: Apollo\n", "To", "apollo"));
    }

    #[test]
    fn text_keys_are_never_exact_and_not_of_them_is_everything() {
        let c = compile(&SearchKey::Text("x".into()), 0).expect("compile");
        assert!(!c.exact);
        let c = compile(&SearchKey::Not(Box::new(SearchKey::Body("x".into()))), 0).expect("c");
        assert!(matches!(c.cond, Cond::True) && !c.exact);
        let c = compile(
            &SearchKey::And(vec![
                SearchKey::Flag("\\Seen".into(), true),
                SearchKey::Uids(eider_service::model::UidSet::new()),
            ]),
            0,
        )
        .expect("c");
        assert!(matches!(c.cond, Cond::False));
    }
}
