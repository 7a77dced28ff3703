//! POST /authenticate (password login, optionally issuing an access token),
//! DELETE /authenticate (invalidate the token in use), POST /preauth.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use eider_service::{AuthMeta, AuthRequest, Error, Protocol};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::de;
use crate::error::{ApiError, ApiResult, ErrorResponse};
use crate::extract::{ApiJson, Caller};
use crate::schema::{self, ok, ListOrFalse, SuccessResponse};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(authenticate, invalidate_token))
        .routes(routes!(preauth))
}

fn protocol(scope: Option<&str>) -> ApiResult<(Protocol, &'static str)> {
    match scope
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("master")
    {
        "master" => Ok((Protocol::Api, "master")),
        "imap" => Ok((Protocol::Imap, "imap")),
        "pop3" => Ok((Protocol::Pop3, "pop3")),
        "smtp" => Ok((Protocol::Smtp, "smtp")),
        _ => Err(ApiError::invalid(
            "scope",
            "must be one of [master, imap, smtp, pop3]",
        )),
    }
}

fn auth_failed(e: Error) -> ApiError {
    match e {
        Error::AuthFailed | Error::UserNotFound => {
            ApiError::new(StatusCode::FORBIDDEN, "AuthFailed", "Authentication failed")
        }
        other => other.into(),
    }
}

/// Body of POST /authenticate.
// Some fields are accepted for WildDuck compatibility and documented, but not used.
#[allow(dead_code)]
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticateRequest {
    /// Username or E-mail address
    pub username: String,
    /// Password
    pub password: String,
    /// Application identifier for security logs
    #[serde(default, deserialize_with = "de::opt_string")]
    pub protocol: Option<String>,
    /// Required scope. One of master, imap, smtp, pop3
    #[serde(default, deserialize_with = "de::opt_string")]
    pub scope: Option<String>,
    /// Optional appId which is the URL of the app
    #[serde(default, deserialize_with = "de::opt_string")]
    pub app_id: Option<String>,
    /// If true then generates a temporary access token that is valid for this user. Only available if scope is "master". With a user token, "me" may replace the user ID in URLs.
    #[serde(default, deserialize_with = "de::flag")]
    #[schema(value_type = Option<bool>)]
    pub token: bool,
    pub sess: Option<String>,
    /// IP address of the client, for rate limits and logs
    pub ip: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticateResponse {
    pub success: bool,
    /// ID of the User
    pub id: String,
    /// Username of authenticated User
    pub username: String,
    /// Default email address of authenticated User
    pub address: String,
    /// The scope this authentication is valid for
    pub scope: String,
    /// Enabled 2FA mechanisms the client must still complete (`false` when none).
    /// A token issued alongside only reaches the second-factor routes until one passes.
    #[schema(schema_with = schema::list_or_false_schema)]
    pub require2fa: ListOrFalse,
    /// Indicates if account password has been reset and should be replaced
    pub require_password_change: bool,
    /// Access token for requests on behalf of the user (when `token` was true)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// Authenticate a User
#[utoipa::path(post, path = "/authenticate", tag = "Authentication", operation_id = "authenticate",
    request_body = AuthenticateRequest,
    responses(
        (status = 200, description = "Success", body = AuthenticateResponse),
        (status = 400, description = "Invalid input", body = ErrorResponse),
        (status = 403, description = "Authentication failed", body = ErrorResponse),
        (status = 429, description = "Too many failed attempts", body = ErrorResponse),
    ))]
async fn authenticate(
    State(state): State<AppState>,
    caller: Caller,
    self_sign_in: Option<axum::Extension<crate::auth::SelfSignIn>>,
    ApiJson(body): ApiJson<AuthenticateRequest>,
) -> ApiResult<Json<AuthenticateResponse>> {
    caller.require_root()?;
    // A sign-in without a token may not name the address it comes from.
    let claimed_ip = if self_sign_in.is_some() {
        None
    } else {
        body.ip.as_deref()
    };
    let (protocol, scope) = protocol(body.scope.as_deref())?;
    if body.token && scope != "master" {
        return Err(ApiError::invalid(
            "token",
            "is only available for the master scope",
        ));
    }
    let request = AuthRequest {
        username: body.username,
        password: body.password,
        protocol,
        remote_ip: claimed_ip.and_then(|ip| ip.parse().ok()),
    };
    let meta = AuthMeta {
        protocol: body.protocol.clone(),
        sess: body.sess.clone(),
    };
    let done = state
        .service
        .authenticate_with(&request, &meta)
        .await
        .map_err(auth_failed)?;
    let user = done.user;
    // With 2FA the token only completes the second factor until it passes.
    let token = if body.token {
        Some(
            state
                .service
                .issue_token(user.id, !done.require2fa.is_empty())
                .await?,
        )
    } else {
        None
    };
    Ok(Json(AuthenticateResponse {
        success: true,
        id: user.id.to_hex(),
        username: user.username,
        address: user.address,
        scope: scope.to_string(),
        require2fa: ListOrFalse(done.require2fa),
        require_password_change: user.profile.require_password_change,
        token,
    }))
}

/// Invalidate the access token used for this request (nothing happens without one)
#[utoipa::path(delete, path = "/authenticate", tag = "Authentication", operation_id = "invalidateAccessToken",
    responses(
        (status = 200, description = "Success", body = SuccessResponse),
        (status = 403, description = "Invalid token", body = ErrorResponse),
    ))]
async fn invalidate_token(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<SuccessResponse>> {
    if let (false, Some(token)) = (caller.is_root(), caller.token.as_deref()) {
        state.service.revoke_access_token(token).await;
    }
    Ok(ok())
}

/// Body of POST /preauth.
// Some fields are accepted for WildDuck compatibility and documented, but not used.
#[allow(dead_code)]
#[derive(Debug, Deserialize, ToSchema)]
pub struct PreAuthRequest {
    /// Username or E-mail address
    pub username: String,
    /// Required scope. One of master, imap, smtp, pop3
    #[serde(default, deserialize_with = "de::opt_string")]
    pub scope: Option<String>,
    pub sess: Option<String>,
    pub ip: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PreAuthCheckResponse {
    pub success: bool,
    /// ID of the User
    pub id: String,
    /// Username of the User
    pub username: String,
    /// Default email address of the User
    pub address: String,
    /// The scope this authentication is valid for
    pub scope: String,
    /// List of enabled 2FA mechanisms (`false` when none)
    #[schema(schema_with = schema::list_or_false_schema)]
    pub require2fa: ListOrFalse,
}

/// Pre-auth check: does the username exist and may it log in with this scope?
#[utoipa::path(post, path = "/preauth", tag = "Authentication", operation_id = "preauth",
    request_body = PreAuthRequest,
    responses(
        (status = 200, description = "Success", body = PreAuthCheckResponse),
        (status = 400, description = "Invalid input", body = ErrorResponse),
        (status = 403, description = "Unknown or disabled user", body = ErrorResponse),
    ))]
async fn preauth(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<PreAuthRequest>,
) -> ApiResult<Json<PreAuthCheckResponse>> {
    caller.require_root()?;
    let (protocol, scope) = protocol(body.scope.as_deref())?;
    let user = state
        .service
        .preauth(&body.username, protocol)
        .await
        .map_err(auth_failed)?;
    let require2fa = if scope == "master" {
        state.service.enabled_2fa(user.id).await?
    } else {
        Vec::new()
    };
    Ok(Json(PreAuthCheckResponse {
        success: true,
        id: user.id.to_hex(),
        username: user.username,
        address: user.address,
        scope: scope.to_string(),
        require2fa: ListOrFalse(require2fa),
    }))
}
