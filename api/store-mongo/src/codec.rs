//! How domain values are stored in documents: ids as ObjectIds, instants as BSON
//! dates (millisecond precision), counters as Int64 (saturating), flag lists as
//! arrays (with a lower-cased copy for case-insensitive queries), blob hashes as
//! 32-byte binaries, and API JSON (meta_data, internal_data) as JSON text so that
//! any key (including `$` or `.`) and any number survive unchanged.

use chrono::{DateTime, Utc};
use eider_message::BlobHash;
use eider_service::ObjectId;
use mongodb::bson::oid::ObjectId as Oid;
use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::{Binary, Bson, DateTime as BDate, Document};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};

pub(crate) fn oid(id: ObjectId) -> Oid {
    Oid::from_bytes(id.0)
}

pub(crate) fn from_oid(id: Oid) -> ObjectId {
    ObjectId(id.bytes())
}

pub(crate) fn date(t: DateTime<Utc>) -> BDate {
    BDate::from_millis(t.timestamp_millis())
}

pub(crate) fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(crate) fn bin(bytes: Vec<u8>) -> Binary {
    Binary {
        subtype: BinarySubtype::Generic,
        bytes,
    }
}

pub(crate) fn hash_bson(h: &BlobHash) -> Bson {
    Bson::Binary(bin(h.0.to_vec()))
}

pub(crate) fn json_text<T: Serialize + ?Sized>(v: &T) -> Result<String> {
    Ok(serde_json::to_string(v)?)
}

/// Read access to stored documents, lenient about integer widths (a server may
/// answer Int32 for small numbers) and strict about everything else.
pub(crate) trait DocExt {
    fn field(&self, key: &str) -> Option<&Bson>;

    fn missing(&self, key: &str) -> Error {
        Error::corrupt(format!("stored document lacks {key}"))
    }

    fn id(&self, key: &str) -> Result<ObjectId> {
        match self.field(key) {
            Some(Bson::ObjectId(o)) => Ok(from_oid(*o)),
            _ => Err(self.missing(key)),
        }
    }

    fn opt_id(&self, key: &str) -> Result<Option<ObjectId>> {
        match self.field(key) {
            None | Some(Bson::Null) => Ok(None),
            Some(Bson::ObjectId(o)) => Ok(Some(from_oid(*o))),
            _ => Err(self.missing(key)),
        }
    }

    fn i64(&self, key: &str) -> Result<i64> {
        match self.field(key) {
            Some(Bson::Int64(v)) => Ok(*v),
            Some(Bson::Int32(v)) => Ok(i64::from(*v)),
            Some(Bson::Double(v)) if v.fract() == 0.0 => Ok(*v as i64),
            _ => Err(self.missing(key)),
        }
    }

    fn opt_i64(&self, key: &str) -> Result<Option<i64>> {
        match self.field(key) {
            None | Some(Bson::Null) => Ok(None),
            _ => self.i64(key).map(Some),
        }
    }

    fn u64(&self, key: &str) -> Result<u64> {
        Ok(self.i64(key)?.max(0) as u64)
    }

    fn u32(&self, key: &str) -> Result<u32> {
        u32::try_from(self.i64(key)?).map_err(|_| self.missing(key))
    }

    fn str(&self, key: &str) -> Result<&str> {
        match self.field(key) {
            Some(Bson::String(s)) => Ok(s),
            _ => Err(self.missing(key)),
        }
    }

    fn opt_str(&self, key: &str) -> Result<Option<String>> {
        match self.field(key) {
            None | Some(Bson::Null) => Ok(None),
            Some(Bson::String(s)) => Ok(Some(s.clone())),
            _ => Err(self.missing(key)),
        }
    }

    fn bool(&self, key: &str) -> Result<bool> {
        match self.field(key) {
            Some(Bson::Boolean(b)) => Ok(*b),
            None | Some(Bson::Null) => Ok(false),
            _ => Err(self.missing(key)),
        }
    }

    fn time(&self, key: &str) -> Result<DateTime<Utc>> {
        match self.field(key) {
            Some(Bson::DateTime(d)) => DateTime::from_timestamp_millis(d.timestamp_millis())
                .ok_or_else(|| self.missing(key)),
            _ => Err(self.missing(key)),
        }
    }

    fn opt_time(&self, key: &str) -> Result<Option<DateTime<Utc>>> {
        match self.field(key) {
            None | Some(Bson::Null) => Ok(None),
            _ => self.time(key).map(Some),
        }
    }

    fn strings(&self, key: &str) -> Result<Vec<String>> {
        match self.field(key) {
            None | Some(Bson::Null) => Ok(Vec::new()),
            Some(Bson::Array(a)) => a
                .iter()
                .map(|v| match v {
                    Bson::String(s) => Ok(s.clone()),
                    _ => Err(self.missing(key)),
                })
                .collect(),
            _ => Err(self.missing(key)),
        }
    }

    fn bytes(&self, key: &str) -> Result<&[u8]> {
        match self.field(key) {
            Some(Bson::Binary(b)) => Ok(&b.bytes),
            _ => Err(self.missing(key)),
        }
    }

    fn hash(&self, key: &str) -> Result<BlobHash> {
        hash_of(self.field(key)).ok_or_else(|| self.missing(key))
    }

    fn json<T: DeserializeOwned>(&self, key: &str) -> Result<T> {
        Ok(serde_json::from_str(self.str(key)?)?)
    }
}

impl DocExt for Document {
    fn field(&self, key: &str) -> Option<&Bson> {
        self.get(key)
    }
}

pub(crate) fn hash_of(v: Option<&Bson>) -> Option<BlobHash> {
    match v {
        Some(Bson::Binary(b)) => <[u8; 32]>::try_from(b.bytes.as_slice()).ok().map(BlobHash),
        _ => None,
    }
}

/// A flag set as stored: without blanks, de-duplicated ignoring case, sorted by
/// lower-case spelling (the order the service and the other backend use).
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

/// Lower-cased copies, for indexed case-insensitive matching (flags, tags).
pub(crate) fn lowered(v: &[String]) -> Vec<String> {
    v.iter().map(|s| s.to_lowercase()).collect()
}

/// A regular expression matching `needle` literally, anywhere.
pub(crate) fn literal_regex(needle: &str) -> String {
    let mut out = String::with_capacity(needle.len() + 8);
    for c in needle.chars() {
        if "\\^$.|?*+()[]{}/-#&~ ".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_normalize() {
        assert_eq!(
            flag_set(&["\\Seen", "$b", "\\seen", "", "a b", "$A"]),
            vec!["$A", "$b", "\\Seen"]
        );
    }

    #[test]
    fn ids_round_trip() {
        let id = ObjectId::new();
        assert_eq!(from_oid(oid(id)), id);
        assert_eq!(oid(id).to_hex(), id.to_hex());
    }

    #[test]
    fn regex_escapes() {
        assert_eq!(literal_regex("a.b*c"), "a\\.b\\*c");
        assert_eq!(literal_regex("x(y)"), "x\\(y\\)");
    }
}
