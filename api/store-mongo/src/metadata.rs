//! IMAP METADATA entries: `metadata` documents `{user, mailbox (null: server), name,
//! value}`, unique on (user, mailbox, name), removed with the mailbox and the user.

use async_trait::async_trait;
use eider_service::{MetadataEntry, MetadataStore, ObjectId, StoreError, StoreResult};
use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};

use crate::codec::{bin, oid, DocExt};
use crate::error::{Error, Result};
use crate::names::{METADATA, USERS};
use crate::{txn, MongoStore};

fn mailbox_key(mailbox: Option<ObjectId>) -> Bson {
    mailbox.map_or(Bson::Null, |m| Bson::ObjectId(oid(m)))
}

impl MongoStore {
    async fn set_metadata_inner(
        &self,
        user: ObjectId,
        mailbox: Option<ObjectId>,
        changes: &[(String, Option<Vec<u8>>)],
        max_entries: u64,
    ) -> Result<()> {
        txn!(self, |s| {
            // Writing the user's document serializes concurrent changes, so the
            // count below cannot be passed by two of them at once.
            self.coll(USERS)
                .update_one(
                    doc! { "_id": oid(user) },
                    doc! { "$inc": { "metadataWrites": 1i64 } },
                )
                .session(&mut *s)
                .await?;
            for (name, value) in changes {
                let filter =
                    doc! { "user": oid(user), "mailbox": mailbox_key(mailbox), "name": name };
                match value {
                    Some(v) => {
                        self.coll(METADATA)
                            .update_one(filter, doc! { "$set": { "value": bin(v.clone()) } })
                            .upsert(true)
                            .session(&mut *s)
                            .await?;
                    }
                    None => {
                        self.coll(METADATA)
                            .delete_one(filter)
                            .session(&mut *s)
                            .await?;
                    }
                }
            }
            let n = self
                .coll(METADATA)
                .count_documents(doc! { "user": oid(user) })
                .session(&mut *s)
                .await?;
            if n > max_entries {
                return Err(StoreError::LimitReached("metadata").into());
            }
            Ok(())
        })
    }

    /// Entries of a removed mailbox (None: every entry of the user).
    pub(crate) async fn delete_metadata(
        &self,
        user: ObjectId,
        mailbox: Option<ObjectId>,
    ) -> Result<()> {
        let filter = match mailbox {
            Some(m) => doc! { "user": oid(user), "mailbox": oid(m) },
            None => doc! { "user": oid(user) },
        };
        self.coll(METADATA).delete_many(filter).await?;
        Ok(())
    }
}

#[async_trait]
impl MetadataStore for MongoStore {
    async fn list_metadata(
        &self,
        user: ObjectId,
        mailbox: Option<ObjectId>,
    ) -> StoreResult<Vec<MetadataEntry>> {
        let docs: Vec<Document> = self
            .coll(METADATA)
            .find(doc! { "user": oid(user), "mailbox": mailbox_key(mailbox) })
            .sort(doc! { "name": 1 })
            .await
            .map_err(Error::from)?
            .try_collect()
            .await
            .map_err(Error::from)?;
        let mut out = Vec::with_capacity(docs.len());
        for d in &docs {
            out.push(MetadataEntry {
                name: d.str("name")?.to_string(),
                value: d.bytes("value")?.to_vec(),
            });
        }
        Ok(out)
    }

    async fn set_metadata(
        &self,
        user: ObjectId,
        mailbox: Option<ObjectId>,
        changes: &[(String, Option<Vec<u8>>)],
        max_entries: u64,
    ) -> StoreResult<()> {
        Ok(self
            .set_metadata_inner(user, mailbox, changes, max_entries)
            .await?)
    }
}
