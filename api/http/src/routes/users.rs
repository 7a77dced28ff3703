//! Users: list, create, resolve, read, update, delete, logout, quota and
//! password resets.

use axum::extract::{Path, State};
use axum::Json;
use eider_service::api::{normalize_tags, validate_targets, PageRequest, UsageCounters};
use eider_service::model::{Paging, SpecialUse, User, UserLimits as StoredLimits, UserQuery};
use eider_service::settings::LimitDefaults;
use eider_service::{NewUser, ObjectId, UserUpdate};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::de::{self, OrFalse};
use crate::error::{ApiError, ApiResult, ErrorResponse, OnField};
use crate::extract::{ApiJson, ApiQuery, Caller};
use crate::schema::{self, iso, ok, Cursor, NumberOrFalse, SuccessResponse};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(resolve_user))
        .routes(routes!(get_user, update_user, delete_user))
        .routes(routes!(logout_user))
        .routes(routes!(recalculate_quota))
        .routes(routes!(recalculate_all_quotas))
        .routes(routes!(reset_password))
}

/// WildDuck's defaults for limits a user has not set that are not runtime settings
/// (those come from `Service::limit_defaults`).
mod defaults {
    pub const RECEIVED: u64 = 60;
    pub const POP3_MESSAGES: u64 = 250;
    pub const SPAM_LEVEL: u32 = 50;
}

const SCOPES: [&str; 3] = ["imap", "pop3", "smtp"];

/// Session and IP fields WildDuck accepts on every call for its logs.
// Some fields are accepted for WildDuck compatibility and documented, but not used.
#[allow(dead_code)]
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogParams {
    /// Session identifier for the logs
    pub sess: Option<String>,
    /// IP address for the logs
    pub ip: Option<String>,
}

/// Query of GET /users.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListUsersQuery {
    /// Partial match of username or default email address
    #[serde(deserialize_with = "de::opt_string")]
    pub query: Option<String>,
    /// Partial match of a forward email address or URL
    #[serde(deserialize_with = "de::opt_string")]
    pub forward: Option<String>,
    /// Comma separated list of tags. The User must have at least one to be set
    #[serde(deserialize_with = "de::opt_list")]
    #[param(value_type = Option<String>)]
    pub tags: Option<Vec<String>>,
    /// Comma separated list of tags. The User must have all listed tags to be set
    #[serde(deserialize_with = "de::opt_list")]
    #[param(value_type = Option<String>)]
    pub required_tags: Option<Vec<String>>,
    /// If true, then includes metaData in the response
    #[serde(deserialize_with = "de::flag")]
    #[param(value_type = Option<bool>)]
    pub meta_data: bool,
    /// If true, then includes internalData in the response. Not shown for user-role tokens.
    #[serde(deserialize_with = "de::flag")]
    #[param(value_type = Option<bool>)]
    pub internal_data: bool,
    #[serde(flatten)]
    #[param(ignore)]
    pub paging: PagingQuery,
}

/// Paging parameters shared by every listing.
#[derive(Debug, Default, Deserialize, IntoParams, ToSchema)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct PagingQuery {
    /// How many records to return (1 to 250, default 20)
    #[serde(deserialize_with = "de::opt_u32")]
    #[param(value_type = Option<u32>, minimum = 1, maximum = 250)]
    pub limit: Option<u32>,
    /// Cursor value for next page, retrieved from nextCursor response value
    #[serde(deserialize_with = "de::opt_string")]
    pub next: Option<String>,
    /// Cursor value for previous page, retrieved from previousCursor response value
    #[serde(deserialize_with = "de::opt_string")]
    pub previous: Option<String>,
    /// Current page number. Informational only, page numbers start from 1
    #[serde(deserialize_with = "de::opt_u32")]
    #[param(value_type = Option<u32>, minimum = 1)]
    pub page: Option<u32>,
}

impl PagingQuery {
    /// Validate and convert; 400 for out-of-range values.
    pub fn request(&self) -> ApiResult<PageRequest> {
        let limit = self.limit.unwrap_or(eider_service::api::DEFAULT_PAGE_SIZE);
        if !(1..=eider_service::api::MAX_PAGE_SIZE).contains(&limit) {
            return Err(ApiError::invalid(
                "limit",
                format!(
                    "must be between 1 and {}",
                    eider_service::api::MAX_PAGE_SIZE
                ),
            ));
        }
        if self.page == Some(0) {
            return Err(ApiError::invalid(
                "page",
                "must be greater than or equal to 1",
            ));
        }
        for (name, v) in [("next", &self.next), ("previous", &self.previous)] {
            if let Some(c) = v {
                if c.len() > 1024
                    || !c
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                {
                    return Err(ApiError::invalid(name, "must be a valid cursor"));
                }
            }
        }
        Ok(PageRequest {
            limit,
            next: self.next.clone().filter(|s| !s.is_empty()),
            previous: self.previous.clone().filter(|s| !s.is_empty()),
            page: self.page.unwrap_or(1),
        })
    }

    pub fn page(&self) -> u32 {
        self.page.unwrap_or(1)
    }
}

