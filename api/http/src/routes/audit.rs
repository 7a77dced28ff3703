//! Message audits: POST /audit, GET /audit/{audit}, GET /audit/{audit}/export.mbox.
//! Root only.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use futures::stream;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::de;
use crate::error::{ApiError, ApiResult, ErrorResponse};
use crate::extract::{object_id, ApiJson, Caller};
use crate::schema::{iso, Binary};
use crate::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_audit))
        .routes(routes!(get_audit))
        .routes(routes!(export_audit))
}

/// Body of POST /audit.
// sess and ip are accepted for WildDuck compatibility (log fields).
#[allow(dead_code)]
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateAuditRequest {
    /// ID of the User
    pub user: String,
    /// Start time as ISO date (messages received at or after it; false or empty: no bound)
    #[serde(default, deserialize_with = "de::opt_date_or_false")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub start: Option<de::OrFalse<DateTime<Utc>>>,
    /// End time as ISO date (messages received at or before it; false or empty: no bound)
    #[serde(default, deserialize_with = "de::opt_date_or_false")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub end: Option<de::OrFalse<DateTime<Utc>>>,
    /// Expiration date. Audit data is deleted after this date
    #[serde(default, deserialize_with = "de::opt_date")]
    #[schema(value_type = String, format = DateTime)]
    pub expires: Option<DateTime<Utc>>,
    /// Session identifier for the logs
    pub sess: Option<String>,
    /// IP address for the logs
    pub ip: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreateAuditResponse {
    pub success: bool,
    /// ID for the created Audit
    pub id: String,
}

fn bound(v: Option<de::OrFalse<DateTime<Utc>>>) -> Option<DateTime<Utc>> {
    match v {
        Some(de::OrFalse::Set(d)) => Some(d),
        _ => None,
    }
}

/// Create new audit
#[utoipa::path(post, path = "/audit", tag = "Audit", operation_id = "createAudit",
    request_body = CreateAuditRequest,
    responses(
        (status = 200, description = "Success", body = CreateAuditResponse),
        (status = 400, description = "Invalid input", body = ErrorResponse),
        (status = 403, description = "Missing privileges or invalid token", body = ErrorResponse),
        (status = 404, description = "No such user", body = ErrorResponse),
    ))]
async fn create_audit(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateAuditRequest>,
) -> ApiResult<Json<CreateAuditResponse>> {
    caller.require_root()?;
    let user = object_id("user", &body.user)?;
    let expires = body
        .expires
        .ok_or_else(|| ApiError::invalid("expires", "is required"))?;
    let audit = state
        .service
        .create_audit(user, bound(body.start), bound(body.end), expires)
        .await?;
    Ok(Json(CreateAuditResponse {
        success: true,
        id: audit.id.to_hex(),
    }))
}

/// Where the audit's messages stand.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditImport {
    /// Status of the audit: always "finished", messages are selected at export time
    pub status: String,
    /// How many messages failed
    pub failed: u64,
    /// How many messages the export holds now
    pub copied: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GetAuditResponse {
    pub success: bool,
    /// ID of the Audit
    pub id: String,
    /// ID of the User
    pub user: String,
    /// Start time as ISO date, false when open
    #[schema(value_type = Object)]
    pub start: Value,
    /// End time as ISO date, false when open
    #[schema(value_type = Object)]
    pub end: Value,
    /// Expiration date. Audit data is deleted after this date
    pub expires: String,
    pub import: AuditImport,
}

fn date_or_false(d: Option<DateTime<Utc>>) -> Value {
    d.map_or(Value::Bool(false), |d| Value::String(iso(&d)))
}

/// Request Audit Info
#[utoipa::path(get, path = "/audit/{audit}", tag = "Audit", operation_id = "getAudit",
    params(("audit" = String, Path, description = "ID of the Audit")),
    responses(
        (status = 200, description = "Success", body = GetAuditResponse),
        (status = 403, description = "Missing privileges or invalid token", body = ErrorResponse),
        (status = 404, description = "No such audit, or it expired", body = ErrorResponse),
    ))]
async fn get_audit(
    State(state): State<AppState>,
    caller: Caller,
    Path(audit): Path<String>,
) -> ApiResult<Json<GetAuditResponse>> {
    caller.require_root()?;
    let id = object_id("audit", &audit)?;
    let a = state.service.get_audit(id).await?;
    let copied = state.service.audit_export(id).await?.remaining() as u64;
    Ok(Json(GetAuditResponse {
        success: true,
        id: a.id.to_hex(),
        user: a.user.to_hex(),
        start: date_or_false(a.start),
        end: date_or_false(a.end),
        expires: iso(&a.expires),
        import: AuditImport {
            status: "finished".into(),
            failed: 0,
            copied,
        },
    }))
}

/// Export Audited Emails: an mboxrd file of every audited message
#[utoipa::path(get, path = "/audit/{audit}/export.mbox", tag = "Audit", operation_id = "getAuditEmails",
    params(("audit" = String, Path, description = "ID of the Audit")),
    responses(
        (status = 200, description = "Success", content_type = "application/octet-stream", body = Binary),
        (status = 403, description = "Missing privileges or invalid token", body = ErrorResponse),
        (status = 404, description = "No such audit, or it expired", body = ErrorResponse),
    ))]
async fn export_audit(
    State(state): State<AppState>,
    caller: Caller,
    Path(audit): Path<String>,
) -> ApiResult<Response> {
    caller.require_root()?;
    let id = object_id("audit", &audit)?;
    let export = state.service.audit_export(id).await?;
    let body = Body::from_stream(stream::unfold(export, |mut e| async move {
        match e.next_chunk().await {
            Ok(Some(chunk)) => Some((Ok(chunk), e)),
            Ok(None) => None,
            Err(err) => {
                tracing::error!(error = %err, "audit export read failed");
                Some((Err(std::io::Error::other(err.to_string())), e))
            }
        }
    }));
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"export.mbox\""),
    );
    Ok((StatusCode::OK, headers, body).into_response())
}
