//! Thread resolution: a message joins the thread of any Message-ID it references,
//! else a recent thread of the user with the same normalized subject, else a new one.
//! Not transactional: the unique `{user, ref}` index decides races instead (see
//! `resolve_thread_inner`).

use chrono::{DateTime, Duration, Utc};
use eider_service::ObjectId;
use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};

use crate::codec::{date, oid, DocExt};
use crate::error::{only_duplicates, Result};
use crate::names::{MESSAGES, THREADS, THREAD_REFS};
use crate::MongoStore;

/// A subject alone joins a thread only if that thread was active this recently.
const SUBJECT_WINDOW_DAYS: i64 = 30;
/// References headers can be long; the newest ids are enough to find the thread.
const MAX_IDS: usize = 64;

impl MongoStore {
    pub(crate) async fn resolve_thread_inner(
        &self,
        user: ObjectId,
        subject: &str,
        ids: &[String],
        now: DateTime<Utc>,
    ) -> Result<ObjectId> {
        let mut ids: Vec<&str> = ids
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids.truncate(MAX_IDS);

        let mut found = None;
        if !ids.is_empty() {
            let refs: Vec<Document> = self
                .coll(THREAD_REFS)
                .find(doc! { "user": oid(user), "ref": { "$in": ids.clone() } })
                .await?
                .try_collect()
                .await?;
            // The first id (in sorted order) that is known decides, as in the other backend.
            found = refs
                .iter()
                .filter_map(|d| Some((d.str("ref").ok()?, d.id("thread").ok()?)))
                .min_by(|a, b| a.0.cmp(b.0))
                .map(|(_, t)| t);
        }
        if found.is_none() && !subject.is_empty() {
            let since = date(now - Duration::days(SUBJECT_WINDOW_DAYS));
            found = self
                .coll(THREADS)
                .find_one(doc! {
                    "user": oid(user),
                    "subject": subject,
                    "updated": { "$gte": since },
                })
                .sort(doc! { "updated": -1 })
                .projection(doc! { "_id": 1 })
                .await?
                .map(|d| d.id("_id"))
                .transpose()?;
        }
        let thread = match found {
            Some(t) => {
                self.coll(THREADS)
                    .update_one(
                        doc! { "_id": oid(t), "user": oid(user) },
                        doc! { "$set": { "updated": date(now) } },
                    )
                    .await?;
                t
            }
            None => {
                let t = ObjectId::new();
                self.coll(THREADS)
                    .insert_one(doc! {
                        "_id": oid(t),
                        "user": oid(user),
                        "subject": subject,
                        "updated": date(now),
                    })
                    .await?;
                t
            }
        };
        let created = found.is_none();
        if !ids.is_empty() {
            // Ids already mapped keep their thread: the first thread to claim an id wins.
            let docs: Vec<Document> = ids
                .iter()
                .map(|r| {
                    doc! {
                        "user": oid(user),
                        "ref": Bson::String(r.to_string()),
                        "thread": oid(thread),
                    }
                })
                .collect();
            match self
                .coll(THREAD_REFS)
                .insert_many(docs)
                .ordered(false)
                .await
            {
                Ok(_) => {}
                // Resolution runs outside the append's transaction. A new thread whose
                // ids were claimed meanwhile lost a race with a concurrent message of the
                // same thread (none of them was mapped when we looked): join the
                // winner's thread, so parallel deliveries never split a thread. The
                // empty thread left behind is purged as an orphan.
                Err(e) if only_duplicates(&e) && created => {
                    let refs: Vec<Document> = self
                        .coll(THREAD_REFS)
                        .find(doc! { "user": oid(user), "ref": { "$in": ids.clone() } })
                        .await?
                        .try_collect()
                        .await?;
                    if let Some((_, winner)) = refs
                        .iter()
                        .filter_map(|d| Some((d.str("ref").ok()?, d.id("thread").ok()?)))
                        .filter(|(_, t)| *t != thread)
                        .min_by(|a, b| a.0.cmp(b.0))
                    {
                        // Our ids that did get in point to the winner too.
                        self.coll(THREAD_REFS)
                            .update_many(
                                doc! { "user": oid(user), "thread": oid(thread) },
                                doc! { "$set": { "thread": oid(winner) } },
                            )
                            .await?;
                        return Ok(winner);
                    }
                }
                Err(e) if only_duplicates(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(thread)
    }

    /// Delete threads without messages not updated since `before`, examining `limit`
    /// threads after `after` in `_id` order (a background walk: on the shard-key
    /// allow-list, as is the check of `messages` by `{user, thread}`).
    pub(crate) async fn purge_orphan_threads_inner(
        &self,
        before: DateTime<Utc>,
        after: Option<ObjectId>,
        limit: u32,
    ) -> Result<(u64, Option<ObjectId>)> {
        let filter = match after {
            Some(a) => doc! { "_id": { "$gt": oid(a) } },
            None => doc! {},
        };
        let batch: Vec<Document> = self
            .coll(THREADS)
            .find(filter)
            .sort(doc! { "_id": 1 })
            .limit(i64::from(limit))
            .projection(doc! { "user": 1, "updated": 1 })
            .await?
            .try_collect()
            .await?;
        let last = if batch.len() < limit as usize {
            None
        } else {
            batch.last().map(|d| d.id("_id")).transpose()?
        };
        let mut n = 0;
        for d in &batch {
            if d.time("updated")? >= before {
                continue;
            }
            let (id, user) = (d.id("_id")?, d.id("user")?);
            let used = self
                .coll(MESSAGES)
                .find_one(doc! { "user": oid(user), "thread": oid(id) })
                .projection(doc! { "_id": 1 })
                .await?
                .is_some();
            if used {
                continue;
            }
            // The thread goes only if it is still stale (a delivery may just have
            // joined it); its links go after it.
            let gone = self
                .coll(THREADS)
                .delete_one(
                    doc! { "_id": oid(id), "user": oid(user), "updated": { "$lt": date(before) } },
                )
                .await?
                .deleted_count;
            if gone > 0 {
                self.coll(THREAD_REFS)
                    .delete_many(doc! { "user": oid(user), "thread": oid(id) })
                    .await?;
                n += 1;
            }
        }
        Ok((n, last))
    }
}
