//! Filters: a user's rules for incoming mail (query → action), applied by LMTP
//! delivery in creation order, and the listing of every user's filters.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::Json;
use eider_service::model::Paging;
use eider_service::{
    Filter, FilterAction, FilterActionChange, FilterQuery, FilterQueryChange, FilterSearch,
    FilterUpdate, NewFilter, ObjectId,
};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::users::{id_response, IdResponse, LogParams, PagingQuery};
use crate::de;
use crate::error::{ApiError, ApiResult, ErrorResponse, OnField};
use crate::extract::{object_id, ApiJson, ApiQuery, Caller};
use crate::schema::{self, iso, ok, Cursor, SuccessResponse};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_all_filters))
        .routes(routes!(list_filters, create_filter))
        .routes(routes!(get_filter, update_filter, delete_filter))
}

// ---------------------------------------------------------------------------
// Lenient field parsers with "given but empty" kept apart from "not given":
// serde calls them only for keys present in the body, so None is "absent",
// Some(None) is "present and empty (remove it)".

fn patch_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(de::opt_string(d)?.filter(|s| !s.trim().is_empty())))
}

fn patch_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<bool>>, D::Error> {
    de::opt_bool(d).map(Some)
}

fn patch_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    let n = match Value::deserialize(d)? {
        Value::Null => None,
        Value::Number(n) => Some(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(s.trim().parse::<f64>().unwrap_or(f64::NAN)),
        _ => return Err(D::Error::custom("must be a number")),
    };
    match n {
        None => Ok(Some(None)),
        Some(x) if x.is_finite() && x.abs() < 9.0e15 => {
            Ok(Some(Some(x.trunc() as i64).filter(|v| *v != 0)))
        }
        Some(_) => Err(D::Error::custom("must be a number")),
    }
}

fn patch_targets<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<Vec<String>>>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(Some(None)),
        Value::String(s) if s.trim().is_empty() => Ok(Some(None)),
        Value::Array(items) => items
            .into_iter()
            .map(|i| match i {
                Value::String(s) => Ok(s),
                _ => Err(D::Error::custom("must be an array of strings")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|v| Some(Some(v))),
        _ => Err(D::Error::custom("must be an array of strings")),
    }
}

/// Rules that a message must match
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = Query)]
pub struct QueryBody {
    /// Partial match for the From: header (case insensitive)
    #[serde(default, deserialize_with = "patch_text")]
    #[schema(value_type = Option<String>)]
    pub from: Option<Option<String>>,
    /// Partial match for the To:/Cc: headers (case insensitive)
    #[serde(default, deserialize_with = "patch_text")]
    #[schema(value_type = Option<String>)]
    pub to: Option<Option<String>>,
    /// Partial match for the Subject: header (case insensitive)
    #[serde(default, deserialize_with = "patch_text")]
    #[schema(value_type = Option<String>)]
    pub subject: Option<Option<String>>,
    /// Partial match for the List-ID: header (case insensitive)
    #[serde(default, deserialize_with = "patch_text")]
    #[schema(value_type = Option<String>)]
    pub list_id: Option<Option<String>>,
    /// Fulltext search against message text
    #[serde(default, deserialize_with = "patch_text")]
    #[schema(value_type = Option<String>)]
    pub text: Option<Option<String>>,
    /// Does a message have to have an attachment or not
    #[serde(default, deserialize_with = "patch_bool")]
    #[schema(value_type = Option<bool>)]
    pub ha: Option<Option<bool>>,
    /// Message size in bytes. If the value is a positive number then message needs to be larger, if negative then message needs to be smaller than abs(size) value
    #[serde(default, deserialize_with = "patch_size")]
    #[schema(value_type = Option<f64>)]
    pub size: Option<Option<i64>>,
}

impl QueryBody {
    fn change(self) -> FilterQueryChange {
        FilterQueryChange {
            from: self.from,
            to: self.to,
            subject: self.subject,
            list_id: self.list_id,
            text: self.text,
            ha: self.ha,
            size: self.size,
        }
    }

    fn into_query(self) -> FilterQuery {
        FilterQuery {
            from: self.from.flatten(),
            to: self.to.flatten(),
            subject: self.subject.flatten(),
            list_id: self.list_id.flatten(),
            text: self.text.flatten(),
            ha: self.ha.flatten(),
            size: self.size.flatten(),
        }
    }
}

