//! Account security records: application passwords (`asps`), second factors
//! (`twofactor`, keyed by user), access tokens by sha256 (`accesstokens`, keyed by
//! the hash) and the authentication log (`authlog`), each carrying `user`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use eider_service::model::Page;
use eider_service::{
    AccessToken, Asp, AspUse, AuthEvent, AuthEventQuery, AuthStore, ObjectId, StoreResult,
    TwoFactor,
};
use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};

use crate::codec::{date, int, json_text, oid, DocExt};
use crate::error::{conflict, Error, Result};
use crate::names::{ACCESS_TOKENS, ASPS, AUTHLOG, TWO_FACTOR, USERS};
use crate::paging::cursor;
use crate::{txn, MongoStore};

fn opt_str(v: &Option<String>) -> Bson {
    v.as_deref()
        .map_or(Bson::Null, |s| Bson::String(s.to_string()))
}

fn opt_date(v: Option<DateTime<Utc>>) -> Bson {
    v.map_or(Bson::Null, |t| Bson::DateTime(date(t)))
}

fn opt_oid(v: Option<ObjectId>) -> Bson {
    v.map_or(Bson::Null, |id| Bson::ObjectId(oid(id)))
}

fn asp_doc(a: &Asp) -> Document {
    doc! {
        "_id": oid(a.id),
        "user": oid(a.user),
        "description": &a.description,
        "scopes": &a.scopes,
        "password": &a.password,
        "selector": &a.selector,
        "ttl": a.ttl.map_or(Bson::Null, |t| Bson::Int64(int(t))),
        "expires": opt_date(a.expires),
        "created": date(a.created),
        "used": opt_date(a.last_use.as_ref().map(|u| u.time)),
        "usedEvent": opt_oid(a.last_use.as_ref().and_then(|u| u.event)),
        "usedIp": opt_str(&a.last_use.as_ref().and_then(|u| u.ip.clone())),
    }
}

fn asp(d: &Document) -> Result<Asp> {
    Ok(Asp {
        id: d.id("_id")?,
        user: d.id("user")?,
        description: d.str("description")?.to_string(),
        scopes: d.strings("scopes")?,
        password: d.str("password")?.to_string(),
        selector: d.str("selector")?.to_string(),
        ttl: d.opt_i64("ttl")?.map(|v| v.max(0) as u64),
        expires: d.opt_time("expires")?,
        created: d.time("created")?,
        last_use: match d.opt_time("used")? {
            Some(time) => Some(AspUse {
                time,
                event: d.opt_id("usedEvent")?,
                ip: d.opt_str("usedIp")?,
            }),
            None => None,
        },
    })
}

fn token(d: &Document) -> Result<AccessToken> {
    Ok(AccessToken {
        hash: d.str("_id")?.to_string(),
        user: d.id("user")?,
        created: d.time("created")?,
        expires: d.time("expires")?,
        pending_2fa: d.bool("pending2fa")?,
    })
}

fn event_doc(e: &AuthEvent) -> Document {
    doc! {
        "_id": oid(e.id),
        "user": oid(e.user),
        "action": &e.action,
        "result": &e.result,
        "protocol": opt_str(&e.protocol),
        "requiredScope": opt_str(&e.required_scope),
        "source": opt_str(&e.source),
        "asp": opt_oid(e.asp),
        "aname": opt_str(&e.aname),
        "require2fa": opt_str(&e.require2fa),
        "ip": opt_str(&e.ip),
        "sess": opt_str(&e.sess),
        "created": date(e.created),
        "last": date(e.last),
        "events": int(e.events.max(1)),
        "expires": date(e.expires),
        "key": &e.key,
    }
}

