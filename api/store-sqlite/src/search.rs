//! SEARCH as one SQL statement. Flags, sizes, dates, UIDs, MODSEQ, thread and
//! attachments are plain column predicates. Text keys are case-insensitive substring
//! matches: a needle of 3+ characters is first looked up in the FTS5 trigram index
//! (which narrows candidates but may over-match), then every candidate is confirmed by
//! an exact test on the decoded text; shorter needles are tested on every candidate.
//! Because each text key is "index hit AND exact test", NOT and OR stay exact.

use eider_service::model::{
    epoch_day, saved_bound, DateField, MessageMeta, SearchKey, SearchQuery,
};
use eider_service::StoreError;
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Transaction};

use crate::codec::{int, ms};
use crate::error::{Result, SqliteError};
use crate::messages::{meta, COLS};
use crate::sqlfn::uid_spec;

/// Deepest nesting of AND/OR/NOT accepted (gateways limit it long before this).
const MAX_DEPTH: usize = 64;
/// UID sets with more ranges than this are tested by a function instead of BETWEENs.
const INLINE_RANGES: usize = 16;
/// The trigram tokenizer needs three characters to match anything.
const MIN_INDEXED_CHARS: usize = 3;

/// Builds the WHERE clause. Parameters are numbered (`?N`) so that the order in
/// which pieces are bound never has to match the order they appear in the text.
struct Compiler {
    params: Vec<Value>,
}

impl Compiler {
    fn bind(&mut self, v: Value) -> String {
        self.params.push(v);
        format!("?{}", self.params.len())
    }

    fn text(&mut self, s: &str) -> String {
        self.bind(Value::Text(s.to_string()))
    }

    fn int(&mut self, v: i64) -> String {
        self.bind(Value::Integer(v))
    }

    fn key(&mut self, k: &SearchKey, depth: usize) -> Result<String> {
        if depth > MAX_DEPTH {
            return Err(SqliteError::Store(StoreError::Backend(
                "search query is nested too deeply".into(),
            )));
        }
        Ok(match k {
            SearchKey::All => "1".into(),
            SearchKey::Uids(set) => {
                let ranges = set.ranges();
                if ranges.is_empty() {
                    "0".into()
                } else if ranges.len() <= INLINE_RANGES {
                    let parts: Vec<String> = ranges
                        .iter()
                        .map(|&(lo, hi)| {
                            let a = self.int(i64::from(lo));
                            let b = self.int(i64::from(hi));
                            format!("m.uid BETWEEN {a} AND {b}")
                        })
                        .collect();
                    format!("({})", parts.join(" OR "))
                } else {
                    format!("eider_uids(m.uid, {})", self.text(&uid_spec(ranges)))
                }
            }
            SearchKey::Flag(flag, set) => {
                let column = match flag.to_ascii_lowercase().as_str() {
                    "\\seen" => Some("m.seen"),
                    "\\deleted" => Some("m.deleted"),
                    "\\flagged" => Some("m.flagged"),
                    _ => None,
                };
                let test = match column {
                    Some(c) => c.to_string(),
                    None => format!("eider_has_flag(m.flags, {})", self.text(flag)),
                };
                if *set {
                    format!("({test})")
                } else {
                    format!("NOT ({test})")
                }
            }
            SearchKey::Larger(n) => format!("m.size > {}", self.int(int(*n))),
            SearchKey::Smaller(n) => format!("m.size < {}", self.int(int(*n))),
            // Saved: the id's leading timestamp, compared as a blob (memcmp order).
            SearchKey::Since(DateField::Saved, t) => {
                format!(
                    "m.oid >= {}",
                    self.bind(Value::Blob(saved_bound(*t).0.to_vec()))
                )
            }
            SearchKey::Before(DateField::Saved, t) => {
                format!(
                    "m.oid < {}",
                    self.bind(Value::Blob(saved_bound(*t).0.to_vec()))
                )
            }
            SearchKey::Since(field, t) => format!("{} >= {}", date(*field), self.int(ms(*t))),
            SearchKey::Before(field, t) => format!("{} < {}", date(*field), self.int(ms(*t))),
            SearchKey::SentSince(d) => format!("{SENT_DAY} >= {}", self.int(epoch_day(*d))),
            SearchKey::SentBefore(d) => format!("{SENT_DAY} < {}", self.int(epoch_day(*d))),
            SearchKey::Header(name, needle) => {
                let confirm = format!(
                    "COALESCE((SELECT eider_header(t.headers, {}, {}) FROM content_text t
                               WHERE t.rowid = m.content), 0)",
                    self.text(name),
                    self.text(needle)
                );
                self.prefiltered(needle, confirm)
            }
            SearchKey::Body(needle) => {
                if needle.is_empty() {
                    return Ok("1".into());
                }
                let confirm = format!(
                    "COALESCE((SELECT eider_contains(t.body, {}) FROM content_text t
                               WHERE t.rowid = m.content), 0)",
                    self.text(needle)
                );
                self.prefiltered(needle, confirm)
            }
            SearchKey::Text(needle) => {
                if needle.is_empty() {
                    return Ok("1".into());
                }
                let confirm = format!(
                    "COALESCE((SELECT eider_contains(t.headers, {}) OR eider_contains(t.body, {})
                               FROM content_text t WHERE t.rowid = m.content), 0)",
                    self.text(needle),
                    self.text(needle)
                );
                self.prefiltered(needle, confirm)
            }
            SearchKey::ModSeq(n) => format!("m.modseq >= {}", self.int(int(*n))),
            SearchKey::Thread(id) => {
                format!("m.thread = {}", self.bind(Value::Blob(id.0.to_vec())))
            }
            SearchKey::Content(id) => {
                format!("m.content_oid = {}", self.bind(Value::Blob(id.0.to_vec())))
            }
            SearchKey::HasAttachment(b) => {
                format!("m.has_attachments = {}", self.int(i64::from(*b)))
            }
            SearchKey::And(keys) => {
                if keys.is_empty() {
                    "1".into()
                } else {
                    let parts = keys
                        .iter()
                        .map(|k| self.key(k, depth + 1))
                        .collect::<Result<Vec<_>>>()?;
                    balanced(&parts, "AND")
                }
            }
            SearchKey::Or(a, b) => {
                let a = self.key(a, depth + 1)?;
                let b = self.key(b, depth + 1)?;
                format!("({a} OR {b})")
            }
            SearchKey::Not(a) => format!("NOT ({})", self.key(a, depth + 1)?),
        })
    }

    /// `confirm` guarded by an FTS lookup when the needle is long enough to use one.
    fn prefiltered(&mut self, needle: &str, confirm: String) -> String {
        let Some(query) = trigram_query(needle) else {
            return confirm;
        };
        format!(
            "(m.content IN (SELECT rowid FROM content_text WHERE content_text MATCH {}) AND {confirm})",
            self.text(&query)
        )
    }
}

