//! SQL functions the queries use, so that a whole SEARCH (with AND/OR/NOT) is one
//! statement: SQLite's `lower()` and `instr()` fold ASCII only, and flags and UID
//! sets need exact, case-insensitive membership tests.

use rusqlite::functions::{Context, FunctionFlags};
use rusqlite::types::ValueRef;
use rusqlite::Connection;

use crate::error::Result;

/// Register every function on `conn`.
pub(crate) fn register(conn: &Connection) -> Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    // eider_contains(haystack, needle): case-insensitive substring; NULL haystack is false.
    conn.create_scalar_function("eider_contains", 2, flags, |ctx| {
        let Some(hay) = text_arg(ctx, 0)? else {
            return Ok(false);
        };
        let needle = text_arg(ctx, 1)?.unwrap_or_default();
        Ok(contains_ci(hay, needle))
    })?;
    // eider_header(search_headers, name, needle): some `name: value` line has needle in value.
    conn.create_scalar_function("eider_header", 3, flags, |ctx| {
        let Some(headers) = text_arg(ctx, 0)? else {
            return Ok(false);
        };
        let name = text_arg(ctx, 1)?.unwrap_or_default();
        let needle = text_arg(ctx, 2)?.unwrap_or_default();
        Ok(header_contains(headers, name, needle))
    })?;
    // eider_has_flag(flags, flag): the space-separated flag list holds flag (any case).
    conn.create_scalar_function("eider_has_flag", 2, flags, |ctx| {
        let list = text_arg(ctx, 0)?.unwrap_or_default();
        let flag = text_arg(ctx, 1)?.unwrap_or_default();
        Ok(list.split(' ').any(|f| f.eq_ignore_ascii_case(flag)))
    })?;
    // eider_uids(uid, spec): uid is in "a:b,c,..."; the parsed set is cached per statement.
    conn.create_scalar_function("eider_uids", 2, flags, |ctx| {
        let uid: i64 = ctx.get(0)?;
        let set =
            ctx.get_or_create_aux(1, |v: ValueRef<'_>| -> Result<Vec<(i64, i64)>, String> {
                parse_uid_spec(v.as_str().map_err(|e| e.to_string())?)
            })?;
        let hit = set
            .binary_search_by(|&(lo, hi)| {
                if hi < uid {
                    std::cmp::Ordering::Less
                } else if lo > uid {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .is_ok();
        Ok(hit)
    })?;
    // eider_lower(text): Unicode lower case (tags, list filters).
    conn.create_scalar_function("eider_lower", 1, flags, |ctx| {
        Ok(text_arg(ctx, 0)?.map(str::to_lowercase))
    })?;
    Ok(())
}

fn text_arg<'a>(ctx: &'a Context<'_>, i: usize) -> rusqlite::Result<Option<&'a str>> {
    match ctx.get_raw(i) {
        ValueRef::Null => Ok(None),
        ValueRef::Text(t) => {
            Ok(Some(std::str::from_utf8(t).map_err(|e| {
                rusqlite::Error::UserFunctionError(Box::new(e))
            })?))
        }
        ValueRef::Blob(b) => Ok(std::str::from_utf8(b).ok()),
        _ => Ok(None),
    }
}

/// Case-insensitive substring test. ASCII needles are compared without allocating
/// (the common case: IMAP SEARCH terms); others fold both sides with Unicode rules.
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
pub(crate) fn header_contains(headers: &str, name: &str, needle: &str) -> bool {
    headers.lines().any(|line| {
        line.split_once(':').is_some_and(|(key, value)| {
            key.trim().eq_ignore_ascii_case(name.trim()) && contains_ci(value.trim(), needle)
        })
    })
}

/// Render UID ranges as the compact spec `eider_uids` reads.
pub(crate) fn uid_spec(ranges: &[(u32, u32)]) -> String {
    let mut s = String::with_capacity(ranges.len() * 8);
    for (i, (lo, hi)) in ranges.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&lo.to_string());
        s.push(':');
        s.push_str(&hi.to_string());
    }
    s
}

fn parse_uid_spec(spec: &str) -> Result<Vec<(i64, i64)>, String> {
    let mut out = Vec::new();
    for part in spec.split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once(':').unwrap_or((part, part));
        let a: i64 = a.parse().map_err(|_| format!("bad uid range {part:?}"))?;
        let b: i64 = b.parse().map_err(|_| format!("bad uid range {part:?}"))?;
        out.push((a.min(b), a.max(b)));
    }
    out.sort_unstable();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substring_ignores_case() {
        assert!(contains_ci("Hello World", "lo wo"));
        assert!(contains_ci("Hello World", ""));
        assert!(!contains_ci("Hello", "hello!"));
        assert!(contains_ci("Grüße aus KÖLN", "köln"));
        assert!(contains_ci("ÉCOLE", "école"));
        assert!(!contains_ci("abc", "abd"));
    }

    #[test]
    fn header_lines() {
        let h = "From: Alice <alice@example.com>\nSubject: Hi there\nX-Empty: \n";
        assert!(header_contains(h, "subject", "THERE"));
        assert!(header_contains(h, "x-empty", ""));
        assert!(!header_contains(h, "to", ""));
        assert!(!header_contains(h, "from", "there"));
    }

    #[test]
    fn functions_in_sql() {
        let conn = Connection::open_in_memory().expect("open");
        register(&conn).expect("register");
        let q = |sql: &str| -> bool { conn.query_row(sql, [], |r| r.get(0)).expect("query") };
        assert!(q("SELECT eider_contains('Grüße', 'GRÜ')"));
        assert!(!q("SELECT eider_contains(NULL, 'x')"));
        assert!(q("SELECT eider_has_flag('\\Seen $Work', '$work')"));
        assert!(!q("SELECT eider_has_flag('', '$work')"));
        assert!(q("SELECT eider_uids(5, '1:3,5:5,9:12')"));
        assert!(!q("SELECT eider_uids(4, '1:3,5:5,9:12')"));
        assert!(q("SELECT eider_header('To: bob@example.com', 'TO', 'BOB')"));
        assert_eq!(uid_spec(&[(1, 3), (7, 7)]), "1:3,7:7");
    }
}
