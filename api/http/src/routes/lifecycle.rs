//! The mail lifecycle: archived (deleted) messages and their restore, and the
//! restore of users deleted with `deleteAfter`.

use axum::extract::{Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use eider_service::ArchivePaging;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::message_view::{list_item, ListOptions, MessageListItem};
use super::messages::{include_headers, sort_order};
use super::users::{LogParams, PagingQuery};
use crate::de;
use crate::error::{ApiError, ApiResult, ErrorResponse};
use crate::extract::{object_id, ApiJson, ApiQuery, Caller};
use crate::schema::{self, Cursor};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_archived))
        .routes(routes!(restore_archived_range))
        .routes(routes!(restore_archived_message))
        .routes(routes!(restore_user_info, restore_user))
}

/// Query of GET /users/{user}/archived/messages.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListArchivedQuery {
    /// Ordering of the records by insert date: "asc" or "desc" (default)
    #[serde(deserialize_with = "de::opt_string")]
    pub order: Option<String>,
    /// Comma separated list of header keys to include in the response
    #[serde(deserialize_with = "de::opt_string")]
    pub include_headers: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    pub paging: PagingQuery,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetArchivedMessagesResponse {
    pub success: bool,
    /// How many results were found
    pub total: u64,
    /// Current page number. Derived from page query argument
    pub page: u32,
    #[schema(schema_with = schema::cursor_schema)]
    pub previous_cursor: Cursor,
    #[schema(schema_with = schema::cursor_schema)]
    pub next_cursor: Cursor,
    /// Message listing; `id` is the archive's id of the entry (use it to restore),
    /// `mailbox` the mailbox it was deleted from
    pub results: Vec<MessageListItem>,
}

fn archive_cursor(field: &'static str, v: Option<&str>) -> ApiResult<Option<u64>> {
    match v {
        None => Ok(None),
        Some(c) => c
            .parse::<u64>()
            .map(Some)
            .map_err(|_| ApiError::invalid(field, "must be a valid cursor")),
    }
}

/// List archived messages
///
/// Archive contains all recently deleted messages besides Drafts etc.
#[utoipa::path(get, path = "/users/{user}/archived/messages", tag = "Archive", operation_id = "getArchivedMessages",
    params(("user" = String, Path, description = "ID of the User"), ListArchivedQuery, PagingQuery, LogParams),
    responses(
        (status = 200, description = "Success", body = GetArchivedMessagesResponse),
        (status = 400, description = "Invalid input", body = ErrorResponse),
        (status = 403, description = "Missing privileges or invalid token", body = ErrorResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
    ))]
async fn list_archived(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    ApiQuery(q): ApiQuery<ListArchivedQuery>,
) -> ApiResult<Json<GetArchivedMessagesResponse>> {
    let user = caller.user(&user)?;
    let req = q.paging.request()?;
    let paging = ArchivePaging {
        limit: req.limit,
        order: sort_order(q.order.as_deref())?,
        next: archive_cursor("next", req.next.as_deref())?,
        previous: archive_cursor("previous", req.previous.as_deref())?,
    };
    let page = state.service.list_archived(user, &paging).await?;
    let view = ListOptions {
        meta_data: false,
        include_headers: include_headers(q.include_headers.as_deref()),
    };
    // As WildDuck: without a previous page this is page 1.
    let page_nr = if page.previous.is_none() { 1 } else { req.page };
    Ok(Json(GetArchivedMessagesResponse {
        success: true,
        total: page.total,
        page: page_nr,
        previous_cursor: Cursor(page.previous),
        next_cursor: Cursor(page.next),
        results: page
            .results
            .iter()
            .map(|e| {
                let mut item = list_item(&e.message.meta, &e.message.index, &view, None);
                // The archive id; ids stay below 2^32 in practice (one per deletion).
                item.id = u32::try_from(e.id).unwrap_or(u32::MAX);
                item
            })
            .collect(),
    }))
}

