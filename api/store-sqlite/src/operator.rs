//! Operator records: runtime settings, domain access lists and webhooks (v13_operator.sql).

use async_trait::async_trait;
use eider_service::model::Page;
use eider_service::{
    DomainAccess, DomainAccessStore, DomainAction, ObjectId, SettingsStore, StoreResult,
    StoredSetting, Webhook, WebhookQuery, WebhookStore,
};
use rusqlite::types::{Type, Value};
use rusqlite::{params, params_from_iter, OptionalExtension, Row, Transaction};

use crate::codec::{get_json, get_oid, get_opt_oid, get_time, json, ms};
use crate::paging::{page, Filter};
use crate::SqliteStore;

#[async_trait]
impl SettingsStore for SqliteStore {
    async fn list_settings(&self) -> StoreResult<Vec<StoredSetting>> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached("SELECT key, value FROM settings ORDER BY key")?;
            let rows = stmt
                .query_map([], |row| {
                    Ok(StoredSetting {
                        key: row.get(0)?,
                        value: get_json(row, 1)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    async fn set_setting(&self, key: &str, value: &serde_json::Value) -> StoreResult<()> {
        let key = key.to_string();
        let value = json(value)?;
        self.write(move |tx| {
            tx.prepare_cached(
                "INSERT INTO settings (key, value, created) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![key, value, ms(chrono::Utc::now())])?;
            Ok(())
        })
        .await
    }
}

const ACCESS_COLS: &str = "id, tag, tagview, domain, action, created";

fn access(row: &Row<'_>) -> rusqlite::Result<DomainAccess> {
    let action: String = row.get(4)?;
    Ok(DomainAccess {
        id: get_oid(row, 0)?,
        tag: row.get(1)?,
        tagview: row.get(2)?,
        domain: row.get(3)?,
        action: DomainAction::parse(&action).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(4, Type::Text, "unknown action".into())
        })?,
        created: get_time(row, 5)?,
    })
}

/// `?, ?, …` for `n` parameters.
fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

#[async_trait]
impl DomainAccessStore for SqliteStore {
    async fn upsert_domain_access(&self, entry: &DomainAccess) -> StoreResult<DomainAccess> {
        let e = entry.clone();
        self.write(move |tx| {
            tx.prepare_cached(
                "INSERT INTO domain_access (id, tag, tagview, domain, action, created)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (tagview, domain) DO UPDATE SET action = excluded.action",
            )?
            .execute(params![
                &e.id.0,
                e.tag,
                e.tagview,
                e.domain,
                e.action.as_str(),
                ms(e.created)
            ])?;
            Ok(tx
                .prepare_cached(&format!(
                    "SELECT {ACCESS_COLS} FROM domain_access WHERE tagview = ?1 AND domain = ?2"
                ))?
                .query_row(params![e.tagview, e.domain], access)?)
        })
        .await
    }

    async fn list_domain_access(
        &self,
        tagview: &str,
        action: DomainAction,
    ) -> StoreResult<Vec<DomainAccess>> {
        let tagview = tagview.to_string();
        self.read(move |tx| {
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT {ACCESS_COLS} FROM domain_access WHERE tagview = ?1 AND action = ?2
                 ORDER BY domain"
            ))?;
            let rows = stmt
                .query_map(params![tagview, action.as_str()], access)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    async fn get_domain_access(&self, id: ObjectId) -> StoreResult<Option<DomainAccess>> {
        self.read(move |tx| {
            Ok(tx
                .prepare_cached(&format!(
                    "SELECT {ACCESS_COLS} FROM domain_access WHERE id = ?1"
                ))?
                .query_row([&id.0], access)
                .optional()?)
        })
        .await
    }

    async fn delete_domain_access(&self, id: ObjectId) -> StoreResult<bool> {
        self.write(move |tx| {
            Ok(tx
                .prepare_cached("DELETE FROM domain_access WHERE id = ?1")?
                .execute([&id.0])?
                > 0)
        })
        .await
    }

    async fn match_domain_access(
        &self,
        tagviews: &[String],
        domains: &[String],
    ) -> StoreResult<Vec<DomainAccess>> {
        if tagviews.is_empty() || domains.is_empty() {
            return Ok(Vec::new());
        }
        let mut values: Vec<Value> = Vec::new();
        values.extend(domains.iter().cloned().map(Value::Text));
        values.extend(tagviews.iter().cloned().map(Value::Text));
        let sql = format!(
            "SELECT {ACCESS_COLS} FROM domain_access WHERE domain IN ({}) AND tagview IN ({})
             ORDER BY id",
            placeholders(domains.len()),
            placeholders(tagviews.len())
        );
        self.read(move |tx| {
            let mut stmt = tx.prepare(&sql)?;
            let rows = stmt
                .query_map(params_from_iter(&values), access)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }
}

const HOOK_COLS: &str = "id, user, url, created";

fn hook_row(row: &Row<'_>) -> rusqlite::Result<Webhook> {
    Ok(Webhook {
        id: get_oid(row, 0)?,
        user: get_opt_oid(row, 1)?,
        url: row.get(2)?,
        created: get_time(row, 3)?,
        types: Vec::new(),
    })
}

/// Fill in each webhook's type patterns.
fn with_types(tx: &Transaction<'_>, hooks: &mut [Webhook]) -> rusqlite::Result<()> {
    let mut stmt =
        tx.prepare_cached("SELECT pattern FROM webhook_types WHERE webhook = ?1 ORDER BY rowid")?;
    for h in hooks {
        h.types = stmt
            .query_map([&h.id.0], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
    }
    Ok(())
}

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn create_webhook(&self, hook: &Webhook) -> StoreResult<()> {
        let h = hook.clone();
        self.write(move |tx| {
            tx.prepare_cached(
                "INSERT INTO webhooks (id, user, url, created) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![&h.id.0, h.user.map(|u| u.0), h.url, ms(h.created)])?;
            let mut stmt = tx.prepare_cached(
                "INSERT OR IGNORE INTO webhook_types (webhook, pattern) VALUES (?1, ?2)",
            )?;
            for t in &h.types {
                stmt.execute(params![&h.id.0, t])?;
            }
            Ok(())
        })
        .await
    }

    async fn get_webhook(&self, id: ObjectId) -> StoreResult<Option<Webhook>> {
        self.read(move |tx| {
            let found = tx
                .prepare_cached(&format!("SELECT {HOOK_COLS} FROM webhooks WHERE id = ?1"))?
                .query_row([&id.0], hook_row)
                .optional()?;
            let mut found: Vec<Webhook> = found.into_iter().collect();
            with_types(tx, &mut found)?;
            Ok(found.pop())
        })
        .await
    }

    async fn delete_webhook(&self, id: ObjectId) -> StoreResult<bool> {
        self.write(move |tx| {
            tx.prepare_cached("DELETE FROM webhook_types WHERE webhook = ?1")?
                .execute([&id.0])?;
            Ok(tx
                .prepare_cached("DELETE FROM webhooks WHERE id = ?1")?
                .execute([&id.0])?
                > 0)
        })
        .await
    }

    async fn list_webhooks(&self, query: &WebhookQuery) -> StoreResult<Page<Webhook>> {
        let q = query.clone();
        self.read(move |tx| {
            let mut filter = Filter::all();
            if let Some(user) = q.user {
                filter.and("user = ?", [Value::Blob(user.0.to_vec())]);
            }
            if let Some(p) = q.pattern {
                filter.and(
                    "id IN (SELECT webhook FROM webhook_types WHERE pattern = ?)",
                    [Value::Text(p)],
                );
            }
            let mut found = page(
                tx,
                "webhooks",
                HOOK_COLS,
                &filter,
                &q.paging,
                hook_row,
                |h| h.id,
            )?;
            with_types(tx, &mut found.results)?;
            Ok(found)
        })
        .await
    }

    async fn matching_webhooks(
        &self,
        patterns: &[String],
        user: Option<ObjectId>,
    ) -> StoreResult<Vec<Webhook>> {
        if patterns.is_empty() {
            return Ok(Vec::new());
        }
        let mut values: Vec<Value> = patterns.iter().cloned().map(Value::Text).collect();
        let user_cond = match user {
            Some(u) => {
                values.push(Value::Blob(u.0.to_vec()));
                "(user IS NULL OR user = ?)"
            }
            None => "1",
        };
        let sql = format!(
            "SELECT {HOOK_COLS} FROM webhooks WHERE id IN
               (SELECT webhook FROM webhook_types WHERE pattern IN ({}))
             AND {user_cond} ORDER BY id",
            placeholders(patterns.len())
        );
        self.read(move |tx| {
            let mut stmt = tx.prepare(&sql)?;
            let mut rows = stmt
                .query_map(params_from_iter(&values), hook_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            with_types(tx, &mut rows)?;
            Ok(rows)
        })
        .await
    }
}
