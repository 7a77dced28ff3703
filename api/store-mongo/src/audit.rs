//! Message audits: one document per audit in `audits`.

use async_trait::async_trait;
use eider_service::{Audit, AuditStore, ObjectId, StoreResult};
use mongodb::bson::{doc, Bson, Document};

use crate::codec::{date, oid, DocExt};
use crate::error::{Error, Result};
use crate::names::AUDITS;
use crate::MongoStore;

fn audit(d: &Document) -> Result<Audit> {
    Ok(Audit {
        id: d.id("_id")?,
        user: d.id("user")?,
        start: d.opt_time("start")?,
        end: d.opt_time("end")?,
        expires: d.time("expires")?,
        created: d.time("created")?,
    })
}

#[async_trait]
impl AuditStore for MongoStore {
    async fn create_audit(&self, a: &Audit) -> StoreResult<()> {
        let opt =
            |t: Option<chrono::DateTime<chrono::Utc>>| t.map(date).map_or(Bson::Null, Bson::from);
        self.coll(AUDITS)
            .insert_one(doc! {
                "_id": oid(a.id),
                "user": oid(a.user),
                "start": opt(a.start),
                "end": opt(a.end),
                "expires": date(a.expires),
                "created": date(a.created),
            })
            .await
            .map_err(Error::from)?;
        Ok(())
    }

    async fn get_audit(&self, id: ObjectId) -> StoreResult<Option<Audit>> {
        let found = self
            .coll(AUDITS)
            .find_one(doc! { "_id": oid(id) })
            .await
            .map_err(Error::from)?;
        Ok(found.as_ref().map(audit).transpose()?)
    }
}