/// Quota usage limits
#[derive(Debug, Serialize, ToSchema)]
pub struct Quota {
    /// Allowed quota of the user in bytes
    pub allowed: u64,
    /// Space used in bytes
    pub used: u64,
}

/// One entry of a user listing.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetUsersResult {
    /// Users unique ID (24byte hex)
    pub id: String,
    pub username: String,
    pub name: String,
    /// Main email address of the User
    pub address: String,
    pub tags: Vec<String>,
    /// List of forwarding targets
    pub targets: Vec<String>,
    /// List of enabled 2FA methods
    pub enabled2fa: Vec<String>,
    pub autoreply: bool,
    pub encrypt_messages: bool,
    pub encrypt_forwarded: bool,
    pub quota: Quota,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = schema::any_object_schema)]
    pub meta_data: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = schema::any_object_schema)]
    pub internal_data: Option<serde_json::Value>,
    pub has_password_set: bool,
    pub activated: bool,
    pub disabled: bool,
    pub suspended: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetUsersResponse {
    pub success: bool,
    /// How many results were found
    pub total: u64,
    /// Current page number. Derived from page query argument
    pub page: u32,
    #[schema(schema_with = schema::cursor_schema)]
    pub previous_cursor: Cursor,
    #[schema(schema_with = schema::cursor_schema)]
    pub next_cursor: Cursor,
    /// Partial match of username or default email address
    pub query: String,
    pub results: Vec<GetUsersResult>,
}

fn quota(limits: &LimitDefaults, user: &User) -> Quota {
    Quota {
        allowed: limits.quota_for(user),
        used: user.storage_used,
    }
}

/// List registered Users
#[utoipa::path(get, path = "/users", tag = "Users", operation_id = "getUsers",
    params(ListUsersQuery, PagingQuery, LogParams),
    responses(
        (status = 200, description = "Success", body = GetUsersResponse),
        (status = 400, description = "Invalid input", body = ErrorResponse),
        (status = 403, description = "Missing or invalid access token", body = ErrorResponse),
    ))]
async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListUsersQuery>,
) -> ApiResult<Json<GetUsersResponse>> {
    caller.require_root()?;
    let page = q.paging.request()?;
    let query = UserQuery {
        query: q.query.clone().filter(|s| !s.is_empty()),
        tags: q.tags.clone().unwrap_or_default(),
        required_tags: q.required_tags.clone().unwrap_or_default(),
        forward: q.forward.clone().filter(|s| !s.is_empty()),
        paging: Paging {
            limit: page.limit,
            next: page.next.clone(),
            previous: page.previous.clone(),
            page: Some(page.page),
        },
    };
    let found = state.service.list_users(&query).await?;
    let ids: Vec<ObjectId> = found.results.iter().map(|u| u.id).collect();
    let enabled2fa = state.service.enabled_2fa_of(&ids).await?;
    let limits = state.service.limit_defaults().await;
    let results = found
        .results
        .iter()
        .map(|u| GetUsersResult {
            id: u.id.to_hex(),
            username: u.username.clone(),
            name: u.name.clone().unwrap_or_default(),
            address: u.address.clone(),
            tags: u.tags.clone(),
            targets: u.profile.targets.clone(),
            enabled2fa: enabled2fa.get(&u.id).cloned().unwrap_or_default(),
            autoreply: false,
            encrypt_messages: u.profile.encrypt_messages,
            encrypt_forwarded: u.profile.encrypt_forwarded,
            quota: quota(&limits, u),
            meta_data: q.meta_data.then(|| u.meta_data.clone()),
            internal_data: (q.internal_data && caller.is_root()).then(|| u.internal_data.clone()),
            has_password_set: u.password.is_some(),
            activated: true,
            disabled: u.disabled,
            suspended: u.suspended,
        })
        .collect();
    Ok(Json(GetUsersResponse {
        success: true,
        total: found.total,
        page: q.paging.page(),
        previous_cursor: Cursor(found.previous),
        next_cursor: Cursor(found.next),
        query: q.query.unwrap_or_default(),
        results,
    }))
}

/// Optional names for special mailboxes
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct MailboxNames {
    #[serde(default, deserialize_with = "de::opt_string")]
    pub sent: Option<String>,
    #[serde(default, deserialize_with = "de::opt_string")]
    pub trash: Option<String>,
    #[serde(default, deserialize_with = "de::opt_string")]
    pub junk: Option<String>,
    #[serde(default, deserialize_with = "de::opt_string")]
    pub drafts: Option<String>,
}

