//! Persistence of per-user delivery rules: filters and the autoreply.
//!
//! Every call names the user the records belong to (a sharded backend routes
//! on it); a record of another user is "not found", never returned.

use async_trait::async_trait;

use crate::model::{Page, Paging};
use crate::{Autoreply, Filter, ObjectId, StoreResult};

/// Which filters a listing of every user's filters (GET /filters) returns.
#[derive(Debug, Clone, Default)]
pub struct FilterSearch {
    /// Only this user's filters.
    pub user: Option<ObjectId>,
    /// Only filters with a forwarding target containing this text (case-sensitive,
    /// as WildDuck's regular expression match is).
    pub forward: Option<String>,
    pub paging: Paging,
}

/// Filters and autoreplies.
#[async_trait]
pub trait FilterStore: Send + Sync {
    /// Store a new filter for `filter.user`, atomically checking the count:
    /// `LimitReached("filters")` when the user already has `max` filters,
    /// `NotFound` when the user does not exist.
    async fn create_filter(&self, filter: &Filter, max: u64) -> StoreResult<()>;

    /// The filter `id` of `user`; None when it does not exist or is another user's.
    async fn get_filter(&self, user: ObjectId, id: ObjectId) -> StoreResult<Option<Filter>>;

    /// A user's filters in the order they apply: creation order (ascending id).
    async fn list_user_filters(&self, user: ObjectId) -> StoreResult<Vec<Filter>>;

    /// How many filters a user has.
    async fn count_user_filters(&self, user: ObjectId) -> StoreResult<u64>;

    /// Filters of every user (or of `search.user`), ordered by id, paged.
    async fn list_filters(&self, search: &FilterSearch) -> StoreResult<Page<Filter>>;

    /// Replace the mutable fields (name, query, action, disabled, meta_data) of
    /// the filter `(filter.user, filter.id)`. False when there is no such filter.
    async fn update_filter(&self, filter: &Filter) -> StoreResult<bool>;

    /// False when there was no such filter of this user.
    async fn delete_filter(&self, user: ObjectId, id: ObjectId) -> StoreResult<bool>;

    /// The user's autoreply settings, if any were ever stored.
    async fn get_autoreply(&self, user: ObjectId) -> StoreResult<Option<Autoreply>>;

    /// Create or replace the user's autoreply settings (one per user). The stored
    /// record keeps the id it was first created with; `autoreply.id` names it
    /// when it is new (a fresh id when None). `NotFound` when the user does not
    /// exist.
    async fn set_autoreply(&self, user: ObjectId, autoreply: &Autoreply) -> StoreResult<ObjectId>;

    /// False when the user had none.
    async fn delete_autoreply(&self, user: ObjectId) -> StoreResult<bool>;
}
