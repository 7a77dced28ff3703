//! Storage files: one document per uploaded file, holding one reference to the
//! blob with its bytes; its size counts in the user's storageUsed.

use async_trait::async_trait;
use bytes::Bytes;
use eider_service::model::{Page, Paging};
use eider_service::{FileStore, ObjectId, StoreError, StoreResult, StoredFile};
use futures::TryStreamExt;
use mongodb::bson::{doc, Document};

use crate::blobs::{self, PreparedBlob};
use crate::codec::{date, hash_bson, int, oid, DocExt};
use crate::error::{Error, Result};
use crate::names::{FILES, USERS};
use crate::paging::{all_of, contains};
use crate::{journal, txn, MongoStore};

fn file(d: &Document) -> Result<StoredFile> {
    Ok(StoredFile {
        id: d.id("_id")?,
        user: d.id("user")?,
        filename: d.opt_str("filename")?,
        content_type: d.str("contentType")?.to_string(),
        cid: d.opt_str("cid")?,
        size: d.u64("size")?,
        hash: d.hash("blob")?,
        created: d.time("created")?,
    })
}

impl MongoStore {
    async fn store_file_inner(
        &self,
        f: &StoredFile,
        data: Bytes,
        quota_limit: Option<u64>,
    ) -> Result<()> {
        let blob = PreparedBlob::new(f.hash, data.to_vec());
        self.write_chunks(&[&blob]).await?;
        let r = txn!(self, |s| {
            let u = journal::user_doc(self, s, f.user)
                .await?
                .ok_or(Error::Store(StoreError::NotFound))?;
            let used = u.opt_i64("storageUsed")?.unwrap_or(0).max(0) as u64;
            if quota_limit.is_some_and(|l| used.saturating_add(f.size) > l) {
                return Err(StoreError::OverQuota.into());
            }
            blobs::acquire(self, s, &blob).await?;
            let mut d = doc! {
                "_id": oid(f.id),
                "user": oid(f.user),
                "contentType": &f.content_type,
                "size": int(f.size),
                "blob": hash_bson(&f.hash),
                "created": date(f.created),
            };
            if let Some(n) = &f.filename {
                d.insert("filename", n);
            }
            if let Some(c) = &f.cid {
                d.insert("cid", c);
            }
            self.coll(FILES).insert_one(d).session(&mut *s).await?;
            self.coll(USERS)
                .update_one(
                    doc! { "_id": oid(f.user) },
                    doc! { "$inc": { "storageUsed": int(f.size) } },
                )
                .session(&mut *s)
                .await?;
            Ok(())
        });
        if r.is_err() {
            self.discard_unreferenced(&[(blob.hash, blob.chunk_count())])
                .await;
        }
        r
    }

    async fn delete_file_inner(&self, user: ObjectId, id: ObjectId) -> Result<bool> {
        txn!(self, |s| {
            let Some(d) = self
                .coll(FILES)
                .find_one_and_delete(doc! { "_id": oid(id), "user": oid(user) })
                .session(&mut *s)
                .await?
            else {
                return Ok(false);
            };
            let f = file(&d)?;
            blobs::release(self, s, &f.hash, 1).await?;
            self.coll(USERS)
                .update_one(
                    doc! { "_id": oid(user) },
                    doc! { "$inc": { "storageUsed": -int(f.size) } },
                )
                .session(&mut *s)
                .await?;
            Ok(true)
        })
    }

    /// Release every file of a deleted user.
    pub(crate) async fn delete_user_files(&self, user: ObjectId) -> Result<()> {
        let docs: Vec<Document> = self
            .coll(FILES)
            .find(doc! { "user": oid(user) })
            .projection(doc! { "_id": 1 })
            .await?
            .try_collect()
            .await?;
        for d in docs {
            self.delete_file_inner(user, d.id("_id")?).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl FileStore for MongoStore {
    async fn store_file(
        &self,
        f: &StoredFile,
        data: Bytes,
        quota_limit: Option<u64>,
    ) -> StoreResult<()> {
        Ok(self.store_file_inner(f, data, quota_limit).await?)
    }

    async fn get_file(&self, user: ObjectId, id: ObjectId) -> StoreResult<Option<StoredFile>> {
        let d = self
            .coll(FILES)
            .find_one(doc! { "_id": oid(id), "user": oid(user) })
            .await
            .map_err(Error::from)?;
        Ok(d.as_ref().map(file).transpose()?)
    }

    async fn list_files(
        &self,
        user: ObjectId,
        query: Option<&str>,
        paging: &Paging,
    ) -> StoreResult<Page<StoredFile>> {
        let mut conds = vec![doc! { "user": oid(user) }];
        if let Some(q) = query.filter(|q| !q.is_empty()) {
            conds.push(contains("filename", q));
        }
        Ok(self
            .page(FILES, all_of(conds), paging, file, |f| f.id)
            .await?)
    }

    async fn delete_file(&self, user: ObjectId, id: ObjectId) -> StoreResult<bool> {
        Ok(self.delete_file_inner(user, id).await?)
    }
}