/// Action to take with a matching message
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = Action)]
pub struct ActionBody {
    /// If true then mark matching messages as Seen
    #[serde(default, deserialize_with = "patch_bool")]
    #[schema(value_type = Option<bool>)]
    pub seen: Option<Option<bool>>,
    /// If true then mark matching messages as Flagged
    #[serde(default, deserialize_with = "patch_bool")]
    #[schema(value_type = Option<bool>)]
    pub flag: Option<Option<bool>>,
    /// If true then do not store matching messages
    #[serde(default, deserialize_with = "patch_bool")]
    #[schema(value_type = Option<bool>)]
    pub delete: Option<Option<bool>>,
    /// If true then store matching messages to Junk Mail folder
    #[serde(default, deserialize_with = "patch_bool")]
    #[schema(value_type = Option<bool>)]
    pub spam: Option<Option<bool>>,
    /// Mailbox ID to store matching messages to
    #[serde(default, deserialize_with = "patch_text")]
    #[schema(value_type = Option<String>)]
    pub mailbox: Option<Option<String>>,
    /// An array of forwarding targets. The value could either be an email address or a relay url to next MX server ("smtp://mx2.zone.eu:25") or an URL where mail contents are POSTed to
    #[serde(default, deserialize_with = "patch_targets")]
    #[schema(value_type = Option<Vec<String>>)]
    pub targets: Option<Option<Vec<String>>>,
}

impl ActionBody {
    fn change(self) -> ApiResult<FilterActionChange> {
        let mailbox = match self.mailbox {
            Some(Some(m)) => Some(Some(object_id("action.mailbox", &m)?)),
            Some(None) => Some(None),
            None => None,
        };
        Ok(FilterActionChange {
            seen: self.seen,
            flag: self.flag,
            delete: self.delete,
            spam: self.spam,
            mailbox,
            targets: self.targets,
        })
    }

    fn into_action(self) -> ApiResult<FilterAction> {
        let c = self.change()?;
        Ok(FilterAction {
            seen: c.seen.flatten(),
            flag: c.flag.flatten(),
            delete: c.delete.flatten(),
            spam: c.spam.flatten(),
            mailbox: c.mailbox.flatten(),
            targets: c.targets.flatten().unwrap_or_default(),
        })
    }
}

/// Name the field a filter validation error is about.
fn filter_field(e: eider_service::Error) -> ApiError {
    let field = match &e {
        eider_service::Error::Validation(m) if m.contains("target") => "action.targets",
        eider_service::Error::Validation(m) if m.contains("query") => "query",
        eider_service::Error::Validation(m) if m.contains("action") => "action",
        eider_service::Error::Validation(m) if m.contains("metaData") => "metaData",
        _ => "filter",
    };
    ApiError::from(e).on_field(field)
}

// ---------------------------------------------------------------------------
// Listings

/// Filter usage limits for the user account
#[derive(Debug, Serialize, ToSchema)]
pub struct FilterLimits {
    /// How many filters are allowed
    pub allowed: u64,
    /// How many filters have been created
    pub used: u64,
}

/// One filter in a user's listing.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetFiltersResult {
    /// Filter ID
    pub id: String,
    /// Name for the filter
    pub name: String,
    /// Datestring of the time the filter was created
    pub created: String,
    /// Filter query strings
    #[schema(value_type = Vec<Vec<String>>)]
    pub query: Value,
    /// Filter action strings
    #[schema(value_type = Vec<Vec<String>>)]
    pub action: Value,
    /// If true, then this filter is ignored
    pub disabled: bool,
    /// Custom metadata value. Included if metaData query argument was true
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = schema::any_object_schema)]
    pub meta_data: Option<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GetFiltersResponse {
    /// Indicates successful response
    pub success: bool,
    pub limits: FilterLimits,
    /// Filter description
    pub results: Vec<GetFiltersResult>,
}

/// Query of GET /users/{user}/filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListFiltersQuery {
    /// If true, then includes metaData in the response
    #[serde(deserialize_with = "de::flag")]
    #[param(value_type = Option<bool>)]
    pub meta_data: bool,
}

fn describe(f: &Filter, paths: &HashMap<ObjectId, String>) -> (Value, Value) {
    f.describe(|id| paths.get(&id).cloned())
}