/// Body of POST /users/{user}/archived/restore.
// sess and ip are accepted for WildDuck compatibility (log fields).
#[allow(dead_code)]
#[derive(Debug, Deserialize, ToSchema)]
pub struct RestoreMessagesRequest {
    /// Datestring
    #[serde(default, deserialize_with = "de::opt_date")]
    #[schema(value_type = String, format = DateTime)]
    pub start: Option<DateTime<Utc>>,
    /// Datestring
    #[serde(default, deserialize_with = "de::opt_date")]
    #[schema(value_type = String, format = DateTime)]
    pub end: Option<DateTime<Utc>>,
    /// Session identifier for the logs
    pub sess: Option<String>,
    /// IP address for the logs
    pub ip: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RestoreMessagesResponse {
    /// Indicates successful response
    pub success: bool,
    /// Task ID
    pub task: String,
}

/// Restore archived messages
///
/// Initiates a restore task to move archived messages of a date range back to the
/// mailboxes the messages were deleted from. If target mailbox does not exist, then
/// the messages are moved to INBOX.
#[utoipa::path(post, path = "/users/{user}/archived/restore", tag = "Archive", operation_id = "restoreMessages",
    params(("user" = String, Path, description = "ID of the User")),
    request_body = RestoreMessagesRequest,
    responses(
        (status = 200, description = "Success", body = RestoreMessagesResponse),
        (status = 400, description = "Invalid input", body = ErrorResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
    ))]
async fn restore_archived_range(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    ApiJson(body): ApiJson<RestoreMessagesRequest>,
) -> ApiResult<Json<RestoreMessagesResponse>> {
    let user = caller.user(&user)?;
    let start = body
        .start
        .ok_or_else(|| ApiError::invalid("start", "is required"))?;
    let end = body
        .end
        .ok_or_else(|| ApiError::invalid("end", "is required"))?;
    let task = state
        .service
        .restore_archived_range(user, start, end)
        .await?;
    Ok(Json(RestoreMessagesResponse {
        success: true,
        task: task.to_hex(),
    }))
}

/// Body of POST /users/{user}/archived/messages/{message}/restore.
#[allow(dead_code)]
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct RestoreMessageRequest {
    /// ID of the target Mailbox. If not set then original mailbox is used.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub mailbox: Option<String>,
    /// Session identifier for the logs
    pub sess: Option<String>,
    /// IP address for the logs
    pub ip: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RestoreMessageResponse {
    /// Indicates successful response
    pub success: bool,
    /// Mailbox ID the message was moved to
    pub mailbox: String,
    /// New ID for the Message
    pub id: u32,
}

/// Restore archived message
///
/// Moves an archived message back into the mailbox it was deleted from (or the given
/// one). If that mailbox does not exist any more, the message goes to INBOX.
#[utoipa::path(post, path = "/users/{user}/archived/messages/{message}/restore", tag = "Archive", operation_id = "restoreMessage",
    params(("user" = String, Path, description = "ID of the User"), ("message" = u64, Path, description = "Message ID (the archive's id from the archived listing)")),
    request_body = RestoreMessageRequest,
    responses(
        (status = 200, description = "Success", body = RestoreMessageResponse),
        (status = 400, description = "Invalid input", body = ErrorResponse),
        (status = 404, description = "No such message or mailbox", body = ErrorResponse),
    ))]