/// Body of POST /users.
// Some fields are accepted for WildDuck compatibility and documented, but not used.
#[allow(dead_code)]
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateUserRequest {
    /// Username of the User. Dots are allowed but informational only ("user.name" is the same as "username").
    pub username: String,
    /// Password for the account. Set to boolean false to disable password usage
    #[serde(deserialize_with = "de::opt_string_or_false")]
    #[schema(value_type = String)]
    pub password: Option<OrFalse<String>>,
    /// If true then password is already hashed, so store as is
    #[serde(default, deserialize_with = "de::flag")]
    #[schema(value_type = Option<bool>)]
    pub hashed_password: bool,
    /// Accepted for compatibility; breached-password checks are not made
    #[serde(default, deserialize_with = "de::opt_bool")]
    #[schema(value_type = Option<bool>)]
    pub allow_unsafe: Option<bool>,
    /// Default email address for the User (autogenerated if not set)
    #[serde(default, deserialize_with = "de::opt_string")]
    pub address: Option<String>,
    /// If true then do not autogenerate missing email address for the User
    #[serde(default, deserialize_with = "de::flag")]
    #[schema(value_type = Option<bool>)]
    pub empty_address: bool,
    #[serde(flatten)]
    pub settings: UserSettings,
    /// Optional names for special mailboxes
    #[serde(default)]
    pub mailboxes: Option<MailboxNames>,
    /// A list of tags associated with this user
    #[serde(default, deserialize_with = "de::opt_list")]
    #[schema(value_type = Option<Vec<String>>)]
    pub tags: Option<Vec<String>>,
    /// If true then autogenerated address gets the same tags as the user
    #[serde(default, deserialize_with = "de::flag")]
    #[schema(value_type = Option<bool>)]
    pub add_tags_to_address: bool,
    /// Optional metadata, must be an object or JSON formatted string
    #[serde(default, deserialize_with = "de::opt_any")]
    #[schema(schema_with = schema::any_object_schema)]
    pub meta_data: Option<serde_json::Value>,
    /// Optional metadata for internal use, must be an object or JSON formatted string of an object
    #[serde(default, deserialize_with = "de::opt_any")]
    #[schema(schema_with = schema::any_object_schema)]
    pub internal_data: Option<serde_json::Value>,
    /// Session identifier for the logs
    #[serde(default)]
    pub sess: Option<String>,
    /// IP address for the logs
    #[serde(default)]
    pub ip: Option<String>,
}

/// Per-user settings POST and PUT /users share.
// Some fields are accepted for WildDuck compatibility and documented, but not used.
#[allow(dead_code)]
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserSettings {
    /// Name of the User
    #[serde(default, deserialize_with = "de::opt_string")]
    pub name: Option<String>,
    /// Language code for the User
    #[serde(default, deserialize_with = "de::opt_string")]
    pub language: Option<String>,
    /// Default retention time (in ms). Set to 0 to disable
    #[serde(default, deserialize_with = "de::opt_u64")]
    #[schema(value_type = Option<u64>)]
    pub retention: Option<u64>,
    /// An array of forwarding targets (addresses or smtp:// relay URLs)
    #[serde(default, deserialize_with = "de::opt_list")]
    #[schema(value_type = Option<Vec<String>>)]
    pub targets: Option<Vec<String>>,
    /// Relative scale for detecting spam. 0 means that everything is spam, 100 means that nothing is spam
    #[serde(default, deserialize_with = "de::opt_u64")]
    #[schema(value_type = Option<u64>, maximum = 100)]
    pub spam_level: Option<u64>,
    /// Allowed quota of the user in bytes
    #[serde(default, deserialize_with = "de::opt_u64")]
    #[schema(value_type = Option<u64>)]
    pub quota: Option<u64>,
    /// How many messages per 24 hour can be sent
    #[serde(default, deserialize_with = "de::opt_u64")]
    #[schema(value_type = Option<u64>)]
    pub recipients: Option<u64>,
    /// How many messages per 24 hour can be forwarded
    #[serde(default, deserialize_with = "de::opt_u64")]
    #[schema(value_type = Option<u64>)]
    pub forwards: Option<u64>,
    /// How many filters are allowed for this account
    #[serde(default, deserialize_with = "de::opt_u64")]
    #[schema(value_type = Option<u64>)]
    pub filters: Option<u64>,
    /// If true then requires the user to change password
    #[serde(default, deserialize_with = "de::opt_bool")]
    #[schema(value_type = Option<bool>)]
    pub require_password_change: Option<bool>,
    /// How many bytes can be uploaded via IMAP during 24 hour
    #[serde(default, deserialize_with = "de::opt_u64")]
    #[schema(value_type = Option<u64>)]
    pub imap_max_upload: Option<u64>,
    /// How many bytes can be downloaded via IMAP during 24 hour
    #[serde(default, deserialize_with = "de::opt_u64")]
    #[schema(value_type = Option<u64>)]
    pub imap_max_download: Option<u64>,
    /// How many bytes can be downloaded via POP3 during 24 hour
    #[serde(default, deserialize_with = "de::opt_u64")]
    #[schema(value_type = Option<u64>)]
    pub pop3_max_download: Option<u64>,
    /// How many latest messages to list in POP3 session
    #[serde(default, deserialize_with = "de::opt_u64")]
    #[schema(value_type = Option<u64>)]
    pub pop3_max_messages: Option<u64>,
    /// How many parallel IMAP connections are allowed
    #[serde(default, deserialize_with = "de::opt_u64")]
    #[schema(value_type = Option<u64>)]
    pub imap_max_connections: Option<u64>,
    /// How many messages can be received from MX during 60 seconds
    #[serde(default, deserialize_with = "de::opt_u64")]
    #[schema(value_type = Option<u64>)]
    pub received_max: Option<u64>,
    /// A list of additional email addresses this user can send mail from. Wildcard is allowed.
    #[serde(default, deserialize_with = "de::opt_list")]
    #[schema(value_type = Option<Vec<String>>)]
    pub from_whitelist: Option<Vec<String>>,
    /// If true then all messages sent through MSA are also uploaded to the Sent Mail folder
    #[serde(default, deserialize_with = "de::opt_bool")]
    #[schema(value_type = Option<bool>)]
    pub upload_sent_messages: Option<bool>,
    /// List of scopes that are disabled for this user ("imap", "pop3", "smtp")
    #[serde(default, deserialize_with = "de::opt_list")]
    #[schema(value_type = Option<Vec<String>>)]
    pub disabled_scopes: Option<Vec<String>>,
    /// Public PGP key for the User that is used for encryption. Use empty string to remove the key
    #[serde(default, deserialize_with = "de::opt_string")]
    pub pub_key: Option<String>,
    /// If true then received messages are encrypted
    #[serde(default, deserialize_with = "de::opt_bool")]
    #[schema(value_type = Option<bool>)]
    pub encrypt_messages: Option<bool>,
    /// If true then forwarded messages are encrypted
    #[serde(default, deserialize_with = "de::opt_bool")]
    #[schema(value_type = Option<bool>)]
    pub encrypt_forwarded: Option<bool>,
}

