//! WildDuck's data export container, as its `lib/export.js` writes it: three magic
//! bytes, then frames of a 32-bit little-endian length and a msgpack array
//! `[type, data]`. Type 1 is the header (`{type: "wildduck_data_export", users,
//! tags, created}`), type 2 a record `{client, collection, entry}` whose entry is
//! one BSON document.
//!
//! Records are rendered from the service's domain records: the fields WildDuck's
//! collections have under their names (so the dump reads like WildDuck's), and the
//! whole Eider record under `eider`, which is what an import reads back. Messages
//! are Eider's extension, under the client name `eider` that WildDuck's importer
//! passes over.

use bson::spec::BinarySubtype;
use bson::{doc, Binary, Bson, Document};
use chrono::{DateTime, Utc};
use eider_service::{DataRecord, ExportedMessage, ObjectId};
use rmpv::Value;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub const MAGIC: [u8; 3] = [0x09, 0x06, 0x82];
pub const TYPE_HEADER: u64 = 1;
pub const TYPE_CONTENT: u64 = 2;
pub const EXPORT_TYPE: &str = "wildduck_data_export";

/// Why a data file is refused as a whole (WildDuck's codes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("Invalid content sequence")]
    InvalidSequence,
    #[error("Invalid data file")]
    InvalidData,
    #[error("Data file ends inside a record")]
    Truncated,
    #[error("Record of {0} bytes is larger than allowed")]
    TooLarge(usize),
}

impl FormatError {
    pub fn code(&self) -> &'static str {
        match self {
            FormatError::InvalidData => "INVALID_DATA",
            _ => "INVALID_SEQUENCE",
        }
    }
}

/// One frame: the length prefix and `[type, data]` in msgpack.
pub fn frame(kind: u64, data: Value) -> Vec<u8> {
    let mut body = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = rmpv::encode::write_value(&mut body, &Value::Array(vec![Value::from(kind), data]));
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// msgpack's timestamp extension (-1), as msgpack5 writes a JavaScript Date.
fn timestamp(t: DateTime<Utc>) -> Value {
    let secs = t.timestamp();
    let nanos = u64::from(t.timestamp_subsec_nanos());
    let data = if (0..1 << 34).contains(&secs) {
        ((nanos << 34) | secs as u64).to_be_bytes().to_vec()
    } else {
        let mut d = (nanos as u32).to_be_bytes().to_vec();
        d.extend_from_slice(&secs.to_be_bytes());
        d
    };
    Value::Ext(-1, data)
}

/// The magic bytes and the header frame.
pub fn header(users: &[ObjectId], tags: &[String], messages: bool) -> Vec<u8> {
    let list = |v: Vec<String>| Value::Array(v.into_iter().map(Value::from).collect());
    let meta = Value::Map(vec![
        (Value::from("type"), Value::from(EXPORT_TYPE)),
        (
            Value::from("users"),
            list(users.iter().map(|u| u.to_hex()).collect()),
        ),
        (Value::from("tags"), list(tags.to_vec())),
        (Value::from("messages"), Value::from(messages)),
        (Value::from("created"), timestamp(Utc::now())),
    ]);
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&frame(TYPE_HEADER, meta));
    out
}

fn oid(id: ObjectId) -> Bson {
    Bson::ObjectId(bson::oid::ObjectId::from_bytes(id.0))
}

fn date(t: DateTime<Utc>) -> Bson {
    Bson::DateTime(bson::DateTime::from_millis(t.timestamp_millis()))
}

fn eider<T: Serialize>(v: &T) -> Result<Bson, String> {
    bson::to_bson(v).map_err(|e| e.to_string())
}

/// A content frame for one record.
pub fn record(r: &DataRecord) -> Result<Vec<u8>, String> {
    let (client, collection, doc) = render(r)?;
    let mut entry = Vec::new();
    doc.to_writer(&mut entry).map_err(|e| e.to_string())?;
    let data = Value::Map(vec![
        (Value::from("client"), Value::from(client)),
        (Value::from("collection"), Value::from(collection)),
        (Value::from("entry"), Value::Binary(entry)),
    ]);
    Ok(frame(TYPE_CONTENT, data))
}

