//! The authentication log: GET /users/{user}/authlog and /authlog/{event}.

use axum::extract::{Path, State};
use axum::Json;
use eider_service::model::Paging;
use eider_service::{AuthEvent, AuthEventQuery};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::users::{LogParams, PagingQuery};
use crate::de;
use crate::error::{ApiResult, ErrorResponse};
use crate::extract::{object_id, ApiQuery, Caller};
use crate::schema::{self, iso, Cursor};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_events))
        .routes(routes!(get_event))
}

/// One auth log entry.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetAuthlogResult {
    /// ID of the event
    pub id: String,
    /// Action identifier
    pub action: String,
    /// Did the action succeed
    pub result: String,
    /// Session identifier for the logs
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sess: Option<String>,
    /// IP address for the logs
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// Datestring of the Event time
    pub created: String,
    /// Protocol that the authentication was made from
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Scope of the auth
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_scope: Option<String>,
    /// Date of the last update of data
    pub last: String,
    /// Number of times same auth log has occurred
    pub events: u64,
    /// Source of auth. Example: `master` if password auth was used
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// ID of the application password used
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asp: Option<String>,
    /// Description of the application password used
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aname: Option<String>,
    /// 2FA mechanisms the login still had to complete (comma separated)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require2fa: Option<String>,
    /// After this date the given auth log document will not be updated and instead a new one will be created
    pub expires: String,
}

fn result(e: AuthEvent) -> GetAuthlogResult {
    GetAuthlogResult {
        id: e.id.to_hex(),
        action: e.action,
        result: e.result,
        sess: e.sess,
        ip: e.ip,
        created: iso(&e.created),
        protocol: e.protocol,
        required_scope: e.required_scope,
        last: iso(&e.last),
        events: e.events,
        source: e.source,
        asp: e.asp.map(|a| a.to_hex()),
        aname: e.aname,
        require2fa: e.require2fa,
        expires: iso(&e.expires),
    }
}

/// Query of GET /users/{user}/authlog.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct AuthlogQuery {
    /// Limit listing only to values with specific action value
    #[serde(deserialize_with = "de::opt_string")]
    pub action: Option<String>,
    /// Limit listing only to values with specific IP address
    #[serde(deserialize_with = "de::opt_string")]
    pub filterip: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    pub paging: PagingQuery,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetAuthlogResponse {
    pub success: bool,
    /// Limit listing only to values with specific action value
    pub action: String,
    /// How many results were found
    pub total: u64,
    /// Current page number. Derived from page query argument
    pub page: u32,
    #[schema(schema_with = schema::cursor_schema)]
    pub previous_cursor: Cursor,
    #[schema(schema_with = schema::cursor_schema)]
    pub next_cursor: Cursor,
    pub results: Vec<GetAuthlogResult>,
}

/// List authentication Events
#[utoipa::path(get, path = "/users/{user}/authlog", tag = "Authentication", operation_id = "getAuthlog",
    params(("user" = String, Path, description = "ID of the User"), AuthlogQuery, PagingQuery, LogParams),
    responses(
        (status = 200, description = "Success", body = GetAuthlogResponse),
        (status = 400, description = "Invalid input", body = ErrorResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
    ))]
async fn list_events(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    ApiQuery(q): ApiQuery<AuthlogQuery>,
) -> ApiResult<Json<GetAuthlogResponse>> {
    let id = caller.user(&user)?;
    let page = q.paging.request()?;
    let action = q.action.map(|a| a.trim().to_lowercase());
    let found = state
        .service
        .list_auth_events(&AuthEventQuery {
            user: id,
            action: action.clone(),
            ip: q.filterip,
            paging: Paging {
                limit: page.limit,
                next: page.next.clone(),
                previous: page.previous.clone(),
                page: Some(page.page),
            },
        })
        .await?;
    Ok(Json(GetAuthlogResponse {
        success: true,
        action: action.unwrap_or_default(),
        total: found.total,
        page: page.page,
        previous_cursor: Cursor(found.previous),
        next_cursor: Cursor(found.next),
        results: found.results.into_iter().map(result).collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GetAuthlogEventResponse {
    pub success: bool,
    #[serde(flatten)]
    pub event: GetAuthlogResult,
}

/// Request Event information
#[utoipa::path(get, path = "/users/{user}/authlog/{event}", tag = "Authentication", operation_id = "getAuthlogEvent",
    params(
        ("user" = String, Path, description = "ID of the User"),
        ("event" = String, Path, description = "ID of the Event"),
        LogParams,
    ),
    responses(
        (status = 200, description = "Success", body = GetAuthlogEventResponse),
        (status = 404, description = "No such user or event", body = ErrorResponse),
    ))]
async fn get_event(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, event)): Path<(String, String)>,
) -> ApiResult<Json<GetAuthlogEventResponse>> {
    let id = caller.user(&user)?;
    let event = object_id("event", &event)?;
    let found = state.service.get_auth_event(id, event).await?;
    Ok(Json(GetAuthlogEventResponse {
        success: true,
        event: result(found),
    }))
}
