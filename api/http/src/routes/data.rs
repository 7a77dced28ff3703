//! Account export and import in WildDuck's data file format: POST /data/export,
//! POST /data/import. Root only: WildDuck wants a token of its "export" role, and
//! Eider's only administrative token is root's.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use eider_service::{DataExport, DataImport, ExportQuery, ImportCounts};
use futures::{stream, StreamExt};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::data_format::{self, FormatError, FrameReader, TYPE_CONTENT, TYPE_HEADER};
use crate::de;
use crate::error::{ApiError, ApiResult, ErrorResponse};
use crate::extract::{object_id, ApiJson, Caller};
use crate::schema::Binary;
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_export))
        .routes(routes!(create_import))
}

/// Body of POST /data/export.
// sess and ip are accepted for WildDuck compatibility (log fields).
#[allow(dead_code)]
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateExportRequest {
    /// An array of User ID values to export
    #[serde(default, deserialize_with = "de::opt_list")]
    pub users: Option<Vec<String>>,
    /// An array of user tags to export. If set then at least one tag must exist on an user.
    #[serde(default, deserialize_with = "de::opt_list")]
    pub tags: Option<Vec<String>>,
    /// Also export every message (raw bytes, flags, UIDs, dates): Eider's extension,
    /// so that an account moves between two Eider installations
    #[serde(default, deserialize_with = "de::opt_bool")]
    pub messages: Option<bool>,
    /// Session identifier for the logs
    pub sess: Option<String>,
    /// IP address for the logs
    pub ip: Option<String>,
}

/// Export data: a WildDuck data file of the matching users (user data, password
/// hashes, addresses, application passwords, mailboxes, filters, autoreplies, and
/// with `messages: true` every message)
#[utoipa::path(post, path = "/data/export", tag = "Export", operation_id = "createExport",
    request_body = CreateExportRequest,
    responses(
        (status = 200, description = "Success", content_type = "application/octet-stream", body = Binary),
        (status = 400, description = "Invalid input", body = ErrorResponse),
        (status = 403, description = "Missing privileges or invalid token", body = ErrorResponse),
    ))]
async fn create_export(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateExportRequest>,
) -> ApiResult<Response> {
    caller.require_root()?;
    let mut users = Vec::new();
    for u in body.users.unwrap_or_default() {
        users.push(object_id("users", u.trim())?);
    }
    let tags: Vec<String> = body
        .tags
        .unwrap_or_default()
        .into_iter()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect();
    if let Some(t) = tags.iter().find(|t| t.chars().count() > 1024) {
        return Err(ApiError::invalid(
            "tags",
            format!("must be at most 1024 characters, not {}", t.chars().count()),
        ));
    }
    let messages = body.messages.unwrap_or(false);
    let head = data_format::header(&users, &tags, messages);
    let export = state
        .service
        .data_export(ExportQuery {
            users,
            tags,
            messages,
        })
        .await?;
    let body = Body::from_stream(
        stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(head)) })
            .chain(stream::unfold(Some(export), next_frame)),
    );
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    Ok((StatusCode::OK, headers, body).into_response())
}

/// The next frame of an export; a failure ends the file with WildDuck's trailer
/// (`Export failed`, the message, the code), which no importer takes for a record.
async fn next_frame(
    export: Option<DataExport>,
) -> Option<(Result<Bytes, std::io::Error>, Option<DataExport>)> {
    let mut export = export?;
    let failure = match export.next_record().await {
        Ok(None) => return None,
        Ok(Some(record)) => match data_format::record(&record) {
            Ok(frame) => return Some((Ok(Bytes::from(frame)), Some(export))),
            Err(e) => (e, "Error"),
        },
        Err(e) => (e.to_string(), e.code()),
    };
    tracing::error!(error = %failure.0, "data export failed");
    let trailer = format!("\nExport failed\n{}\n{}\n", failure.0, failure.1);
    Some((Ok(Bytes::from(trailer)), None))
}

