//! Application-specific passwords: list, create (optionally with an Apple
//! mobileconfig profile), read, delete.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use base64::Engine;
use eider_auth::mobileconfig::{self, IncomingKind, MailServer, ProfileAccount};
use eider_service::security::NewAsp;
use eider_service::Asp;
use serde::{Deserialize, Serialize, Serializer};
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, SchemaType};
use utoipa::openapi::{KnownFormat, RefOr, Type};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::users::LogParams;
use crate::de;
use crate::error::{ApiError, ApiResult, ErrorResponse, OnField};
use crate::extract::{object_id, ApiJson, ApiQuery, Caller};
use crate::schema::{iso, ok, SuccessResponse};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_asps, create_asp))
        .routes(routes!(get_asp, delete_asp))
}

/// A date, or `false` when there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateOrFalse(pub Option<String>);

impl Serialize for DateOrFalse {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Some(d) => s.serialize_str(d),
            None => s.serialize_bool(false),
        }
    }
}

pub fn date_or_false_schema() -> RefOr<Schema> {
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(SchemaType::Type(Type::String))
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
        )
        .item(ObjectBuilder::new().schema_type(SchemaType::Type(Type::Boolean)))
        .description(Some("A date, or false when there is none"))
        .into()
}

/// A string, or `false` when there is none.
pub fn string_or_false_schema() -> RefOr<Schema> {
    OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(SchemaType::Type(Type::String)))
        .item(ObjectBuilder::new().schema_type(SchemaType::Type(Type::Boolean)))
        .into()
}

