//! DKIM keys (`dkim`, one document per domain) and TLS certificates (`certs`, one
//! per server name). Every certificate change bumps `counters` `{_id: "certs"}` so
//! each instance's SNI cache sees it with one small read.

use async_trait::async_trait;
use eider_service::model::{Page, Paging};
use eider_service::{
    CertStore, DkimAlgorithm, DkimKey, DkimStore, ObjectId, StoreError, StoreResult, TlsCert,
};
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::ReturnDocument;

use crate::codec::{date, oid, DocExt};
use crate::error::{Error, Result};
use crate::names::{CERTS, COUNTERS, DKIM};
use crate::paging::{all_of, literal_contains_cs};
use crate::MongoStore;

fn dkim(d: &Document) -> Result<DkimKey> {
    let algorithm = d.str("algorithm")?;
    Ok(DkimKey {
        id: d.id("_id")?,
        domain: d.str("domain")?.to_string(),
        selector: d.str("selector")?.to_string(),
        description: d.opt_str("description")?,
        algorithm: DkimAlgorithm::from_tag(algorithm)
            .ok_or_else(|| Error::corrupt(format!("unknown DKIM algorithm {algorithm:?}")))?,
        private_key: d.str("privateKey")?.to_string(),
        public_key: d.str("publicKey")?.to_string(),
        dns_public_key: d.str("publicKeyDns")?.to_string(),
        fingerprint: d.str("fingerprint")?.to_string(),
        created: d.time("created")?,
    })
}

fn opt_text(v: &Option<String>) -> Bson {
    v.as_ref().map_or(Bson::Null, |s| Bson::String(s.clone()))
}

#[async_trait]
impl DkimStore for MongoStore {
    async fn set_dkim_key(&self, k: &DkimKey) -> StoreResult<(DkimKey, bool)> {
        let before = self
            .coll(DKIM)
            .find_one_and_update(
                doc! { "domain": &k.domain },
                doc! {
                    "$set": {
                        "selector": &k.selector,
                        "description": opt_text(&k.description),
                        "algorithm": k.algorithm.tag(),
                        "privateKey": &k.private_key,
                        "publicKey": &k.public_key,
                        "publicKeyDns": &k.dns_public_key,
                        "fingerprint": &k.fingerprint,
                        "created": date(k.created),
                    },
                    // The domain keeps its id when its key is replaced.
                    "$setOnInsert": { "_id": oid(k.id) },
                },
            )
            .upsert(true)
            .return_document(ReturnDocument::Before)
            .await
            .map_err(Error::from)?;
        let stored = self
            .coll(DKIM)
            .find_one(doc! { "domain": &k.domain })
            .await
            .map_err(Error::from)?
            .ok_or(Error::Store(StoreError::NotFound))?;
        Ok((dkim(&stored)?, before.is_none()))
    }

    async fn get_dkim_key(&self, id: ObjectId) -> StoreResult<Option<DkimKey>> {
        let d = self
            .coll(DKIM)
            .find_one(doc! { "_id": oid(id) })
            .await
            .map_err(Error::from)?;
        Ok(d.as_ref().map(dkim).transpose()?)
    }

    async fn find_dkim_key(&self, domain: &str) -> StoreResult<Option<DkimKey>> {
        let d = self
            .coll(DKIM)
            .find_one(doc! { "domain": domain })
            .await
            .map_err(Error::from)?;
        Ok(d.as_ref().map(dkim).transpose()?)
    }

    async fn list_dkim_keys(
        &self,
        query: Option<&str>,
        paging: &Paging,
    ) -> StoreResult<Page<DkimKey>> {
        let mut conds = Vec::new();
        if let Some(q) = query.filter(|q| !q.is_empty()) {
            conds.push(literal_contains_cs("domain", q));
        }
        Ok(self
            .page(DKIM, all_of(conds), paging, dkim, |k| k.id)
            .await?)
    }

    async fn delete_dkim_key(&self, id: ObjectId) -> StoreResult<bool> {
        let r = self
            .coll(DKIM)
            .delete_one(doc! { "_id": oid(id) })
            .await
            .map_err(Error::from)?;
        Ok(r.deleted_count > 0)
    }
}

