//! Addresses: user addresses, forwarded addresses, resolving, domain renames,
//! and the address register.

use axum::extract::{Path, State};
use axum::Json;
use eider_service::api::{normalize_tags, validate_targets, AddressChange, ForwardedChange};
use eider_service::model::{Address, AddressQuery, Paging};
use eider_service::{NewAddress, ObjectId, MAX_REGISTER_LIMIT, MAX_REGISTER_QUERY};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::users::{id_response, IdResponse, LimitWindow, LogParams, PagingQuery};
use crate::de;
use crate::error::{ApiError, ApiResult, ErrorResponse, OnField};
use crate::extract::{object_id, ApiJson, ApiQuery, Caller};
use crate::schema::{self, iso, ok, Cursor, SuccessResponse};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_addresses))
        .routes(routes!(create_user_address, list_user_addresses))
        .routes(routes!(
            get_user_address,
            update_user_address,
            delete_user_address
        ))
        .routes(routes!(address_register))
        .routes(routes!(create_forwarded_address))
        .routes(routes!(
            get_forwarded_address,
            update_forwarded_address,
            delete_forwarded_address
        ))
        .routes(routes!(resolve_address))
        .routes(routes!(rename_domain))
}

/// Daily forwards allowed for a forwarded address without its own limit.
const DEFAULT_FORWARDS: u64 = 2000;

/// Query of GET /addresses.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListAddressesQuery {
    /// Partial match of an address
    #[serde(deserialize_with = "de::opt_string")]
    pub query: Option<String>,
    /// Partial match of a forward email address or URL
    #[serde(deserialize_with = "de::opt_string")]
    pub forward: Option<String>,
    /// Comma separated list of tags. The Address must have at least one to be set
    #[serde(deserialize_with = "de::opt_list")]
    #[param(value_type = Option<String>)]
    pub tags: Option<Vec<String>>,
    /// Comma separated list of tags. The Address must have all listed tags to be set
    #[serde(deserialize_with = "de::opt_list")]
    #[param(value_type = Option<String>)]
    pub required_tags: Option<Vec<String>>,
    /// If true, then includes metaData in the response
    #[serde(deserialize_with = "de::flag")]
    #[param(value_type = Option<bool>)]
    pub meta_data: bool,
    /// If true, then includes internalData in the response
    #[serde(deserialize_with = "de::flag")]
    #[param(value_type = Option<bool>)]
    pub internal_data: bool,
    #[serde(flatten)]
    #[param(ignore)]
    pub paging: PagingQuery,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetAddressesResult {
    /// ID of the Address
    pub id: String,
    /// Identity name
    pub name: String,
    /// E-mail address string
    pub address: String,
    /// User ID this address belongs to if this is a User address
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// If true then it is a forwarded address
    pub forwarded: bool,
    /// If true then the forwarded address is disabled
    pub forwarded_disabled: bool,
    /// List of forwarding targets
    #[serde(skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<String>>,
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = schema::any_object_schema)]
    pub meta_data: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = schema::any_object_schema)]
    pub internal_data: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetAddressesResponse {
    pub success: bool,
    /// Partial match of an address
    pub query: String,
    /// How many results were found
    pub total: u64,
    /// Current page number. Derived from page query argument
    pub page: u32,
    #[schema(schema_with = schema::cursor_schema)]
    pub previous_cursor: Cursor,
    #[schema(schema_with = schema::cursor_schema)]
    pub next_cursor: Cursor,
    pub results: Vec<GetAddressesResult>,
}

/// List registered Addresses
#[utoipa::path(get, path = "/addresses", tag = "Addresses", operation_id = "getAddresses",
    params(ListAddressesQuery, PagingQuery, LogParams),
    responses(
        (status = 200, description = "Success", body = GetAddressesResponse),
        (status = 400, description = "Invalid input", body = ErrorResponse),
        (status = 403, description = "Missing privileges or invalid token", body = ErrorResponse),
    ))]