/// List Filters for a User
#[utoipa::path(get, path = "/users/{user}/filters", tag = "Filters", operation_id = "getFilters",
    params(("user" = String, Path, description = "ID of the User"), ListFiltersQuery, LogParams),
    responses(
        (status = 200, description = "Success", body = GetFiltersResponse),
        (status = 400, description = "Invalid input", body = ErrorResponse),
        (status = 403, description = "Missing privileges or invalid token", body = ErrorResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
    ))]
async fn list_filters(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    ApiQuery(q): ApiQuery<ListFiltersQuery>,
) -> ApiResult<Json<GetFiltersResponse>> {
    let user = caller.user(&user)?;
    let listing = state.service.list_user_filters(user).await?;
    let paths: HashMap<ObjectId, String> = state
        .service
        .list_mailboxes(user)
        .await?
        .into_iter()
        .map(|m| (m.id, m.path))
        .collect();
    let used = listing.filters.len() as u64;
    let results = listing
        .filters
        .into_iter()
        .map(|f| {
            let (query, action) = describe(&f, &paths);
            GetFiltersResult {
                id: f.id.to_hex(),
                name: f.name.clone().unwrap_or_default(),
                created: iso(&f.created),
                query,
                action,
                disabled: f.disabled,
                meta_data: q.meta_data.then_some(f.meta_data),
            }
        })
        .collect();
    Ok(Json(GetFiltersResponse {
        success: true,
        limits: FilterLimits {
            allowed: listing.allowed,
            used,
        },
        results,
    }))
}

/// Query of GET /filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListAllFiltersQuery {
    /// Partial match of a forward email address or URL
    #[serde(deserialize_with = "de::opt_string")]
    pub forward: Option<String>,
    /// If true, then includes metaData in the response
    #[serde(deserialize_with = "de::flag")]
    #[param(value_type = Option<bool>)]
    pub meta_data: bool,
    #[serde(flatten)]
    #[param(ignore)]
    pub paging: PagingQuery,
}

/// One filter in the listing of every user's filters.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetAllFiltersResult {
    /// Filter ID
    pub id: String,
    /// User ID
    pub user: String,
    /// Name for the filter
    pub name: String,
    /// Datestring of the time the filter was created
    pub created: String,
    /// Filter query strings
    #[schema(value_type = Vec<Vec<String>>)]
    pub query: Value,
    /// Filter action strings
    #[schema(value_type = Vec<Vec<String>>)]
    pub action: Value,
    /// If true, then this filter is ignored
    pub disabled: bool,
    /// Custom metadata value. Included if metaData query argument was true
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = schema::any_object_schema)]
    pub meta_data: Option<Value>,
    /// List of forwarding targets
    pub targets: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetAllFiltersResponse {
    /// Indicates successful response
    pub success: bool,
    /// How many results were found
    pub total: u64,
    /// Current page number. Derived from page query argument.
    pub page: u32,
    #[schema(schema_with = schema::cursor_schema)]
    pub previous_cursor: Cursor,
    #[schema(schema_with = schema::cursor_schema)]
    pub next_cursor: Cursor,
    /// Filter listing
    pub results: Vec<GetAllFiltersResult>,
}

/// List all Filters
#[utoipa::path(get, path = "/filters", tag = "Filters", operation_id = "getAllFilters",
    params(ListAllFiltersQuery, PagingQuery, LogParams),
    responses(
        (status = 200, description = "Success", body = GetAllFiltersResponse),
        (status = 400, description = "Invalid input", body = ErrorResponse),
        (status = 403, description = "Missing privileges or invalid token", body = ErrorResponse),
    ))]
