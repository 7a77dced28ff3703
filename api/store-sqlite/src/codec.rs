//! How domain values are represented in columns: ids as 12-byte blobs, instants as
//! milliseconds since the epoch, unsigned counters as INTEGER, structured fields as
//! JSON text, flag lists as space-separated canonical flags.

use chrono::{DateTime, Utc};
use eider_message::BlobHash;
use eider_service::ObjectId;
use rusqlite::types::Type;
use rusqlite::Row;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::Result;

fn conversion(i: usize, ty: Type, msg: impl Into<String>) -> rusqlite::Error {
    let msg: String = msg.into();
    rusqlite::Error::FromSqlConversionFailure(i, ty, msg.into())
}

pub(crate) fn get_oid(row: &Row<'_>, i: usize) -> rusqlite::Result<ObjectId> {
    row.get::<_, [u8; 12]>(i).map(ObjectId)
}

pub(crate) fn get_opt_oid(row: &Row<'_>, i: usize) -> rusqlite::Result<Option<ObjectId>> {
    Ok(row.get::<_, Option<[u8; 12]>>(i)?.map(ObjectId))
}

pub(crate) fn get_hash(row: &Row<'_>, i: usize) -> rusqlite::Result<BlobHash> {
    row.get::<_, [u8; 32]>(i).map(BlobHash)
}

/// Milliseconds since the epoch, the storage form of every instant.
pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn get_time(row: &Row<'_>, i: usize) -> rusqlite::Result<DateTime<Utc>> {
    let v: i64 = row.get(i)?;
    DateTime::from_timestamp_millis(v).ok_or_else(|| conversion(i, Type::Integer, "bad instant"))
}

pub(crate) fn get_opt_time(row: &Row<'_>, i: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    match row.get::<_, Option<i64>>(i)? {
        None => Ok(None),
        Some(v) => DateTime::from_timestamp_millis(v)
            .map(Some)
            .ok_or_else(|| conversion(i, Type::Integer, "bad instant")),
    }
}

/// SQLite integers are signed; counters and sizes saturate rather than wrap.
pub(crate) fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(crate) fn get_u64(row: &Row<'_>, i: usize) -> rusqlite::Result<u64> {
    let v: i64 = row.get(i)?;
    u64::try_from(v).map_err(|_| conversion(i, Type::Integer, "negative counter"))
}

pub(crate) fn get_opt_u64(row: &Row<'_>, i: usize) -> rusqlite::Result<Option<u64>> {
    match row.get::<_, Option<i64>>(i)? {
        None => Ok(None),
        Some(v) => u64::try_from(v)
            .map(Some)
            .map_err(|_| conversion(i, Type::Integer, "negative counter")),
    }
}

pub(crate) fn json<T: Serialize + ?Sized>(v: &T) -> Result<String> {
    Ok(serde_json::to_string(v)?)
}

pub(crate) fn get_json<T: DeserializeOwned>(row: &Row<'_>, i: usize) -> rusqlite::Result<T> {
    let text = row.get_ref(i)?.as_str()?;
    serde_json::from_str(text).map_err(|e| conversion(i, Type::Text, e.to_string()))
}

/// Flags are atoms (no spaces), so a space-separated string is an exact encoding
/// that SQL functions can scan without a JSON parser.
pub(crate) fn flags_text(flags: &[String]) -> String {
    flags.join(" ")
}

pub(crate) fn parse_flags(text: &str) -> Vec<String> {
    text.split(' ')
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect()
}

pub(crate) fn get_flags(row: &Row<'_>, i: usize) -> rusqlite::Result<Vec<String>> {
    Ok(parse_flags(row.get_ref(i)?.as_str()?))
}

/// A flag set as stored: without blanks, de-duplicated ignoring case, sorted the way
/// the service sorts (by lower-case spelling).
pub(crate) fn flag_set<S: AsRef<str>>(flags: &[S]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(flags.len());
    for f in flags {
        let f = f.as_ref();
        if f.is_empty() || f.chars().any(char::is_whitespace) {
            continue;
        }
        if !out.iter().any(|o| o.eq_ignore_ascii_case(f)) {
            out.push(f.to_string());
        }
    }
    out.sort_by_key(|f| f.to_ascii_lowercase());
    out
}

pub(crate) fn has_flag(flags: &[String], flag: &str) -> bool {
    flags.iter().any(|f| f.eq_ignore_ascii_case(flag))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_round_trip_and_normalize() {
        let set = flag_set(&["\\Seen", "$b", "\\seen", "", "a b", "$A"]);
        assert_eq!(set, vec!["$A", "$b", "\\Seen"]);
        assert_eq!(parse_flags(&flags_text(&set)), set);
        assert!(parse_flags("").is_empty());
        assert!(has_flag(&set, "\\SEEN"));
    }

    #[test]
    fn ints_saturate() {
        assert_eq!(int(u64::MAX), i64::MAX);
        assert_eq!(int(5), 5);
    }
}
