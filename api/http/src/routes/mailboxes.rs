//! Mailboxes: list with counters, create, read (by id or `resolve` by path),
//! update (rename, subscription, visibility, retention), delete.

use axum::extract::{Path, State};
use axum::Json;
use eider_service::model::{Mailbox, MailboxCounters};
use eider_service::ObjectId;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::users::{id_response, IdResponse, LogParams};
use crate::de;
use crate::error::{ApiError, ApiResult, ErrorResponse, OnField};
use crate::extract::{object_id, ApiJson, ApiQuery, Caller};
use crate::schema::{ok, SuccessResponse};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_mailboxes, create_mailbox))
        .routes(routes!(get_mailbox, update_mailbox, delete_mailbox))
}

/// Query of GET /users/{user}/mailboxes.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListMailboxesQuery {
    /// Should the response include only folders with specialUse flag set.
    #[serde(deserialize_with = "de::flag")]
    #[param(value_type = Option<bool>)]
    pub special_use: bool,
    /// Hidden folders are not included in the listing by default.
    #[serde(deserialize_with = "de::flag")]
    #[param(value_type = Option<bool>)]
    pub show_hidden: bool,
    /// Accepted for compatibility: counters (total + unseen) are always included.
    #[serde(deserialize_with = "de::flag")]
    #[param(value_type = Option<bool>)]
    pub counters: bool,
    /// Should the response include mailbox size in bytes.
    #[serde(deserialize_with = "de::flag")]
    #[param(value_type = Option<bool>)]
    pub sizes: bool,
}

/// A mailbox as listed.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MailboxInfo {
    /// ID of the Mailbox
    pub id: String,
    /// Name for the mailbox (unicode string)
    pub name: String,
    /// Full path of the mailbox, folders are separated by slashes
    pub path: String,
    /// Either special use identifier (e.g. "\\Sent") or null
    pub special_use: Option<String>,
    /// Modification sequence number. Incremented on every change in the mailbox.
    pub modify_index: u64,
    /// Mailbox subscription status
    pub subscribed: bool,
    /// Default retention policy for this mailbox (in ms)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention: Option<u64>,
    /// Is the folder hidden or not
    pub hidden: bool,
    /// How many messages are stored in this mailbox
    pub total: u64,
    /// How many unseen messages are stored in this mailbox
    pub unseen: u64,
    /// Total size of mailbox in bytes (with `sizes=true`)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

fn mailbox_info(m: Mailbox, counters: MailboxCounters, sizes: bool) -> MailboxInfo {
    MailboxInfo {
        id: m.id.to_hex(),
        name: m.path.rsplit('/').next().unwrap_or(&m.path).to_string(),
        special_use: m.special_use.map(|s| s.as_str().to_string()),
        modify_index: m.modify_index,
        subscribed: m.subscribed,
        retention: Some(m.retention).filter(|r| *r > 0),
        hidden: m.hidden,
        total: counters.total,
        unseen: counters.unseen,
        size: sizes.then_some(counters.size),
        path: m.path,
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GetMailboxesResponse {
    pub success: bool,
    pub results: Vec<MailboxInfo>,
}

/// List Mailboxes for a User
#[utoipa::path(get, path = "/users/{user}/mailboxes", tag = "Mailboxes", operation_id = "getMailboxes",
    params(("user" = String, Path, description = "ID of the User"), ListMailboxesQuery, LogParams),
    responses(
        (status = 200, description = "Success", body = GetMailboxesResponse),
        (status = 403, description = "Missing privileges or invalid token", body = ErrorResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
    ))]
async fn list_mailboxes(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    ApiQuery(q): ApiQuery<ListMailboxesQuery>,
) -> ApiResult<Json<GetMailboxesResponse>> {
    let user = caller.user(&user)?;
    state.service.get_user(user).await?;
    let mut results = Vec::new();
    for m in state.service.list_mailboxes(user).await? {
        // WildDuck's specialUse listing keeps INBOX alongside the special-use folders.
        if (q.special_use && m.special_use.is_none() && !m.is_inbox())
            || (m.hidden && !q.show_hidden)
        {
            continue;
        }
        let counters = state.service.mailbox_counters(user, m.id).await?;
        results.push(mailbox_info(m, counters, q.sizes));
    }
    Ok(Json(GetMailboxesResponse {
        success: true,
        results,
    }))
}

/// Body of POST /users/{user}/mailboxes.
// Some fields are accepted for WildDuck compatibility and documented, but not used.
#[allow(dead_code)]
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateMailboxRequest {
    /// Full path of the mailbox, folders are separated by slashes
    #[serde(deserialize_with = "de::strict_string")]
    pub path: String,
    /// Is the folder hidden or not. Hidden folders can not be opened in IMAP.
    #[serde(default, deserialize_with = "de::flag")]
    #[schema(value_type = Option<bool>)]
    pub hidden: bool,
    /// Retention policy (ms after which added messages expire); 0 keeps them
    #[serde(default, deserialize_with = "de::opt_u64")]
    #[schema(value_type = Option<u64>)]
    pub retention: Option<u64>,
    pub sess: Option<String>,
    pub ip: Option<String>,
}

/// Create new Mailbox
#[utoipa::path(post, path = "/users/{user}/mailboxes", tag = "Mailboxes", operation_id = "createMailbox",
    params(("user" = String, Path, description = "ID of the User")),
    request_body = CreateMailboxRequest,
    responses(
        (status = 200, description = "Success", body = IdResponse),
        (status = 400, description = "Invalid path or the mailbox exists", body = ErrorResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
    ))]