fn cert(d: &Document) -> Result<TlsCert> {
    Ok(TlsCert {
        id: d.id("_id")?,
        servername: d.str("servername")?.to_string(),
        description: d.opt_str("description")?,
        cert: d.str("cert")?.to_string(),
        private_key: d.str("privateKey")?.to_string(),
        fingerprint: d.str("fingerprint")?.to_string(),
        alt_names: d.strings("altNames")?,
        expires: d.time("expires")?,
        acme: d.bool("acme")?,
        created: d.time("created")?,
        updated: d.time("updated")?,
    })
}

impl MongoStore {
    async fn bump_certs_version(&self) -> Result<()> {
        self.coll(COUNTERS)
            .update_one(doc! { "_id": "certs" }, doc! { "$inc": { "seq": 1i64 } })
            .upsert(true)
            .await?;
        Ok(())
    }
}

#[async_trait]
impl CertStore for MongoStore {
    async fn set_cert(&self, c: &TlsCert) -> StoreResult<(TlsCert, bool)> {
        let before = self
            .coll(CERTS)
            .find_one_and_update(
                doc! { "servername": &c.servername },
                doc! {
                    "$set": {
                        "description": opt_text(&c.description),
                        "cert": &c.cert,
                        "privateKey": &c.private_key,
                        "fingerprint": &c.fingerprint,
                        "altNames": &c.alt_names,
                        "expires": date(c.expires),
                        "acme": c.acme,
                        "updated": date(c.updated),
                    },
                    "$setOnInsert": { "_id": oid(c.id), "created": date(c.created) },
                },
            )
            .upsert(true)
            .return_document(ReturnDocument::Before)
            .await
            .map_err(Error::from)?;
        self.bump_certs_version().await?;
        let stored = self
            .coll(CERTS)
            .find_one(doc! { "servername": &c.servername })
            .await
            .map_err(Error::from)?
            .ok_or(Error::Store(StoreError::NotFound))?;
        Ok((cert(&stored)?, before.is_none()))
    }

    async fn get_cert(&self, id: ObjectId) -> StoreResult<Option<TlsCert>> {
        let d = self
            .coll(CERTS)
            .find_one(doc! { "_id": oid(id) })
            .await
            .map_err(Error::from)?;
        Ok(d.as_ref().map(cert).transpose()?)
    }

    async fn find_cert(&self, servername: &str) -> StoreResult<Option<TlsCert>> {
        let d = self
            .coll(CERTS)
            .find_one(doc! { "servername": servername })
            .await
            .map_err(Error::from)?;
        Ok(d.as_ref().map(cert).transpose()?)
    }

    async fn list_certs(
        &self,
        query: Option<&str>,
        alt_names: bool,
        paging: &Paging,
    ) -> StoreResult<Page<TlsCert>> {
        let mut conds = Vec::new();
        if let Some(q) = query.filter(|q| !q.is_empty()) {
            if alt_names {
                let mut any = vec![
                    literal_contains_cs("servername", q),
                    literal_contains_cs("altNames", q),
                ];
                if let Some(i) = q.find('.') {
                    any.push(doc! { "altNames": format!("*{}", &q[i..]) });
                }
                conds.push(doc! { "$or": any });
            } else {
                conds.push(literal_contains_cs("servername", q));
            }
        }
        Ok(self
            .page(CERTS, all_of(conds), paging, cert, |c| c.id)
            .await?)
    }

    async fn delete_cert(&self, id: ObjectId) -> StoreResult<bool> {
        let r = self
            .coll(CERTS)
            .delete_one(doc! { "_id": oid(id) })
            .await
            .map_err(Error::from)?;
        if r.deleted_count > 0 {
            self.bump_certs_version().await?;
        }
        Ok(r.deleted_count > 0)
    }

    async fn certs_version(&self) -> StoreResult<u64> {
        let d = self
            .coll(COUNTERS)
            .find_one(doc! { "_id": "certs" })
            .await
            .map_err(Error::from)?;
        Ok(match d {
            Some(d) => d.u64("seq")?,
            None => 0,
        })
    }
}
