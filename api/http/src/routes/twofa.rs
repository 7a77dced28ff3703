//! Two-factor authentication: TOTP (setup, enable, check, disable), the custom
//! flag, and disabling every mechanism.

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::asps::LogQuery;
use super::users::LogParams;
use crate::de;
use crate::error::{ApiResult, ErrorResponse};
use crate::extract::{ApiJson, ApiQuery, Caller};
use crate::schema::{ok, SuccessResponse};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(setup_totp))
        .routes(routes!(enable_totp))
        .routes(routes!(check_totp))
        .routes(routes!(disable_totp))
        .routes(routes!(disable_2fa))
        .routes(routes!(enable_custom, disable_custom))
}

/// Body of POST /users/{user}/2fa/totp/setup.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct TotpSetupRequest {
    /// Label text for QR code (defaults to username)
    #[serde(deserialize_with = "de::opt_string")]
    pub label: Option<String>,
    /// Description text for QR code (defaults to the configured issuer)
    #[serde(deserialize_with = "de::opt_string")]
    pub issuer: Option<String>,
    /// Session identifier for the logs
    #[serde(deserialize_with = "de::opt_string")]
    pub sess: Option<String>,
    /// IP address for the logs
    #[serde(deserialize_with = "de::opt_string")]
    pub ip: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GenerateTOTPSeedResponse {
    pub success: bool,
    /// Generated TOTP seed value (base32); shown only here
    pub seed: String,
    /// Base64 encoded QR code (a PNG data URL)
    pub qrcode: String,
    /// The otpauth:// URL the QR code holds
    pub otpauth: String,
}

/// Generate TOTP seed
///
/// This method generates TOTP seed and QR code for 2FA. User needs to verify the seed value using 2fa/totp/enable endpoint
#[utoipa::path(post, path = "/users/{user}/2fa/totp/setup", tag = "TwoFactorAuth", operation_id = "generateTOTPSeed",
    params(("user" = String, Path, description = "ID of the User")),
    request_body = TotpSetupRequest,
    responses(
        (status = 200, description = "Success", body = GenerateTOTPSeedResponse),
        (status = 400, description = "TOTP is already enabled", body = ErrorResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
    ))]
async fn setup_totp(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    ApiJson(body): ApiJson<TotpSetupRequest>,
) -> ApiResult<Json<GenerateTOTPSeedResponse>> {
    let id = caller.user(&user)?;
    let setup = state
        .service
        .setup_totp(
            id,
            body.label.as_deref(),
            body.issuer.as_deref(),
            body.ip,
            body.sess,
        )
        .await?;
    Ok(Json(GenerateTOTPSeedResponse {
        success: true,
        seed: setup.seed,
        qrcode: setup.qrcode,
        otpauth: setup.url,
    }))
}

/// Body of POST /users/{user}/2fa/totp/enable and /check.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TotpTokenRequest {
    /// 6-digit number
    #[serde(deserialize_with = "de::opt_string")]
    #[schema(value_type = String)]
    pub token: Option<String>,
    /// Session identifier for the logs
    #[serde(default, deserialize_with = "de::opt_string")]
    pub sess: Option<String>,
    /// IP address for the logs
    #[serde(default, deserialize_with = "de::opt_string")]
    pub ip: Option<String>,
}

impl TotpTokenRequest {
    fn code(&self) -> ApiResult<&str> {
        self.token
            .as_deref()
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| crate::error::ApiError::invalid("token", "is required"))
    }
}

/// Enable TOTP seed
///
/// This method enables TOTP for a user by verifying the seed value generated from 2fa/totp/setup
#[utoipa::path(post, path = "/users/{user}/2fa/totp/enable", tag = "TwoFactorAuth", operation_id = "enableTOTPSeed",
    params(("user" = String, Path, description = "ID of the User")),
    request_body = TotpTokenRequest,
    responses(
        (status = 200, description = "Success", body = SuccessResponse),
        (status = 400, description = "TOTP already enabled or not set up", body = ErrorResponse),
        (status = 403, description = "Invalid code", body = ErrorResponse),
    ))]
async fn enable_totp(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    ApiJson(body): ApiJson<TotpTokenRequest>,
) -> ApiResult<Json<SuccessResponse>> {
    let id = caller.user(&user)?;
    let code = body.code()?.to_string();
    state
        .service
        .enable_totp(id, &code, body.ip, body.sess)
        .await?;
    Ok(ok())
}