async fn restore_archived_message(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, message)): Path<(String, String)>,
    ApiJson(body): ApiJson<RestoreMessageRequest>,
) -> ApiResult<Json<RestoreMessageResponse>> {
    let user = caller.user(&user)?;
    let id = message
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| ApiError::invalid("message", "must be a number"))?;
    let mailbox = body
        .mailbox
        .as_deref()
        .map(|m| object_id("mailbox", m))
        .transpose()?;
    let restored = state
        .service
        .restore_archived_message(user, id, mailbox)
        .await?;
    Ok(Json(RestoreMessageResponse {
        success: true,
        mailbox: restored.mailbox.to_hex(),
        id: restored.uid,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecoverInfoResponse {
    /// Indicates successful response
    pub success: bool,
    /// ID of the deleted User
    pub user: String,
    /// Username of the User
    pub username: String,
    /// Calculated quota usage for the user
    pub storage_used: u64,
    /// List of tags associated with the User
    pub tags: Vec<String>,
    /// Datestring of the time the user was deleted
    pub deleted: String,
    /// List of email addresses that can be restored
    pub recoverable_addresses: Vec<String>,
}

/// Return recovery info for a deleted user
#[utoipa::path(get, path = "/users/{user}/restore", tag = "Users", operation_id = "restoreUserInfo",
    params(("user" = String, Path, description = "ID of the User"), LogParams),
    responses(
        (status = 200, description = "Success", body = RecoverInfoResponse),
        (status = 404, description = "No such deleted account", body = ErrorResponse),
    ))]
async fn restore_user_info(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
) -> ApiResult<Json<RecoverInfoResponse>> {
    // A deleted account has no tokens of its own left: only root asks.
    caller.require_root()?;
    let id = object_id("user", &user)?;
    let info = state.service.restore_user_info(id).await?;
    let u = &info.deleted.user;
    Ok(Json(RecoverInfoResponse {
        success: true,
        user: id.to_hex(),
        username: u.username.clone(),
        storage_used: u.storage_used,
        tags: u.tags.clone(),
        deleted: schema::iso(&info.deleted.deleted),
        recoverable_addresses: info.recoverable.iter().map(|a| a.address.clone()).collect(),
    }))
}

/// Body of POST /users/{user}/restore.
#[allow(dead_code)]
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CancelUserDeletionRequest {
    /// Session identifier for the logs
    pub sess: Option<String>,
    /// IP address for the logs
    pub ip: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveredAddresses {
    /// Number of recovered addresses
    pub recovered: u64,
    /// Main address
    #[serde(skip_serializing_if = "Option::is_none")]
    pub main: Option<String>,
    /// Addresses that were taken by another account meanwhile (not recovered)
    pub lost: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CancelUserDeletionResponse {
    /// Indicates successful response
    pub success: bool,
    /// Task status code
    pub code: String,
    /// User ID
    pub user: String,
    /// Existing task id
    pub task: String,
    pub addresses: RecoveredAddresses,
}

/// Cancel user deletion task
///
/// Use this endpoint to cancel a timed deletion task scheduled by DELETE /user/{id}.
/// If user data is not yet deleted then the account is fully recovered, except any
/// email addresses that might have been already recycled
#[utoipa::path(post, path = "/users/{user}/restore", tag = "Users", operation_id = "cancelUserDelete",
    params(("user" = String, Path, description = "ID of the User")),
    request_body = CancelUserDeletionRequest,
    responses(
        (status = 200, description = "Success", body = CancelUserDeletionResponse),
        (status = 500, description = "Nothing to restore (AccountNotFound, AccountFound)", body = ErrorResponse),
    ))]
async fn restore_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    ApiJson(_body): ApiJson<CancelUserDeletionRequest>,
) -> ApiResult<Json<CancelUserDeletionResponse>> {
    caller.require_root()?;
    let id = object_id("user", &user)?;
    let restored = state.service.restore_user(id).await.map_err(|e| {
        // WildDuck answers every failure of this call with status 500.
        let mut e = ApiError::from(e);
        e.status = axum::http::StatusCode::INTERNAL_SERVER_ERROR;
        e
    })?;
    Ok(Json(CancelUserDeletionResponse {
        success: true,
        code: "TaskCancelled".into(),
        user: id.to_hex(),
        task: restored.task.to_hex(),
        addresses: RecoveredAddresses {
            recovered: restored.recovered.len() as u64,
            main: restored.main,
            lost: restored.lost.iter().map(|a| a.address.clone()).collect(),
        },
    }))
}