impl UserSettings {
    /// Validate and apply to a stored profile.
    fn apply(&self, profile: &mut eider_service::model::UserProfile) -> ApiResult<()> {
        if let Some(l) = &self.language {
            profile.language = Some(l.clone()).filter(|l| !l.is_empty());
        }
        if let Some(r) = self.retention {
            profile.retention = r;
        }
        if let Some(t) = &self.targets {
            profile.targets = validate_targets(t).on_field("targets")?;
        }
        if let Some(s) = self.spam_level {
            if s > 100 {
                return Err(ApiError::invalid(
                    "spamLevel",
                    "must be less than or equal to 100",
                ));
            }
            profile.spam_level = Some(s as u32);
        }
        if let Some(r) = self.require_password_change {
            profile.require_password_change = r;
        }
        if let Some(w) = &self.from_whitelist {
            profile.from_whitelist = w
                .iter()
                .map(|a| a.trim().to_string())
                .filter(|a| !a.is_empty())
                .collect();
        }
        if let Some(u) = self.upload_sent_messages {
            profile.upload_sent_messages = u;
        }
        // The key is checked by the service (WildDuck's texts); stored trimmed.
        if let Some(k) = &self.pub_key {
            profile.pub_key = k.trim().to_string();
        }
        if let Some(e) = self.encrypt_messages {
            profile.encrypt_messages = e;
        }
        if let Some(e) = self.encrypt_forwarded {
            profile.encrypt_forwarded = e;
        }
        if let Some(scopes) = &self.disabled_scopes {
            let mut out: Vec<String> = Vec::new();
            for s in scopes {
                let s = s.trim().to_ascii_lowercase();
                if !SCOPES.contains(&s.as_str()) {
                    return Err(ApiError::invalid(
                        "disabledScopes",
                        "must be one of [imap, pop3, smtp]",
                    ));
                }
                if !out.contains(&s) {
                    out.push(s);
                }
            }
            profile.disabled_scopes = out;
        }
        let limits: &mut StoredLimits = &mut profile.limits;
        let set = |slot: &mut Option<u64>, v: Option<u64>| {
            if let Some(v) = v {
                *slot = Some(v).filter(|v| *v > 0);
            }
        };
        set(&mut limits.recipients, self.recipients);
        set(&mut limits.forwards, self.forwards);
        set(&mut limits.filters, self.filters);
        set(&mut limits.imap_max_upload, self.imap_max_upload);
        set(&mut limits.imap_max_download, self.imap_max_download);
        set(&mut limits.pop3_max_download, self.pop3_max_download);
        set(&mut limits.pop3_max_messages, self.pop3_max_messages);
        set(&mut limits.imap_max_connections, self.imap_max_connections);
        set(&mut limits.received_max, self.received_max);
        Ok(())
    }
}

/// ID of a created record.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdResponse {
    /// Indicates successful response
    pub success: bool,
    /// Unique ID (24 byte hex)
    pub id: String,
}

pub fn id_response(id: ObjectId) -> Json<IdResponse> {
    Json(IdResponse {
        success: true,
        id: id.to_hex(),
    })
}

/// Create new user
#[utoipa::path(post, path = "/users", tag = "Users", operation_id = "createUser",
    request_body = CreateUserRequest,
    responses(
        (status = 200, description = "Success", body = IdResponse),
        (status = 400, description = "Invalid input or the user exists", body = ErrorResponse),
        (status = 403, description = "Missing or invalid access token", body = ErrorResponse),
    ))]