fn event(d: &Document) -> Result<AuthEvent> {
    Ok(AuthEvent {
        id: d.id("_id")?,
        user: d.id("user")?,
        action: d.str("action")?.to_string(),
        result: d.str("result")?.to_string(),
        protocol: d.opt_str("protocol")?,
        required_scope: d.opt_str("requiredScope")?,
        source: d.opt_str("source")?,
        asp: d.opt_id("asp")?,
        aname: d.opt_str("aname")?,
        require2fa: d.opt_str("require2fa")?,
        ip: d.opt_str("ip")?,
        sess: d.opt_str("sess")?,
        created: d.time("created")?,
        last: d.time("last")?,
        events: d.u64("events")?,
        expires: d.time("expires")?,
        key: d.str("key")?.to_string(),
    })
}

async fn all(
    coll: mongodb::Collection<Document>,
    filter: Document,
    sort: Document,
) -> Result<Vec<Document>> {
    Ok(coll.find(filter).sort(sort).await?.try_collect().await?)
}

impl MongoStore {
    async fn record_event_inner(&self, e: &AuthEvent, since: DateTime<Utc>) -> Result<ObjectId> {
        let log = self.coll(AUTHLOG);
        log.delete_many(doc! { "user": oid(e.user), "expires": { "$lt": date(e.created) } })
            .await?;
        let mut set = doc! { "last": date(e.last) };
        for (k, v) in [
            ("asp", opt_oid(e.asp)),
            ("aname", opt_str(&e.aname)),
            ("source", opt_str(&e.source)),
            ("sess", opt_str(&e.sess)),
        ] {
            if v != Bson::Null {
                set.insert(k, v);
            }
        }
        let merged = log
            .find_one_and_update(
                doc! { "user": oid(e.user), "key": &e.key, "created": { "$gte": date(since) } },
                doc! { "$inc": { "events": 1i64 }, "$set": set },
            )
            .sort(doc! { "created": -1 })
            .projection(doc! { "_id": 1 })
            .await?;
        if let Some(d) = merged {
            return d.id("_id");
        }
        log.insert_one(event_doc(e)).await?;
        Ok(e.id)
    }

    /// Newest-first cursor paging: `next` continues with older entries, `previous`
    /// returns to newer ones.
    async fn list_events_inner(&self, q: &AuthEventQuery) -> Result<Page<AuthEvent>> {
        let mut cond = doc! { "user": oid(q.user) };
        if let Some(a) = q.action.as_deref().filter(|a| !a.is_empty()) {
            cond.insert("action", a);
        }
        if let Some(ip) = q.ip.as_deref().filter(|a| !a.is_empty()) {
            cond.insert("ip", ip);
        }
        cond.insert("expires", doc! { "$gte": date(Utc::now()) });
        let log = self.coll(AUTHLOG);
        let total = log.count_documents(cond.clone()).await?;
        let limit = i64::from(if q.paging.limit == 0 {
            20
        } else {
            q.paging.limit
        });
        let with = |extra: Document| {
            let mut c = cond.clone();
            c.extend(extra);
            c
        };
        let mut docs: Vec<Document>;
        if let Some(c) = q
            .paging
            .previous
            .as_deref()
            .filter(|_| q.paging.next.is_none())
        {
            let after = cursor("previous", c)?;
            docs = log
                .find(with(doc! { "_id": { "$gt": oid(after) } }))
                .sort(doc! { "_id": 1 })
                .limit(limit)
                .await?
                .try_collect()
                .await?;
            docs.reverse();
        } else if let Some(c) = q.paging.next.as_deref() {
            let before = cursor("next", c)?;
            docs = log
                .find(with(doc! { "_id": { "$lt": oid(before) } }))
                .sort(doc! { "_id": -1 })
                .limit(limit)
                .await?
                .try_collect()
                .await?;
        } else {
            let offset = match q.paging.page {
                Some(n) if n > 1 => u64::from(n - 1) * limit as u64,
                _ => 0,
            };
            docs = log
                .find(cond.clone())
                .sort(doc! { "_id": -1 })
                .skip(offset)
                .limit(limit)
                .await?
                .try_collect()
                .await?;
        }
        let rows = docs.iter().map(event).collect::<Result<Vec<_>>>()?;
        let exists = |op: &'static str, id: ObjectId| {
            let log = log.clone();
            let f = with(doc! { "_id": { op: oid(id) } });
            async move {
                Ok::<_, Error>(
                    log.find_one(f)
                        .projection(doc! { "_id": 1 })
                        .await?
                        .is_some(),
                )
            }
        };
        let next = match rows.last() {
            Some(last) if exists("$lt", last.id).await? => Some(last.id.to_hex()),
            _ => None,
        };
        let previous = match rows.first() {
            Some(first) if exists("$gt", first.id).await? => Some(first.id.to_hex()),
            _ => None,
        };
        Ok(Page {
            results: rows,
            total,
            next,
            previous,
        })
    }
}

