//! The service calls behind the filter and autoreply API: input normalization
//! (as WildDuck's schemas do it), validation, per-user limits, and storage
//! through the `FilterStore` trait. Delivery reads the same records.

use chrono::{DateTime, Utc};

use super::autoreply::Autoreply;
use super::filters::{Filter, FilterAction, FilterQuery};
use crate::model::{Page, User};
use crate::service::Service;
use crate::store_filters::FilterSearch;
use crate::{Error, ObjectId, Result, StoreError};

/// Longest autoreply From: name, subject and bodies (WildDuck's limits).
const MAX_AUTOREPLY_NAME: usize = 128;
const MAX_AUTOREPLY_SUBJECT: usize = 2 * 1024;
const MAX_AUTOREPLY_BODY: usize = 128 * 1024;

/// What creating a filter takes. Mirrors POST /users/{user}/filters.
#[derive(Debug, Clone, Default)]
pub struct NewFilter {
    pub name: Option<String>,
    pub query: FilterQuery,
    pub action: FilterAction,
    pub disabled: bool,
    /// An object, or a string holding a JSON object.
    pub meta_data: Option<serde_json::Value>,
}

/// A partial change of a filter's query. Mirrors PUT's `query`: for each field,
/// None leaves it, `Some(None)` removes it, `Some(Some(v))` sets it.
#[derive(Debug, Clone, Default)]
pub struct FilterQueryChange {
    pub from: Option<Option<String>>,
    pub to: Option<Option<String>>,
    pub subject: Option<Option<String>>,
    pub list_id: Option<Option<String>>,
    pub text: Option<Option<String>>,
    pub ha: Option<Option<bool>>,
    pub size: Option<Option<i64>>,
}

/// A partial change of a filter's action, as [`FilterQueryChange`].
#[derive(Debug, Clone, Default)]
pub struct FilterActionChange {
    pub seen: Option<Option<bool>>,
    pub flag: Option<Option<bool>>,
    pub delete: Option<Option<bool>>,
    pub spam: Option<Option<bool>>,
    pub mailbox: Option<Option<ObjectId>>,
    pub targets: Option<Option<Vec<String>>>,
}

/// A partial update of a filter. Mirrors PUT /users/{user}/filters/{filter}.
#[derive(Debug, Clone, Default)]
pub struct FilterUpdate {
    /// A new name (an empty one leaves the name as it is, as in WildDuck).
    pub name: Option<String>,
    pub query: FilterQueryChange,
    pub action: FilterActionChange,
    pub disabled: Option<bool>,
    pub meta_data: Option<serde_json::Value>,
}

/// A partial update of the autoreply. Mirrors PUT /users/{user}/autoreply: None
/// leaves a field; an empty text clears it; `Some(None)` turns a date check off.
#[derive(Debug, Clone, Default)]
pub struct AutoreplyUpdate {
    pub status: Option<bool>,
    pub name: Option<String>,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
    pub start: Option<Option<DateTime<Utc>>>,
    pub end: Option<Option<DateTime<Utc>>>,
}

/// A user's filters with the limit that applies to them (GET /users/{user}/filters).
#[derive(Debug, Clone)]
pub struct UserFilters {
    pub filters: Vec<Filter>,
    pub allowed: u64,
}

/// Trim and collapse whitespace runs to one space (WildDuck stores query texts
/// so); empty means unset.
fn query_text(v: Option<String>) -> Option<String> {
    v.map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|s| !s.is_empty())
}