async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateUserRequest>,
) -> ApiResult<Json<IdResponse>> {
    caller.require_root()?;
    let mut profile = eider_service::model::UserProfile::default();
    body.settings.apply(&mut profile)?;
    let names = body.mailboxes.unwrap_or_default();
    let mailbox_names = [
        (SpecialUse::Sent, names.sent),
        (SpecialUse::Trash, names.trash),
        (SpecialUse::Junk, names.junk),
        (SpecialUse::Drafts, names.drafts),
    ]
    .into_iter()
    .filter_map(|(role, name)| name.filter(|n| !n.trim().is_empty()).map(|n| (role, n)))
    .collect();
    let new = NewUser {
        username: body.username,
        password: match body.password {
            Some(OrFalse::Set(p)) => Some(p),
            _ => None,
        },
        hashed_password: body.hashed_password,
        address: body.address.filter(|a| !a.trim().is_empty()),
        empty_address: body.empty_address,
        name: body.settings.name.clone(),
        quota: body.settings.quota,
        tags: normalize_tags(body.tags.unwrap_or_default()),
        add_tags_to_address: body.add_tags_to_address,
        meta_data: body.meta_data,
        internal_data: body.internal_data,
        profile,
        mailbox_names,
    };
    let user = state.service.create_user(new).await.on_field("username")?;
    Ok(id_response(user.id))
}

/// Resolve ID for a username
#[utoipa::path(get, path = "/users/resolve/{username}", tag = "Users", operation_id = "resolveUser",
    params(("username" = String, Path, description = "Username or address of the User"), LogParams),
    responses(
        (status = 200, description = "Success", body = IdResponse),
        (status = 400, description = "Not a valid username", body = ErrorResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
    ))]
async fn resolve_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(username): Path<String>,
) -> ApiResult<Json<IdResponse>> {
    caller.require_root()?;
    // A name WildDuck's schema refuses is a bad request, not an unknown user.
    let username = eider_service::normalize::username_pattern(&username)?;
    let user = state.service.find_user(&username).await?;
    Ok(id_response(user.id))
}

/// A limit with usage and time to reset.
#[derive(Debug, Serialize, ToSchema)]
pub struct LimitWindow {
    /// How much is allowed per period
    pub allowed: u64,
    /// How much was used in the current period
    pub used: u64,
    /// Seconds until the end of the current period
    pub ttl: u64,
}

/// A limit with usage.
#[derive(Debug, Serialize, ToSchema)]
pub struct LimitUsage {
    pub allowed: u64,
    pub used: u64,
}

/// A limit alone.
#[derive(Debug, Serialize, ToSchema)]
pub struct LimitAllowed {
    pub allowed: u64,
}

/// Account limits and usage
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserLimits {
    pub quota: Quota,
    pub recipients: LimitWindow,
    pub filters: LimitUsage,
    pub forwards: LimitWindow,
    pub received: LimitWindow,
    pub imap_upload: LimitWindow,
    pub imap_download: LimitWindow,
    pub pop3_download: LimitWindow,
    pub pop3_max_messages: LimitAllowed,
    pub imap_max_connections: LimitUsage,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetUserResponse {
    pub success: bool,
    /// Users unique ID (24 byte hex)
    pub id: String,
    pub username: String,
    pub name: String,
    /// Main email address of the User
    pub address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Default retention time (in ms). false if not enabled
    #[schema(schema_with = schema::number_or_false_schema)]
    pub retention: NumberOrFalse,
    pub enabled2fa: Vec<String>,
    pub autoreply: bool,
    pub encrypt_messages: bool,
    pub encrypt_forwarded: bool,
    /// Public PGP key for the User that is used for encryption
    pub pub_key: String,
    /// Information about public key or false if key is not available
    #[schema(schema_with = key_info_schema)]
    pub key_info: KeyInfoOrFalse,
    #[schema(schema_with = schema::any_object_schema)]
    pub meta_data: serde_json::Value,
    /// Not available for user-role tokens
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = schema::any_object_schema)]
    pub internal_data: Option<serde_json::Value>,
    pub targets: Vec<String>,
    pub spam_level: u32,
    pub limits: UserLimits,
    pub tags: Vec<String>,
    pub from_whitelist: Vec<String>,
    pub disabled_scopes: Vec<String>,
    pub has_password_set: bool,
    pub activated: bool,
    pub disabled: bool,
    pub suspended: bool,
    /// Indicates if account password has been reset and should be replaced
    pub require_password_change: bool,
    pub upload_sent_messages: bool,
}

/// What a user's public key says (WildDuck's `keyInfo`).
#[derive(Debug, Clone, Serialize)]
pub struct KeyInfo {
    /// Name listed in public key
    pub name: String,
    /// E-mail address listed in public key
    pub address: String,
    /// Fingerprint of the public key
    pub fingerprint: String,
}

/// [`KeyInfo`], or `false` when the user has no key.
#[derive(Debug, Clone)]
pub struct KeyInfoOrFalse(pub Option<KeyInfo>);

impl Serialize for KeyInfoOrFalse {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Some(k) => k.serialize(s),
            None => s.serialize_bool(false),
        }
    }
}

fn key_info_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, SchemaType, Type};
    let text = || ObjectBuilder::new().schema_type(SchemaType::Type(Type::String));
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(SchemaType::Type(Type::Object))
                .property(
                    "name",
                    text().description(Some("Name listed in public key")),
                )
                .property(
                    "address",
                    text().description(Some("E-mail address listed in public key")),
                )
                .property(
                    "fingerprint",
                    text().description(Some("Fingerprint of the public key")),
                )
                .required("name")
                .required("address")
                .required("fingerprint"),
        )
        .item(ObjectBuilder::new().schema_type(SchemaType::Type(Type::Boolean)))
        .into()
}

