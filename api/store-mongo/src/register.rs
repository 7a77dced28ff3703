//! The address register: addresses a user has sent mail to, one document per
//! (user, normalized address), found by an anchored regex on `terms` (the
//! lower-cased address, name and words of the name; a multikey index serves it).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use eider_service::{
    register_terms, AddressRegisterStore, ObjectId, RegisteredAddress, SeenAddress, StoreResult,
};
use futures::TryStreamExt;
use mongodb::bson::{doc, Document};

use crate::codec::{date, literal_regex, oid, DocExt};
use crate::error::{mongo_code, Error, Result, DUPLICATE_KEY};
use crate::names::ADDRESS_REGISTER;
use crate::MongoStore;

fn entry(d: &Document) -> Result<RegisteredAddress> {
    Ok(RegisteredAddress {
        id: d.id("_id")?,
        user: d.id("user")?,
        addrview: d.str("addrview")?.to_string(),
        address: d.str("address")?.to_string(),
        name: d.opt_str("name")?.unwrap_or_default(),
        uses: d.u64("uses")?,
        updated: d.time("updated")?,
        created: d.time("created")?,
    })
}

impl MongoStore {
    async fn record_one(&self, user: ObjectId, s: &SeenAddress, when: DateTime<Utc>) -> Result<()> {
        let terms = register_terms(&s.addrview, &s.name);
        // `$set` and `$setOnInsert` must not name the same field: an empty name
        // leaves name and terms to the insert (or to what is stored).
        let mut set = doc! { "address": &s.address };
        let mut on_insert = doc! { "_id": oid(ObjectId::new()), "created": date(when) };
        if s.name.is_empty() {
            on_insert.insert("name", "");
            on_insert.insert("terms", terms);
        } else {
            set.insert("name", &s.name);
            set.insert("terms", terms);
        }
        let update = doc! {
            "$set": set,
            "$setOnInsert": on_insert,
            "$inc": { "uses": 1i64 },
            "$max": { "updated": date(when) },
        };
        let filter = doc! { "user": oid(user), "addrview": &s.addrview };
        let coll = self.coll(ADDRESS_REGISTER);
        match coll
            .update_one(filter.clone(), update.clone())
            .upsert(true)
            .await
        {
            Ok(_) => Ok(()),
            // Two writers inserted the same new address at once: the loser's
            // retry finds the winner's document and updates it.
            Err(e) if mongo_code(&e) == Some(DUPLICATE_KEY) => {
                coll.update_one(filter, update).upsert(true).await?;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) async fn delete_user_register(&self, user: ObjectId) -> Result<()> {
        self.coll(ADDRESS_REGISTER)
            .delete_many(doc! { "user": oid(user) })
            .await?;
        Ok(())
    }
}

#[async_trait]
impl AddressRegisterStore for MongoStore {
    async fn record_addresses(
        &self,
        user: ObjectId,
        seen: &[SeenAddress],
        when: DateTime<Utc>,
    ) -> StoreResult<()> {
        for s in seen {
            self.record_one(user, s, when).await?;
        }
        Ok(())
    }

    async fn search_address_register(
        &self,
        user: ObjectId,
        prefix: &str,
        limit: u32,
    ) -> StoreResult<Vec<RegisteredAddress>> {
        let filter = doc! {
            "user": oid(user),
            "terms": { "$regex": format!("^{}", literal_regex(prefix)) },
        };
        let docs: Vec<Document> = self
            .coll(ADDRESS_REGISTER)
            .find(filter)
            .sort(doc! { "updated": -1, "uses": -1, "_id": -1 })
            .limit(i64::from(limit.max(1)))
            .await
            .map_err(Error::from)?
            .try_collect()
            .await
            .map_err(Error::from)?;
        Ok(docs.iter().map(entry).collect::<Result<Vec<_>>>()?)
    }
}