async fn list_addresses(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListAddressesQuery>,
) -> ApiResult<Json<GetAddressesResponse>> {
    // A user's token lists that user's addresses only (WildDuck's readOwn).
    let own = if caller.is_root() {
        None
    } else {
        Some(caller.principal.user("me")?)
    };
    let page = q.paging.request()?;
    let query = AddressQuery {
        user: own,
        query: q.query.clone().filter(|s| !s.is_empty()),
        tags: q.tags.clone().unwrap_or_default(),
        required_tags: q.required_tags.clone().unwrap_or_default(),
        forwarded_only: false,
        forward: q.forward.clone().filter(|s| !s.is_empty()),
        paging: Paging {
            limit: page.limit,
            next: page.next.clone(),
            previous: page.previous.clone(),
            page: Some(page.page),
        },
    };
    let found = state.service.list_addresses(&query).await?;
    let results = found
        .results
        .into_iter()
        .map(|a| GetAddressesResult {
            id: a.id.to_hex(),
            name: a.name.clone().unwrap_or_default(),
            address: a.address.clone(),
            user: a.user.map(|u| u.to_hex()),
            forwarded: a.is_forwarded(),
            forwarded_disabled: false,
            targets: a.is_forwarded().then(|| a.targets.clone()),
            tags: a.tags.clone(),
            meta_data: q.meta_data.then(|| a.meta_data.clone()),
            internal_data: (q.internal_data && caller.is_root()).then(|| a.internal_data.clone()),
        })
        .collect();
    Ok(Json(GetAddressesResponse {
        success: true,
        query: q.query.unwrap_or_default(),
        total: found.total,
        page: q.paging.page(),
        previous_cursor: Cursor(found.previous),
        next_cursor: Cursor(found.next),
        results,
    }))
}

/// Body of POST /users/{user}/addresses.
// Some fields are accepted for WildDuck compatibility and documented, but not used.
#[allow(dead_code)]
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateAddressRequest {
    /// E-mail Address
    pub address: String,
    /// Identity name
    #[serde(default, deserialize_with = "de::opt_string")]
    pub name: Option<String>,
    /// Indicates if this is the default address for the User
    #[serde(default, deserialize_with = "de::flag")]
    #[schema(value_type = Option<bool>)]
    pub main: bool,
    /// If true then address value can be in the form of `*@example.com`
    #[serde(default, deserialize_with = "de::flag")]
    #[schema(value_type = Option<bool>)]
    pub allow_wildcard: bool,
    /// A list of tags associated with this address
    #[serde(default, deserialize_with = "de::opt_list")]
    #[schema(value_type = Option<Vec<String>>)]
    pub tags: Option<Vec<String>>,
    /// Optional metadata, must be an object or JSON formatted string
    #[serde(default, deserialize_with = "de::opt_any")]
    #[schema(schema_with = schema::any_object_schema)]
    pub meta_data: Option<serde_json::Value>,
    /// Optional metadata for internal use
    #[serde(default, deserialize_with = "de::opt_any")]
    #[schema(schema_with = schema::any_object_schema)]
    pub internal_data: Option<serde_json::Value>,
    pub sess: Option<String>,
    pub ip: Option<String>,
}

fn check_wildcard(address: &str, allowed: bool) -> ApiResult<()> {
    if address.contains('*') && !allowed {
        return Err(ApiError::invalid(
            "address",
            "can not contain * unless allowWildcard is set",
        ));
    }
    Ok(())
}

fn metadata(v: Option<serde_json::Value>, field: &str) -> ApiResult<Option<serde_json::Value>> {
    match v {
        None => Ok(None),
        Some(serde_json::Value::Object(m)) => Ok(Some(serde_json::Value::Object(m))),
        Some(serde_json::Value::String(s)) => match serde_json::from_str(&s) {
            Ok(o @ serde_json::Value::Object(_)) => Ok(Some(o)),
            _ => Err(ApiError::invalid(
                field,
                "must be a valid JSON object string",
            )),
        },
        Some(_) => Err(ApiError::invalid(field, "must be an object")),
    }
}

