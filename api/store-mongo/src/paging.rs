//! Cursor paging over collections keyed by ObjectId: results ordered by `_id`,
//! `next` and `previous` are the hex ids of the last and first result, `total`
//! counts every match regardless of the cursor. A limit of 0 means no limit.

use eider_service::model::{Page, Paging};
use eider_service::{ObjectId, StoreError};
use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};

use crate::codec::{literal_regex, oid};
use crate::error::{Error, Result};
use crate::MongoStore;

/// The id a `field` ("next" or "previous") cursor names.
pub(crate) fn cursor(field: &'static str, s: &str) -> Result<ObjectId> {
    ObjectId::parse(s).ok_or(Error::Store(StoreError::InvalidCursor(field)))
}

fn and(filter: &Document, extra: Document) -> Document {
    if filter.is_empty() {
        extra
    } else {
        doc! { "$and": [filter.clone(), extra] }
    }
}

impl MongoStore {
    pub(crate) async fn page<T>(
        &self,
        coll: &str,
        filter: Document,
        paging: &Paging,
        map: impl Fn(&Document) -> Result<T>,
        id_of: impl Fn(&T) -> ObjectId,
    ) -> Result<Page<T>> {
        let c = self.coll(coll);
        let total = c.count_documents(filter.clone()).await?;
        let limit = (paging.limit > 0).then_some(i64::from(paging.limit));
        let keep = limit.map_or(usize::MAX, |l| l as usize);
        let over = |n: usize| limit.is_some_and(|l| n as i64 > l);
        let run = |f: Document, dir: i32, skip: u64| {
            let c = c.clone();
            async move {
                let mut find = c.find(f).sort(doc! { "_id": dir });
                if let Some(l) = limit {
                    // One more than asked: its presence says whether a further page exists.
                    find = find.limit(l + 1);
                }
                if skip > 0 {
                    find = find.skip(skip);
                }
                let docs: Vec<Document> = find.await?.try_collect().await?;
                Ok::<_, Error>(docs)
            }
        };
        let exists = |op: &'static str, id: ObjectId| {
            let c = c.clone();
            let f = and(&filter, doc! { "_id": { op: oid(id) } });
            async move { Ok::<_, Error>(c.find_one(f).projection(doc! { "_id": 1 }).await?.is_some()) }
        };
        let (results, next, previous) = if let Some(cur) = paging.next.as_deref() {
            let after = cursor("next", cur)?;
            let docs = run(and(&filter, doc! { "_id": { "$gt": oid(after) } }), 1, 0).await?;
            let mut rows = docs.iter().map(&map).collect::<Result<Vec<T>>>()?;
            let more = over(rows.len());
            rows.truncate(keep);
            let next = if more { rows.last().map(&id_of) } else { None };
            let previous = match rows.first().map(&id_of) {
                Some(first) if exists("$lt", first).await? => Some(first),
                _ => None,
            };
            (rows, next, previous)
        } else if let Some(cur) = paging.previous.as_deref() {
            let before = cursor("previous", cur)?;
            let docs = run(and(&filter, doc! { "_id": { "$lt": oid(before) } }), -1, 0).await?;
            let mut rows = docs.iter().map(&map).collect::<Result<Vec<T>>>()?;
            let more = over(rows.len());
            rows.truncate(keep);
            rows.reverse();
            let previous = if more { rows.first().map(&id_of) } else { None };
            let next = match rows.last().map(&id_of) {
                Some(last) if exists("$gt", last).await? => Some(last),
                _ => None,
            };
            (rows, next, previous)
        } else {
            let offset = match (paging.page, limit) {
                (Some(p), Some(l)) if p > 1 => u64::from(p - 1) * l as u64,
                _ => 0,
            };
            let docs = run(filter.clone(), 1, offset).await?;
            let mut rows = docs.iter().map(&map).collect::<Result<Vec<T>>>()?;
            let more = over(rows.len());
            rows.truncate(keep);
            let next = if more { rows.last().map(&id_of) } else { None };
            let previous = if offset > 0 {
                rows.first().map(&id_of)
            } else {
                None
            };
            (rows, next, previous)
        };
        Ok(Page {
            results,
            total,
            next: next.map(|id| id.to_hex()),
            previous: previous.map(|id| id.to_hex()),
        })
    }
}

/// Conditions shared by users and addresses: a lower-cased copy of the tags in `tagsview`.
pub(crate) fn tag_filters(conds: &mut Vec<Document>, any_of: &[String], all_of: &[String]) {
    if !any_of.is_empty() {
        let v: Vec<Bson> = any_of
            .iter()
            .map(|t| Bson::String(t.to_lowercase()))
            .collect();
        conds.push(doc! { "tagsview": { "$in": v } });
    }
    if !all_of.is_empty() {
        let v: Vec<Bson> = all_of
            .iter()
            .map(|t| Bson::String(t.to_lowercase()))
            .collect();
        conds.push(doc! { "tagsview": { "$all": v } });
    }
}

/// Case-insensitive substring condition on `field`.
pub(crate) fn contains(field: &str, needle: &str) -> Document {
    doc! { field: { "$regex": literal_regex(needle), "$options": "i" } }
}

/// AND of the conditions (empty: everything).
pub(crate) fn all_of(conds: Vec<Document>) -> Document {
    match conds.len() {
        0 => Document::new(),
        1 => conds.into_iter().next().unwrap_or_default(),
        _ => doc! { "$and": conds },
    }
}

/// Case-sensitive substring condition on `field` (an array field matches when any
/// element contains the text).
pub(crate) fn literal_contains_cs(field: &str, needle: &str) -> Document {
    doc! { field: { "$regex": literal_regex(needle) } }
}
