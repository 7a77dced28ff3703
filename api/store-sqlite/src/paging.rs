//! Cursor paging over tables keyed by ObjectId: results ordered by id, `next` and
//! `previous` are the hex ids of the last and first result, `total` counts every
//! match regardless of the cursor. A limit of 0 means no limit.

use eider_service::model::{Page, Paging};
use eider_service::{ObjectId, StoreError};
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Row, Transaction};

use crate::error::{Result, SqliteError};

/// A WHERE clause (over the table's columns) with its positional parameters.
pub(crate) struct Filter {
    pub(crate) sql: String,
    pub(crate) params: Vec<Value>,
}

impl Filter {
    pub(crate) fn all() -> Self {
        Self {
            sql: "1".into(),
            params: Vec::new(),
        }
    }

    /// AND another condition.
    pub(crate) fn and(&mut self, cond: &str, params: impl IntoIterator<Item = Value>) {
        self.sql = format!("({}) AND ({cond})", self.sql);
        self.params.extend(params);
    }
}

/// The id a `field` ("next" or "previous") cursor names.
pub(crate) fn cursor(field: &'static str, s: &str) -> Result<ObjectId> {
    ObjectId::parse(s).ok_or(SqliteError::Store(StoreError::InvalidCursor(field)))
}

pub(crate) fn page<T>(
    tx: &Transaction<'_>,
    table: &str,
    cols: &str,
    filter: &Filter,
    paging: &Paging,
    map: impl Fn(&Row<'_>) -> rusqlite::Result<T>,
    id_of: impl Fn(&T) -> ObjectId,
) -> Result<Page<T>> {
    let count_sql = format!("SELECT count(*) FROM {table} WHERE {}", filter.sql);
    let total: i64 = tx.query_row(&count_sql, params_from_iter(&filter.params), |r| r.get(0))?;
    let limit = if paging.limit == 0 {
        None
    } else {
        Some(i64::from(paging.limit))
    };
    // Fetch one more than asked: its presence says whether a further page exists.
    let fetch = limit.map_or(-1, |l| l + 1);
    let exists = |op: &str, id: ObjectId| -> Result<bool> {
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM {table} WHERE ({}) AND id {op} ?)",
            filter.sql
        );
        let mut p = filter.params.clone();
        p.push(Value::Blob(id.0.to_vec()));
        Ok(tx.query_row(&sql, params_from_iter(&p), |r| r.get(0))?)
    };
    let run = |sql: String, extra: Vec<Value>| -> Result<Vec<T>> {
        let mut p = filter.params.clone();
        p.extend(extra);
        let mut stmt = tx.prepare(&sql)?;
        let rows = stmt
            .query_map(params_from_iter(&p), &map)?
            .collect::<rusqlite::Result<Vec<T>>>()?;
        Ok(rows)
    };
    let over = |n: usize| limit.is_some_and(|l| n as i64 > l);
    let keep = limit.map_or(usize::MAX, |l| l as usize);

    let (results, next, previous) = if let Some(c) = paging.next.as_deref() {
        let after = cursor("next", c)?;
        let sql = format!(
            "SELECT {cols} FROM {table} WHERE ({}) AND id > ? ORDER BY id LIMIT ?",
            filter.sql
        );
        let mut rows = run(
            sql,
            vec![Value::Blob(after.0.to_vec()), Value::Integer(fetch)],
        )?;
        let more = over(rows.len());
        rows.truncate(keep);
        let next = if more { rows.last().map(&id_of) } else { None };
        let previous = match rows.first().map(&id_of) {
            Some(first) if exists("<", first)? => Some(first),
            _ => None,
        };
        (rows, next, previous)
    } else if let Some(c) = paging.previous.as_deref() {
        let before = cursor("previous", c)?;
        let sql = format!(
            "SELECT {cols} FROM {table} WHERE ({}) AND id < ? ORDER BY id DESC LIMIT ?",
            filter.sql
        );
        let mut rows = run(
            sql,
            vec![Value::Blob(before.0.to_vec()), Value::Integer(fetch)],
        )?;
        let more = over(rows.len());
        rows.truncate(keep);
        rows.reverse();
        let previous = if more { rows.first().map(&id_of) } else { None };
        let next = match rows.last().map(&id_of) {
            Some(last) if exists(">", last)? => Some(last),
            _ => None,
        };
        (rows, next, previous)
    } else {
        let offset = match (paging.page, limit) {
            (Some(p), Some(l)) if p > 1 => i64::from(p - 1) * l,
            _ => 0,
        };
        let sql = format!(
            "SELECT {cols} FROM {table} WHERE {} ORDER BY id LIMIT ? OFFSET ?",
            filter.sql
        );
        let mut rows = run(sql, vec![Value::Integer(fetch), Value::Integer(offset)])?;
        let more = over(rows.len());
        rows.truncate(keep);
        let next = if more { rows.last().map(&id_of) } else { None };
        let previous = if offset > 0 {
            rows.first().map(&id_of)
        } else {
            None
        };
        (rows, next, previous)
    };
    Ok(Page {
        results,
        total: total.max(0) as u64,
        next: next.map(|id| id.to_hex()),
        previous: previous.map(|id| id.to_hex()),
    })
}

/// Conditions shared by users and addresses: tags stored as a JSON array.
pub(crate) fn tag_filters(filter: &mut Filter, any_of: &[String], all_of: &[String]) {
    let tag = |t: &String| Value::Text(t.to_lowercase());
    if !any_of.is_empty() {
        let marks = vec!["?"; any_of.len()].join(", ");
        filter.and(
            &format!(
                "EXISTS (SELECT 1 FROM json_each(tags) WHERE eider_lower(json_each.value) IN ({marks}))"
            ),
            any_of.iter().map(tag),
        );
    }
    for t in all_of {
        filter.and(
            "EXISTS (SELECT 1 FROM json_each(tags) WHERE eider_lower(json_each.value) = ?)",
            [tag(t)],
        );
    }
}
