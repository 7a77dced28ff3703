//! GET /users/{user}/search (find messages across mailboxes) and POST (apply an
//! action to every match).

use axum::extract::{Path, State};
use axum::Json;
use eider_service::api::{parse_uid_range, MessageSearch, OrTerms, SearchAction};
use eider_service::ObjectId;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::message_view::{list_item, ListOptions, MessageListItem};
use super::messages::{include_headers, sort_order, thread_counts};
use super::users::{LogParams, PagingQuery};
use crate::de;
use crate::error::{ApiError, ApiResult, ErrorResponse, OnField};
use crate::extract::{object_id, ApiJson, ApiQuery, Caller};
use crate::schema::{self, Cursor};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(search_messages, search_apply))
}

/// At least one of these terms must match.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrQuery {
    /// Words to find in the headers or body
    #[serde(default, deserialize_with = "de::opt_string")]
    pub query: Option<String>,
    /// Partial match for the From: header line
    #[serde(default, deserialize_with = "de::opt_string")]
    pub from: Option<String>,
    /// Partial match for the To: and Cc: header lines
    #[serde(default, deserialize_with = "de::opt_string")]
    pub to: Option<String>,
    /// Partial match for the Subject: header line
    #[serde(default, deserialize_with = "de::opt_string")]
    pub subject: Option<String>,
}

/// Search terms shared by GET (query string) and POST (body).
#[derive(Debug, Default, Deserialize, IntoParams, ToSchema)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct SearchTerms {
    /// Additional query string: words, "phrases", from:, to:, subject:, has:attachment, is:unseen, is:flagged, larger:N, smaller:N, -negation
    #[serde(default, deserialize_with = "de::opt_string")]
    pub q: Option<String>,
    /// ID of the Mailbox
    #[serde(default, deserialize_with = "de::opt_string")]
    pub mailbox: Option<String>,
    /// Message ID values, only applies when used in combination with `mailbox`: 1,2,3 or 3:15 or 3:*
    #[serde(default, deserialize_with = "de::opt_string")]
    pub id: Option<String>,
    /// Thread ID
    #[serde(default, deserialize_with = "de::opt_string")]
    pub thread: Option<String>,
    /// At least one of the included terms must match (`or.from=...` in query strings)
    #[serde(default)]
    #[param(style = DeepObject, explode, inline, value_type = Option<OrQuery>)]
    pub or: Option<OrQuery>,
    /// Words that must all appear in the message headers or body
    #[serde(default, deserialize_with = "de::opt_string")]
    pub query: Option<String>,
    /// Datestring for the earliest message storing time
    #[serde(default, deserialize_with = "de::opt_date")]
    #[param(value_type = Option<String>, format = DateTime)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub datestart: Option<chrono::DateTime<chrono::Utc>>,
    /// Datestring for the latest message storing time
    #[serde(default, deserialize_with = "de::opt_date")]
    #[param(value_type = Option<String>, format = DateTime)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub dateend: Option<chrono::DateTime<chrono::Utc>>,
    /// Partial match for the From: header line
    #[serde(default, deserialize_with = "de::opt_string")]
    pub from: Option<String>,
    /// Partial match for the To: and Cc: header lines
    #[serde(default, deserialize_with = "de::opt_string")]
    pub to: Option<String>,
    /// Partial match for the Subject: header line
    #[serde(default, deserialize_with = "de::opt_string")]
    pub subject: Option<String>,
    /// Minimal message size in bytes
    #[serde(default, deserialize_with = "de::opt_u64")]
    #[param(value_type = Option<u64>)]
    #[schema(value_type = Option<u64>)]
    pub min_size: Option<u64>,
    /// Maximal message size in bytes
    #[serde(default, deserialize_with = "de::opt_u64")]
    #[param(value_type = Option<u64>)]
    #[schema(value_type = Option<u64>)]
    pub max_size: Option<u64>,
    /// If true, then matches only messages with attachments
    #[serde(default, deserialize_with = "de::flag")]
    #[param(value_type = Option<bool>)]
    #[schema(value_type = Option<bool>)]
    pub attachments: bool,
    /// If true, then matches only messages with \Flagged flags
    #[serde(default, deserialize_with = "de::flag")]
    #[param(value_type = Option<bool>)]
    #[schema(value_type = Option<bool>)]
    pub flagged: bool,
    /// If true, then matches only messages without \Seen flags
    #[serde(default, deserialize_with = "de::flag")]
    #[param(value_type = Option<bool>)]
    #[schema(value_type = Option<bool>)]
    pub unseen: bool,
    /// If true, then matches messages not in Junk or Trash
    #[serde(default, deserialize_with = "de::flag")]
    #[param(value_type = Option<bool>)]
    #[schema(value_type = Option<bool>)]
    pub searchable: bool,
}