/// `parts` joined by `op` as a balanced tree. SQLite parses `a AND b AND c` as a
/// chain one level deeper per term and refuses expressions deeper than 1000
/// (SQLITE_MAX_EXPR_DEPTH), so a long AND (an IMAP SEARCH of 1000 keys) is split
/// in halves instead: depth log2(n).
fn balanced(parts: &[String], op: &str) -> String {
    match parts {
        [] => "1".into(),
        [one] => format!("({one})"),
        _ => {
            let (a, b) = parts.split_at(parts.len() / 2);
            format!("({} {op} {})", balanced(a, op), balanced(b, op))
        }
    }
}

/// The FTS5 query for rows that may contain `needle`: every trigram of it, ANDed.
/// The index keeps no positions (detail=none, a fraction of the size and write cost),
/// so this over-matches (the trigrams may be apart, or in the other column); the
/// exact test that follows removes the extra rows. None for needles under 3 characters.
fn trigram_query(needle: &str) -> Option<String> {
    let chars: Vec<char> = needle.chars().collect();
    if chars.len() < MIN_INDEXED_CHARS {
        return None;
    }
    let mut terms: Vec<String> = chars
        .windows(MIN_INDEXED_CHARS)
        .map(|w| {
            let t: String = w.iter().collect();
            // An FTS5 string: quotes doubled.
            format!("\"{}\"", t.replace('"', "\"\""))
        })
        .collect();
    // Repeated trigrams add nothing to an AND.
    terms.sort_unstable();
    terms.dedup();
    Some(terms.join(" AND "))
}

/// The Date: header's day as written (schema v5); for rows stored before v5 the UTC
/// day of the header's instant, and without a Date: header the internal date's UTC
/// day. Days are floored, so instants before 1970 fall on the right day too.
const SENT_DAY: &str = "COALESCE(m.sent_day,
    (m.header_date - ((m.header_date % 86400000) + 86400000) % 86400000) / 86400000,
    (m.internal_date - ((m.internal_date % 86400000) + 86400000) % 86400000) / 86400000)";

fn date(field: DateField) -> &'static str {
    match field {
        DateField::Internal => "m.internal_date",
        // Without a Date: header the internal date stands in, as other servers do.
        DateField::Header => "COALESCE(m.header_date, m.internal_date)",
        // Answered from the id (see `Compiler::key`); never reached.
        DateField::Saved => "m.internal_date",
    }
}

pub(crate) fn run(tx: &Transaction<'_>, q: &SearchQuery) -> Result<Vec<MessageMeta>> {
    let mut c = Compiler { params: Vec::new() };
    let mut sql = format!("SELECT {} FROM messages m WHERE ", prefixed_cols());
    match q.mailbox {
        Some(mailbox) => {
            let m = c.bind(Value::Blob(mailbox.0.to_vec()));
            let u = c.bind(Value::Blob(q.user.0.to_vec()));
            sql.push_str(&format!("m.mailbox = {m} AND m.user = {u}"));
        }
        None => {
            let u = c.bind(Value::Blob(q.user.0.to_vec()));
            sql.push_str(&format!(
                "m.mailbox IN (SELECT id FROM mailboxes WHERE user = {u})"
            ));
        }
    }
    let cond = c.key(&q.key, 0)?;
    sql.push_str(" AND ");
    sql.push_str(&cond);
    sql.push_str(" ORDER BY m.mailbox, m.uid");
    let mut stmt = tx.prepare(&sql)?;
    let rows = stmt
        .query_map(params_from_iter(&c.params), meta)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

fn prefixed_cols() -> String {
    COLS.split(',')
        .map(|c| format!("m.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::trigram_query;

    #[test]
    fn long_ands_are_balanced() {
        let parts: Vec<String> = (0..5).map(|i| format!("k{i}")).collect();
        assert_eq!(
            super::balanced(&parts, "AND"),
            "(((k0) AND (k1)) AND ((k2) AND ((k3) AND (k4))))"
        );
        assert_eq!(super::balanced(&parts[..1], "AND"), "(k0)");
    }

    #[test]
    fn trigram_queries() {
        assert_eq!(trigram_query("ab"), None);
        assert_eq!(trigram_query("abc").as_deref(), Some("\"abc\""));
        assert_eq!(
            trigram_query("a\"bcd").as_deref(),
            Some("\"\"\"bc\" AND \"a\"\"b\" AND \"bcd\"")
        );
        assert_eq!(trigram_query("aaaa").as_deref(), Some("\"aaa\""));
        assert_eq!(
            trigram_query("Köln").as_deref(),
            Some("\"Köl\" AND \"öln\"")
        );
    }
}