/// Create new Address for a User
#[utoipa::path(post, path = "/users/{user}/addresses", tag = "Addresses", operation_id = "createUserAddress",
    params(("user" = String, Path, description = "ID of the User")),
    request_body = CreateAddressRequest,
    responses(
        (status = 200, description = "Success", body = IdResponse),
        (status = 400, description = "Invalid input or address exists", body = ErrorResponse),
        (status = 403, description = "Missing privileges or invalid token", body = ErrorResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
    ))]
async fn create_user_address(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    ApiJson(body): ApiJson<CreateAddressRequest>,
) -> ApiResult<Json<IdResponse>> {
    let user = caller.user(&user)?;
    check_wildcard(&body.address, body.allow_wildcard)?;
    state
        .service
        .check_address_claim(&caller.principal, &state.policy, user, &body.address)
        .await
        .map_err(|e| ApiError::from(e).on_field("address"))?;
    let new = NewAddress {
        address: body.address,
        name: body.name.filter(|n| !n.is_empty()),
        main: body.main,
        tags: normalize_tags(body.tags.unwrap_or_default()),
        meta_data: metadata(body.meta_data, "metaData")?,
        internal_data: if caller.is_root() {
            metadata(body.internal_data, "internalData")?
        } else {
            None
        },
    };
    let address = state
        .service
        .add_address(user, new)
        .await
        .on_field("address")?;
    Ok(id_response(address.id))
}

/// Query of GET /users/{user}/addresses.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct UserAddressesQuery {
    /// If true, then includes metaData in the response
    #[serde(deserialize_with = "de::flag")]
    #[param(value_type = Option<bool>)]
    pub meta_data: bool,
    /// If true, then includes internalData in the response
    #[serde(deserialize_with = "de::flag")]
    #[param(value_type = Option<bool>)]
    pub internal_data: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserAddress {
    /// ID of the Address
    pub id: String,
    /// Identity name
    pub name: String,
    /// E-mail Address
    pub address: String,
    /// Indicates if this is the default address for the User
    pub main: bool,
    /// Datestring of the time the address was created
    pub created: String,
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = schema::any_object_schema)]
    pub meta_data: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = schema::any_object_schema)]
    pub internal_data: Option<serde_json::Value>,
}

