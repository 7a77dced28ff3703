//! Webhooks: `POST /webhooks`, `GET /webhooks`, `DELETE /webhooks/{webhook}` (root
//! only). Events and their delivery are the service's (`eider_service::webhooks`).

use axum::extract::{Path, State};
use axum::Json;
use eider_service::model::Paging;
use eider_service::WebhookQuery;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::users::{LogParams, PagingQuery};
use crate::de;
use crate::error::{ApiResult, ErrorResponse, OnField};
use crate::extract::{object_id, ApiJson, ApiQuery, Caller};
use crate::schema::{self, ok, Cursor, SuccessResponse};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_webhooks, create_webhook))
        .routes(routes!(delete_webhook))
}

/// Query of GET /webhooks.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct ListWebhooksQuery {
    /// Prefix or exact match. Prefix match must end with ".*", eg "channel.*". Use "*" for all types
    #[serde(rename = "type", deserialize_with = "de::opt_string")]
    pub kind: Option<String>,
    /// User ID
    #[serde(deserialize_with = "de::opt_string")]
    pub user: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    pub paging: PagingQuery,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GetWebhooksResult {
    /// Webhook ID
    pub id: String,
    /// An array of event types this webhook matches
    #[serde(rename = "type")]
    pub kind: Vec<String>,
    /// User ID or null
    pub user: Option<String>,
    /// Webhook URL
    pub url: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetWebhooksResponse {
    pub success: bool,
    pub total: u64,
    pub page: u32,
    #[schema(schema_with = schema::cursor_schema)]
    pub previous_cursor: Cursor,
    #[schema(schema_with = schema::cursor_schema)]
    pub next_cursor: Cursor,
    pub results: Vec<GetWebhooksResult>,
}

/// List registered webhooks
#[utoipa::path(get, path = "/webhooks", tag = "Webhooks", operation_id = "getWebhooks",
    params(ListWebhooksQuery, PagingQuery, LogParams),
    responses(
        (status = 200, description = "Success", body = GetWebhooksResponse),
        (status = 400, description = "Invalid input", body = ErrorResponse),
        (status = 403, description = "Missing privileges or invalid token", body = ErrorResponse),
    ))]
async fn list_webhooks(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListWebhooksQuery>,
) -> ApiResult<Json<GetWebhooksResponse>> {
    caller.require_root()?;
    let page = q.paging.request()?;
    let user = q
        .user
        .as_deref()
        .map(|u| object_id("user", u))
        .transpose()?;
    let found = state
        .service
        .list_webhooks(&WebhookQuery {
            pattern: q.kind.map(|t| t.trim().to_lowercase()),
            user,
            paging: Paging {
                limit: page.limit,
                next: page.next.clone(),
                previous: page.previous.clone(),
                page: Some(page.page),
            },
        })
        .await?;
    Ok(Json(GetWebhooksResponse {
        success: true,
        total: found.total,
        page: page.page,
        previous_cursor: Cursor(found.previous),
        next_cursor: Cursor(found.next),
        results: found
            .results
            .into_iter()
            .map(|h| GetWebhooksResult {
                id: h.id.to_hex(),
                kind: h.types,
                user: h.user.map(|u| u.to_hex()),
                url: h.url,
            })
            .collect(),
    }))
}

/// Body of POST /webhooks.
// Some fields are accepted for WildDuck compatibility and documented, but not used.
#[allow(dead_code)]
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateWebhookRequest {
    /// An array of event types to match. For prefix match use ".*" at the end (eg. "user.*") or "*" for all types
    #[serde(rename = "type")]
    pub kind: Vec<String>,
    /// User ID to match (only makes sense for user specific resources)
    pub user: Option<String>,
    /// URL to POST data to
    pub url: String,
    pub sess: Option<String>,
    pub ip: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreateWebhookResponse {
    pub success: bool,
    /// ID of the Webhook
    pub id: String,
}

/// Create new Webhook
///
/// Events matching `type` (and `user`) are POSTed to `url` as JSON, each with an `id`
/// to de-duplicate by and an `X-Eider-Signature: sha256=<HMAC-SHA256 of the body>`
/// header under `[webhooks] secret`; failed deliveries are retried with backoff.
#[utoipa::path(post, path = "/webhooks", tag = "Webhooks", operation_id = "createWebhook",
    request_body = CreateWebhookRequest,
    responses(
        (status = 200, description = "Success", body = CreateWebhookResponse),
        (status = 400, description = "Invalid input", body = ErrorResponse),
        (status = 403, description = "Missing privileges or invalid token", body = ErrorResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
    ))]
async fn create_webhook(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateWebhookRequest>,
) -> ApiResult<Json<CreateWebhookResponse>> {
    caller.require_root()?;
    let user = body
        .user
        .as_deref()
        .filter(|u| !u.is_empty())
        .map(|u| object_id("user", u))
        .transpose()?;
    let hook = state
        .service
        .create_webhook(body.kind, user, &body.url)
        .await
        .on_field("type")?;
    Ok(Json(CreateWebhookResponse {
        success: true,
        id: hook.id.to_hex(),
    }))
}

/// Delete a webhook
#[utoipa::path(delete, path = "/webhooks/{webhook}", tag = "Webhooks", operation_id = "deleteWebhook",
    params(("webhook" = String, Path, description = "ID of the Webhook"), LogParams),
    responses(
        (status = 200, description = "Success", body = SuccessResponse),
        (status = 400, description = "Invalid id", body = ErrorResponse),
        (status = 404, description = "No such webhook", body = ErrorResponse),
    ))]
async fn delete_webhook(
    State(state): State<AppState>,
    caller: Caller,
    Path(webhook): Path<String>,
) -> ApiResult<Json<SuccessResponse>> {
    caller.require_root()?;
    let id = object_id("webhook", &webhook)?;
    state.service.delete_webhook(id).await?;
    Ok(ok())
}