async fn list_all_filters(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListAllFiltersQuery>,
) -> ApiResult<Json<GetAllFiltersResponse>> {
    let page = q.paging.request()?;
    // A user's token lists that user's filters only (WildDuck's readOwn).
    let own = if caller.is_root() {
        None
    } else {
        Some(caller.principal.user("me")?)
    };
    let forward = q
        .forward
        .as_deref()
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_string);
    if forward.as_ref().is_some_and(|f| f.chars().count() > 255) {
        return Err(ApiError::invalid(
            "forward",
            "length must be less than or equal to 255 characters long",
        ));
    }
    let found = state
        .service
        .list_filters(&FilterSearch {
            user: own,
            forward,
            paging: Paging {
                limit: page.limit,
                next: page.next.clone(),
                previous: page.previous.clone(),
                page: Some(page.page),
            },
        })
        .await?;
    let mut paths: HashMap<ObjectId, String> = HashMap::new();
    for f in &found.results {
        if let Some(m) = f.action.mailbox {
            if let std::collections::hash_map::Entry::Vacant(slot) = paths.entry(m) {
                if let Ok(mailbox) = state.service.get_mailbox(f.user, m).await {
                    slot.insert(mailbox.path);
                }
            }
        }
    }
    let results = found
        .results
        .into_iter()
        .map(|f| {
            let (query, action) = describe(&f, &paths);
            GetAllFiltersResult {
                id: f.id.to_hex(),
                user: f.user.to_hex(),
                name: f.name.clone().unwrap_or_default(),
                created: iso(&f.created),
                query,
                action,
                disabled: f.disabled,
                meta_data: q.meta_data.then_some(f.meta_data),
                targets: f.action.targets,
            }
        })
        .collect();
    Ok(Json(GetAllFiltersResponse {
        success: true,
        total: found.total,
        page: if found.previous.is_none() {
            1
        } else {
            q.paging.page()
        },
        previous_cursor: Cursor(found.previous),
        next_cursor: Cursor(found.next),
        results,
    }))
}

// ---------------------------------------------------------------------------
// One filter

/// Body of POST /users/{user}/filters.
// Some fields are accepted for WildDuck compatibility and documented, but not used.
#[allow(dead_code)]
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateFilterRequest {
    /// Name of the Filter
    #[serde(default, deserialize_with = "de::opt_string")]
    pub name: Option<String>,
    pub query: QueryBody,
    pub action: ActionBody,
    /// If true then this filter is ignored
    #[serde(default, deserialize_with = "de::flag")]
    #[schema(value_type = Option<bool>)]
    pub disabled: bool,
    /// Optional metadata, must be an object or JSON formatted string
    #[serde(default, deserialize_with = "de::opt_any")]
    #[schema(schema_with = schema::any_object_schema)]
    pub meta_data: Option<Value>,
    #[serde(default)]
    pub sess: Option<String>,
    #[serde(default)]
    pub ip: Option<String>,
}

/// Create a new Filter
#[utoipa::path(post, path = "/users/{user}/filters", tag = "Filters", operation_id = "createFilter",
    params(("user" = String, Path, description = "ID of the User")),
    request_body = CreateFilterRequest,
    responses(
        (status = 200, description = "Success", body = IdResponse),
        (status = 400, description = "Invalid input", body = ErrorResponse),
        (status = 403, description = "Filter limit reached, missing privileges or invalid token", body = ErrorResponse),
        (status = 404, description = "No such user or mailbox", body = ErrorResponse),
    ))]
async fn create_filter(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    ApiJson(body): ApiJson<CreateFilterRequest>,
) -> ApiResult<Json<IdResponse>> {
    let user = caller.user(&user)?;
    let new = NewFilter {
        name: body.name,
        query: body.query.into_query(),
        action: body.action.into_action()?,
        disabled: body.disabled,
        meta_data: body.meta_data,
    };
    let filter = state
        .service
        .create_filter(user, new)
        .await
        .map_err(filter_field)?;
    Ok(id_response(filter.id))
}

/// Rules that a message must match (as stored)
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FilterQueryInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ha: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
}

/// Action to take with a matching message (as stored)
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FilterActionInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seen: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flag: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spam: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetFilterResponse {
    /// Indicates successful response
    pub success: bool,
    /// Filters unique ID
    pub id: String,
    /// Name for the filter
    pub name: String,
    /// Datestring of the time the filter was created
    pub created: String,
    pub query: FilterQueryInfo,
    pub action: FilterActionInfo,
    /// If true, then this filter is ignored
    pub disabled: bool,
    /// Custom metadata value
    #[schema(schema_with = schema::any_object_schema)]
    pub meta_data: Value,
}

fn filter_response(f: Filter) -> GetFilterResponse {
    let q = f.query;
    let a = f.action;
    GetFilterResponse {
        success: true,
        id: f.id.to_hex(),
        name: f.name.unwrap_or_default(),
        created: iso(&f.created),
        query: FilterQueryInfo {
            from: q.from,
            to: q.to,
            subject: q.subject,
            list_id: q.list_id,
            text: q.text,
            ha: q.ha,
            size: q.size,
        },
        action: FilterActionInfo {
            seen: a.seen,
            flag: a.flag,
            delete: a.delete,
            spam: a.spam,
            mailbox: a.mailbox.map(|m| m.to_hex()),
            targets: (!a.targets.is_empty()).then_some(a.targets),
        },
        disabled: f.disabled,
        meta_data: f.meta_data,
    }
}

