//! Storage files (WildDuck's /users/{user}/storage): files a webmail uploads while
//! composing, kept in the blob store and counted in the user's quota.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use eider_service::model::Paging;
use eider_service::NewFile;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::users::{id_response, IdResponse, LogParams, PagingQuery};
use crate::de;
use crate::error::{ApiError, ApiResult, ErrorResponse};
use crate::extract::{object_id, parse_json_body, ApiQuery, Caller};
use crate::schema::{self, iso, ok, Binary, Cursor, SuccessResponse};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload_file, list_files))
        .routes(routes!(get_file, delete_file))
}

/// Body of POST /users/{user}/storage (or, for a raw upload, its query string).
// sess and ip are accepted for WildDuck compatibility and documented, but not used.
#[allow(dead_code)]
#[derive(Debug, Default, Deserialize, ToSchema, IntoParams)]
#[serde(default, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct UploadFileRequest {
    /// Name of the file
    #[serde(deserialize_with = "de::opt_string")]
    pub filename: Option<String>,
    /// MIME type of the file. Is detected from the file name by default
    #[serde(deserialize_with = "de::opt_string")]
    pub content_type: Option<String>,
    /// Encoding of the content: "base64", or none for the content as it is
    #[serde(deserialize_with = "de::opt_string")]
    pub encoding: Option<String>,
    /// File content (JSON uploads; a raw upload sends the file as the body)
    #[serde(deserialize_with = "de::opt_string")]
    pub content: Option<String>,
    /// Content ID
    #[serde(deserialize_with = "de::opt_string")]
    pub cid: Option<String>,
    pub sess: Option<String>,
    pub ip: Option<String>,
}

const MAX_NAME: usize = 255;

/// Upload file: a JSON body with `content` (optionally base64), or the file itself
/// as the body with the other fields in the query string.
#[utoipa::path(post, path = "/users/{user}/storage", tag = "Storage", operation_id = "uploadFile",
    params(("user" = String, Path, description = "ID of the User")),
    request_body = UploadFileRequest,
    responses(
        (status = 200, description = "Success", body = IdResponse),
        (status = 400, description = "Invalid input or over quota", body = ErrorResponse),
        (status = 403, description = "Missing privileges or invalid token", body = ErrorResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
    ))]
async fn upload_file(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    ApiQuery(query): ApiQuery<serde_json::Value>,
    headers: HeaderMap,
    bytes: Bytes,
) -> ApiResult<Json<IdResponse>> {
    let user = caller.user(&user)?;
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    let (body, content): (UploadFileRequest, Bytes) = if is_json {
        let body: UploadFileRequest = parse_json_body(&bytes)?;
        let text = body.content.clone().unwrap_or_default();
        let content = match body.encoding.as_deref() {
            Some("base64") => {
                let clean: String = text.chars().filter(|c| !c.is_whitespace()).collect();
                base64::engine::general_purpose::STANDARD
                    .decode(clean.as_bytes())
                    .map_err(|_| ApiError::invalid("content", "must be valid base64"))?
                    .into()
            }
            _ => Bytes::from(text.into_bytes()),
        };
        (body, content)
    } else {
        let opts = serde_json::to_vec(&query).unwrap_or_default();
        (parse_json_body(&opts)?, bytes)
    };
    if let Some(e) = body.encoding.as_deref().filter(|e| *e != "base64") {
        return Err(ApiError::invalid(
            "encoding",
            format!("\"encoding\" must be [base64], got {e}"),
        ));
    }
    for (field, v) in [
        ("filename", &body.filename),
        ("contentType", &body.content_type),
        ("cid", &body.cid),
    ] {
        if v.as_ref().is_some_and(|v| v.chars().count() > MAX_NAME) {
            return Err(ApiError::invalid(
                field,
                format!(
                    "\"{field}\" length must be less than or equal to {MAX_NAME} characters long"
                ),
            ));
        }
    }
    let file = state
        .service
        .upload_file(
            user,
            NewFile {
                filename: body.filename,
                content_type: body.content_type,
                cid: body.cid,
                content,
            },
        )
        .await?;
    Ok(id_response(file.id))
}