fn user_address(a: Address, meta: bool, internal: bool) -> UserAddress {
    UserAddress {
        id: a.id.to_hex(),
        name: a.name.unwrap_or_default(),
        address: a.address,
        main: a.main,
        created: iso(&a.created),
        tags: a.tags,
        meta_data: meta.then_some(a.meta_data),
        internal_data: internal.then_some(a.internal_data),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GetUserAddressesResponse {
    pub success: bool,
    pub results: Vec<UserAddress>,
}

/// List registered Addresses for a User
#[utoipa::path(get, path = "/users/{user}/addresses", tag = "Addresses", operation_id = "getUserAddresses",
    params(("user" = String, Path, description = "ID of the User"), UserAddressesQuery, LogParams),
    responses(
        (status = 200, description = "Success", body = GetUserAddressesResponse),
        (status = 403, description = "Missing privileges or invalid token", body = ErrorResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
    ))]
async fn list_user_addresses(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    ApiQuery(q): ApiQuery<UserAddressesQuery>,
) -> ApiResult<Json<GetUserAddressesResponse>> {
    let user = caller.user(&user)?;
    let results = state
        .service
        .list_user_addresses(user)
        .await?
        .into_iter()
        .map(|a| user_address(a, q.meta_data, q.internal_data && caller.is_root()))
        .collect();
    Ok(Json(GetUserAddressesResponse {
        success: true,
        results,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GetUserAddressResponse {
    pub success: bool,
    #[serde(flatten)]
    pub address: UserAddress,
}

/// Request Addresses information
#[utoipa::path(get, path = "/users/{user}/addresses/{address}", tag = "Addresses", operation_id = "getUserAddress",
    params(("user" = String, Path, description = "ID of the User"), ("address" = String, Path, description = "ID of the Address"), LogParams),
    responses(
        (status = 200, description = "Success", body = GetUserAddressResponse),
        (status = 404, description = "No such user or address", body = ErrorResponse),
    ))]
async fn get_user_address(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, address)): Path<(String, String)>,
) -> ApiResult<Json<GetUserAddressResponse>> {
    let user = caller.user(&user)?;
    let id = object_id("address", &address)?;
    let a = state.service.get_user_address(user, id).await?;
    Ok(Json(GetUserAddressResponse {
        success: true,
        address: user_address(a, true, caller.is_root()),
    }))
}

/// Body of PUT /users/{user}/addresses/{address}.
// Some fields are accepted for WildDuck compatibility and documented, but not used.
#[allow(dead_code)]
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateAddressRequest {
    /// New address if you want to rename existing address (not for wildcard addresses)
    #[serde(default, deserialize_with = "de::opt_string")]
    pub address: Option<String>,
    /// Identity name
    #[serde(default, deserialize_with = "de::opt_string")]
    pub name: Option<String>,
    /// Make this the default address for the User
    #[serde(default, deserialize_with = "de::opt_bool")]
    #[schema(value_type = Option<bool>)]
    pub main: Option<bool>,
    /// A list of tags associated with this address
    #[serde(default, deserialize_with = "de::opt_list")]
    #[schema(value_type = Option<Vec<String>>)]
    pub tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "de::opt_any")]
    #[schema(schema_with = schema::any_object_schema)]
    pub meta_data: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "de::opt_any")]
    #[schema(schema_with = schema::any_object_schema)]
    pub internal_data: Option<serde_json::Value>,
    pub sess: Option<String>,
    pub ip: Option<String>,
}

/// Update Address information
#[utoipa::path(put, path = "/users/{user}/addresses/{address}", tag = "Addresses", operation_id = "updateUserAddress",
    params(("user" = String, Path, description = "ID of the User"), ("address" = String, Path, description = "ID of the Address")),
    request_body = UpdateAddressRequest,
    responses(
        (status = 200, description = "Success", body = SuccessResponse),
        (status = 400, description = "Invalid input", body = ErrorResponse),
        (status = 403, description = "Missing privileges (a user token renaming to a reserved or foreign address) or invalid token", body = ErrorResponse),
        (status = 404, description = "No such user or address", body = ErrorResponse),
    ))]
async fn update_user_address(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, address)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateAddressRequest>,
) -> ApiResult<Json<SuccessResponse>> {
    let user = caller.user(&user)?;
    let id = object_id("address", &address)?;
    if let Some(text) = body.address.as_deref().filter(|a| !a.trim().is_empty()) {
        state
            .service
            .check_address_claim(&caller.principal, &state.policy, user, text)
            .await
            .map_err(|e| ApiError::from(e).on_field("address"))?;
    }
    let change = AddressChange {
        address: body.address.filter(|a| !a.trim().is_empty()),
        name: body.name,
        main: body.main,
        tags: body.tags,
        meta_data: metadata(body.meta_data, "metaData")?,
        internal_data: if caller.is_root() {
            metadata(body.internal_data, "internalData")?
        } else {
            None
        },
    };
    state
        .service
        .update_user_address(user, id, change)
        .await
        .on_field("address")?;
    Ok(ok())
}

/// Delete an Address (not the main address)
#[utoipa::path(delete, path = "/users/{user}/addresses/{address}", tag = "Addresses", operation_id = "deleteUserAddress",
    params(("user" = String, Path, description = "ID of the User"), ("address" = String, Path, description = "ID of the Address"), LogParams),
    responses(
        (status = 200, description = "Success", body = SuccessResponse),
        (status = 400, description = "Main address can not be deleted", body = ErrorResponse),
        (status = 404, description = "No such user or address", body = ErrorResponse),
    ))]