/// What an import did, as WildDuck counts it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportResult {
    /// How many database entries were found from the export file
    pub entries: u64,
    /// How many database entries were imported from the export file
    pub imported: u64,
    /// How many database entries were not imported due to some error
    pub failed: u64,
    /// How many database existing entries were not imported
    pub existing: u64,
    /// How many entries are of a kind that is not imported (WildDuck's other collections)
    pub skipped: u64,
}

impl From<ImportCounts> for ImportResult {
    fn from(c: ImportCounts) -> Self {
        ImportResult {
            entries: c.entries,
            imported: c.imported,
            failed: c.failed,
            existing: c.existing,
            skipped: c.skipped,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreateImportResponse {
    pub result: ImportResult,
}

/// A refused data file: WildDuck's `{error, code}`, and what was applied before
/// the fault was found.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportErrorResponse {
    pub error: String,
    pub code: String,
    /// The records handled before the fault (absent when nothing was read)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<ImportResult>,
}

/// Largest record an import accepts: a message at the size limit, base64 would not
/// apply (BSON is binary), plus room for its metadata.
fn max_record(state: &AppState) -> usize {
    usize::try_from(state.service.config().max_message_size)
        .unwrap_or(usize::MAX)
        .saturating_add(1024 * 1024)
}

/// Import user data from a data file (as POST /data/export writes it, or WildDuck's):
/// records that exist are left as they are
#[utoipa::path(post, path = "/data/import", tag = "Export", operation_id = "createImport",
    request_body(content = Binary, content_type = "application/octet-stream"),
    responses(
        (status = 200, description = "Success", body = CreateImportResponse),
        (status = 403, description = "Missing privileges or invalid token", body = ErrorResponse),
        (status = 500, description = "Invalid data file", body = ImportErrorResponse),
    ))]
async fn create_import(
    State(state): State<AppState>,
    caller: Caller,
    body: Body,
) -> ApiResult<Response> {
    caller.require_root()?;
    let mut reader = FrameReader::new(max_record(&state));
    let mut import: Option<DataImport> = None;
    let mut data = body.into_data_stream();
    let fault = 'read: loop {
        let chunk = match data.next().await {
            Some(Ok(c)) => c,
            Some(Err(e)) => {
                break 'read Some((e.to_string(), "INVALID_SEQUENCE".to_string()));
            }
            None => match reader.finish() {
                Ok(()) if import.is_some() => break 'read None,
                // A file of nothing but the magic bytes has no header.
                Ok(()) => break 'read Some(fault(FormatError::InvalidData)),
                Err(e) => break 'read Some(fault(e)),
            },
        };
        reader.push(&chunk);
        loop {
            let frame = match reader.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => break 'read Some(fault(e)),
            };
            match (frame, import.as_mut()) {
                ((TYPE_HEADER, meta), None) => match data_format::parse_header(&meta) {
                    Ok(messages) => import = Some(state.service.data_import(messages)),
                    Err(e) => break 'read Some(fault(e)),
                },
                ((TYPE_CONTENT, record), Some(import)) => match data_format::parse_record(record) {
                    Ok(Some(r)) => {
                        import.import(r).await;
                    }
                    Ok(None) => import.count_skipped(),
                    Err(reason) => import.count_undecodable(&reason),
                },
                // Content before the header, a second header, an unknown frame type.
                _ => break 'read Some(fault(FormatError::InvalidData)),
            }
        }
    };
    let counts = match import.as_mut() {
        Some(i) => {
            i.finish().await?;
            Some(i.counts)
        }
        None => None,
    };
    if let Some((error, code)) = fault {
        let body = ImportErrorResponse {
            error,
            code,
            result: counts.map(ImportResult::from),
        };
        return Ok((StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response());
    }
    let result = counts.map(ImportResult::from).unwrap_or(ImportResult {
        entries: 0,
        imported: 0,
        failed: 0,
        existing: 0,
        skipped: 0,
    });
    Ok(Json(CreateImportResponse { result }).into_response())
}

fn fault(e: FormatError) -> (String, String) {
    (e.to_string(), e.code().to_string())
}