fn window(allowed: Option<u64>, default: u64, used: u64) -> LimitWindow {
    LimitWindow {
        allowed: allowed.unwrap_or(default),
        used,
        ttl: 0,
    }
}

fn user_response(
    d: &LimitDefaults,
    caller: &Caller,
    u: User,
    usage: UsageCounters,
) -> GetUserResponse {
    let key_info =
        KeyInfoOrFalse(
            eider_service::security::encryption::key_info(&u).map(|k| KeyInfo {
                name: k.name,
                address: k.address,
                fingerprint: k.fingerprint,
            }),
        );
    let l = &u.profile.limits;
    let limits = UserLimits {
        quota: quota(d, &u),
        recipients: window(l.recipients, d.recipients, usage.recipients),
        filters: LimitUsage {
            allowed: l.filters.unwrap_or(d.filters),
            used: 0,
        },
        forwards: window(l.forwards, d.forwards, usage.forwards),
        received: window(l.received_max, defaults::RECEIVED, usage.received),
        imap_upload: window(l.imap_max_upload, d.imap_upload, usage.imap_upload),
        imap_download: window(l.imap_max_download, d.imap_download, usage.imap_download),
        pop3_download: window(l.pop3_max_download, d.pop3_download, usage.pop3_download),
        pop3_max_messages: LimitAllowed {
            allowed: l.pop3_max_messages.unwrap_or(defaults::POP3_MESSAGES),
        },
        imap_max_connections: LimitUsage {
            allowed: l.imap_max_connections.unwrap_or(d.imap_connections),
            used: usage.imap_connections,
        },
    };
    GetUserResponse {
        success: true,
        id: u.id.to_hex(),
        username: u.username,
        name: u.name.unwrap_or_default(),
        address: u.address,
        language: u.profile.language.clone(),
        retention: NumberOrFalse(Some(u.profile.retention).filter(|r| *r > 0)),
        enabled2fa: Vec::new(),
        autoreply: false,
        encrypt_messages: u.profile.encrypt_messages,
        encrypt_forwarded: u.profile.encrypt_forwarded,
        key_info,
        pub_key: u.profile.pub_key.clone(),
        meta_data: u.meta_data,
        internal_data: caller.is_root().then_some(u.internal_data),
        targets: u.profile.targets.clone(),
        spam_level: u.profile.spam_level.unwrap_or(defaults::SPAM_LEVEL),
        limits,
        tags: u.tags,
        from_whitelist: u.profile.from_whitelist.clone(),
        disabled_scopes: u.profile.disabled_scopes.clone(),
        has_password_set: u.password.is_some(),
        activated: true,
        disabled: u.disabled,
        suspended: u.suspended,
        require_password_change: u.profile.require_password_change,
        upload_sent_messages: u.profile.upload_sent_messages,
    }
}

/// Request User information
#[utoipa::path(get, path = "/users/{user}", tag = "Users", operation_id = "getUser",
    params(("user" = String, Path, description = "ID of the User (or \"me\" with a user token)"), LogParams),
    responses(
        (status = 200, description = "Success", body = GetUserResponse),
        (status = 400, description = "Invalid user id", body = ErrorResponse),
        (status = 403, description = "Missing privileges or invalid token", body = ErrorResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
    ))]
async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
) -> ApiResult<Json<GetUserResponse>> {
    let id = caller.user(&user)?;
    let u = state.service.get_user(id).await?;
    let usage = state.service.usage_counters(id).await;
    let limits = state.service.limit_defaults().await;
    let mut response = user_response(&limits, &caller, u, usage);
    response.enabled2fa = state.service.enabled_2fa(id).await?;
    response.limits.filters.used = state.service.count_user_filters(id).await?;
    response.autoreply = state
        .service
        .get_autoreply(id)
        .await?
        .is_some_and(|a| a.status);
    Ok(Json(response))
}