async fn create_mailbox(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    ApiJson(body): ApiJson<CreateMailboxRequest>,
) -> ApiResult<Json<IdResponse>> {
    let user = caller.user(&user)?;
    let m = state
        .service
        .create_mailbox(user, &body.path, None, body.hidden, body.retention)
        .await
        .on_field("path")?;
    Ok(id_response(m.id))
}

/// Query of GET /users/{user}/mailboxes/{mailbox}.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct GetMailboxQuery {
    /// If mailbox is specified as `resolve` in the path then use this param as mailbox path instead of the given mailbox id.
    #[serde(deserialize_with = "de::opt_string")]
    pub path: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GetMailboxResponse {
    pub success: bool,
    #[serde(flatten)]
    pub mailbox: MailboxInfo,
}

/// A mailbox path segment: an id, or `resolve` with `?path=`.
async fn find(
    state: &AppState,
    user: ObjectId,
    mailbox: &str,
    path: Option<&str>,
) -> ApiResult<Mailbox> {
    if mailbox == "resolve" {
        let path = path
            .filter(|p| !p.trim().is_empty())
            .ok_or_else(|| ApiError::invalid("path", "is required"))?;
        // WildDuck's query schema: no empty segment, no trailing slash (a 400).
        if path.contains("//") || path.ends_with('/') {
            return Err(ApiError::invalid(
                "path",
                format!("with value \"{path}\" matches the inverted pattern: /\\/{{2,}}|\\/$/"),
            ));
        }
        return Ok(state.service.find_mailbox(user, path).await?);
    }
    let id = object_id("mailbox", mailbox)?;
    Ok(state.service.get_mailbox(user, id).await?)
}

/// Request Mailbox information
#[utoipa::path(get, path = "/users/{user}/mailboxes/{mailbox}", tag = "Mailboxes", operation_id = "getMailbox",
    params(("user" = String, Path, description = "ID of the User"), ("mailbox" = String, Path, description = "ID of the Mailbox, or `resolve` to find it by `path`"), GetMailboxQuery, LogParams),
    responses(
        (status = 200, description = "Success", body = GetMailboxResponse),
        (status = 400, description = "Invalid id or missing path", body = ErrorResponse),
        (status = 404, description = "No such mailbox", body = ErrorResponse),
    ))]
async fn get_mailbox(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, mailbox)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<GetMailboxQuery>,
) -> ApiResult<Json<GetMailboxResponse>> {
    let user = caller.user(&user)?;
    let m = find(&state, user, &mailbox, q.path.as_deref()).await?;
    let counters = state.service.mailbox_counters(user, m.id).await?;
    Ok(Json(GetMailboxResponse {
        success: true,
        mailbox: mailbox_info(m, counters, false),
    }))
}

