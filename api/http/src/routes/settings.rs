//! Runtime settings: `GET /settings`, `GET/POST /settings/{key}` (root only). The
//! registry, checks and the cache are the service's (`eider_service::settings`).

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::users::LogParams;
use crate::de;
use crate::error::{ApiResult, ErrorResponse};
use crate::extract::{ApiJson, ApiQuery, Caller};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_settings))
        .routes(routes!(get_setting, create_setting))
}

/// Query of GET /settings.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct ListSettingsQuery {
    /// Optional partial match of the Setting key
    #[serde(deserialize_with = "de::opt_string")]
    pub filter: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GetSettingsResult {
    /// Setting key
    pub key: String,
    /// Setting value
    #[schema(value_type = Object)]
    pub value: Value,
    /// Setting name
    pub name: String,
    /// Setting description
    pub description: String,
    /// Default value (configuration's, else WildDuck's)
    #[schema(value_type = Object)]
    pub default: Value,
    /// Value subtype
    #[serde(rename = "type")]
    pub kind: String,
    /// If true then the value is set
    pub custom: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GetSettingsResponse {
    pub success: bool,
    /// Partial match if requested
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Setting listing
    pub settings: Vec<GetSettingsResult>,
}

/// List registered Settings
#[utoipa::path(get, path = "/settings", tag = "Settings", operation_id = "getSettings",
    params(ListSettingsQuery, LogParams),
    responses(
        (status = 200, description = "Success", body = GetSettingsResponse),
        (status = 403, description = "Missing privileges or invalid token", body = ErrorResponse),
    ))]
async fn list_settings(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListSettingsQuery>,
) -> ApiResult<Json<GetSettingsResponse>> {
    caller.require_root()?;
    let filter = q.filter.filter(|f| !f.is_empty());
    let settings = state.service.list_settings(filter.as_deref()).await?;
    Ok(Json(GetSettingsResponse {
        success: true,
        filter,
        settings: settings
            .into_iter()
            .map(|s| GetSettingsResult {
                key: s.key,
                value: s.value,
                name: s.name,
                description: s.description,
                default: s.default,
                kind: s.kind.as_str().to_string(),
                custom: s.custom,
            })
            .collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GetSettingResponse {
    /// False when the key is neither set nor registered
    pub success: bool,
    /// Key of the Setting
    pub key: String,
    /// Setting value
    #[schema(value_type = Object)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// Error if present
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Get Setting value
#[utoipa::path(get, path = "/settings/{key}", tag = "Settings", operation_id = "getSetting",
    params(("key" = String, Path, description = "Key of the Setting"), LogParams),
    responses(
        (status = 200, description = "Success (success: false with an error when the key is unknown)", body = GetSettingResponse),
        (status = 403, description = "Missing privileges or invalid token", body = ErrorResponse),
    ))]
async fn get_setting(
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
) -> ApiResult<Json<GetSettingResponse>> {
    caller.require_root()?;
    let value = state.service.get_setting(&key).await?;
    // WildDuck answers an unknown key with 200 and success: false.
    Ok(Json(GetSettingResponse {
        success: value.is_some(),
        error: value.is_none().then(|| "Key was not found".to_string()),
        key,
        value,
    }))
}

/// Body of POST /settings/{key}.
// Some fields are accepted for WildDuck compatibility and documented, but not used.
#[allow(dead_code)]
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateSettingRequest {
    /// Setting value: a number for numeric keys (sizes in bytes, durations in ms)
    #[schema(value_type = Object)]
    pub value: Value,
    pub sess: Option<String>,
    pub ip: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreateSettingResponse {
    pub success: bool,
    /// Key of the Setting
    pub key: String,
}

/// Create or Update Setting
///
/// Stores the value; every instance uses it within a second, without a restart.
#[utoipa::path(post, path = "/settings/{key}", tag = "Settings", operation_id = "createSetting",
    params(("key" = String, Path, description = "Key of the Setting")),
    request_body = CreateSettingRequest,
    responses(
        (status = 200, description = "Success", body = CreateSettingResponse),
        (status = 400, description = "Unknown key or invalid value", body = ErrorResponse),
        (status = 403, description = "Missing privileges or invalid token", body = ErrorResponse),
    ))]
async fn create_setting(
    State(state): State<AppState>,
    caller: Caller,
    Path(key): Path<String>,
    ApiJson(body): ApiJson<CreateSettingRequest>,
) -> ApiResult<Json<CreateSettingResponse>> {
    caller.require_root()?;
    state.service.set_setting(&key, body.value).await?;
    Ok(Json(CreateSettingResponse { success: true, key }))
}
