//! Thread resolution: a message joins the thread of any Message-ID it references,
//! else a recent thread of the user with the same normalized subject, else a new one.
//! Not transactional: two concurrent first messages of a thread may start two
//! threads, which only affects grouping.

use chrono::{DateTime, Duration, Utc};
use eider_service::ObjectId;
use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};

use crate::codec::{date, oid, DocExt};
use crate::error::{only_duplicates, Result};
use crate::names::{THREADS, THREAD_REFS};
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
                Err(e) if only_duplicates(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(thread)
    }
}