#[async_trait]
impl AuthStore for MongoStore {
    async fn replace_password_hash(
        &self,
        user: ObjectId,
        old: &str,
        new: &str,
    ) -> StoreResult<bool> {
        let r = self
            .coll(USERS)
            .update_one(
                doc! { "_id": oid(user), "password": old },
                doc! { "$set": { "password": new } },
            )
            .await
            .map_err(Error::from)?;
        Ok(r.matched_count == 1)
    }

    async fn create_asp(&self, a: &Asp) -> StoreResult<()> {
        self.coll(ASPS)
            .insert_one(asp_doc(a))
            .await
            .map_err(|e| conflict(e, "asp"))?;
        Ok(())
    }

    async fn list_asps(&self, user: ObjectId) -> StoreResult<Vec<Asp>> {
        let docs = all(
            self.coll(ASPS),
            doc! { "user": oid(user) },
            doc! { "_id": 1 },
        )
        .await?;
        Ok(docs.iter().map(asp).collect::<Result<Vec<_>>>()?)
    }

    async fn get_asp(&self, user: ObjectId, id: ObjectId) -> StoreResult<Option<Asp>> {
        let d = self
            .coll(ASPS)
            .find_one(doc! { "_id": oid(id), "user": oid(user) })
            .await
            .map_err(Error::from)?;
        Ok(d.as_ref().map(asp).transpose()?)
    }

    async fn delete_asp(&self, user: ObjectId, id: ObjectId) -> StoreResult<bool> {
        let r = self
            .coll(ASPS)
            .delete_one(doc! { "_id": oid(id), "user": oid(user) })
            .await
            .map_err(Error::from)?;
        Ok(r.deleted_count == 1)
    }

    async fn record_asp_use(
        &self,
        user: ObjectId,
        id: ObjectId,
        used: &AspUse,
        expires: Option<DateTime<Utc>>,
    ) -> StoreResult<()> {
        let mut set = doc! {
            "used": date(used.time),
            "usedEvent": opt_oid(used.event),
            "usedIp": opt_str(&used.ip),
        };
        if let Some(e) = expires {
            set.insert("expires", date(e));
        }
        self.coll(ASPS)
            .update_one(
                doc! { "_id": oid(id), "user": oid(user) },
                doc! { "$set": set },
            )
            .await
            .map_err(Error::from)?;
        Ok(())
    }

    async fn get_two_factor(&self, user: ObjectId) -> StoreResult<Option<TwoFactor>> {
        let d = self
            .coll(TWO_FACTOR)
            .find_one(doc! { "_id": oid(user) })
            .await
            .map_err(Error::from)?;
        Ok(d.map(|d| d.json::<TwoFactor>("state")).transpose()?)
    }

    async fn put_two_factor(&self, user: ObjectId, state: Option<&TwoFactor>) -> StoreResult<()> {
        let coll = self.coll(TWO_FACTOR);
        match state {
            Some(s) => {
                let enabled = s.enabled.clone();
                coll.update_one(
                    doc! { "_id": oid(user) },
                    doc! { "$set": { "state": json_text(s)?, "enabled": enabled } },
                )
                .upsert(true)
                .await
                .map_err(Error::from)?;
            }
            None => {
                coll.delete_one(doc! { "_id": oid(user) })
                    .await
                    .map_err(Error::from)?;
            }
        }
        Ok(())
    }

