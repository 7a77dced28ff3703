//! Message contents: what the copies of one message share (index, layout, skeleton
//! blob, attachment blobs and search text), reference-counted by message documents.
//!
//! A `contents` document: `refs`, `skel` (skeleton hash), `blobs` (every blob it
//! holds a reference to, the skeleton included, once), `layout` (JSON text), the
//! index without its search text (`ix`: zstd JSON, or `ixb`: a blob when large) and
//! the search text (`sh`/`sb`: headers/body strings, or `tb`: a blob when large), so
//! that no document approaches MongoDB's 16 MB limit.

use std::collections::HashSet;

use std::collections::HashMap;

use eider_message::{BlobHash, BodyPart, Layout, MessageIndex};
use eider_service::model::{FetchWant, ImapStrings, MessageBody, NewContent};
use eider_service::ObjectId;
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::ReturnDocument;
use mongodb::ClientSession;

use crate::blobs::{self, PreparedBlob};
use crate::codec::{bin, hash_bson, hash_of, oid, DocExt};
use crate::compress;
use crate::error::{Error, Result};
use crate::names::CONTENTS;
use crate::MongoStore;

/// Compressed indexes larger than this are stored as a blob.
const INLINE_INDEX: usize = 4 * 1024 * 1024;
/// Search text larger than this (headers + body) is stored as a blob.
const INLINE_TEXT: usize = 1024 * 1024;

/// A content ready to store: serialized and compressed before the transaction.
pub(crate) struct PreparedContent {
    pub(crate) oid: ObjectId,
    skeleton: BlobHash,
    /// Blobs to store, the skeleton first, each hash once.
    pub(crate) blobs: Vec<PreparedBlob>,
    /// Blobs the layout references that were not supplied: they must be stored already.
    borrowed: Vec<BlobHash>,
    layout: String,
    index: Stored,
    /// ENVELOPE, BODYSTRUCTURE and BODY strings, kept out of the index so FETCH
    /// reads them without it (`ie`, `ibs`, `ib`).
    imap: [String; 3],
    /// zstd(JSON(root part)) (`mime`): section offsets without the index.
    mime: Vec<u8>,
    text: TextStore,
    pub(crate) size: u64,
    pub(crate) subject: String,
    pub(crate) message_id: Option<String>,
    /// Date header, ms since the epoch.
    pub(crate) header_date: Option<i64>,
    pub(crate) has_attachments: bool,
}

enum Stored {
    Inline(Vec<u8>),
    Blob(BlobHash),
}

enum TextStore {
    Inline(String, String),
    Blob(BlobHash),
}

/// Total bytes of blob data in `content` (decides whether preparing is worth a thread hop).
pub(crate) fn blob_bytes(content: &NewContent) -> usize {
    content.skeleton.len() + content.blobs.iter().map(|b| b.data.len()).sum::<usize>()
}

fn frame_text(headers: &str, body: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + headers.len() + body.len());
    v.extend_from_slice(&(headers.len() as u64).to_be_bytes());
    v.extend_from_slice(headers.as_bytes());
    v.extend_from_slice(body.as_bytes());
    v
}

fn unframe_text(v: &[u8]) -> Result<(String, String)> {
    let bad = || Error::corrupt("search text blob is malformed");
    let head = v.get(..8).ok_or_else(bad)?;
    let n = u64::from_be_bytes(<[u8; 8]>::try_from(head).map_err(|_| bad())?) as usize;
    let headers = v.get(8..8 + n).ok_or_else(bad)?;
    let body = v.get(8 + n..).ok_or_else(bad)?;
    Ok((
        String::from_utf8(headers.to_vec()).map_err(|_| bad())?,
        String::from_utf8(body.to_vec()).map_err(|_| bad())?,
    ))
}