/// Information about last use
#[derive(Debug, Serialize, ToSchema)]
pub struct LastUse {
    /// Datestring of last use or false if password has not been used
    #[schema(schema_with = date_or_false_schema)]
    pub time: DateOrFalse,
    /// Event ID of the security log for the last authentication
    #[schema(schema_with = string_or_false_schema)]
    pub event: DateOrFalse,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetASPsResult {
    /// ID of the Application Password
    pub id: String,
    /// Description
    pub description: String,
    /// Allowed scopes for the Application Password
    pub scopes: Vec<String>,
    pub last_use: LastUse,
    /// Datestring
    pub created: String,
    /// Application password expires after the given date
    #[schema(schema_with = date_or_false_schema)]
    pub expires: DateOrFalse,
}

fn asp_result(a: Asp) -> GetASPsResult {
    let scopes = if a.scopes.iter().any(|s| s == "*") {
        eider_auth::ASP_SCOPES
            .iter()
            .map(|s| s.to_string())
            .collect()
    } else {
        a.scopes
    };
    GetASPsResult {
        id: a.id.to_hex(),
        description: a.description,
        scopes,
        last_use: LastUse {
            time: DateOrFalse(a.last_use.as_ref().map(|u| iso(&u.time))),
            event: DateOrFalse(a.last_use.and_then(|u| u.event).map(|e| e.to_hex())),
        },
        created: iso(&a.created),
        expires: DateOrFalse(a.expires.as_ref().map(iso)),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GetASPsResponse {
    pub success: bool,
    /// Event listing
    pub results: Vec<GetASPsResult>,
}

/// Query of GET /users/{user}/asps.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListAspsQuery {
    /// If not true then skips entries with a TTL set
    #[serde(deserialize_with = "de::flag")]
    #[param(value_type = Option<bool>)]
    pub show_all: bool,
    #[serde(deserialize_with = "de::opt_string")]
    #[param(ignore)]
    pub sess: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    #[param(ignore)]
    pub ip: Option<String>,
}

/// List Application Passwords
#[utoipa::path(get, path = "/users/{user}/asps", tag = "ApplicationPasswords", operation_id = "getASPs",
    params(("user" = String, Path, description = "ID of the User"), ListAspsQuery, LogParams),
    responses(
        (status = 200, description = "Success", body = GetASPsResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
    ))]
async fn list_asps(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    ApiQuery(q): ApiQuery<ListAspsQuery>,
) -> ApiResult<Json<GetASPsResponse>> {
    let id = caller.user(&user)?;
    let asps = state.service.list_asps(id, q.show_all).await?;
    Ok(Json(GetASPsResponse {
        success: true,
        results: asps.into_iter().map(asp_result).collect(),
    }))
}

/// Body of POST /users/{user}/asps.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateASPRequest {
    /// Description for the Application Password entry
    pub description: String,
    /// List of scopes this Password applies to. Special scope "*" indicates that this password can be used for any scope except "master"
    #[serde(default, deserialize_with = "de::opt_list")]
    #[schema(value_type = Option<Vec<String>>)]
    pub scopes: Option<Vec<String>>,
    /// E-mail address to be used as the account address in mobileconfig file. Must be one of the listed identity addresses of the user. Defaults to the main address of the user
    #[serde(default, deserialize_with = "de::opt_string")]
    pub address: Option<String>,
    /// Optional pregenerated password. Must be 16 characters, latin letters only.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub password: Option<String>,
    /// If true then result contains a mobileconfig formatted file with account config
    #[serde(default, deserialize_with = "de::flag")]
    #[schema(value_type = Option<bool>)]
    pub generate_mobileconfig: bool,
    /// TTL in seconds for this password. Every time password is used, TTL is reset to this value
    #[serde(default, deserialize_with = "de::opt_u64")]
    #[schema(value_type = Option<u64>)]
    pub ttl: Option<u64>,
    /// Session identifier for the logs
    #[serde(default, deserialize_with = "de::opt_string")]
    pub sess: Option<String>,
    /// IP address for the logs
    #[serde(default, deserialize_with = "de::opt_string")]
    pub ip: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreateASPResponse {
    pub success: bool,
    /// ID of the Application Password
    pub id: String,
    /// Application Specific Password. Generated password is whitespace agnostic, so it could be displayed to the client as "abcd efgh ijkl mnop" instead of "abcdefghijklmnop"
    pub password: String,
    /// Base64 encoded mobileconfig file. Generated profile file should be sent to the client with Content-Type value of application/x-apple-aspen-config.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mobileconfig: Option<String>,
    /// Account name
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Account address or the address specified in params of this endpoint
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// Create new Application Password
#[utoipa::path(post, path = "/users/{user}/asps", tag = "ApplicationPasswords", operation_id = "createASP",
    params(("user" = String, Path, description = "ID of the User")),
    request_body = CreateASPRequest,
    responses(
        (status = 200, description = "Success", body = CreateASPResponse),
        (status = 400, description = "Invalid input or scopes", body = ErrorResponse),
        (status = 403, description = "Too many application passwords", body = ErrorResponse),
        (status = 404, description = "No such user or address", body = ErrorResponse),
    ))]