async fn delete_user_address(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, address)): Path<(String, String)>,
) -> ApiResult<Json<SuccessResponse>> {
    let user = caller.user(&user)?;
    let id = object_id("address", &address)?;
    state.service.delete_user_address(user, id).await?;
    Ok(ok())
}

/// Query of GET /users/{user}/addressregister.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct AddressRegisterQuery {
    /// Prefix of an address, of a name or of a word of a name (any case)
    #[serde(deserialize_with = "de::opt_string")]
    #[param(required = true)]
    pub query: Option<String>,
    /// How many records to return (1 to 250, default 20)
    #[serde(deserialize_with = "de::opt_u32")]
    #[param(value_type = Option<u32>)]
    pub limit: Option<u32>,
}

/// Records returned when `limit` is not given.
const DEFAULT_REGISTER_LIMIT: u32 = 20;

#[derive(Debug, Serialize, ToSchema)]
pub struct AddressRegisterEntry {
    /// ID of the register entry
    pub id: String,
    /// Name from address header (the latest one seen)
    pub name: String,
    /// E-mail Address
    pub address: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GetUserAddressregisterResponse {
    pub success: bool,
    /// Address listing, most recently used first
    pub results: Vec<AddressRegisterEntry>,
}

/// List addresses from communication register: the To, Cc and Bcc addresses of
/// messages the user sent (submitted, or stored in the Sent mailbox by any path)
#[utoipa::path(get, path = "/users/{user}/addressregister", tag = "Addresses", operation_id = "getUserAddressregister",
    params(("user" = String, Path, description = "ID of the User"), AddressRegisterQuery, LogParams),
    responses(
        (status = 200, description = "Success", body = GetUserAddressregisterResponse),
        (status = 400, description = "Missing query or invalid limit", body = ErrorResponse),
        (status = 403, description = "Missing privileges", body = ErrorResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
    ))]
async fn address_register(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    ApiQuery(q): ApiQuery<AddressRegisterQuery>,
) -> ApiResult<Json<GetUserAddressregisterResponse>> {
    let user = caller.user(&user)?;
    let query = q.query.as_deref().map(str::trim).unwrap_or_default();
    if query.is_empty() {
        return Err(ApiError::invalid("query", "is required"));
    }
    if query.chars().count() > MAX_REGISTER_QUERY {
        return Err(ApiError::invalid(
            "query",
            format!("must be at most {MAX_REGISTER_QUERY} characters"),
        ));
    }
    let limit = q.limit.unwrap_or(DEFAULT_REGISTER_LIMIT);
    if !(1..=MAX_REGISTER_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("must be between 1 and {MAX_REGISTER_LIMIT}"),
        ));
    }
    let found = state.service.address_register(user, query, limit).await?;
    Ok(Json(GetUserAddressregisterResponse {
        success: true,
        results: found
            .into_iter()
            .map(|e| AddressRegisterEntry {
                id: e.id.to_hex(),
                name: e.name,
                address: e.address,
            })
            .collect(),
    }))
}

/// Autoreply settings of a forwarded address (accepted; autoreplies are not sent yet).
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutoreplyInfo {
    /// If true, then autoreply is enabled for this address
    #[serde(default)]
    pub status: bool,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub html: String,
}