/// Body of PUT /users/{user}/mailboxes/{mailbox}.
// Some fields are accepted for WildDuck compatibility and documented, but not used.
#[allow(dead_code)]
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct UpdateMailboxRequest {
    /// Full path of the mailbox, use this to rename an existing Mailbox
    #[serde(default, deserialize_with = "de::opt_strict_string")]
    pub path: Option<String>,
    /// Retention policy for the Mailbox (in ms); affects messages added later
    #[serde(default, deserialize_with = "de::opt_u64")]
    #[schema(value_type = Option<u64>)]
    pub retention: Option<u64>,
    /// Change Mailbox subscription state
    #[serde(default, deserialize_with = "de::opt_bool")]
    #[schema(value_type = Option<bool>)]
    pub subscribed: Option<bool>,
    /// Is the folder hidden or not
    #[serde(default, deserialize_with = "de::opt_bool")]
    #[schema(value_type = Option<bool>)]
    pub hidden: Option<bool>,
    pub sess: Option<String>,
    pub ip: Option<String>,
}

/// Update Mailbox information
#[utoipa::path(put, path = "/users/{user}/mailboxes/{mailbox}", tag = "Mailboxes", operation_id = "updateMailbox",
    params(("user" = String, Path, description = "ID of the User"), ("mailbox" = String, Path, description = "ID of the Mailbox")),
    request_body = UpdateMailboxRequest,
    responses(
        (status = 200, description = "Success", body = SuccessResponse),
        (status = 400, description = "Invalid input or refused change", body = ErrorResponse),
        (status = 404, description = "No such mailbox", body = ErrorResponse),
    ))]
async fn update_mailbox(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, mailbox)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateMailboxRequest>,
) -> ApiResult<Json<SuccessResponse>> {
    let user = caller.user(&user)?;
    let id = object_id("mailbox", &mailbox)?;
    // WildDuck counts any given key, sess and ip included, as a change.
    if body.path.is_none()
        && body.retention.is_none()
        && body.subscribed.is_none()
        && body.hidden.is_none()
        && body.sess.is_none()
        && body.ip.is_none()
    {
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            "InputValidationError",
            "Nothing was changed",
        ));
    }
    // WildDuck checks the new path before looking at the mailbox.
    if let Some(path) = body.path.as_deref() {
        eider_service::normalize_path(path).on_field("path")?;
    }
    let mut m = state
        .service
        .get_mailbox(user, id)
        .await
        .map_err(|e| failed_with_code("update", e.into()))?;
    if let Some(path) = body.path.as_deref() {
        if m.is_inbox() {
            return Err(ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "DisallowedMailboxMethod",
                "Mailbox update failed with code DisallowedMailboxMethod",
            ));
        }
        m = state
            .service
            .rename_mailbox(user, id, path)
            .await
            .map_err(|e| failed_with_code("update", e.into()))
            .map_err(|e| e.on_field("path"))?;
    }
    if body.retention.is_some() || body.subscribed.is_some() || body.hidden.is_some() {
        if let Some(r) = body.retention {
            m.retention = r;
        }
        if let Some(s) = body.subscribed {
            m.subscribed = s;
        }
        if let Some(h) = body.hidden {
            m.hidden = h;
        }
        state
            .service
            .update_mailbox(&m)
            .await
            .map_err(|e| failed_with_code("update", e.into()))?;
    }
    Ok(ok())
}

/// Delete a Mailbox with its messages (INBOX and special-use mailboxes can not be deleted)
#[utoipa::path(delete, path = "/users/{user}/mailboxes/{mailbox}", tag = "Mailboxes", operation_id = "deleteMailbox",
    params(("user" = String, Path, description = "ID of the User"), ("mailbox" = String, Path, description = "ID of the Mailbox"), LogParams),
    responses(
        (status = 200, description = "Success", body = SuccessResponse),
        (status = 400, description = "INBOX or a special-use mailbox", body = ErrorResponse),
        (status = 404, description = "No such mailbox", body = ErrorResponse),
    ))]
async fn delete_mailbox(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, mailbox)): Path<(String, String)>,
) -> ApiResult<Json<SuccessResponse>> {
    let user = caller.user(&user)?;
    let id = object_id("mailbox", &mailbox)?;
    state
        .service
        .delete_mailbox(user, id)
        .await
        .map_err(|e| failed_with_code("deletion", e.into()))?;
    Ok(ok())
}

/// WildDuck words a refused mailbox update or deletion as "Mailbox <op> failed
/// with code <code>", keeping the status and code; clients match on that text.
fn failed_with_code(op: &str, e: ApiError) -> ApiError {
    match e.code {
        "NoSuchMailbox" | "DisallowedMailboxMethod" => {
            let message = format!("Mailbox {op} failed with code {}", e.code);
            ApiError { message, ..e }
        }
        _ => e,
    }
}