/// Serialize and compress (CPU work: run off the async workers for large content).
pub(crate) fn prepare(content: NewContent) -> Result<PreparedContent> {
    let NewContent {
        mut index,
        layout,
        skeleton,
        blobs: supplied,
    } = content;
    let skeleton_hash = BlobHash::of(&skeleton);
    let headers = std::mem::take(&mut index.search_headers);
    let body = std::mem::take(&mut index.search_body);
    let imap = [
        std::mem::take(&mut index.imap_envelope),
        std::mem::take(&mut index.imap_bodystructure),
        std::mem::take(&mut index.imap_body),
    ];
    let mime = compress::compress(&serde_json::to_vec(&index.root)?)?;
    let index_json = serde_json::to_vec(&index)?;

    let mut seen: HashSet<BlobHash> = HashSet::new();
    let mut blobs = Vec::with_capacity(supplied.len() + 1);
    seen.insert(skeleton_hash);
    blobs.push(PreparedBlob::new(skeleton_hash, skeleton));
    for b in supplied {
        if seen.insert(b.hash) {
            blobs.push(PreparedBlob::new(b.hash, b.data));
        }
    }
    let borrowed: Vec<BlobHash> = layout
        .blob_hashes()
        .into_iter()
        .filter(|h| !seen.contains(h))
        .collect();
    let packed = compress::compress(&index_json)?;
    let index_store = if packed.len() <= INLINE_INDEX {
        Stored::Inline(packed)
    } else {
        let h = BlobHash::of(&index_json);
        if seen.insert(h) {
            blobs.push(PreparedBlob::new(h, index_json));
        }
        Stored::Blob(h)
    };
    let text = if headers.len() + body.len() <= INLINE_TEXT {
        TextStore::Inline(headers, body)
    } else {
        let framed = frame_text(&headers, &body);
        let h = BlobHash::of(&framed);
        if seen.insert(h) {
            blobs.push(PreparedBlob::new(h, framed));
        }
        TextStore::Blob(h)
    };
    Ok(PreparedContent {
        oid: ObjectId::new(),
        skeleton: skeleton_hash,
        blobs,
        borrowed,
        layout: serde_json::to_string(&layout)?,
        index: index_store,
        imap,
        mime,
        text,
        size: index.size,
        subject: index.subject.clone(),
        message_id: index.message_id.clone(),
        header_date: index.date.map(|s| s.saturating_mul(1000)),
        has_attachments: !index.attachments.is_empty(),
    })
}

/// Store the content with one reference, taking a reference to each of its blobs
/// (whose chunks the caller has written).
pub(crate) async fn insert(
    store: &MongoStore,
    s: &mut ClientSession,
    p: &PreparedContent,
) -> Result<()> {
    let supplied: Vec<&PreparedBlob> = p.blobs.iter().collect();
    blobs::acquire_all(store, s, &supplied).await?;
    for h in &p.borrowed {
        blobs::acquire_existing(store, s, h).await?;
    }
    let all: Vec<Bson> = p
        .blobs
        .iter()
        .map(|b| &b.hash)
        .chain(&p.borrowed)
        .map(hash_bson)
        .collect();
    let mut d = doc! {
        "_id": oid(p.oid),
        "refs": 1i64,
        "skel": hash_bson(&p.skeleton),
        "blobs": all,
        "layout": &p.layout,
        "ie": &p.imap[0],
        "ibs": &p.imap[1],
        "ib": &p.imap[2],
        "mime": bin(p.mime.clone()),
    };
    match &p.index {
        Stored::Inline(z) => d.insert("ix", bin(z.clone())),
        Stored::Blob(h) => d.insert("ixb", hash_bson(h)),
    };
    match &p.text {
        TextStore::Inline(h, b) => {
            d.insert("sh", h.as_str());
            d.insert("sb", b.as_str());
        }
        TextStore::Blob(h) => {
            d.insert("tb", hash_bson(h));
        }
    }
    store.coll(CONTENTS).insert_one(d).session(&mut *s).await?;
    Ok(())
}