/// Body of POST /addresses/forwarded.
// Some fields are accepted for WildDuck compatibility and documented, but not used.
#[allow(dead_code)]
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateForwardedRequest {
    /// E-mail Address
    pub address: String,
    /// Identity name
    #[serde(default, deserialize_with = "de::opt_string")]
    pub name: Option<String>,
    /// An array of forwarding targets (addresses or smtp:// relay URLs)
    #[serde(default, deserialize_with = "de::opt_list")]
    #[schema(value_type = Option<Vec<String>>)]
    pub targets: Option<Vec<String>>,
    /// Daily allowed forwarding count for this address
    #[serde(default, deserialize_with = "de::opt_u64")]
    #[schema(value_type = Option<u64>)]
    pub forwards: Option<u64>,
    /// If true then address value can be in the form of `*@example.com`
    #[serde(default, deserialize_with = "de::flag")]
    #[schema(value_type = Option<bool>)]
    pub allow_wildcard: bool,
    /// Accepted; autoreplies are not sent yet
    #[serde(default, deserialize_with = "de::opt_any")]
    #[schema(value_type = Option<AutoreplyInfo>)]
    pub autoreply: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "de::opt_list")]
    #[schema(value_type = Option<Vec<String>>)]
    pub tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "de::opt_any")]
    #[schema(schema_with = schema::any_object_schema)]
    pub meta_data: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "de::opt_any")]
    #[schema(schema_with = schema::any_object_schema)]
    pub internal_data: Option<serde_json::Value>,
    pub sess: Option<String>,
    pub ip: Option<String>,
}

/// Create new forwarded Address
#[utoipa::path(post, path = "/addresses/forwarded", tag = "Addresses", operation_id = "createForwardedAddress",
    request_body = CreateForwardedRequest,
    responses(
        (status = 200, description = "Success", body = IdResponse),
        (status = 400, description = "Invalid input or address exists", body = ErrorResponse),
        (status = 403, description = "Missing privileges or invalid token", body = ErrorResponse),
    ))]
async fn create_forwarded_address(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateForwardedRequest>,
) -> ApiResult<Json<IdResponse>> {
    caller.require_root()?;
    check_wildcard(&body.address, body.allow_wildcard)?;
    let targets = validate_targets(&body.targets.unwrap_or_default()).on_field("targets")?;
    let meta_data = metadata(body.meta_data, "metaData")?;
    let internal_data = metadata(body.internal_data, "internalData")?;
    let address = state
        .service
        .add_forwarded_address(
            &body.address,
            body.name.filter(|n| !n.is_empty()),
            targets,
            body.forwards.filter(|f| *f > 0),
            normalize_tags(body.tags.unwrap_or_default()),
        )
        .await
        .on_field("address")?;
    if meta_data.is_some() || internal_data.is_some() {
        let change = ForwardedChange {
            meta_data,
            internal_data,
            ..Default::default()
        };
        state
            .service
            .update_forwarded_address(address.id, change)
            .await?;
    }
    Ok(id_response(address.id))
}

/// Forwarding limits
#[derive(Debug, Serialize, ToSchema)]
pub struct AddressLimits {
    pub forwards: LimitWindow,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddressInfoResponse {
    pub success: bool,
    /// ID of the Address
    pub id: String,
    /// E-mail Address
    pub address: String,
    /// Identity name
    pub name: String,
    /// User ID, for user addresses
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// List of forwarding targets, for forwarded addresses
    #[serde(skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<String>>,
    pub limits: AddressLimits,
    pub autoreply: AutoreplyInfo,
    /// Datestring of the time the address was created
    pub created: String,
    pub tags: Vec<String>,
    #[schema(schema_with = schema::any_object_schema)]
    pub meta_data: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = schema::any_object_schema)]
    pub internal_data: Option<serde_json::Value>,
    /// Specifies whether forwarding is disabled
    pub forwarded_disabled: bool,
}

fn address_info(caller: &Caller, a: Address) -> AddressInfoResponse {
    let forwarded = a.is_forwarded();
    AddressInfoResponse {
        success: true,
        id: a.id.to_hex(),
        address: a.address,
        name: a.name.unwrap_or_default(),
        user: a.user.map(|u| u.to_hex()),
        targets: forwarded.then_some(a.targets),
        limits: AddressLimits {
            forwards: LimitWindow {
                allowed: a.forwards.unwrap_or(DEFAULT_FORWARDS),
                used: 0,
                ttl: 0,
            },
        },
        autoreply: AutoreplyInfo::default(),
        created: iso(&a.created),
        tags: a.tags,
        meta_data: a.meta_data,
        internal_data: caller.is_root().then_some(a.internal_data),
        forwarded_disabled: false,
    }
}