fn trimmed(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

fn normalize_query(q: FilterQuery) -> FilterQuery {
    FilterQuery {
        from: query_text(q.from),
        to: query_text(q.to),
        subject: query_text(q.subject),
        list_id: query_text(q.list_id),
        text: query_text(q.text),
        ha: q.ha,
        size: q.size.filter(|s| *s != 0),
    }
}

fn normalize_action(a: FilterAction) -> FilterAction {
    FilterAction {
        targets: a
            .targets
            .into_iter()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect(),
        ..a
    }
}

fn apply<T>(slot: &mut Option<T>, change: Option<Option<T>>) {
    if let Some(v) = change {
        *slot = v;
    }
}

/// metaData: an object, or a string holding one.
fn meta_object(v: serde_json::Value) -> Result<serde_json::Value> {
    let parsed = match v {
        serde_json::Value::String(s) => serde_json::from_str(&s).map_err(|_| {
            Error::Validation("metaData value must be valid JSON object string".into())
        })?,
        other => other,
    };
    if parsed.is_object() {
        Ok(parsed)
    } else {
        Err(Error::Validation(
            "metaData value must be a JSON object".into(),
        ))
    }
}

/// A trimmed text of at most `max` characters; empty means unset.
fn limited(field: &str, v: String, max: usize) -> Result<Option<String>> {
    let v = v.trim();
    if v.chars().count() > max {
        return Err(Error::Validation(format!(
            "\"{field}\" length must be less than or equal to {max} characters long"
        )));
    }
    Ok((!v.is_empty()).then(|| v.to_string()))
}

impl Service {
    /// How many filters `user` may have (`limits.filters`, else the `const:max:filters`
    /// setting).
    pub async fn filter_limit(&self, user: &User) -> u64 {
        match user.profile.limits.filters.filter(|n| *n > 0) {
            Some(n) => n,
            None => {
                self.setting_u64(crate::service::settings::keys::MAX_FILTERS)
                    .await
            }
        }
    }

    /// Check a filter against the user's mailboxes and the rules of the model.
    async fn check_filter(&self, filter: &Filter) -> Result<()> {
        let mailbox_exists = match filter.action.mailbox {
            Some(m) => match self.get_mailbox(filter.user, m).await {
                Ok(_) => true,
                Err(Error::NoSuchMailbox) => false,
                Err(e) => return Err(e),
            },
            None => true,
        };
        filter.validate(mailbox_exists)
    }

    /// Create a filter (POST /users/{user}/filters); it applies after the
    /// user's existing ones.
    pub async fn create_filter(&self, user: ObjectId, new: NewFilter) -> Result<Filter> {
        let account = self.get_user(user).await?;
        let filter = Filter {
            id: ObjectId::new(),
            user,
            name: trimmed(new.name),
            query: normalize_query(new.query),
            action: normalize_action(new.action),
            disabled: new.disabled,
            meta_data: match new.meta_data {
                Some(m) => meta_object(m)?,
                None => serde_json::json!({}),
            },
            created: Utc::now(),
        };
        self.check_filter(&filter).await?;
        let max = self.filter_limit(&account).await;
        match self.store().create_filter(&filter, max).await {
            Ok(()) => Ok(filter),
            Err(StoreError::NotFound) => Err(Error::UserNotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// One filter of a user.
    pub async fn get_filter(&self, user: ObjectId, id: ObjectId) -> Result<Filter> {
        self.store()
            .get_filter(user, id)
            .await?
            .ok_or(Error::FilterNotFound)
    }

    /// A user's filters in the order they apply, and how many are allowed.
    pub async fn list_user_filters(&self, user: ObjectId) -> Result<UserFilters> {
        let account = self.get_user(user).await?;
        let filters = self.store().list_user_filters(user).await?;
        Ok(UserFilters {
            filters,
            allowed: self.filter_limit(&account).await,
        })
    }

    /// How many filters a user has (for the user's limits).
    pub async fn count_user_filters(&self, user: ObjectId) -> Result<u64> {
        Ok(self.store().count_user_filters(user).await?)
    }

    /// Every user's filters, paged (GET /filters).
    pub async fn list_filters(&self, search: &FilterSearch) -> Result<Page<Filter>> {
        match self.store().list_filters(search).await {
            // An unreadable cursor: an empty page, as for a cursor past the end.
            Err(StoreError::NotFound) => Ok(Page {
                results: Vec::new(),
                total: 0,
                next: None,
                previous: None,
            }),
            other => Ok(other?),
        }
    }

    /// Change a filter (PUT /users/{user}/filters/{filter}).
    pub async fn update_filter(
        &self,
        user: ObjectId,
        id: ObjectId,
        update: FilterUpdate,
    ) -> Result<Filter> {
        let mut filter = self.get_filter(user, id).await?;
        if let Some(name) = trimmed(update.name) {
            filter.name = Some(name);
        }
        if let Some(d) = update.disabled {
            filter.disabled = d;
        }
        if let Some(m) = update.meta_data {
            filter.meta_data = meta_object(m)?;
        }
        let q = &mut filter.query;
        let c = update.query;
        apply(&mut q.from, c.from);
        apply(&mut q.to, c.to);
        apply(&mut q.subject, c.subject);
        apply(&mut q.list_id, c.list_id);
        apply(&mut q.text, c.text);
        apply(&mut q.ha, c.ha);
        apply(&mut q.size, c.size);
        let a = &mut filter.action;
        let c = update.action;
        apply(&mut a.seen, c.seen);
        apply(&mut a.flag, c.flag);
        apply(&mut a.delete, c.delete);
        apply(&mut a.spam, c.spam);
        apply(&mut a.mailbox, c.mailbox);
        if let Some(t) = c.targets {
            a.targets = t.unwrap_or_default();
        }
        filter.query = normalize_query(filter.query);
        filter.action = normalize_action(filter.action);
        self.check_filter(&filter).await?;
        if self.store().update_filter(&filter).await? {
            Ok(filter)
        } else {
            Err(Error::FilterNotFound)
        }
    }

    /// Remove a filter.
    pub async fn delete_filter(&self, user: ObjectId, id: ObjectId) -> Result<()> {
        if self.store().delete_filter(user, id).await? {
            Ok(())
        } else {
            Err(Error::FilterNotFound)
        }
    }

    /// The filters delivery applies to a user's mail, in order.
    pub(crate) async fn delivery_filters(&self, user: ObjectId) -> Result<Vec<Filter>> {
        Ok(self.store().list_user_filters(user).await?)
    }

    /// The user's autoreply settings (None when never set). UserNotFound for an
    /// unknown user.
    pub async fn get_autoreply(&self, user: ObjectId) -> Result<Option<Autoreply>> {
        self.get_user(user).await?;
        Ok(self.store().get_autoreply(user).await?)
    }

    /// Change the autoreply (PUT /users/{user}/autoreply); returns the stored settings.
    pub async fn update_autoreply(
        &self,
        user: ObjectId,
        update: AutoreplyUpdate,
    ) -> Result<Autoreply> {
        let check =
            |field: &str, v: Option<String>, max: usize| -> Result<Option<Option<String>>> {
                v.map(|s| limited(field, s, max)).transpose()
            };
        let name = check("name", update.name, MAX_AUTOREPLY_NAME)?;
        let subject = check("subject", update.subject, MAX_AUTOREPLY_SUBJECT)?;
        let text = check("text", update.text, MAX_AUTOREPLY_BODY)?;
        let html = check("html", update.html, MAX_AUTOREPLY_BODY)?;
        let mut settings = self.get_autoreply(user).await?.unwrap_or_default();
        if let Some(s) = update.status {
            settings.status = s;
        }
        apply(&mut settings.name, name);
        apply(&mut settings.subject, subject);
        apply(&mut settings.text, text);
        apply(&mut settings.html, html);
        apply(&mut settings.start, update.start);
        apply(&mut settings.end, update.end);
        // WildDuck stamps the change time, to the second.
        settings.created = DateTime::from_timestamp(Utc::now().timestamp(), 0);
        let id = match self.store().set_autoreply(user, &settings).await {
            Ok(id) => id,
            Err(StoreError::NotFound) => return Err(Error::UserNotFound),
            Err(e) => return Err(e.into()),
        };
        settings.id = Some(id);
        Ok(settings)
    }

    /// Remove the autoreply settings (DELETE /users/{user}/autoreply).
    pub async fn delete_autoreply(&self, user: ObjectId) -> Result<()> {
        self.get_user(user).await?;
        self.store().delete_autoreply(user).await?;
        Ok(())
    }

    /// The autoreply delivery consults for a user.
    pub(crate) async fn delivery_autoreply(&self, user: ObjectId) -> Result<Option<Autoreply>> {
        Ok(self.store().get_autoreply(user).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_texts_are_collapsed_and_empty_ones_dropped() {
        let q = normalize_query(FilterQuery {
            from: Some("  Andris \t  Reinman ".into()),
            to: Some("   ".into()),
            text: Some("two\r\n words".into()),
            size: Some(0),
            ha: Some(false),
            ..Default::default()
        });
        assert_eq!(q.from.as_deref(), Some("Andris Reinman"));
        assert_eq!(q.to, None);
        assert_eq!(q.text.as_deref(), Some("two words"));
        assert_eq!(q.size, None);
        assert_eq!(q.ha, Some(false));
        let a = normalize_action(FilterAction {
            targets: vec![" a@example.com ".into(), "".into()],
            ..Default::default()
        });
        assert_eq!(a.targets, vec!["a@example.com".to_string()]);
    }

    #[test]
    fn metadata_and_limits() {
        assert_eq!(
            meta_object(serde_json::json!("{\"a\":1}")).ok(),
            Some(serde_json::json!({"a": 1}))
        );
        assert!(meta_object(serde_json::json!("[1]")).is_err());
        assert!(meta_object(serde_json::json!(5)).is_err());
        assert_eq!(
            limited("name", "  x ".into(), 3).ok(),
            Some(Some("x".into()))
        );
        assert_eq!(limited("name", "   ".into(), 3).ok(), Some(None));
        assert!(limited("name", "abcd".into(), 3).is_err());
        let mut slot = Some(1);
        apply(&mut slot, None);
        assert_eq!(slot, Some(1));
        apply(&mut slot, Some(None));
        assert_eq!(slot, None);
        apply(&mut slot, Some(Some(2)));
        assert_eq!(slot, Some(2));
    }
}