impl SearchTerms {
    fn search(&self) -> ApiResult<MessageSearch> {
        let mailbox = match self.mailbox.as_deref().filter(|m| !m.is_empty()) {
            Some(m) => Some(object_id("mailbox", m)?),
            None => None,
        };
        let ids = match self.id.as_deref().filter(|m| !m.is_empty()) {
            Some(s) => Some(parse_uid_range(s).on_field("id")?),
            None => None,
        };
        let thread = match self.thread.as_deref().filter(|m| !m.is_empty()) {
            Some(t) => Some(object_id("thread", t)?),
            None => None,
        };
        let or = self.or.as_ref();
        Ok(MessageSearch {
            q: self.q.clone().filter(|s| !s.trim().is_empty()),
            mailbox,
            ids,
            thread,
            query: self.query.clone().filter(|s| !s.trim().is_empty()),
            datestart: self.datestart,
            dateend: self.dateend,
            from: self.from.clone(),
            to: self.to.clone(),
            subject: self.subject.clone(),
            min_size: self.min_size,
            max_size: self.max_size,
            attachments: self.attachments,
            flagged: self.flagged,
            unseen: self.unseen,
            searchable: self.searchable,
            or: OrTerms {
                query: or.and_then(|o| o.query.clone()),
                from: or.and_then(|o| o.from.clone()),
                to: or.and_then(|o| o.to.clone()),
                subject: or.and_then(|o| o.subject.clone()),
            },
        })
    }
}

/// Query of GET /users/{user}/search.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    #[serde(flatten)]
    #[param(ignore)]
    pub terms: SearchTerms,
    /// Comma separated list of header keys to include in the response
    #[serde(deserialize_with = "de::opt_string")]
    pub include_headers: Option<String>,
    /// If true, then includes threadMessageCount in the response
    #[serde(deserialize_with = "de::flag")]
    #[param(value_type = Option<bool>)]
    pub thread_counters: bool,
    /// Ordering of the records by insert date: "asc" or "desc" (default)
    #[serde(deserialize_with = "de::opt_string")]
    pub order: Option<String>,
    /// If true, then includes metaData in the response
    #[serde(deserialize_with = "de::flag")]
    #[param(value_type = Option<bool>)]
    pub meta_data: bool,
    #[serde(flatten)]
    #[param(ignore)]
    pub paging: PagingQuery,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchMessagesResponse {
    pub success: bool,
    /// The `query` parameter
    pub query: String,
    pub total: u64,
    pub page: u32,
    #[schema(schema_with = schema::cursor_schema)]
    pub previous_cursor: Cursor,
    #[schema(schema_with = schema::cursor_schema)]
    pub next_cursor: Cursor,
    pub results: Vec<MessageListItem>,
}

/// Search for messages across the user's mailboxes
#[utoipa::path(get, path = "/users/{user}/search", tag = "Messages", operation_id = "searchMessages",
    params(("user" = String, Path, description = "ID of the User"), SearchQuery, SearchTerms, PagingQuery, LogParams),
    responses(
        (status = 200, description = "Success", body = SearchMessagesResponse),
        (status = 400, description = "Invalid input", body = ErrorResponse),
        (status = 403, description = "Missing privileges or invalid token", body = ErrorResponse),
        (status = 404, description = "No such user or mailbox", body = ErrorResponse),
    ))]