/// Request forwarded Addresses information
#[utoipa::path(get, path = "/addresses/forwarded/{address}", tag = "Addresses", operation_id = "getForwardedAddress",
    params(("address" = String, Path, description = "ID of the Address"), LogParams),
    responses(
        (status = 200, description = "Success", body = AddressInfoResponse),
        (status = 404, description = "No such forwarded address", body = ErrorResponse),
    ))]
async fn get_forwarded_address(
    State(state): State<AppState>,
    caller: Caller,
    Path(address): Path<String>,
) -> ApiResult<Json<AddressInfoResponse>> {
    caller.require_root()?;
    let id = object_id("address", &address)?;
    let a = state.service.get_forwarded_address(id).await?;
    Ok(Json(address_info(&caller, a)))
}

/// Body of PUT /addresses/forwarded/{address}.
// Some fields are accepted for WildDuck compatibility and documented, but not used.
#[allow(dead_code)]
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateForwardedRequest {
    /// New address (not for wildcard addresses)
    #[serde(default, deserialize_with = "de::opt_string")]
    pub address: Option<String>,
    #[serde(default, deserialize_with = "de::opt_string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "de::opt_list")]
    #[schema(value_type = Option<Vec<String>>)]
    pub targets: Option<Vec<String>>,
    #[serde(default, deserialize_with = "de::opt_u64")]
    #[schema(value_type = Option<u64>)]
    pub forwards: Option<u64>,
    /// Accepted; autoreplies are not sent yet
    #[serde(default, deserialize_with = "de::opt_any")]
    #[schema(value_type = Option<AutoreplyInfo>)]
    pub autoreply: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "de::opt_list")]
    #[schema(value_type = Option<Vec<String>>)]
    pub tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "de::opt_any")]
    #[schema(schema_with = schema::any_object_schema)]
    pub meta_data: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "de::opt_any")]
    #[schema(schema_with = schema::any_object_schema)]
    pub internal_data: Option<serde_json::Value>,
    /// Accepted; disabling forwarding is not supported yet
    #[serde(default, deserialize_with = "de::opt_bool")]
    #[schema(value_type = Option<bool>)]
    pub forwarded_disabled: Option<bool>,
    pub sess: Option<String>,
    pub ip: Option<String>,
}

/// Update forwarded Address information
#[utoipa::path(put, path = "/addresses/forwarded/{address}", tag = "Addresses", operation_id = "updateForwardedAddress",
    params(("address" = String, Path, description = "ID of the Address")),
    request_body = UpdateForwardedRequest,
    responses(
        (status = 200, description = "Success", body = SuccessResponse),
        (status = 400, description = "Invalid input", body = ErrorResponse),
        (status = 404, description = "No such forwarded address", body = ErrorResponse),
    ))]
async fn update_forwarded_address(
    State(state): State<AppState>,
    caller: Caller,
    Path(address): Path<String>,
    ApiJson(body): ApiJson<UpdateForwardedRequest>,
) -> ApiResult<Json<SuccessResponse>> {
    caller.require_root()?;
    let id = object_id("address", &address)?;
    let change = ForwardedChange {
        address: body.address.filter(|a| !a.trim().is_empty()),
        name: body.name,
        targets: body.targets,
        forwards: body.forwards,
        tags: body.tags,
        meta_data: metadata(body.meta_data, "metaData")?,
        internal_data: metadata(body.internal_data, "internalData")?,
    };
    state
        .service
        .update_forwarded_address(id, change)
        .await
        .on_field("address")?;
    Ok(ok())
}

