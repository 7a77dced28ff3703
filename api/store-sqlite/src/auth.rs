//! Account security records (application passwords, 2FA, tokens, auth log).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use eider_service::model::Page;
use eider_service::{
    AccessToken, Asp, AspUse, AuthEvent, AuthEventQuery, AuthStore, ObjectId, StoreError,
    StoreResult, TwoFactor,
};
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, OptionalExtension, Row, Transaction};

use crate::codec::{get_json, get_oid, get_opt_oid, get_opt_time, get_opt_u64, get_time, get_u64};
use crate::codec::{int, json, ms};
use crate::error::{is_unique_violation, Result, SqliteError};
use crate::paging::cursor;
use crate::SqliteStore;

// ---------------------------------------------------------------------------
// ASPs

const ASP_COLS: &str = "id, user, description, scopes, password, selector, ttl, expires, \
                        created, used, used_event, used_ip";

fn asp(row: &Row<'_>) -> rusqlite::Result<Asp> {
    let used = get_opt_time(row, 9)?;
    Ok(Asp {
        id: get_oid(row, 0)?,
        user: get_oid(row, 1)?,
        description: row.get(2)?,
        scopes: get_json(row, 3)?,
        password: row.get(4)?,
        selector: row.get(5)?,
        ttl: get_opt_u64(row, 6)?,
        expires: get_opt_time(row, 7)?,
        created: get_time(row, 8)?,
        last_use: match used {
            Some(time) => Some(AspUse {
                time,
                event: get_opt_oid(row, 10)?,
                ip: row.get(11)?,
            }),
            None => None,
        },
    })
}

fn insert_asp(tx: &Transaction<'_>, a: &Asp) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO asps (id, user, description, scopes, password, selector, ttl, expires,
             created, used, used_event, used_ip)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        &a.id.0,
        &a.user.0,
        &a.description,
        json(&a.scopes)?,
        &a.password,
        &a.selector,
        a.ttl.map(int),
        a.expires.map(ms),
        ms(a.created),
        a.last_use.as_ref().map(|u| ms(u.time)),
        a.last_use
            .as_ref()
            .and_then(|u| u.event)
            .map(|e| e.0.to_vec()),
        a.last_use.as_ref().and_then(|u| u.ip.clone()),
    ])
    .map_err(|e| {
        let e = SqliteError::from(e);
        if is_unique_violation(&e) {
            SqliteError::Store(StoreError::Conflict("asp"))
        } else {
            e
        }
    })?;
    Ok(())
}