/// `n` more message documents use content `id` (COPY).
pub(crate) async fn acquire(
    store: &MongoStore,
    s: &mut ClientSession,
    id: ObjectId,
    n: i64,
) -> Result<()> {
    let r = store
        .coll(CONTENTS)
        .update_one(doc! { "_id": oid(id) }, doc! { "$inc": { "refs": n } })
        .session(&mut *s)
        .await?;
    if r.matched_count == 0 {
        return Err(Error::corrupt(format!("message content {id} is missing")));
    }
    Ok(())
}

/// `n` message documents fewer use content `id`; the last one frees it and its blobs.
pub(crate) async fn release(
    store: &MongoStore,
    s: &mut ClientSession,
    id: ObjectId,
    n: i64,
) -> Result<()> {
    let after = store
        .coll(CONTENTS)
        .find_one_and_update(doc! { "_id": oid(id) }, doc! { "$inc": { "refs": -n } })
        .projection(doc! { "refs": 1, "blobs": 1 })
        .return_document(ReturnDocument::After)
        .session(&mut *s)
        .await?;
    let Some(d) = after else {
        tracing::warn!(content = %id, "released a content that is not stored");
        return Ok(());
    };
    if d.i64("refs")? > 0 {
        return Ok(());
    }
    store
        .coll(CONTENTS)
        .delete_one(doc! { "_id": oid(id) })
        .session(&mut *s)
        .await?;
    let hashes: Vec<BlobHash> = match d.get("blobs") {
        Some(Bson::Array(a)) => a.iter().filter_map(|v| hash_of(Some(v))).collect(),
        _ => Vec::new(),
    };
    for h in &hashes {
        blobs::release(store, s, h, 1).await?;
    }
    Ok(())
}

impl MongoStore {
    /// The index (search text restored), layout and skeleton hash of content `id`.
    pub(crate) async fn load_content(
        &self,
        id: ObjectId,
    ) -> Result<(MessageIndex, Layout, BlobHash)> {
        let d = self
            .coll(CONTENTS)
            .find_one(doc! { "_id": oid(id) })
            .await?
            .ok_or_else(|| Error::corrupt(format!("message content {id} is missing")))?;
        self.content_from_doc(&d).await
    }

    /// Contents by id, whole documents, in `$in` queries of bounded length.
    pub(crate) async fn content_docs(
        &self,
        ids: &[ObjectId],
    ) -> Result<HashMap<ObjectId, Document>> {
        let mut out = HashMap::with_capacity(ids.len());
        for batch in ids.chunks(256) {
            let list: Vec<Bson> = batch.iter().map(|&id| Bson::ObjectId(oid(id))).collect();
            let mut cursor = self
                .coll(CONTENTS)
                .find(doc! { "_id": { "$in": list } })
                .await?;
            while let Some(d) = futures::TryStreamExt::try_next(&mut cursor).await? {
                out.insert(d.id("_id")?, d);
            }
        }
        Ok(out)
    }

    /// The index (search text restored), layout and skeleton hash of a content document.
    pub(crate) async fn content_from_doc(
        &self,
        d: &Document,
    ) -> Result<(MessageIndex, Layout, BlobHash)> {
        let json = match d.get("ix") {
            Some(Bson::Binary(b)) => compress::decompress(&b.bytes)?,
            _ => self.whole_blob(&d.hash("ixb")?).await?,
        };
        // A MIME tree may nest deeper than serde_json's default limit of 128.
        let mut index: MessageIndex = parse_deep(&json)?;
        // Contents stored with their IMAP strings beside the index.
        if let (Some(e), Some(s), Some(b)) = (d.opt_str("ie")?, d.opt_str("ibs")?, d.opt_str("ib")?)
        {
            index.imap_envelope = e;
            index.imap_bodystructure = s;
            index.imap_body = b;
        }
        let layout: Layout = serde_json::from_str(d.str("layout")?)?;
        let (h, b) = self.content_text(d).await?;
        index.search_headers = h;
        index.search_body = b;
        Ok((index, layout, d.hash("skel")?))
    }