/// Request Filter information
#[utoipa::path(get, path = "/users/{user}/filters/{filter}", tag = "Filters", operation_id = "getFilter",
    params(
        ("user" = String, Path, description = "ID of the User"),
        ("filter" = String, Path, description = "Filters unique ID"),
        LogParams,
    ),
    responses(
        (status = 200, description = "Success", body = GetFilterResponse),
        (status = 400, description = "Invalid input", body = ErrorResponse),
        (status = 403, description = "Missing privileges or invalid token", body = ErrorResponse),
        (status = 404, description = "No such filter", body = ErrorResponse),
    ))]
async fn get_filter(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, filter)): Path<(String, String)>,
) -> ApiResult<Json<GetFilterResponse>> {
    let user = caller.user(&user)?;
    let id = object_id("filter", &filter)?;
    Ok(Json(filter_response(
        state.service.get_filter(user, id).await?,
    )))
}

/// Body of PUT /users/{user}/filters/{filter}: only the given fields change; a
/// query or action key given empty removes that rule.
// Some fields are accepted for WildDuck compatibility and documented, but not used.
#[allow(dead_code)]
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateFilterRequest {
    /// Name of the Filter
    #[serde(default, deserialize_with = "de::opt_string")]
    pub name: Option<String>,
    #[serde(default)]
    pub query: Option<QueryBody>,
    #[serde(default)]
    pub action: Option<ActionBody>,
    /// If true then this filter is ignored
    #[serde(default, deserialize_with = "de::opt_bool")]
    #[schema(value_type = Option<bool>)]
    pub disabled: Option<bool>,
    /// Optional metadata, must be an object or JSON formatted string
    #[serde(default, deserialize_with = "de::opt_any")]
    #[schema(schema_with = schema::any_object_schema)]
    pub meta_data: Option<Value>,
    #[serde(default)]
    pub sess: Option<String>,
    #[serde(default)]
    pub ip: Option<String>,
}

/// Update Filter information
#[utoipa::path(put, path = "/users/{user}/filters/{filter}", tag = "Filters", operation_id = "updateFilter",
    params(
        ("user" = String, Path, description = "ID of the User"),
        ("filter" = String, Path, description = "Filters unique ID"),
    ),
    request_body = UpdateFilterRequest,
    responses(
        (status = 200, description = "Success", body = SuccessResponse),
        (status = 400, description = "Invalid input", body = ErrorResponse),
        (status = 403, description = "Missing privileges or invalid token", body = ErrorResponse),
        (status = 404, description = "No such filter or mailbox", body = ErrorResponse),
    ))]
async fn update_filter(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, filter)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateFilterRequest>,
) -> ApiResult<Json<SuccessResponse>> {
    let user = caller.user(&user)?;
    let id = object_id("filter", &filter)?;
    let update = FilterUpdate {
        name: body.name,
        query: body.query.map(QueryBody::change).unwrap_or_default(),
        action: match body.action {
            Some(a) => a.change()?,
            None => FilterActionChange::default(),
        },
        disabled: body.disabled,
        meta_data: body.meta_data,
    };
    state
        .service
        .update_filter(user, id, update)
        .await
        .map_err(filter_field)?;
    Ok(ok())
}

/// Delete a Filter
#[utoipa::path(delete, path = "/users/{user}/filters/{filter}", tag = "Filters", operation_id = "deleteFilter",
    params(
        ("user" = String, Path, description = "ID of the User"),
        ("filter" = String, Path, description = "Filters unique ID"),
        LogParams,
    ),
    responses(
        (status = 200, description = "Success", body = SuccessResponse),
        (status = 400, description = "Invalid input", body = ErrorResponse),
        (status = 403, description = "Missing privileges or invalid token", body = ErrorResponse),
        (status = 404, description = "No such filter", body = ErrorResponse),
    ))]
async fn delete_filter(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, filter)): Path<(String, String)>,
) -> ApiResult<Json<SuccessResponse>> {
    let user = caller.user(&user)?;
    let id = object_id("filter", &filter)?;
    state
        .service
        .delete_filter(user, id)
        .await
        .on_field("filter")?;
    Ok(ok())
}