fn list_asps(tx: &Transaction<'_>, user: ObjectId) -> Result<Vec<Asp>> {
    let sql = format!("SELECT {ASP_COLS} FROM asps WHERE user = ?1 ORDER BY id");
    let rows = tx
        .prepare_cached(&sql)?
        .query_map([&user.0], asp)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

fn get_asp(tx: &Transaction<'_>, user: ObjectId, id: ObjectId) -> Result<Option<Asp>> {
    let sql = format!("SELECT {ASP_COLS} FROM asps WHERE id = ?1 AND user = ?2");
    Ok(tx
        .prepare_cached(&sql)?
        .query_row([&id.0, &user.0], asp)
        .optional()?)
}

// ---------------------------------------------------------------------------
// Tokens

fn token(row: &Row<'_>) -> rusqlite::Result<AccessToken> {
    Ok(AccessToken {
        hash: row.get(0)?,
        user: get_oid(row, 1)?,
        created: get_time(row, 2)?,
        expires: get_time(row, 3)?,
        pending_2fa: row.get(4)?,
    })
}

// ---------------------------------------------------------------------------
// Auth log

const EVENT_COLS: &str = "id, user, action, result, protocol, required_scope, source, asp, \
                          aname, require2fa, ip, sess, created, last, events, expires, key";

fn event(row: &Row<'_>) -> rusqlite::Result<AuthEvent> {
    Ok(AuthEvent {
        id: get_oid(row, 0)?,
        user: get_oid(row, 1)?,
        action: row.get(2)?,
        result: row.get(3)?,
        protocol: row.get(4)?,
        required_scope: row.get(5)?,
        source: row.get(6)?,
        asp: get_opt_oid(row, 7)?,
        aname: row.get(8)?,
        require2fa: row.get(9)?,
        ip: row.get(10)?,
        sess: row.get(11)?,
        created: get_time(row, 12)?,
        last: get_time(row, 13)?,
        events: get_u64(row, 14)?,
        expires: get_time(row, 15)?,
        key: row.get(16)?,
    })
}

fn record_event(tx: &Transaction<'_>, e: &AuthEvent, since: DateTime<Utc>) -> Result<ObjectId> {
    tx.prepare_cached("DELETE FROM authlog WHERE user = ?1 AND expires < ?2")?
        .execute(params![&e.user.0, ms(e.created)])?;
    let existing: Option<[u8; 12]> = tx
        .prepare_cached(
            "SELECT id FROM authlog WHERE user = ?1 AND key = ?2 AND created >= ?3
             ORDER BY created DESC LIMIT 1",
        )?
        .query_row(params![&e.user.0, &e.key, ms(since)], |r| r.get(0))
        .optional()?;
    if let Some(id) = existing {
        tx.prepare_cached(
            "UPDATE authlog SET events = events + 1, last = ?2,
                 asp = COALESCE(?3, asp), aname = COALESCE(?4, aname),
                 source = COALESCE(?5, source), sess = COALESCE(?6, sess)
             WHERE id = ?1",
        )?
        .execute(params![
            &id,
            ms(e.last),
            e.asp.map(|a| a.0.to_vec()),
            &e.aname,
            &e.source,
            &e.sess,
        ])?;
        return Ok(ObjectId(id));
    }
    tx.prepare_cached(
        "INSERT INTO authlog (id, user, action, result, protocol, required_scope, source, asp,
             aname, require2fa, ip, sess, created, last, events, expires, key)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
    )?
    .execute(params![
        &e.id.0,
        &e.user.0,
        &e.action,
        &e.result,
        &e.protocol,
        &e.required_scope,
        &e.source,
        e.asp.map(|a| a.0.to_vec()),
        &e.aname,
        &e.require2fa,
        &e.ip,
        &e.sess,
        ms(e.created),
        ms(e.last),
        int(e.events.max(1)),
        ms(e.expires),
        &e.key,
    ])?;
    Ok(e.id)
}

/// Newest-first cursor paging: `next` continues with older entries, `previous`
/// returns to newer ones.
fn list_events(tx: &Transaction<'_>, q: &AuthEventQuery) -> Result<Page<AuthEvent>> {
    let mut cond = String::from("user = ?");
    let mut p: Vec<Value> = vec![Value::Blob(q.user.0.to_vec())];
    if let Some(a) = q.action.as_deref().filter(|a| !a.is_empty()) {
        cond.push_str(" AND action = ?");
        p.push(Value::Text(a.to_string()));
    }
    if let Some(ip) = q.ip.as_deref().filter(|a| !a.is_empty()) {
        cond.push_str(" AND ip = ?");
        p.push(Value::Text(ip.to_string()));
    }
    cond.push_str(" AND expires >= ?");
    p.push(Value::Integer(ms(Utc::now())));
    let total: i64 = tx.query_row(
        &format!("SELECT count(*) FROM authlog WHERE {cond}"),
        params_from_iter(&p),
        |r| r.get(0),
    )?;
    let limit = i64::from(if q.paging.limit == 0 {
        20
    } else {
        q.paging.limit
    });
    let run = |sql: String, extra: Vec<Value>| -> Result<Vec<AuthEvent>> {
        let mut all = p.clone();
        all.extend(extra);
        let mut stmt = tx.prepare(&sql)?;
        let rows = stmt
            .query_map(params_from_iter(&all), event)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    };
    let exists = |op: &str, id: ObjectId| -> Result<bool> {
        let mut all = p.clone();
        all.push(Value::Blob(id.0.to_vec()));
        Ok(tx.query_row(
            &format!("SELECT EXISTS (SELECT 1 FROM authlog WHERE {cond} AND id {op} ?)"),
            params_from_iter(&all),
            |r| r.get(0),
        )?)
    };
    let mut rows;
    if let Some(c) = q
        .paging
        .previous
        .as_deref()
        .filter(|_| q.paging.next.is_none())
    {
        let after = cursor("previous", c)?;
        rows = run(
            format!("SELECT {EVENT_COLS} FROM authlog WHERE {cond} AND id > ? ORDER BY id LIMIT ?"),
            vec![Value::Blob(after.0.to_vec()), Value::Integer(limit)],
        )?;
        rows.reverse();
    } else if let Some(c) = q.paging.next.as_deref() {
        let before = cursor("next", c)?;
        rows = run(
            format!(
                "SELECT {EVENT_COLS} FROM authlog WHERE {cond} AND id < ? ORDER BY id DESC LIMIT ?"
            ),
            vec![Value::Blob(before.0.to_vec()), Value::Integer(limit)],
        )?;
    } else {
        let offset = match q.paging.page {
            Some(n) if n > 1 => i64::from(n - 1) * limit,
            _ => 0,
        };
        rows = run(
            format!(
                "SELECT {EVENT_COLS} FROM authlog WHERE {cond} ORDER BY id DESC LIMIT ? OFFSET ?"
            ),
            vec![Value::Integer(limit), Value::Integer(offset)],
        )?;
    }
    let next = match rows.last() {
        Some(last) if exists("<", last.id)? => Some(last.id.to_hex()),
        _ => None,
    };
    let previous = match rows.first() {
        Some(first) if exists(">", first.id)? => Some(first.id.to_hex()),
        _ => None,
    };
    Ok(Page {
        results: rows,
        total: total.max(0) as u64,
        next,
        previous,
    })
}