/// Body of PUT /users/{user}.
// Some fields are accepted for WildDuck compatibility and documented, but not used.
#[allow(dead_code)]
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateUserRequest {
    /// If provided then validates against account password before applying any changes
    #[serde(default, deserialize_with = "de::opt_string")]
    pub existing_password: Option<String>,
    /// New password for the account. Set to boolean false to disable password usage
    #[serde(default, deserialize_with = "de::opt_string_or_false")]
    #[schema(value_type = Option<String>)]
    pub password: Option<OrFalse<String>>,
    /// If true then password is already hashed, so store as is
    #[serde(default, deserialize_with = "de::flag")]
    #[schema(value_type = Option<bool>)]
    pub hashed_password: bool,
    /// Accepted for compatibility; breached-password checks are not made
    #[serde(default, deserialize_with = "de::opt_bool")]
    #[schema(value_type = Option<bool>)]
    pub allow_unsafe: Option<bool>,
    #[serde(flatten)]
    pub settings: UserSettings,
    /// A list of tags associated with this user
    #[serde(default, deserialize_with = "de::opt_list")]
    #[schema(value_type = Option<Vec<String>>)]
    pub tags: Option<Vec<String>>,
    /// Optional metadata, must be an object or JSON formatted string
    #[serde(default, deserialize_with = "de::opt_any")]
    #[schema(schema_with = schema::any_object_schema)]
    pub meta_data: Option<serde_json::Value>,
    /// Optional internal metadata (root only)
    #[serde(default, deserialize_with = "de::opt_any")]
    #[schema(schema_with = schema::any_object_schema)]
    pub internal_data: Option<serde_json::Value>,
    /// If true then disables all 2FA mechanisms of the user
    #[serde(default, deserialize_with = "de::opt_bool")]
    #[schema(value_type = Option<bool>)]
    pub disable2fa: Option<bool>,
    /// If true then disables user account (can not login, can not receive messages)
    #[serde(default, deserialize_with = "de::opt_bool")]
    #[schema(value_type = Option<bool>)]
    pub disabled: Option<bool>,
    /// If true then disables authentication
    #[serde(default, deserialize_with = "de::opt_bool")]
    #[schema(value_type = Option<bool>)]
    pub suspended: Option<bool>,
    pub sess: Option<String>,
    pub ip: Option<String>,
}

/// Update User information
#[utoipa::path(put, path = "/users/{user}", tag = "Users", operation_id = "updateUser",
    params(("user" = String, Path, description = "ID of the User")),
    request_body = UpdateUserRequest,
    responses(
        (status = 200, description = "Success", body = SuccessResponse),
        (status = 400, description = "Invalid input", body = ErrorResponse),
        (status = 403, description = "Wrong existing password, missing privileges or invalid token", body = ErrorResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
    ))]
async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    ApiJson(body): ApiJson<UpdateUserRequest>,
) -> ApiResult<Json<SuccessResponse>> {
    let id = caller.user(&user)?;
    let current = state.service.get_user(id).await?;
    let body_disable2fa = body.disable2fa;
    if let Some(existing) = &body.existing_password {
        state
            .service
            .verify_user_password(&current, existing)
            .await
            .map_err(|e| match e {
                eider_service::Error::AuthFailed => ApiError::new(
                    axum::http::StatusCode::FORBIDDEN,
                    "AuthFailed",
                    "Password verification failed",
                ),
                other => other.into(),
            })?;
    }
    let mut profile = current.profile.clone();
    body.settings.apply(&mut profile)?;
    let password = body.password.map(|p| match p {
        OrFalse::Set(p) => Some(p),
        OrFalse::Off => None,
    });
    if password.is_some() {
        profile.password_changed = Some(chrono::Utc::now());
        if !caller.is_root() {
            profile.require_password_change = false;
        }
    }
    let update = UserUpdate {
        name: body
            .settings
            .name
            .clone()
            .map(|n| Some(n).filter(|n| !n.is_empty())),
        password,
        hashed_password: body.hashed_password,
        quota: body.settings.quota,
        disabled: body.disabled,
        suspended: body.suspended,
        tags: body.tags.map(normalize_tags),
        meta_data: body.meta_data,
        internal_data: body.internal_data,
        profile: Some(profile),
        keep_token: caller.token.clone(),
        password_valid_after: None,
    };
    // Reached only with a verified existingPassword when one was given (above).
    caller
        .principal
        .check_user_update(&current, &update, body.existing_password.is_some())?;
    state
        .service
        .update_user(id, update)
        .await
        .on_field("metaData")?;
    if body_disable2fa == Some(true) {
        state.service.disable_2fa(id, None, None).await?;
    }
    Ok(ok())
}

/// Query of DELETE /users/{user}.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct DeleteUserQuery {
    /// Delete user entry from registry but keep all user data until provided date. User
    /// account is fully recoverable up to that date (POST /users/{user}/restore).
    /// Absent or false: the user and its data are deleted at once
    #[serde(deserialize_with = "de::opt_date_or_false")]
    #[param(value_type = Option<String>, format = DateTime)]
    pub delete_after: Option<de::OrFalse<chrono::DateTime<chrono::Utc>>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeletedCount {
    /// Number of deleted addresses
    pub deleted: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeleteUserResponse {
    pub success: bool,
    /// Task code
    pub code: String,
    /// User ID
    pub user: String,
    pub addresses: DeletedCount,
    /// Delete after date
    #[serde(rename = "deleteAfter")]
    pub delete_after: String,
    /// Task ID
    pub task: String,
}

/// Delete a User with its addresses, mailboxes and messages
#[utoipa::path(delete, path = "/users/{user}", tag = "Users", operation_id = "deleteUser",
    params(("user" = String, Path, description = "ID of the User"), DeleteUserQuery, LogParams),
    responses(
        (status = 200, description = "Success", body = DeleteUserResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
    ))]
async fn delete_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    ApiQuery(q): ApiQuery<DeleteUserQuery>,
) -> ApiResult<Json<DeleteUserResponse>> {
    let id = caller.user(&user)?;
    caller.require_root()?;
    let after = match q.delete_after {
        Some(de::OrFalse::Set(t)) => Some(t),
        _ => None,
    };
    let done = state.service.delete_user_deferred(id, after).await?;
    Ok(Json(DeleteUserResponse {
        success: true,
        code: "TaskScheduled".into(),
        user: id.to_hex(),
        addresses: DeletedCount {
            deleted: done.addresses_deleted,
        },
        delete_after: crate::schema::iso(&done.delete_after),
        task: done.task.to_hex(),
    }))
}