fn render(r: &DataRecord) -> Result<(&'static str, &'static str, Document), String> {
    Ok(match r {
        DataRecord::User(u) => (
            "users",
            "users",
            doc! {
                "_id": oid(u.id), "username": &u.username, "unameview": &u.unameview,
                "name": u.name.clone(), "address": &u.address, "password": u.password.clone(),
                "quota": u.quota as i64, "storageUsed": 0_i64, "tags": u.tags.clone(),
                "disabled": u.disabled, "suspended": u.suspended, "created": date(u.created),
                "eider": eider(u)?,
            },
        ),
        DataRecord::Address(a) => (
            "users",
            "addresses",
            doc! {
                "_id": oid(a.id), "user": a.user.map(oid), "address": &a.address,
                "addrview": &a.addrview, "name": a.name.clone(), "tags": a.tags.clone(),
                "created": date(a.created), "eider": eider(a)?,
            },
        ),
        DataRecord::Asp(a) => (
            "users",
            "asps",
            doc! {
                "_id": oid(a.id), "user": oid(a.user), "description": &a.description,
                "scopes": a.scopes.clone(), "password": &a.password, "created": date(a.created),
                "eider": eider(a)?,
            },
        ),
        DataRecord::Mailbox(m) => (
            "database",
            "mailboxes",
            doc! {
                "_id": oid(m.id), "user": oid(m.user), "path": &m.path,
                "specialUse": m.special_use.map(|s| s.as_str()),
                "uidValidity": i64::from(m.uid_validity), "uidNext": i64::from(m.uid_next),
                "modifyIndex": m.modify_index as i64, "subscribed": m.subscribed,
                "retention": m.retention as i64, "hidden": m.hidden, "eider": eider(m)?,
            },
        ),
        DataRecord::Autoreply { user, autoreply } => (
            "database",
            "autoreplies",
            doc! {
                "_id": autoreply.id.map(oid), "user": oid(*user), "status": autoreply.status,
                "subject": autoreply.subject.clone(), "eider": eider(autoreply)?,
            },
        ),
        DataRecord::Filter(f) => (
            "database",
            "filters",
            doc! {
                "_id": oid(f.id), "user": oid(f.user), "name": f.name.clone(),
                "disabled": f.disabled, "created": date(f.created), "eider": eider(f)?,
            },
        ),
        DataRecord::Message(m) => (
            "eider",
            "messages",
            doc! {
                "_id": oid(m.meta.id), "user": oid(m.meta.user), "mailbox": oid(m.meta.mailbox),
                "uid": i64::from(m.meta.uid), "flags": m.meta.flags.clone(),
                "idate": date(m.meta.internal_date), "size": m.meta.size as i64,
                "raw": Binary { subtype: BinarySubtype::Generic, bytes: m.raw.clone() },
                "eider": eider(&m.meta)?,
            },
        ),
    })
}

fn field<T: DeserializeOwned>(doc: &Document) -> Result<T, String> {
    let e = doc
        .get("eider")
        .ok_or("not an Eider record (no \"eider\" field)")?;
    bson::from_bson(e.clone()).map_err(|e| format!("invalid record: {e}"))
}

fn user_of(doc: &Document) -> Result<ObjectId, String> {
    match doc.get("user") {
        Some(Bson::ObjectId(o)) => Ok(ObjectId(o.bytes())),
        _ => Err("record without its user".into()),
    }
}

/// A record back from its frame data. `Ok(None)`: a kind Eider does not import.
pub fn parse_record(data: Value) -> Result<Option<DataRecord>, String> {
    let Value::Map(entries) = data else {
        return Err("record is not a map".into());
    };
    let get = |k: &str| {
        entries
            .iter()
            .find(|(n, _)| n.as_str() == Some(k))
            .map(|(_, v)| v)
    };
    let client = get("client").and_then(Value::as_str).unwrap_or("");
    let collection = get("collection").and_then(Value::as_str).unwrap_or("");
    let bytes = match get("entry") {
        Some(Value::Binary(b)) => b.as_slice(),
        _ => return Err("record without a document".into()),
    };
    let doc = Document::from_reader(bytes).map_err(|e| format!("invalid document: {e}"))?;
    Ok(Some(match (client, collection) {
        ("users", "users") => DataRecord::User(field(&doc)?),
        ("users", "addresses") => DataRecord::Address(field(&doc)?),
        ("users", "asps") => DataRecord::Asp(field(&doc)?),
        ("database", "mailboxes") => DataRecord::Mailbox(field(&doc)?),
        ("database", "autoreplies") => DataRecord::Autoreply {
            user: user_of(&doc)?,
            autoreply: field(&doc)?,
        },
        ("database", "filters") => DataRecord::Filter(field(&doc)?),
        ("eider", "messages") => {
            let raw = match doc.get("raw") {
                Some(Bson::Binary(b)) => b.bytes.clone(),
                _ => return Err("message without its bytes".into()),
            };
            DataRecord::Message(ExportedMessage {
                meta: field(&doc)?,
                raw,
            })
        }
        _ => return Ok(None),
    }))
}