// ---------------------------------------------------------------------------

#[async_trait]
impl AuthStore for SqliteStore {
    async fn replace_password_hash(
        &self,
        user: ObjectId,
        old: &str,
        new: &str,
    ) -> StoreResult<bool> {
        let (old, new) = (old.to_string(), new.to_string());
        self.write(move |tx| {
            let n = tx
                .prepare_cached("UPDATE users SET password = ?3 WHERE id = ?1 AND password = ?2")?
                .execute(params![&user.0, &old, &new])?;
            Ok(n == 1)
        })
        .await
    }

    async fn create_asp(&self, asp: &Asp) -> StoreResult<()> {
        let a = asp.clone();
        self.write(move |tx| insert_asp(tx, &a)).await
    }

    async fn list_asps(&self, user: ObjectId) -> StoreResult<Vec<Asp>> {
        self.read(move |tx| list_asps(tx, user)).await
    }

    async fn get_asp(&self, user: ObjectId, id: ObjectId) -> StoreResult<Option<Asp>> {
        self.read(move |tx| get_asp(tx, user, id)).await
    }

    async fn delete_asp(&self, user: ObjectId, id: ObjectId) -> StoreResult<bool> {
        self.write(move |tx| {
            Ok(tx
                .prepare_cached("DELETE FROM asps WHERE id = ?1 AND user = ?2")?
                .execute([&id.0, &user.0])?
                == 1)
        })
        .await
    }

    async fn record_asp_use(
        &self,
        user: ObjectId,
        id: ObjectId,
        used: &AspUse,
        expires: Option<DateTime<Utc>>,
    ) -> StoreResult<()> {
        let used = used.clone();
        self.write(move |tx| {
            tx.prepare_cached(
                "UPDATE asps SET used = ?3, used_event = ?4, used_ip = ?5,
                     expires = COALESCE(?6, expires)
                 WHERE id = ?1 AND user = ?2",
            )?
            .execute(params![
                &id.0,
                &user.0,
                ms(used.time),
                used.event.map(|e| e.0.to_vec()),
                &used.ip,
                expires.map(ms),
            ])?;
            Ok(())
        })
        .await
    }

    async fn get_two_factor(&self, user: ObjectId) -> StoreResult<Option<TwoFactor>> {
        self.read(move |tx| {
            Ok(tx
                .prepare_cached("SELECT state FROM two_factor WHERE user = ?1")?
                .query_row([&user.0], |r| get_json(r, 0))
                .optional()?)
        })
        .await
    }

    async fn put_two_factor(&self, user: ObjectId, state: Option<&TwoFactor>) -> StoreResult<()> {
        let state = state.map(json).transpose().map_err(StoreError::from)?;
        self.write(move |tx| {
            match state {
                Some(s) => tx
                    .prepare_cached(
                        "INSERT INTO two_factor (user, state) VALUES (?1, ?2)
                         ON CONFLICT (user) DO UPDATE SET state = excluded.state",
                    )?
                    .execute(params![&user.0, s])?,
                None => tx
                    .prepare_cached("DELETE FROM two_factor WHERE user = ?1")?
                    .execute([&user.0])?,
            };
            Ok(())
        })
        .await
    }