async fn search_messages(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> ApiResult<Json<SearchMessagesResponse>> {
    let user = caller.user(&user)?;
    let search = q.terms.search()?;
    let order = sort_order(q.order.as_deref())?;
    let page = q.paging.request()?;
    let found = state
        .service
        .search_messages(user, &search, order, &page)
        .await
        .on_field("q")?;
    let view = ListOptions {
        meta_data: q.meta_data,
        include_headers: include_headers(q.include_headers.as_deref()),
    };
    let counts = thread_counts(
        &state,
        user,
        found.messages.iter().map(|m| m.meta.thread),
        q.thread_counters,
    )
    .await?;
    Ok(Json(SearchMessagesResponse {
        success: true,
        query: q.terms.query.clone().unwrap_or_default(),
        total: found.total,
        page: page.page,
        previous_cursor: Cursor(found.previous),
        next_cursor: Cursor(found.next),
        results: found
            .messages
            .iter()
            .zip(counts)
            .map(|(m, c)| list_item(&m.meta, &m.index, &view, c))
            .collect(),
    }))
}

/// What to do with the matches.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchActionRequest {
    /// ID of the target Mailbox if you want to move messages
    #[serde(default, deserialize_with = "de::opt_string")]
    pub move_to: Option<String>,
    /// State of the \Seen flag
    #[serde(default, deserialize_with = "de::opt_bool")]
    #[schema(value_type = Option<bool>)]
    pub seen: Option<bool>,
    /// State of the \Flagged flag
    #[serde(default, deserialize_with = "de::opt_bool")]
    #[schema(value_type = Option<bool>)]
    pub flagged: Option<bool>,
    /// If true, delete the matching messages
    #[serde(default, deserialize_with = "de::flag")]
    #[schema(value_type = Option<bool>)]
    pub delete: bool,
}

/// Body of POST /users/{user}/search.
// Some fields are accepted for WildDuck compatibility and documented, but not used.
#[allow(dead_code)]
#[derive(Debug, Deserialize, ToSchema)]
pub struct SearchApplyRequest {
    #[serde(flatten)]
    pub terms: SearchTerms,
    /// Define actions to take with matching messages
    pub action: SearchActionRequest,
    pub sess: Option<String>,
    pub ip: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchApplyMessagesResponse {
    pub success: bool,
    /// ID of the operation (already finished when the response is sent)
    pub scheduled: String,
    /// Indicates if the scheduled operation already exists
    pub existing: bool,
    /// How many messages the action changed
    pub updated: u64,
}

/// Search and update messages: apply an action (move, seen, flagged, delete) to every match
#[utoipa::path(post, path = "/users/{user}/search", tag = "Messages", operation_id = "searchApplyMessages",
    params(("user" = String, Path, description = "ID of the User")),
    request_body = SearchApplyRequest,
    responses(
        (status = 200, description = "Success", body = SearchApplyMessagesResponse),
        (status = 400, description = "Invalid input", body = ErrorResponse),
        (status = 404, description = "No such user or mailbox", body = ErrorResponse),
    ))]
async fn search_apply(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    ApiJson(body): ApiJson<SearchApplyRequest>,
) -> ApiResult<Json<SearchApplyMessagesResponse>> {
    let user = caller.user(&user)?;
    let search = body.terms.search()?;
    let action = SearchAction {
        move_to: match body.action.move_to.as_deref().filter(|m| !m.is_empty()) {
            Some(m) => Some(object_id("action.moveTo", m)?),
            None => None,
        },
        seen: body.action.seen,
        flagged: body.action.flagged,
        delete: body.action.delete,
    };
    if action.move_to.is_none()
        && action.seen.is_none()
        && action.flagged.is_none()
        && !action.delete
    {
        return Err(ApiError::invalid(
            "action",
            "must contain at least one of moveTo, seen, flagged, delete",
        ));
    }
    let updated = state
        .service
        .search_apply(user, &search, &action)
        .await
        .on_field("q")?;
    Ok(Json(SearchApplyMessagesResponse {
        success: true,
        scheduled: ObjectId::new().to_hex(),
        existing: false,
        updated,
    }))
}