/// Validate TOTP Token
///
/// This method checks if a TOTP token provided by a User is valid for authentication. With an access token that waits for its second factor, success lifts the token's limitation.
#[utoipa::path(post, path = "/users/{user}/2fa/totp/check", tag = "TwoFactorAuth", operation_id = "validateTOTPToken",
    params(("user" = String, Path, description = "ID of the User")),
    request_body = TotpTokenRequest,
    responses(
        (status = 200, description = "Success", body = SuccessResponse),
        (status = 400, description = "TOTP is not enabled", body = ErrorResponse),
        (status = 403, description = "Invalid code", body = ErrorResponse),
        (status = 429, description = "Too many failed attempts", body = ErrorResponse),
    ))]
async fn check_totp(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    ApiJson(body): ApiJson<TotpTokenRequest>,
) -> ApiResult<Json<SuccessResponse>> {
    let id = caller.user(&user)?;
    let code = body.code()?.to_string();
    let token = (!caller.is_root())
        .then_some(caller.token.as_deref())
        .flatten();
    state
        .service
        .check_totp(id, &code, body.ip, body.sess, token)
        .await?;
    Ok(ok())
}

/// Disable TOTP auth
///
/// This method disables TOTP for a user. Does not affect other 2FA mechanisms a user might have set up
#[utoipa::path(delete, path = "/users/{user}/2fa/totp", tag = "TwoFactorAuth", operation_id = "disableTOTPAuth",
    params(("user" = String, Path, description = "ID of the User"), LogParams),
    responses(
        (status = 200, description = "Success", body = SuccessResponse),
        (status = 400, description = "TOTP is not enabled", body = ErrorResponse),
    ))]
async fn disable_totp(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    ApiQuery(q): ApiQuery<LogQuery>,
) -> ApiResult<Json<SuccessResponse>> {
    let id = caller.user(&user)?;
    state.service.disable_totp(id, q.ip, q.sess).await?;
    Ok(ok())
}

/// Disable 2FA
///
/// This method disables all 2FA mechanisms a user might have set up
#[utoipa::path(delete, path = "/users/{user}/2fa", tag = "TwoFactorAuth", operation_id = "disable2FA",
    params(("user" = String, Path, description = "ID of the User"), LogParams),
    responses(
        (status = 200, description = "Success", body = SuccessResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
    ))]
async fn disable_2fa(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    ApiQuery(q): ApiQuery<LogQuery>,
) -> ApiResult<Json<SuccessResponse>> {
    let id = caller.user(&user)?;
    state.service.disable_2fa(id, q.ip, q.sess).await?;
    Ok(ok())
}

/// Body of PUT /users/{user}/2fa/custom.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(default)]
pub struct CustomTwoFactorRequest {
    /// Session identifier for the logs
    #[serde(deserialize_with = "de::opt_string")]
    pub sess: Option<String>,
    /// IP address for the logs
    #[serde(deserialize_with = "de::opt_string")]
    pub ip: Option<String>,
}

/// Enable custom 2FA for a user
///
/// This method disables account password for IMAP/POP3/SMTP
#[utoipa::path(put, path = "/users/{user}/2fa/custom", tag = "TwoFactorAuth", operation_id = "enableCustom2FA",
    params(("user" = String, Path, description = "ID of the User")),
    request_body = CustomTwoFactorRequest,
    responses(
        (status = 200, description = "Success", body = SuccessResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
    ))]
async fn enable_custom(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    ApiJson(body): ApiJson<CustomTwoFactorRequest>,
) -> ApiResult<Json<SuccessResponse>> {
    let id = caller.user(&user)?;
    state
        .service
        .enable_custom_2fa(id, body.ip, body.sess)
        .await?;
    Ok(ok())
}

/// Disable custom 2FA for a user
///
/// This method disables custom 2FA. If it was the only 2FA set up, then account password for IMAP/POP3/SMTP gets enabled again
#[utoipa::path(delete, path = "/users/{user}/2fa/custom", tag = "TwoFactorAuth", operation_id = "disableCustom2FA",
    params(("user" = String, Path, description = "ID of the User"), LogParams),
    responses(
        (status = 200, description = "Success", body = SuccessResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
    ))]
async fn disable_custom(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    ApiQuery(q): ApiQuery<LogQuery>,
) -> ApiResult<Json<SuccessResponse>> {
    let id = caller.user(&user)?;
    state.service.disable_custom_2fa(id, q.ip, q.sess).await?;
    Ok(ok())
}