/// Body of PUT /users/{user}/logout.
// Some fields are accepted for WildDuck compatibility and documented, but not used.
#[allow(dead_code)]
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct LogoutRequest {
    /// Message to be shown to connected IMAP client
    #[serde(default, deserialize_with = "de::opt_string")]
    pub reason: Option<String>,
    pub sess: Option<String>,
    pub ip: Option<String>,
}

/// Log out User
#[utoipa::path(put, path = "/users/{user}/logout", tag = "Users", operation_id = "logoutUser",
    params(("user" = String, Path, description = "ID of the User")),
    request_body = LogoutRequest,
    responses(
        (status = 200, description = "Success", body = SuccessResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
    ))]
async fn logout_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    ApiJson(_body): ApiJson<LogoutRequest>,
) -> ApiResult<Json<SuccessResponse>> {
    let id = caller.user(&user)?;
    // Revokes the user's access tokens and ends its IMAP sessions.
    state.service.logout_user(id).await?;
    Ok(ok())
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecalculateQuotaResponse {
    pub success: bool,
    /// Calculated quota usage for the user
    pub storage_used: u64,
    /// Previous storage used
    pub previous_storage_used: u64,
}

/// Body of calls that take only the log fields.
// Some fields are accepted for WildDuck compatibility and documented, but not used.
#[allow(dead_code)]
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct LogBody {
    pub sess: Option<String>,
    pub ip: Option<String>,
}

/// Recalculate User quota
#[utoipa::path(post, path = "/users/{user}/quota/reset", tag = "Users", operation_id = "recalculateQuota",
    params(("user" = String, Path, description = "ID of the User")),
    request_body = LogBody,
    responses(
        (status = 200, description = "Success", body = RecalculateQuotaResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
    ))]
async fn recalculate_quota(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    ApiJson(_body): ApiJson<LogBody>,
) -> ApiResult<Json<RecalculateQuotaResponse>> {
    let id = caller.user(&user)?;
    let previous = state.service.get_user(id).await?.storage_used;
    let storage_used = state.service.recalculate_quota(id).await?;
    Ok(Json(RecalculateQuotaResponse {
        success: true,
        storage_used,
        previous_storage_used: previous,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TaskResponse {
    pub success: bool,
    /// Task ID
    pub task: String,
}

/// Recalculate Quota for all Users (runs in the background)
#[utoipa::path(post, path = "/quota/reset", tag = "Users", operation_id = "recalculateQuotaAllUsers",
    request_body = LogBody,
    responses(
        (status = 200, description = "Success", body = TaskResponse),
        (status = 403, description = "Missing privileges", body = ErrorResponse),
    ))]
async fn recalculate_all_quotas(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(_body): ApiJson<LogBody>,
) -> ApiResult<Json<TaskResponse>> {
    caller.require_root()?;
    let task = ObjectId::new();
    let service = state.service.clone();
    tokio::spawn(async move {
        match service.recalculate_all_quotas().await {
            Ok(n) => tracing::info!(task = %task, users = n, "quota recalculated"),
            Err(e) => tracing::warn!(task = %task, error = %e, "quota recalculation failed"),
        }
    });
    Ok(Json(TaskResponse {
        success: true,
        task: task.to_hex(),
    }))
}

/// Body of POST /users/{user}/password/reset.
// Some fields are accepted for WildDuck compatibility and documented, but not used.
#[allow(dead_code)]
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResetPasswordRequest {
    /// The new password is refused (TempPasswordNotYetValid) until this time
    #[serde(default, deserialize_with = "de::opt_date_or_false")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub valid_after: Option<OrFalse<chrono::DateTime<chrono::Utc>>>,
    pub sess: Option<String>,
    pub ip: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResetUserPasswordResponse {
    pub success: bool,
    /// Temporary password
    pub password: String,
    /// The date password is valid after
    pub valid_after: String,
}

/// Reset password for a User: generates a temporary password the user must change
#[utoipa::path(post, path = "/users/{user}/password/reset", tag = "Users", operation_id = "resetUserPassword",
    params(("user" = String, Path, description = "ID of the User")),
    request_body = ResetPasswordRequest,
    responses(
        (status = 200, description = "Success", body = ResetUserPasswordResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
    ))]
async fn reset_password(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    ApiJson(body): ApiJson<ResetPasswordRequest>,
) -> ApiResult<Json<ResetUserPasswordResponse>> {
    let id = caller.user(&user)?;
    caller.require_root()?;
    let valid_after = match body.valid_after {
        Some(OrFalse::Set(t)) => Some(t),
        _ => None,
    };
    let password = state.service.reset_password(id, valid_after).await?;
    Ok(Json(ResetUserPasswordResponse {
        success: true,
        password,
        valid_after: iso(&valid_after.unwrap_or_else(chrono::Utc::now)),
    }))
}