/// The header's fields an import needs: whether it is an export, and whether it
/// carries messages.
pub fn parse_header(data: &Value) -> Result<bool, FormatError> {
    let Value::Map(entries) = data else {
        return Err(FormatError::InvalidData);
    };
    let get = |k: &str| {
        entries
            .iter()
            .find(|(n, _)| n.as_str() == Some(k))
            .map(|(_, v)| v)
    };
    if get("type").and_then(Value::as_str) != Some(EXPORT_TYPE) {
        return Err(FormatError::InvalidData);
    }
    Ok(get("messages").and_then(Value::as_bool).unwrap_or(false))
}

/// Reads frames from a byte stream as it arrives, holding at most one record.
pub struct FrameReader {
    buf: Vec<u8>,
    magic_seen: bool,
    max_record: usize,
}

impl FrameReader {
    pub fn new(max_record: usize) -> Self {
        Self {
            buf: Vec::new(),
            magic_seen: false,
            max_record,
        }
    }

    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete frame, None when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<(u64, Value)>, FormatError> {
        if !self.magic_seen {
            let n = self.buf.len().min(3);
            if self.buf[..n] != MAGIC[..n] {
                return Err(FormatError::InvalidSequence);
            }
            if n < 3 {
                return Ok(None);
            }
            self.buf.drain(..3);
            self.magic_seen = true;
        }
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_le_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
        if len > self.max_record {
            return Err(FormatError::TooLarge(len));
        }
        if self.buf.len() < 4 + len {
            return Ok(None);
        }
        let mut slice = &self.buf[4..4 + len];
        let value =
            rmpv::decode::read_value(&mut slice).map_err(|_| FormatError::InvalidSequence)?;
        if !slice.is_empty() {
            return Err(FormatError::InvalidSequence);
        }
        self.buf.drain(..4 + len);
        let Value::Array(mut parts) = value else {
            return Err(FormatError::InvalidSequence);
        };
        if parts.len() != 2 {
            return Err(FormatError::InvalidSequence);
        }
        let data = parts.pop().unwrap_or(Value::Nil);
        let kind = parts
            .pop()
            .and_then(|k| k.as_u64())
            .ok_or(FormatError::InvalidSequence)?;
        Ok(Some((kind, data)))
    }

    /// At the end of the stream: anything left is a cut record (or a file too short
    /// to be one).
    pub fn finish(&self) -> Result<(), FormatError> {
        if !self.magic_seen {
            return Err(FormatError::InvalidSequence);
        }
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(FormatError::Truncated)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_read_back_across_any_split() {
        let mut file = header(&[ObjectId::new()], &["a".into()], true);
        file.extend_from_slice(&frame(
            TYPE_CONTENT,
            Value::Map(vec![(Value::from("client"), Value::from("x"))]),
        ));
        for split in 0..file.len() {
            let mut r = FrameReader::new(1 << 20);
            let mut frames = Vec::new();
            for part in [&file[..split], &file[split..]] {
                r.push(part);
                while let Some(f) = r.next_frame().expect("valid") {
                    frames.push(f);
                }
            }
            r.finish().expect("complete");
            assert_eq!(frames.len(), 2);
            assert_eq!(frames[0].0, TYPE_HEADER);
            assert_eq!(parse_header(&frames[0].1), Ok(true));
            assert_eq!(frames[1].0, TYPE_CONTENT);
        }
    }

    #[test]
    fn bad_files_are_refused() {
        let mut r = FrameReader::new(1 << 20);
        r.push(b"{\"json\": true}");
        assert_eq!(r.next_frame(), Err(FormatError::InvalidSequence));

        let file = header(&[], &[], false);
        let mut r = FrameReader::new(1 << 20);
        r.push(&file[..file.len() - 1]);
        assert_eq!(r.next_frame(), Ok(None));
        assert_eq!(r.finish(), Err(FormatError::Truncated));

        let mut r = FrameReader::new(8);
        r.push(&file);
        assert!(matches!(r.next_frame(), Err(FormatError::TooLarge(_))));

        let other = Value::Map(vec![(Value::from("type"), Value::from("zip"))]);
        assert_eq!(parse_header(&other), Err(FormatError::InvalidData));
    }
}
