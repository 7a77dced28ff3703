//! SEARCH criteria (RFC 3501 6.4.4, RFC 7162 MODSEQ).

use super::lexer::{Cursor, PResult};
use super::types::SearchKey;
use super::ParseError;

/// Deepest nesting of parentheses, NOT and OR accepted.
const MAX_DEPTH: usize = 32;
/// Most keys in one program, counted at every depth (NOT, OR and parentheses
/// included). Checked here so that a huge program is refused before the store
/// sees it.
pub const MAX_KEYS: usize = 5_000;
// The error texts below name both limits.
const _: () = assert!(MAX_KEYS == 5_000 && MAX_DEPTH == 32);

/// `1*(SP search-key)` up to the end of the command, as one AND.
pub fn search_program(c: &mut Cursor<'_>) -> PResult<SearchKey> {
    let mut count = 0;
    let mut keys = vec![search_key(c, 0, &mut count)?];
    while c.peek() == Some(b' ') {
        c.sp()?;
        keys.push(search_key(c, 0, &mut count)?);
    }
    Ok(if keys.len() == 1 {
        keys.remove(0)
    } else {
        SearchKey::And(keys)
    })
}

fn search_key(c: &mut Cursor<'_>, depth: usize, count: &mut usize) -> PResult<SearchKey> {
    if depth > MAX_DEPTH {
        return Err(ParseError::new(
            "search criteria nested too deeply (max 32 levels)",
        ));
    }
    *count += 1;
    if *count > MAX_KEYS {
        return Err(ParseError::new("too many search keys (max 5000)"));
    }
    if c.eat(b'(') {
        let mut keys = vec![search_key(c, depth + 1, count)?];
        while !c.eat(b')') {
            c.sp()?;
            keys.push(search_key(c, depth + 1, count)?);
        }
        return Ok(if keys.len() == 1 {
            keys.remove(0)
        } else {
            SearchKey::And(keys)
        });
    }
    if c.at_sequence_set() {
        return Ok(SearchKey::SeqSet(c.sequence_set()?));
    }
    let word = c.keyword()?;
    let arg = |c: &mut Cursor<'_>| -> PResult<Vec<u8>> {
        c.sp()?;
        c.astring()
    };
    Ok(match word.as_str() {
        "ALL" => SearchKey::All,
        "ANSWERED" => SearchKey::Answered,
        "DELETED" => SearchKey::Deleted,
        "DRAFT" => SearchKey::Draft,
        "FLAGGED" => SearchKey::Flagged,
        "NEW" => SearchKey::New,
        "OLD" => SearchKey::Old,
        "RECENT" => SearchKey::Recent,
        "SEEN" => SearchKey::Seen,
        "UNANSWERED" => SearchKey::Unanswered,
        "UNDELETED" => SearchKey::Undeleted,
        "UNDRAFT" => SearchKey::Undraft,
        "UNFLAGGED" => SearchKey::Unflagged,
        "UNSEEN" => SearchKey::Unseen,
        "KEYWORD" => {
            c.sp()?;
            SearchKey::Keyword(c.flag(false)?)
        }
        "UNKEYWORD" => {
            c.sp()?;
            SearchKey::Unkeyword(c.flag(false)?)
        }
        "BCC" => SearchKey::Bcc(arg(c)?),
        "CC" => SearchKey::Cc(arg(c)?),
        "FROM" => SearchKey::From(arg(c)?),
        "TO" => SearchKey::To(arg(c)?),
        "SUBJECT" => SearchKey::Subject(arg(c)?),
        "BODY" => SearchKey::Body(arg(c)?),
        "TEXT" => SearchKey::Text(arg(c)?),
        "HEADER" => {
            let name = arg(c)?;
            if name.is_empty() || name.iter().any(|&b| b <= b' ' || b == b':' || b >= 0x7f) {
                return Err(ParseError::new("invalid header field name"));
            }
            let value = arg(c)?;
            SearchKey::Header(String::from_utf8_lossy(&name).into_owned(), value)
        }
        "SAVEDATESUPPORTED" => SearchKey::SaveDateSupported,
        "EMAILID" | "THREADID" => {
            c.sp()?;
            // objectid = 1*255(ALPHA / DIGIT / "_" / "-")
            let id = c.atom()?;
            if id.len() > 255
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(ParseError::new("invalid object id"));
            }
            if word == "EMAILID" {
                SearchKey::EmailId(id)
            } else {
                SearchKey::ThreadId(id)
            }
        }
        "SAVEDBEFORE" | "SAVEDON" | "SAVEDSINCE" => {
            c.sp()?;
            let d = c.date()?;
            match word.as_str() {
                "SAVEDBEFORE" => SearchKey::SavedBefore(d),
                "SAVEDON" => SearchKey::SavedOn(d),
                _ => SearchKey::SavedSince(d),
            }
        }
        "BEFORE" | "ON" | "SINCE" | "SENTBEFORE" | "SENTON" | "SENTSINCE" => {
            c.sp()?;
            let d = c.date()?;
            match word.as_str() {
                "BEFORE" => SearchKey::Before(d),
                "ON" => SearchKey::On(d),
                "SINCE" => SearchKey::Since(d),
                "SENTBEFORE" => SearchKey::SentBefore(d),
                "SENTON" => SearchKey::SentOn(d),
                _ => SearchKey::SentSince(d),
            }
        }
        "LARGER" => {
            c.sp()?;
            SearchKey::Larger(c.number64()?)
        }
        "SMALLER" => {
            c.sp()?;
            SearchKey::Smaller(c.number64()?)
        }
        "UID" => {
            c.sp()?;
            SearchKey::Uid(c.sequence_set()?)
        }
        "MODSEQ" => {
            c.sp()?;
            // Optional entry name and type: MODSEQ "/flags/\\Seen" all 5
            if c.peek() == Some(b'"') {
                c.quoted()?;
                c.sp()?;
                let t = c.keyword()?;
                if !matches!(t.as_str(), "PRIV" | "SHARED" | "ALL") {
                    return Err(ParseError::new("invalid MODSEQ entry type"));
                }
                c.sp()?;
            }
            SearchKey::ModSeq(c.number64()?)
        }
        "NOT" => {
            c.sp()?;
            SearchKey::Not(Box::new(search_key(c, depth + 1, count)?))
        }
        "OR" => {
            c.sp()?;
            let a = search_key(c, depth + 1, count)?;
            c.sp()?;
            let b = search_key(c, depth + 1, count)?;
            SearchKey::Or(Box::new(a), Box::new(b))
        }
        _ => return Err(ParseError::new("unknown search key")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::types::{SeqBound, SequenceSet};
    use chrono::NaiveDate;

    fn parse(s: &str) -> PResult<SearchKey> {
        let mut c = Cursor::new(s.as_bytes());
        let k = search_program(&mut c)?;
        c.end()?;
        Ok(k)
    }

    #[test]
    fn nesting() {
        let k = parse("OR (FROM alice SINCE 1-Jan-2020) NOT 2:* UNSEEN").expect("parse");
        assert_eq!(
            k,
            SearchKey::And(vec![
                SearchKey::Or(
                    Box::new(SearchKey::And(vec![
                        SearchKey::From(b"alice".to_vec()),
                        SearchKey::Since(NaiveDate::from_ymd_opt(2020, 1, 1).expect("date")),
                    ])),
                    Box::new(SearchKey::Not(Box::new(SearchKey::SeqSet(SequenceSet(
                        vec![(SeqBound::Num(2), SeqBound::Star)]
                    ))))),
                ),
                SearchKey::Unseen,
            ])
        );
        assert!(parse("HEADER \"X-Foo\" \"\"").is_ok());
        assert!(parse("MODSEQ \"/flags/\\\\draft\" all 620162338").is_ok());
        assert!(parse("FROM").is_err());
        assert!(parse("(").is_err());
        assert!(parse(&format!("{}ALL", "NOT ".repeat(100))).is_err());
        assert!(parse(&format!("{}ALL", "NOT ".repeat(10))).is_ok());
        let deep = format!("{}ALL{}", "(".repeat(500), ")".repeat(500));
        assert!(parse(&deep).is_err());
        // Deep nesting is refused before it can exhaust the stack.
        let deeper = format!("{}ALL{}", "(".repeat(100_000), ")".repeat(100_000));
        assert!(parse(&deeper).is_err());
        assert!(parse(&format!("{}ALL", "NOT ".repeat(100_000))).is_err());
        assert!(parse(&format!("{}ALL ALL", "OR ".repeat(100_000))).is_err());
    }

    #[test]
    fn key_count_is_bounded_at_every_depth() {
        let flat = |n: usize| vec!["SEEN"; n].join(" ");
        assert!(parse(&flat(MAX_KEYS)).is_ok());
        let err = parse(&flat(MAX_KEYS + 1)).err().map(|e| e.message);
        assert_eq!(err, Some("too many search keys (max 5000)"));
        // Parenthesised lists count toward the same total.
        let nested = format!("({}) ({})", flat(MAX_KEYS / 2), flat(MAX_KEYS / 2));
        assert!(parse(&nested).is_err());
    }
}