    async fn enabled_two_factor(
        &self,
        users: &[ObjectId],
    ) -> StoreResult<Vec<(ObjectId, Vec<String>)>> {
        let users = users.to_vec();
        self.read(move |tx| {
            let mut out = Vec::new();
            let mut stmt = tx.prepare_cached("SELECT state FROM two_factor WHERE user = ?1")?;
            for u in users {
                let state: Option<TwoFactor> =
                    stmt.query_row([&u.0], |r| get_json(r, 0)).optional()?;
                if let Some(s) = state.filter(|s| !s.enabled.is_empty()) {
                    out.push((u, s.enabled));
                }
            }
            Ok(out)
        })
        .await
    }

    async fn create_token(&self, token: &AccessToken) -> StoreResult<()> {
        let t = token.clone();
        self.write(move |tx| {
            tx.prepare_cached(
                "INSERT INTO access_tokens (hash, user, created, expires, pending_2fa)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                &t.hash,
                &t.user.0,
                ms(t.created),
                ms(t.expires),
                t.pending_2fa
            ])?;
            Ok(())
        })
        .await
    }

    async fn get_token(&self, hash: &str) -> StoreResult<Option<AccessToken>> {
        let h = hash.to_string();
        self.read(move |tx| {
            Ok(tx
                .prepare_cached(
                    "SELECT hash, user, created, expires, pending_2fa
                     FROM access_tokens WHERE hash = ?1",
                )?
                .query_row([&h], token)
                .optional()?)
        })
        .await
    }

    async fn confirm_token(&self, hash: &str) -> StoreResult<bool> {
        let h = hash.to_string();
        self.write(move |tx| {
            Ok(tx
                .prepare_cached("UPDATE access_tokens SET pending_2fa = 0 WHERE hash = ?1")?
                .execute([&h])?
                == 1)
        })
        .await
    }

    async fn delete_token(&self, hash: &str) -> StoreResult<bool> {
        let h = hash.to_string();
        self.write(move |tx| {
            Ok(tx
                .prepare_cached("DELETE FROM access_tokens WHERE hash = ?1")?
                .execute([&h])?
                == 1)
        })
        .await
    }

    async fn delete_user_tokens(&self, user: ObjectId) -> StoreResult<u64> {
        self.write(move |tx| {
            Ok(tx
                .prepare_cached("DELETE FROM access_tokens WHERE user = ?1")?
                .execute([&user.0])? as u64)
        })
        .await
    }

    async fn purge_expired_tokens(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        self.write(move |tx| {
            Ok(tx
                .prepare_cached("DELETE FROM access_tokens WHERE expires < ?1")?
                .execute([ms(now)])? as u64)
        })
        .await
    }

    async fn record_auth_event(
        &self,
        event: &AuthEvent,
        merge_since: DateTime<Utc>,
    ) -> StoreResult<ObjectId> {
        let e = event.clone();
        self.write(move |tx| record_event(tx, &e, merge_since))
            .await
    }

    async fn list_auth_events(&self, query: &AuthEventQuery) -> StoreResult<Page<AuthEvent>> {
        let q = query.clone();
        self.read(move |tx| list_events(tx, &q)).await
    }

    async fn get_auth_event(&self, user: ObjectId, id: ObjectId) -> StoreResult<Option<AuthEvent>> {
        self.read(move |tx| {
            let sql = format!("SELECT {EVENT_COLS} FROM authlog WHERE id = ?1 AND user = ?2");
            Ok(tx
                .prepare_cached(&sql)?
                .query_row([&id.0, &user.0], event)
                .optional()?)
        })
        .await
    }

    async fn delete_user_auth(&self, user: ObjectId) -> StoreResult<()> {
        self.write(move |tx| {
            for sql in [
                "DELETE FROM asps WHERE user = ?1",
                "DELETE FROM two_factor WHERE user = ?1",
                "DELETE FROM access_tokens WHERE user = ?1",
                "DELETE FROM authlog WHERE user = ?1",
            ] {
                tx.prepare_cached(sql)?.execute([&user.0])?;
            }
            Ok(())
        })
        .await
    }
}