    /// What `want` asks of each content in `ids`, in one query per call. Contents
    /// stored before the IMAP fields existed are answered from their index.
    pub(crate) async fn load_parts(
        &self,
        ids: &[ObjectId],
        want: FetchWant,
    ) -> Result<HashMap<ObjectId, (Option<ImapStrings>, Option<MessageBody>)>> {
        let mut out = HashMap::with_capacity(ids.len());
        if ids.is_empty() || (!want.imap && !want.body) {
            return Ok(out);
        }
        let mut projection = doc! { "skel": 1, "ie": 1, "ibs": 1, "ib": 1 };
        if want.body {
            projection.insert("layout", 1);
            projection.insert("mime", 1);
        }
        let list: Vec<Bson> = ids.iter().map(|&id| Bson::ObjectId(oid(id))).collect();
        let mut cursor = self
            .coll(CONTENTS)
            .find(doc! { "_id": { "$in": list } })
            .projection(projection)
            .await?;
        while let Some(d) = futures::TryStreamExt::try_next(&mut cursor).await? {
            let id = d.id("_id")?;
            let imap = match (d.opt_str("ie")?, d.opt_str("ibs")?, d.opt_str("ib")?) {
                (Some(envelope), Some(body_structure), Some(body)) => Some(ImapStrings {
                    envelope,
                    body_structure,
                    body,
                }),
                _ => None,
            };
            let root: Option<BodyPart> = match d.get("mime") {
                Some(Bson::Binary(b)) => Some(parse_deep(&compress::decompress(&b.bytes)?)?),
                _ => None,
            };
            if (want.imap && imap.is_none()) || (want.body && root.is_none()) {
                let (index, layout, skeleton) = self.load_content(id).await?;
                let imap = ImapStrings {
                    envelope: index.imap_envelope,
                    body_structure: index.imap_bodystructure,
                    body: index.imap_body,
                };
                let body = MessageBody {
                    root: index.root,
                    layout,
                    skeleton,
                };
                out.insert(id, (want.imap.then_some(imap), want.body.then_some(body)));
                continue;
            }
            let body = match root {
                Some(root) if want.body => Some(MessageBody {
                    root,
                    layout: serde_json::from_str(d.str("layout")?)?,
                    skeleton: d.hash("skel")?,
                }),
                _ => None,
            };
            out.insert(id, (imap.filter(|_| want.imap), body));
        }
        Ok(out)
    }

    /// Search text (headers, body) of a content document (`sh`/`sb` or `tb` projected).
    pub(crate) async fn content_text(&self, d: &Document) -> Result<(String, String)> {
        if let Some(h) = hash_of(d.get("tb")) {
            return unframe_text(&self.whole_blob(&h).await?);
        }
        Ok((
            d.opt_str("sh")?.unwrap_or_default(),
            d.opt_str("sb")?.unwrap_or_default(),
        ))
    }

    async fn whole_blob(&self, h: &BlobHash) -> Result<Vec<u8>> {
        Ok(self
            .read_range(h, 0, u64::MAX)
            .await?
            .ok_or_else(|| Error::corrupt(format!("blob {h} is missing")))?
            .to_vec())
    }
}

/// Parse JSON holding a MIME tree, which may nest deeper than serde_json's
/// default limit of 128.
fn parse_deep<T: serde::de::DeserializeOwned>(json: &[u8]) -> Result<T> {
    let mut de = serde_json::Deserializer::from_slice(json);
    de.disable_recursion_limit();
    Ok(T::deserialize(&mut de)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_frames_round_trip() {
        let f = frame_text("Subject: é\n", "body ü");
        assert_eq!(
            unframe_text(&f).expect("unframe"),
            ("Subject: é\n".to_string(), "body ü".to_string())
        );
        assert!(unframe_text(b"short").is_err());
    }
}