/// Query of GET /users/{user}/storage.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct ListFilesQuery {
    /// Partial match of a filename
    #[serde(deserialize_with = "de::opt_string")]
    pub query: Option<String>,
    #[serde(flatten)]
    #[param(ignore)]
    pub paging: PagingQuery,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetFilesResult {
    /// File ID
    pub id: String,
    /// Filename. False if none
    #[schema(value_type = Object)]
    pub filename: serde_json::Value,
    /// Content-Type of the file
    pub content_type: String,
    /// Content ID
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cid: Option<String>,
    /// File size
    pub size: u64,
    /// Created datestring
    pub created: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GetFilesResponse {
    pub success: bool,
    pub query: String,
    pub total: u64,
    pub page: u32,
    #[schema(schema_with = schema::cursor_schema)]
    pub previous_cursor: Cursor,
    #[schema(schema_with = schema::cursor_schema)]
    pub next_cursor: Cursor,
    pub results: Vec<GetFilesResult>,
}

/// List stored files
#[utoipa::path(get, path = "/users/{user}/storage", tag = "Storage", operation_id = "getFiles",
    params(("user" = String, Path, description = "ID of the User"), ListFilesQuery, PagingQuery, LogParams),
    responses(
        (status = 200, description = "Success", body = GetFilesResponse),
        (status = 400, description = "Invalid input", body = ErrorResponse),
        (status = 403, description = "Missing privileges or invalid token", body = ErrorResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
    ))]
async fn list_files(
    State(state): State<AppState>,
    caller: Caller,
    Path(user): Path<String>,
    ApiQuery(q): ApiQuery<ListFilesQuery>,
) -> ApiResult<Json<GetFilesResponse>> {
    let user = caller.user(&user)?;
    let page = q.paging.request()?;
    let paging = Paging {
        limit: page.limit,
        next: page.next.clone(),
        previous: page.previous.clone(),
        page: Some(page.page),
    };
    let query = q.query.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let found = state.service.list_files(user, query, &paging).await?;
    Ok(Json(GetFilesResponse {
        success: true,
        query: query.unwrap_or_default().to_string(),
        total: found.total,
        page: page.page,
        previous_cursor: Cursor(found.previous),
        next_cursor: Cursor(found.next),
        results: found
            .results
            .into_iter()
            .map(|f| GetFilesResult {
                id: f.id.to_hex(),
                filename: f
                    .filename
                    .map_or(serde_json::Value::Bool(false), serde_json::Value::String),
                content_type: f.content_type,
                cid: f.cid,
                size: f.size,
                created: iso(&f.created),
            })
            .collect(),
    }))
}

/// Download File: the stored bytes with the file's content type
#[utoipa::path(get, path = "/users/{user}/storage/{file}", tag = "Storage", operation_id = "getFile",
    params(("user" = String, Path, description = "ID of the User"), ("file" = String, Path, description = "ID of the File")),
    responses(
        (status = 200, description = "Success", content_type = "application/octet-stream", body = Binary),
        (status = 403, description = "Missing privileges or invalid token", body = ErrorResponse),
        (status = 404, description = "No such file", body = ErrorResponse),
    ))]
async fn get_file(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, file)): Path<(String, String)>,
) -> ApiResult<Response> {
    let user = caller.user(&user)?;
    let file = object_id("file", &file)?;
    let (meta, data) = state.service.get_file(user, file).await?;
    let ctype = HeaderValue::from_str(&meta.content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    Ok(([(header::CONTENT_TYPE, ctype)], data).into_response())
}

/// Delete a File
#[utoipa::path(delete, path = "/users/{user}/storage/{file}", tag = "Storage", operation_id = "deleteFile",
    params(("user" = String, Path, description = "ID of the User"), ("file" = String, Path, description = "ID of the File"), LogParams),
    responses(
        (status = 200, description = "Success", body = SuccessResponse),
        (status = 403, description = "Missing privileges or invalid token", body = ErrorResponse),
        (status = 404, description = "No such file", body = ErrorResponse),
    ))]
async fn delete_file(
    State(state): State<AppState>,
    caller: Caller,
    Path((user, file)): Path<(String, String)>,
) -> ApiResult<Json<SuccessResponse>> {
    let user = caller.user(&user)?;
    let file = object_id("file", &file)?;
    state.service.delete_file(user, file).await?;
    Ok(ok())
}
