//! The durable work queue: one document per entry in `queue`. A claim leases one
//! document at a time with `findOneAndUpdate` (atomic per document), so two
//! instances never hand out one entry.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use eider_service::{Claim, ObjectId, QueueEntry, QueueStore, StoreResult};
use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::ReturnDocument;

use crate::codec::{bin, date, oid, DocExt};
use crate::error::{Error, Result};
use crate::names::QUEUE;
use crate::{txn, MongoStore};

fn entry(d: &Document) -> Result<QueueEntry> {
    let lease = match (d.opt_str("lo")?, d.opt_time("lu")?) {
        (Some(w), Some(t)) => Some((w, t)),
        _ => None,
    };
    Ok(QueueEntry {
        id: d.id("_id")?,
        kind: d.str("kind")?.to_string(),
        key: d.str("key")?.to_string(),
        group: d.str("grp")?.to_string(),
        owner: d.opt_id("owner")?,
        payload: d.bytes("payload")?.to_vec(),
        not_before: d.time("nb")?,
        attempts: d.u32("attempts")?,
        last_error: d.opt_str("err")?,
        created: d.time("created")?,
        lease,
    })
}

fn entry_doc(e: &QueueEntry) -> Document {
    let (lo, lu) = e.lease.clone().unzip();
    doc! {
        "_id": oid(e.id),
        "kind": &e.kind,
        "key": &e.key,
        "grp": &e.group,
        "owner": e.owner.map_or(Bson::Null, |o| Bson::ObjectId(oid(o))),
        "payload": bin(e.payload.clone()),
        "nb": date(e.not_before),
        "attempts": i64::from(e.attempts),
        "err": e.last_error.clone().map_or(Bson::Null, Bson::String),
        "created": date(e.created),
        "lo": lo.map_or(Bson::Null, Bson::String),
        "lu": lu.map_or(Bson::Null, |t| Bson::DateTime(date(t))),
    }
}

fn kind_filter(kind: &str, key: Option<&str>) -> Document {
    let mut f = doc! { "kind": kind };
    if let Some(k) = key {
        f.insert("key", k);
    }
    f
}

#[async_trait]
impl QueueStore for MongoStore {
    async fn enqueue(&self, entries: &[QueueEntry]) -> StoreResult<()> {
        let docs: Vec<Document> = entries.iter().map(entry_doc).collect();
        if docs.is_empty() {
            return Ok(());
        }
        let done: Result<()> = txn!(self, |s| {
            self.coll(QUEUE)
                .insert_many(docs.clone())
                .session(&mut *s)
                .await?;
            Ok(())
        });
        Ok(done?)
    }

    async fn claim(&self, claim: &Claim<'_>) -> StoreResult<Vec<QueueEntry>> {
        let mut filter = kind_filter(claim.kind, claim.key);
        let now = date(claim.now);
        filter.insert("nb", doc! { "$lte": now });
        filter.insert(
            "$or",
            vec![doc! { "lu": Bson::Null }, doc! { "lu": { "$lte": now } }],
        );
        let update = doc! { "$set": { "lo": claim.worker, "lu": date(claim.lease_until) } };
        let mut out = Vec::new();
        for _ in 0..claim.limit.max(1) {
            let found = self
                .coll(QUEUE)
                .find_one_and_update(filter.clone(), update.clone())
                .sort(doc! { "nb": 1, "_id": 1 })
                .return_document(ReturnDocument::After)
                .await
                .map_err(Error::from)?;
            match found {
                Some(d) => out.push(entry(&d)?),
                None => break,
            }
        }
        Ok(out)
    }

    async fn complete(&self, id: ObjectId, worker: &str) -> StoreResult<bool> {
        let r = self
            .coll(QUEUE)
            .delete_one(doc! { "_id": oid(id), "lo": worker })
            .await
            .map_err(Error::from)?;
        Ok(r.deleted_count > 0)
    }

    async fn reschedule(
        &self,
        id: ObjectId,
        worker: &str,
        not_before: DateTime<Utc>,
        error: &str,
    ) -> StoreResult<bool> {
        let r = self
            .coll(QUEUE)
            .update_one(
                doc! { "_id": oid(id), "lo": worker },
                doc! {
                    "$set": { "nb": date(not_before), "err": error, "lo": Bson::Null, "lu": Bson::Null },
                    "$inc": { "attempts": 1i64 },
                },
            )
            .await
            .map_err(Error::from)?;
        Ok(r.matched_count > 0)
    }

    async fn cancel(&self, group: &str, owner: ObjectId) -> StoreResult<u64> {
        let r = self
            .coll(QUEUE)
            .delete_many(doc! { "grp": group, "owner": oid(owner) })
            .await
            .map_err(Error::from)?;
        Ok(r.deleted_count)
    }

    async fn get_queue_entry(&self, id: ObjectId) -> StoreResult<Option<QueueEntry>> {
        let found = self
            .coll(QUEUE)
            .find_one(doc! { "_id": oid(id) })
            .await
            .map_err(Error::from)?;
        Ok(found.as_ref().map(entry).transpose()?)
    }

    async fn list_queue(
        &self,
        kind: &str,
        key: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<QueueEntry>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let docs: Vec<Document> = self
            .coll(QUEUE)
            .find(kind_filter(kind, key))
            .sort(doc! { "nb": 1, "_id": 1 })
            .limit(i64::from(limit))
            .await
            .map_err(Error::from)?
            .try_collect()
            .await
            .map_err(Error::from)?;
        Ok(docs.iter().map(entry).collect::<Result<_>>()?)
    }

    async fn count_queue(&self, kind: &str, key: Option<&str>) -> StoreResult<u64> {
        Ok(self
            .coll(QUEUE)
            .count_documents(kind_filter(kind, key))
            .await
            .map_err(Error::from)?)
    }
}