async fn create_asp(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    ApiJson(body): ApiJson<CreateASPRequest>,
) -> ApiResult<Json<CreateASPResponse>> {
    let id = caller.user(&user)?;
    let mut scopes = body.scopes.clone().unwrap_or_default();
    if scopes.is_empty() || scopes.iter().any(|s| s.trim() == "*") {
        scopes = vec!["*".into()];
    }
    for s in &scopes {
        if !matches!(s.trim(), "*" | "imap" | "pop3" | "smtp") {
            return Err(ApiError::invalid(
                "scopes",
                "must only contain imap, pop3, smtp or *",
            ));
        }
    }
    let all = scopes.iter().any(|s| s == "*");
    let has = |s: &str| all || scopes.iter().any(|x| x.trim() == s);
    if body.generate_mobileconfig && !((has("imap") || has("pop3")) && has("smtp")) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "InvalidAuthScope",
            "Profile file requires either imap or pop3 and smtp scopes",
        ));
    }
    let account = state.service.get_user(id).await?;
    // The account the profile configures: the named identity or the main address.
    let (name, address) = match body.address.as_deref() {
        Some(text) => {
            let found = state
                .service
                .lookup_address(text)
                .await?
                .filter(|a| a.user == Some(id))
                .ok_or_else(|| {
                    ApiError::not_found("AddressNotFound", "Invalid or unknown address")
                })?;
            (
                found.name.or(account.name.clone()).unwrap_or_default(),
                found.address,
            )
        }
        None => (
            account.name.clone().unwrap_or_default(),
            account.address.clone(),
        ),
    };
    let created = state
        .service
        .create_asp(
            id,
            NewAsp {
                description: body.description,
                scopes: scopes.clone(),
                password: body.password,
                ttl: body.ttl,
                ip: body.ip,
                sess: body.sess,
            },
        )
        .await
        .on_field("description")?;
    if !body.generate_mobileconfig {
        return Ok(Json(CreateASPResponse {
            success: true,
            id: created.asp.id.to_hex(),
            password: created.password,
            mobileconfig: None,
            name: None,
            address: None,
        }));
    }
    let cfg = &state.mobileconfig;
    let (kind, incoming) = if has("imap") {
        (
            IncomingKind::Imap,
            MailServer {
                host: cfg.imap_hostname.clone(),
                port: cfg.imap_port,
                secure: cfg.imap_secure,
            },
        )
    } else {
        (
            IncomingKind::Pop3,
            MailServer {
                host: cfg.pop3_hostname.clone(),
                port: cfg.pop3_port,
                secure: cfg.pop3_secure,
            },
        )
    };
    let profile = mobileconfig::mobileconfig(
        &cfg.profile_settings(),
        &ProfileAccount {
            user_id: id.to_hex(),
            name: name.clone(),
            address: address.clone(),
            password: created.password.clone(),
            description: Some(created.asp.description.clone()),
            incoming_kind: kind,
            incoming,
            outgoing: MailServer {
                host: cfg.smtp_hostname.clone(),
                port: cfg.smtp_port,
                secure: cfg.smtp_secure.unwrap_or(false),
            },
        },
    );
    Ok(Json(CreateASPResponse {
        success: true,
        id: created.asp.id.to_hex(),
        password: created.password,
        mobileconfig: Some(base64::engine::general_purpose::STANDARD.encode(profile)),
        name: Some(name),
        address: Some(address),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GetASPResponse {
    pub success: bool,
    #[serde(flatten)]
    pub asp: GetASPsResult,
}

/// Request ASP information
#[utoipa::path(get, path = "/users/{user}/asps/{asp}", tag = "ApplicationPasswords", operation_id = "getASP",
    params(
        ("user" = String, Path, description = "ID of the User"),
        ("asp" = String, Path, description = "ID of the Application Password"),
        LogParams,
    ),
    responses(
        (status = 200, description = "Success", body = GetASPResponse),
        (status = 404, description = "No such user or ASP", body = ErrorResponse),
    ))]
async fn get_asp(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, asp)): Path<(String, String)>,
) -> ApiResult<Json<GetASPResponse>> {
    let id = caller.user(&user)?;
    let asp = object_id("asp", &asp)?;
    let found = state.service.get_asp(id, asp).await?;
    Ok(Json(GetASPResponse {
        success: true,
        asp: asp_result(found),
    }))
}

/// Delete an Application Password
#[utoipa::path(delete, path = "/users/{user}/asps/{asp}", tag = "ApplicationPasswords", operation_id = "deleteASP",
    params(
        ("user" = String, Path, description = "ID of the User"),
        ("asp" = String, Path, description = "ID of the Application Password"),
        LogParams,
    ),
    responses(
        (status = 200, description = "Success", body = SuccessResponse),
        (status = 404, description = "No such user or ASP", body = ErrorResponse),
    ))]
async fn delete_asp(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, asp)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<LogQuery>,
) -> ApiResult<Json<SuccessResponse>> {
    let id = caller.user(&user)?;
    let asp = object_id("asp", &asp)?;
    state.service.delete_asp(id, asp, q.ip, q.sess).await?;
    Ok(ok())
}

/// `sess` and `ip` from a query string.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LogQuery {
    #[serde(deserialize_with = "de::opt_string")]
    pub sess: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub ip: Option<String>,
}