/// Delete a forwarded Address
#[utoipa::path(delete, path = "/addresses/forwarded/{address}", tag = "Addresses", operation_id = "deleteForwardedAddress",
    params(("address" = String, Path, description = "ID of the Address"), LogParams),
    responses(
        (status = 200, description = "Success", body = SuccessResponse),
        (status = 404, description = "No such forwarded address", body = ErrorResponse),
    ))]
async fn delete_forwarded_address(
    State(state): State<AppState>,
    caller: Caller,
    Path(address): Path<String>,
) -> ApiResult<Json<SuccessResponse>> {
    caller.require_root()?;
    let id = object_id("address", &address)?;
    state.service.delete_forwarded_address(id).await?;
    Ok(ok())
}

/// Query of GET /addresses/resolve/{address}.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ResolveAddressQuery {
    /// If true then resolves also wildcard addresses (and +labels, domain aliases)
    #[serde(deserialize_with = "de::flag")]
    #[param(value_type = Option<bool>)]
    pub allow_wildcard: bool,
}

/// Get Address info by ID or e-mail address
#[utoipa::path(get, path = "/addresses/resolve/{address}", tag = "Addresses", operation_id = "resolveAddress",
    params(("address" = String, Path, description = "ID of the Address or e-mail address string"), ResolveAddressQuery, LogParams),
    responses(
        (status = 200, description = "Success", body = AddressInfoResponse),
        (status = 400, description = "Neither an address id nor an e-mail address", body = ErrorResponse),
        (status = 404, description = "No such address", body = ErrorResponse),
    ))]
async fn resolve_address(
    State(state): State<AppState>,
    caller: Caller,
    Path(address): Path<String>,
    ApiQuery(q): ApiQuery<ResolveAddressQuery>,
) -> ApiResult<Json<AddressInfoResponse>> {
    caller.require_root()?;
    // WildDuck's schema: an address id or an e-mail address; anything else is a 400.
    let (local, domain) = address.rsplit_once('@').unwrap_or(("", ""));
    if ObjectId::parse(&address).is_none() && (local.is_empty() || domain.is_empty()) {
        return Err(ApiError::invalid(
            "address",
            "does not match any of the allowed types",
        ));
    }
    let a = state
        .service
        .resolve_address(&address, q.allow_wildcard)
        .await?;
    Ok(Json(address_info(&caller, a)))
}

/// Body of PUT /addresses/renameDomain.
// Some fields are accepted for WildDuck compatibility and documented, but not used.
#[allow(dead_code)]
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RenameDomainRequest {
    /// Old Domain Name
    pub old_domain: String,
    /// New Domain Name
    pub new_domain: String,
    pub sess: Option<String>,
    pub ip: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RenameDomainResponse {
    pub success: bool,
    /// Number of modified addresses
    pub modified_addresses: u64,
    /// Number of modified users
    pub modified_users: u64,
    /// Number of modified DKIM keys
    pub modified_dkim: u64,
    /// Number of modified Domain Aliases
    pub modified_aliases: u64,
}

/// Rename domain in addresses and domain aliases
#[utoipa::path(put, path = "/addresses/renameDomain", tag = "Addresses", operation_id = "renameDomain",
    request_body = RenameDomainRequest,
    responses(
        (status = 200, description = "Success", body = RenameDomainResponse),
        (status = 400, description = "Invalid input", body = ErrorResponse),
    ))]
async fn rename_domain(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<RenameDomainRequest>,
) -> ApiResult<Json<RenameDomainResponse>> {
    caller.require_root()?;
    let done = state
        .service
        .rename_domain(&body.old_domain, &body.new_domain)
        .await
        .on_field("newDomain")?;
    Ok(Json(RenameDomainResponse {
        success: true,
        modified_addresses: done.addresses,
        modified_users: done.users,
        modified_dkim: 0,
        modified_aliases: done.aliases,
    }))
}