    async fn enabled_two_factor(
        &self,
        users: &[ObjectId],
    ) -> StoreResult<Vec<(ObjectId, Vec<String>)>> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Bson> = users.iter().map(|u| Bson::ObjectId(oid(*u))).collect();
        let docs = all(
            self.coll(TWO_FACTOR),
            doc! { "_id": { "$in": ids } },
            doc! { "_id": 1 },
        )
        .await?;
        let mut by_user = std::collections::HashMap::new();
        for d in &docs {
            let s: TwoFactor = d.json("state")?;
            if !s.enabled.is_empty() {
                by_user.insert(d.id("_id")?, s.enabled);
            }
        }
        // In the order asked, as the other backend answers.
        Ok(users
            .iter()
            .filter_map(|u| by_user.remove(u).map(|e| (*u, e)))
            .collect())
    }

    async fn create_token(&self, t: &AccessToken) -> StoreResult<()> {
        self.coll(ACCESS_TOKENS)
            .insert_one(doc! {
                "_id": &t.hash,
                "user": oid(t.user),
                "created": date(t.created),
                "expires": date(t.expires),
                "pending2fa": t.pending_2fa,
            })
            .await
            .map_err(|e| conflict(e, "token"))?;
        Ok(())
    }

    async fn get_token(&self, hash: &str) -> StoreResult<Option<AccessToken>> {
        let d = self
            .coll(ACCESS_TOKENS)
            .find_one(doc! { "_id": hash })
            .await
            .map_err(Error::from)?;
        Ok(d.as_ref().map(token).transpose()?)
    }

    async fn confirm_token(&self, hash: &str) -> StoreResult<bool> {
        let r = self
            .coll(ACCESS_TOKENS)
            .update_one(
                doc! { "_id": hash },
                doc! { "$set": { "pending2fa": false } },
            )
            .await
            .map_err(Error::from)?;
        Ok(r.matched_count == 1)
    }

    async fn delete_token(&self, hash: &str) -> StoreResult<bool> {
        let r = self
            .coll(ACCESS_TOKENS)
            .delete_one(doc! { "_id": hash })
            .await
            .map_err(Error::from)?;
        Ok(r.deleted_count == 1)
    }

    async fn delete_user_tokens(&self, user: ObjectId) -> StoreResult<u64> {
        let r = self
            .coll(ACCESS_TOKENS)
            .delete_many(doc! { "user": oid(user) })
            .await
            .map_err(Error::from)?;
        Ok(r.deleted_count)
    }

    async fn purge_expired_tokens(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let r = self
            .coll(ACCESS_TOKENS)
            .delete_many(doc! { "expires": { "$lt": date(now) } })
            .await
            .map_err(Error::from)?;
        Ok(r.deleted_count)
    }

    async fn record_auth_event(
        &self,
        event: &AuthEvent,
        merge_since: DateTime<Utc>,
    ) -> StoreResult<ObjectId> {
        Ok(self.record_event_inner(event, merge_since).await?)
    }

    async fn list_auth_events(&self, query: &AuthEventQuery) -> StoreResult<Page<AuthEvent>> {
        Ok(self.list_events_inner(query).await?)
    }

    async fn get_auth_event(&self, user: ObjectId, id: ObjectId) -> StoreResult<Option<AuthEvent>> {
        let d = self
            .coll(AUTHLOG)
            .find_one(doc! { "_id": oid(id), "user": oid(user) })
            .await
            .map_err(Error::from)?;
        Ok(d.as_ref().map(event).transpose()?)
    }

    async fn delete_user_auth(&self, user: ObjectId) -> StoreResult<()> {
        let r: Result<()> = txn!(self, |s| {
            for coll in [ASPS, ACCESS_TOKENS, AUTHLOG] {
                self.coll(coll)
                    .delete_many(doc! { "user": oid(user) })
                    .session(&mut *s)
                    .await?;
            }
            self.coll(TWO_FACTOR)
                .delete_one(doc! { "_id": oid(user) })
                .session(&mut *s)
                .await?;
            Ok(())
        });
        Ok(r?)
    }
}
